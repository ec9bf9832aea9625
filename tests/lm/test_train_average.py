"""--average (the mean of an annealed epoch's weights) and --max-minutes keeping the unfinished epoch."""

import json
import os
import signal
import types

import numpy as np
import pytest

from rnnkit.lm import io
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.task import get_task
from rnnkit.lm.train import Trainer, train
from rnnkit.lm.train import trainer as trainer_module
from rnnkit.lm.train.average import EVERY, WeightAverage

from lm_helpers import TINY

# Annealing from epoch 1 on: every epoch after the first is averaged.
AVERAGED = dict(TINY, epochs=3, average=True, anneal_from=1, min_improvement=1.0)


def quiet_train(corpus, out, options, **kw):
    return train(str(corpus[0]), str(corpus[1]), str(out), options, quiet=True, log=lambda *_: None, **kw)


def read_metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_average_is_the_mean_of_the_samples(dtype):
    rng = np.random.default_rng(0)
    params = {"U": np.zeros((3, 4), dtype), "b": np.zeros(5, dtype)}
    average = WeightAverage(params)
    samples = [{k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()} for _ in range(7)]
    for sample in samples:
        average.add(sample)
    average.put_into(params)
    for k, v in params.items():
        assert v.dtype == dtype
        np.testing.assert_allclose(v, np.mean([s[k] for s in samples], axis=0), rtol=1e-6 if dtype == np.float32
                                   else 1e-14)
    average.reset()
    assert average.count == 0 and all(not s.any() for s in average.sums.values())
    with pytest.raises(ValueError, match="nothing to average"):
        average.put_into(params)


class Watched(Trainer):
    """A Trainer that records every sample of the average and checks each epoch's judgement."""

    judged = []

    def _build(self):
        super()._build()
        self.samples = []
        add = self.average.add

        def recording_add(params):
            self.samples.append({k: v.copy() for k, v in params.items()})
            add(params)

        self.average.add = recording_add

    def _judge(self):
        last = {k: v.copy() for k, v in self.model.params.items()}
        samples, self.samples = self.samples, []
        windows = self.state["window"]
        loss, last_loss = super()._judge()
        mean = {k: np.mean([s[k] for s in samples], axis=0) for k in last} if samples else None
        kept = mean if last_loss is not None else last
        for k, v in self.model.params.items():
            np.testing.assert_allclose(v, kept[k], rtol=1e-5, atol=1e-7, err_msg=k)
        # the loss reported is the kept weights', measured again here
        assert self._validate() == pytest.approx(loss, rel=1e-12)
        if last_loss is not None:
            assert loss < last_loss
        Watched.judged.append((self.state["epoch"] + 1, len(samples), windows, last_loss))
        return loss, last_loss


def test_an_annealed_epoch_keeps_its_mean_weights_only_when_they_validate_better(corpus, tmp_path):
    Watched.judged = []
    out = tmp_path / "m"
    result = quiet_train(corpus, out, AVERAGED, make_trainer=Watched)
    rows = read_metrics(out)
    assert [epoch for epoch, *_ in Watched.judged] == [1, 2, 3] == [r["epoch"] for r in rows]
    # epoch 1 runs at the full rate: nothing sampled; then one sample every EVERY windows
    assert [samples for _, samples, _, _ in Watched.judged] == [0] + [w // EVERY for _, _, w, _ in Watched.judged[1:]]
    assert Watched.judged[1][1] > 10
    for (_, _, _, last_loss), row in zip(Watched.judged, rows):
        assert ("valid_ppl_last" in row) == (last_loss is not None)
        if last_loss is not None:
            assert row["valid_ppl"] < row["valid_ppl_last"] == pytest.approx(np.exp(last_loss))
    # On this toy corpus an annealed epoch's mean beats its last weights (SGD at lr 0.5 still jitters).
    assert any(last is not None for *_, last in Watched.judged)
    lm = LanguageModel.load(str(out))
    assert lm.evaluate(str(corpus[1]))["perplexity"] == pytest.approx(result.best_valid_ppl, rel=1e-6)


class MeanAlwaysWorse(Trainer):
    _putting = False

    def _validate(self):
        loss = super()._validate()
        return loss + 1.0 if self.average.count and self._putting else loss

    def _judge(self):
        put = self.average.put_into

        def putting(params):
            self._putting = True
            put(params)

        self._putting = False
        self.average.put_into = putting
        return super()._judge()


def test_a_worse_mean_leaves_the_last_weights_in_place(corpus, tmp_path):
    plain, averaged = tmp_path / "plain", tmp_path / "averaged"
    quiet_train(corpus, plain, dict(AVERAGED, average=False))
    quiet_train(corpus, averaged, AVERAGED, make_trainer=MeanAlwaysWorse)
    # the mean is judged and refused every time: the same run as without --average
    assert [r["valid_ppl"] for r in read_metrics(plain)] == [r["valid_ppl"] for r in read_metrics(averaged)]
    assert not any("valid_ppl_last" in r for r in read_metrics(averaged))
    assert (plain / "weights.safetensors").read_bytes() == (averaged / "weights.safetensors").read_bytes()


def test_interrupted_inside_an_averaged_epoch_resumes_to_the_same_run(corpus, tmp_path, monkeypatch):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    quiet_train(corpus, straight, AVERAGED)
    calls = {"n": 0}
    original = Trainer._out_of_time

    def out_of_time(self):
        calls["n"] += 1
        if calls["n"] == 130:  # epoch 2 (about 88 windows an epoch), at an annealed rate
            os.kill(os.getpid(), signal.SIGINT)
        return original(self)

    monkeypatch.setattr(Trainer, "_out_of_time", out_of_time)
    assert quiet_train(corpus, stopped, AVERAGED).status == "interrupted"
    monkeypatch.undo()
    arrays, meta = io.read_tensors(str(stopped / io.CHECKPOINT))
    meta = json.loads(meta["rnnkit"])
    assert meta["state"]["epoch"] == 1 and meta["average_count"] == meta["state"]["window"] // EVERY > 0
    assert any(name.startswith("average/") for name in arrays)

    quiet_train(corpus, stopped, {}, resume=True)
    assert read_metrics(straight) != [] and [r["valid_ppl"] for r in read_metrics(straight)] == [
        r["valid_ppl"] for r in read_metrics(stopped)]
    assert (straight / "weights.safetensors").read_bytes() == (stopped / "weights.safetensors").read_bytes()


def test_a_damaged_average_count_is_refused(corpus, tmp_path, monkeypatch):
    from rnnkit.errors import RnnkitError
    from rnnkit.lm.train import state

    out = tmp_path / "m"
    calls = {"n": 0}
    original = Trainer._out_of_time

    def out_of_time(self):
        calls["n"] += 1
        if calls["n"] == 130:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self)

    monkeypatch.setattr(Trainer, "_out_of_time", out_of_time)
    quiet_train(corpus, out, AVERAGED)
    monkeypatch.undo()
    arrays, meta = io.read_tensors(str(out / io.CHECKPOINT))
    text = json.loads(meta["rnnkit"])
    text["average_count"] = 0
    text = json.dumps(text)
    io.atomic_write(str(out / io.CHECKPOINT),
                    io.tensors_bytes(arrays, {"rnnkit": text, "sha256": state.manifest(text, arrays)}))
    with pytest.raises(RnnkitError, match="weight average is damaged"):
        quiet_train(corpus, out, {}, resume=True)


# --- --max-minutes: the unfinished epoch's weights are judged too --------------------------


class Clock:
    """The trainer's clock: 1 ms a reading, plus what ``advance`` adds, so that --max-minutes ends
    after a known number of windows (about 88 an epoch, two readings each) however loaded the machine is."""

    def __init__(self, monkeypatch):
        self.now = 0.0
        monkeypatch.setattr(trainer_module, "time", types.SimpleNamespace(monotonic=self.monotonic))

    def monotonic(self):
        self.now += 0.001
        return self.now

    def advance(self, seconds):
        self.now += seconds


# Ends 58 windows or so into epoch 3: two epochs of 88 windows at two readings each, and a few
# readings for each validation.
BUDGET_MINUTES = (2 * 88 * 2 + 120) / 60_000


def test_the_unfinished_epoch_is_kept_when_it_validates_better(corpus, tmp_path, monkeypatch):
    out = tmp_path / "m"
    # about 88 windows an epoch, two readings each, and two for a validation: ends in epoch 3
    Clock(monkeypatch)
    result = quiet_train(corpus, out, dict(TINY, epochs=50), max_minutes=BUDGET_MINUTES)
    monkeypatch.undo()
    rows = read_metrics(out)
    assert result.status == "time" and len(rows) == 2
    assert result.best_valid_ppl < min(r["valid_ppl"] for r in rows)  # still learning: the last windows helped
    assert "better than epoch 2's" in result.message and "of the unfinished epoch's weights (epoch 2." in result.message
    config = json.loads((out / "config.json").read_text())["training"]
    assert 2 < config["best_epoch"] < 3
    assert LanguageModel.load(str(out)).evaluate(str(corpus[1]))["perplexity"] == pytest.approx(
        result.best_valid_ppl, rel=1e-6)
    # the checkpoint keeps the uninterrupted run's state: resuming goes on from the stop
    _, meta = io.read_tensors(str(out / io.CHECKPOINT))
    st = json.loads(meta["rnnkit"])["state"]
    assert st["epoch"] == 2 and st["window"] > 0 and st["best_epoch"] == 2


class WorseAtTheEnd(Trainer):
    def _judge(self):
        loss, last = super()._judge()
        unfinished = 0 < self.state["window"] < self.windows
        return (loss + 1.0, last) if unfinished else (loss, last)


def test_a_worse_unfinished_epoch_leaves_the_best_completed_one(corpus, tmp_path, monkeypatch):
    out = tmp_path / "m"
    Clock(monkeypatch)
    result = quiet_train(corpus, out, dict(TINY, epochs=50), max_minutes=BUDGET_MINUTES, make_trainer=WorseAtTheEnd)
    monkeypatch.undo()
    best = min(r["valid_ppl"] for r in read_metrics(out))
    assert result.best_valid_ppl == pytest.approx(best, rel=1e-12)
    assert f"best valid ppl {best:.2f} (epoch 2)" in result.message
    assert json.loads((out / "config.json").read_text())["training"]["best_epoch"] == 2


@pytest.mark.parametrize("average", [False, True])
def test_the_minutes_leave_room_to_judge_the_unfinished_epoch(corpus, tmp_path, monkeypatch, average):
    """Training stops early enough for the judging (one validation, two with --average's mean) to end
    inside the budget. Each validation takes 50 ms of the clock here."""
    clock, ends = Clock(monkeypatch), []
    task = type(get_task("lm"))
    measure = task.validation_loss

    def slow_validation(*args, **kw):
        clock.advance(0.05)
        return measure(*args, **kw)

    monkeypatch.setattr(task, "validation_loss", slow_validation)

    class SlowValidation(Trainer):
        def _stop_mid_epoch(self, reason, stop):
            result = super()._stop_mid_epoch(reason, stop)
            ends.append((clock.now - self._t0, self.state["epoch"], self.state["window"]))
            return result

    minutes = 0.7 / 60
    options = dict(AVERAGED, epochs=50) if average else dict(TINY, epochs=50)
    quiet_train(corpus, tmp_path / "m", options, max_minutes=minutes, make_trainer=SlowValidation)
    monkeypatch.undo()
    (end, epoch, window), = ends
    assert epoch >= 1 and window > 0  # stopped inside an epoch after the first, --average's mean sampled
    assert minutes * 60 - 0.02 < end <= minutes * 60 + 0.01  # a few readings of the stop's own bookkeeping
