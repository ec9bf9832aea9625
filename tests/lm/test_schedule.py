"""The learning-rate schedule on its own: validation history in, decision out.

Every expected value here is worked out by hand from Mikolov's rule (see
rnnkit.lm.train.schedule); an off-by-one in the epoch count, in the stall test
or in when the rate is divided changes at least one of them.
"""

import pytest

from rnnkit.lm.train import Schedule, ScheduleState


def lrs(schedule, history):
    """The learning rate each epoch of ``history`` ran with, and the decisions."""
    state, used, decisions = schedule.start(), [], []
    for loss in history:
        d = schedule.step(state, loss)
        used.append(d.lr_used)
        decisions.append(d)
        state = d.state
    return used, decisions


def test_constant_while_every_epoch_gains_enough():
    s = Schedule(lr=4.0, anneal=2.0, min_improvement=1.01)
    used, ds = lrs(s, [5.0, 4.0, 3.5, 3.0])
    assert used == [4.0] * 4
    assert [d.improved for d in ds] == [True] * 4
    assert [d.stop for d in ds] == [None] * 4
    assert ds[-1].state == ScheduleState(epoch=4, lr=4.0, annealing=False, best_loss=3.0, best_epoch=4)


def test_first_stall_starts_annealing_the_second_stops():
    s = Schedule(lr=4.0, anneal=2.0, min_improvement=1.01)
    # epoch 3 gains 0.5% (< 1%): annealing from epoch 4 on; epoch 5 gains 0.2%: converged
    used, ds = lrs(s, [5.0, 4.0, 3.98, 3.0, 2.994])
    assert used == [4.0, 4.0, 4.0, 2.0, 1.0]
    assert [d.stop for d in ds] == [None, None, None, None, "converged"]
    assert [d.improved for d in ds] == [True] * 5  # small gains are still the best weights so far
    assert ds[-1].state.lr == 1.0, "the rate is not divided again once training stops"
    assert ds[-1].state.annealing and ds[-1].state.best_epoch == 5


def test_a_worse_epoch_is_not_improved_and_counts_as_a_stall():
    s = Schedule(lr=1.0, anneal=4.0)
    used, ds = lrs(s, [2.0, 2.5, 1.0, 1.5])
    assert [d.improved for d in ds] == [True, False, True, False]
    assert [d.state.best_epoch for d in ds] == [1, 1, 3, 3]
    assert [d.state.best_loss for d in ds] == [2.0, 2.0, 1.0, 1.0]
    assert used == [1.0, 1.0, 0.25, 0.0625]
    assert [d.stop for d in ds] == [None, None, None, "converged"]


def test_an_equal_loss_is_not_an_improvement():
    d = Schedule(lr=1.0, min_improvement=1.0).decide([2.0, 2.0])
    assert not d.improved and d.state.best_epoch == 1
    # loss * 1.0 > best is False: with min_improvement 1.0 an equal epoch is no stall
    assert not d.state.annealing and d.state.lr == 1.0


def test_the_required_gain_is_a_strict_threshold():
    # 2.0 * 1.25 == 2.5 exactly: gaining exactly the required factor is progress, a hair less is not
    assert not Schedule(lr=1.0, min_improvement=1.25).decide([2.5, 2.0]).state.annealing
    assert Schedule(lr=1.0, min_improvement=1.25).decide([2.5, 2.0000001]).state.annealing


def test_the_first_epoch_never_stalls():
    d = Schedule(lr=3.0, min_improvement=10.0).decide([100.0])
    assert d.improved and not d.state.annealing and d.state.lr == 3.0 and d.stop is None


def test_anneal_from_divides_after_epoch_n_whatever_validation_says():
    s = Schedule(lr=1.0, anneal=2.0, anneal_from=3)
    used, ds = lrs(s, [9.0, 8.0, 7.0, 6.0, 5.0])
    assert used == [1.0, 1.0, 1.0, 0.5, 0.25]  # epochs 1-3 at full rate, divided after epoch 3
    assert [d.state.annealing for d in ds] == [False, False, True, True, True]
    assert [d.stop for d in ds] == [None] * 5


def test_anneal_from_and_a_stall_together_still_stop():
    s = Schedule(lr=1.0, anneal=2.0, anneal_from=1)
    used, ds = lrs(s, [9.0, 8.0, 8.0])
    assert used == [1.0, 0.5, 0.25]
    assert ds[-1].stop == "converged"


def test_decide_is_the_steps_folded_over_the_history():
    s = Schedule(lr=2.0, anneal=3.0, anneal_from=4, min_improvement=1.003)
    history = [6.0, 5.0, 4.99, 4.5, 4.4]
    _, ds = lrs(s, history)
    for n in range(1, len(history) + 1):
        assert s.decide(history[:n]) == ds[n - 1]


def test_nothing_follows_convergence():
    s = Schedule(lr=1.0)
    with pytest.raises(ValueError, match="stopped"):
        s.decide([2.0, 2.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="at least one"):
        s.decide([])


def test_the_schedule_is_pure():
    s = Schedule(lr=1.0)
    state = s.start()
    a, b = s.step(state, 2.0), s.step(state, 2.0)
    assert a == b and state == ScheduleState(lr=1.0)
