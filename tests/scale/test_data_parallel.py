"""rnnkit train --workers N: the weights of one process, on N replicas (in-process here, on Ray in test_ray.py)."""

import os
import signal

import numpy as np
import pytest

from rnnkit.lm.io import read_tensors
from rnnkit.lm.train import train
from rnnkit.scale.data_parallel import sum_results, train_data_parallel
from rnnkit.scale.replica import factor_sink, join_states, pack_factors, shares, split_state, unpack_factors, write_grads

# (cell, softmax, lr): an Elman, a GRU and a class-softmax model
MODELS = [("rnn", "full", 0.5), ("gru", "full", 2.0), ("rnn", "class", 0.5)]
# dropout on the embedding's output, between the two layers and before the output layer
DROPOUT = dict(dropout=0.3, layers=2)


def quiet(msg):
    pass


def small_corpus(tmp_path, lines=60, seed=0, vocab=40):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)]
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()

    def write(path, n):
        with open(path, "w") as f:
            for _ in range(n):
                f.write(" ".join(rng.choice(words, int(rng.integers(2, 10)), p=p)) + "\n")
        return str(path)

    return write(tmp_path / "train.txt", lines), write(tmp_path / "valid.txt", 15)


def options(cell, softmax, lr, **more):
    return {**dict(hidden=12, embed=10, epochs=2, batch=6, bptt=5, cell=cell, softmax=softmax, classes=6, lr=lr),
            **more}


def weights(model_dir):
    return read_tensors(os.path.join(model_dir, "weights.safetensors"))[0]


def relative_difference(a, b):
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max() / max(np.abs(a[k]).max(), 1e-30)) for k in a)


def test_shares_and_states():
    assert shares(7, 3) == [(0, 3), (3, 5), (5, 7)] and shares(4, 1) == [(0, 4)]
    state = [np.arange(12.0).reshape(6, 2), (np.ones((6, 2)), np.zeros((6, 2)))]
    parts = [split_state(state, lo, hi) for lo, hi in shares(6, 4)]
    back = join_states(parts)
    assert np.array_equal(back[0], state[0]) and np.array_equal(back[1][0], state[1][0])
    assert join_states([None, None]) is None


def test_sparse_gradients_are_summed_by_row():
    dense = lambda v: {"W": np.full((2, 2), v, dtype=np.float32)}  # noqa: E731
    r1 = (1.0, 3, dense(1), {"E": (np.array([2, 5]), np.array([[1.0], [2.0]], dtype=np.float32))}, {})
    r2 = (2.0, 3, dense(2), {"E": (np.array([0, 5]), np.array([[4.0], [8.0]], dtype=np.float32))}, {})
    loss, tokens, d, s, _ = sum_results([r1, r2])
    assert (loss, tokens) == (3.0, 6) and np.array_equal(d["W"], np.full((2, 2), 3))
    rows, values = s["E"]
    assert rows.tolist() == [0, 2, 5] and values[:, 0].tolist() == [4.0, 1.0, 10.0]


def test_sparse_sum_adds_each_row_in_worker_order(rng):
    # every row is worker 0 + worker 1 + worker 2, left to right, as the dense sum is
    results = []
    for _ in range(3):
        rows = np.sort(rng.choice(50, 30, replace=False))
        results.append((0.0, 1, {}, {"V": (rows, rng.standard_normal((30, 4)).astype(np.float32))}, {}))
    _, _, _, s, _ = sum_results(results)
    expected = {}
    for r in results:
        for row, value in zip(*r[3]["V"]):
            expected[row] = expected[row] + value if row in expected else value.copy()
    assert s["V"][0].tolist() == sorted(expected)
    assert np.array_equal(s["V"][1], np.array([expected[row] for row in sorted(expected)]))
    assert sum_results(results[:1])[3]["V"][1] is results[0][3]["V"][1]  # one worker: its gradient as it is


def test_factors_pack_and_the_sink_keeps_the_smaller_form(rng):
    pieces = [(0, 6, rng.standard_normal((2, 6)), rng.standard_normal((2, 4))),
              (6, 7, rng.standard_normal((5, 1)), rng.standard_normal((5, 4)))]
    back = list(unpack_factors(pack_factors(pieces)))
    assert [(lo, hi) for lo, hi, _, _ in back] == [(0, 6), (6, 7)]
    assert all(np.array_equal(a[2], b[2]) and np.array_equal(a[3], b[3]) for a, b in zip(pieces, back))
    assert pack_factors([]) is None
    grads, touched = {"V": np.zeros((7, 4))}, []
    sink, kept = factor_sink(grads, touched.append, "V", 0.5)
    for piece in pieces:
        sink(*piece)
    # rows 0:6 from 2 tokens: 2 x 6 + 2 x 4 numbers against 6 x 4, kept (d weighted); row 6 from 5 tokens: multiplied
    assert len(kept) == 1 and kept[0][:2] == (0, 6) and np.array_equal(kept[0][2], 0.5 * pieces[0][2])
    assert np.allclose(grads["V"][6:], pieces[1][2].T @ pieces[1][3]) and not grads["V"][:6].any()
    assert [t.tolist() for t in touched] == [[6]]


def test_factored_sums_are_the_sum_of_the_products(rng):
    # worker 0 sends rows 0:4 as factors, worker 1 as rows and factors for rows 4:9: the driver's gradient is
    # every part's sum, and the update carries the stacked factors, not their product
    from rnnkit.nn import Module

    d0, x0 = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    d1, x1 = rng.standard_normal((2, 5)), rng.standard_normal((2, 2))
    d2, x2 = rng.standard_normal((1, 5)), rng.standard_normal((1, 2))
    rows1 = np.array([1, 3])
    values1 = rng.standard_normal((2, 2))
    r0 = (0.0, 1, {}, {"V": (np.zeros(0, np.intp), np.zeros((0, 2)))}, {"V": pack_factors([(0, 4, d0, x0),
                                                                                             (4, 9, d2, x2)])})
    r1 = (0.0, 1, {}, {"V": (rows1, values1)}, {"V": pack_factors([(4, 9, d1, x1)])})
    _, _, dense, sparse, factored = sum_results([r0, r1])
    blocks = list(unpack_factors(factored["V"]))
    assert [(lo, hi, d.shape[0]) for lo, hi, d, _ in blocks] == [(0, 4, 3), (4, 9, 3)]  # worker 0's tokens first

    model = Module()
    model.add_param("V", np.zeros((9, 2)))
    model.sparse_rows("V")
    rows = write_grads(model, dense, sparse, factored)
    expected = np.zeros((9, 2))
    expected[0:4] += d0.T @ x0
    expected[4:9] += d2.T @ x2 + d1.T @ x1
    expected[rows1] += values1
    assert np.allclose(model.grads["V"], expected) and rows["V"].tolist() == list(range(9))


def test_a_class_softmax_with_large_classes_sends_factors_and_ends_as_one_process(tmp_path):
    # 300 words in 3 classes: a window's few tokens per class against a class's ~100 rows, so V's gradient
    # travels as factors (checked), and the weights are still one process's
    tr, va = small_corpus(tmp_path, vocab=300)
    opts = options("gru", "class", 0.5, classes=3)
    train(tr, va, str(tmp_path / "one"), opts, quiet=True, log=quiet)
    expected = weights(tmp_path / "one")
    for n in (2, 3):
        sent = []
        out = str(tmp_path / f"n{n}")
        train_data_parallel(tr, va, out, opts, workers=n, backend="local", quiet=True, log=quiet,
                            after_step=lambda t: sent.append(bool(t._pending[2])))
        assert sent and all(sent)
        assert relative_difference(expected, weights(out)) <= 1e-5, n


def test_replicas_in_this_process_give_blas_its_threads_back(tmp_path):
    # Each replica holds BLAS to one thread, as a Ray actor's process does; in the driver's process
    # that hold must end with training, or everything after it (an evaluation) runs on one thread.
    from threadpoolctl import threadpool_info, threadpool_limits

    def threads():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    with threadpool_limits(2, user_api="blas"):
        if set(threads()) != {2}:
            pytest.skip("needs a BLAS that threadpoolctl can set to two threads")
        tr, va = small_corpus(tmp_path)
        train_data_parallel(tr, va, str(tmp_path / "dp"), options("gru", "full", 2.0), workers=2, backend="local",
                            quiet=True, log=quiet)
        assert set(threads()) == {2}


@pytest.mark.parametrize("more", [{}, DROPOUT], ids=["no-dropout", "dropout"])
@pytest.mark.parametrize("cell,softmax,lr", MODELS)
def test_same_weights_as_one_process(tmp_path, cell, softmax, lr, more):
    # with dropout: every replica draws the whole batch's masks and keeps its streams' rows (Dropout.share)
    tr, va = small_corpus(tmp_path)
    opts = options(cell, softmax, lr, **more)
    train(tr, va, str(tmp_path / "one"), opts, quiet=True, log=quiet)
    expected = weights(tmp_path / "one")
    for n in (1, 2, 3):
        out = str(tmp_path / f"n{n}")
        train_data_parallel(tr, va, out, opts, workers=n, backend="local", quiet=True, log=quiet)
        assert relative_difference(expected, weights(out)) <= 1e-5, (cell, softmax, n)
    metrics = [open(os.path.join(d, "metrics.jsonl")).read().count("\n") for d in (tmp_path / "one", tmp_path / "n3")]
    assert metrics == [2, 2]


def test_a_prepared_corpus_on_workers(tmp_path):
    from rnnkit.scale.prepare import prepare

    tr, va = small_corpus(tmp_path)
    prepare([tr], str(tmp_path / "data"), chunk_bytes=200)
    opts = options("gru", "full", 2.0)
    train(tr, va, str(tmp_path / "one"), opts, quiet=True, log=quiet)
    train_data_parallel(str(tmp_path / "data"), va, str(tmp_path / "dp"), opts, workers=2, backend="local",
                        quiet=True, log=quiet)
    assert relative_difference(weights(tmp_path / "one"), weights(tmp_path / "dp")) <= 1e-5


def test_dropout_shares_draw_the_whole_batch_mask():
    from rnnkit.nn import Dropout

    x = np.ones((4, 7, 3), np.float32)
    whole = Dropout(0.5, seed=np.random.default_rng(5)).forward(x)
    parts = []
    for lo, hi in shares(7, 3):
        d = Dropout(0.5, seed=np.random.default_rng(5))
        d.share = (lo, hi, 7)
        parts.append(d.forward(x[:, lo:hi]))
        assert np.array_equal(d.backward(np.ones_like(parts[-1])), parts[-1])
    assert np.array_equal(np.concatenate(parts, axis=1), whole) and 0 < (whole == 0).mean() < 1
    with pytest.raises(ValueError, match=r"needs \(T, 2, ...\), got \(4, 3, 3\)"):
        d.forward(x[:, :3])


def test_ctrl_c_leaves_a_checkpoint_that_resumes_to_the_same_model(tmp_path):
    # with dropout: the checkpoint holds the generators where the workers left them
    tr, va = small_corpus(tmp_path)
    opts = options("rnn", "full", 0.5, **DROPOUT)
    train_data_parallel(tr, va, str(tmp_path / "whole"), opts, workers=2, backend="local", quiet=True, log=quiet)
    calls = []

    def interrupt(trainer):
        calls.append(trainer.state["window"])
        if trainer.state["epoch"] == 1 and trainer.state["window"] == 3:
            os.kill(os.getpid(), signal.SIGINT)

    out = str(tmp_path / "cut")
    result = train_data_parallel(tr, va, out, opts, workers=2, backend="local", quiet=True, log=quiet,
                                 after_step=interrupt)
    assert result.status == "interrupted" and result.exit_code == 130
    result = train_data_parallel(tr, va, out, opts, workers=2, backend="local", quiet=True, log=quiet, resume=True)
    assert result.status == "epochs"
    assert relative_difference(weights(tmp_path / "whole"), weights(out)) == 0.0


def test_cloze_and_too_few_streams_are_refused(tmp_path):
    from rnnkit.errors import OptionError

    tr, va = small_corpus(tmp_path)
    with pytest.raises(OptionError, match="cannot be shared"):
        train_data_parallel(tr, va, str(tmp_path / "a"), options("rnn", "full", 0.5), workers=7, backend="local",
                            quiet=True, log=quiet)
    with pytest.raises(OptionError, match="left-to-right"):
        train_data_parallel(tr, va, str(tmp_path / "b"), dict(task="cloze", hidden=8, batch=4), workers=2,
                            backend="local", quiet=True, log=quiet)


def test_checkpoint_minutes_writes_mid_epoch_checkpoints(tmp_path):
    from rnnkit.lm.train.state import Checkpoint

    tr, va = small_corpus(tmp_path)
    seen = []

    def look(trainer):
        st = trainer.state
        if st["window"] > 0:
            saved = Checkpoint(trainer.checkpoint_path).state
            seen.append((saved["epoch"], saved["window"]) == (st["epoch"], st["window"]))

    train_data_parallel(tr, va, str(tmp_path / "m"), options("rnn", "full", 0.5), workers=2, backend="local",
                        quiet=True, log=quiet, checkpoint_minutes=1e-9, after_step=look)
    assert len(seen) > 5 and all(seen)


def diverged_lines(lines):
    return [line for line in lines if line.startswith("diverged:")]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_a_non_finite_loss_rolls_back_on_workers_as_in_one_process(tmp_path):
    # --lr huge --clip 0: window 1's loss is nan; each time back to the initial weights (no epoch finished) with
    # half the rate, on the workers too (else window 0 would be nan at once), until the run gives up. The rate is
    # beyond float32's range, halved five times too, so that every step is inf whatever the CPU's kernels (at
    # 1e37 an AVX-512 machine kept the loss finite and diverged only in validation)
    tr, va = small_corpus(tmp_path)
    opts = options("gru", "full", 1e45, clip=0.0, **DROPOUT)
    lines = []
    one = train(tr, va, str(tmp_path / "one"), opts, quiet=True, log=lines.append)
    expected = diverged_lines(lines)
    assert len(expected) == 5 and all("the training loss became nan at epoch 1, window 1;" in x for x in expected)
    assert one.status == "diverged" and one.exit_code == 1
    for n in (1, 2, 3):
        lines = []
        out = str(tmp_path / f"n{n}")
        result = train_data_parallel(tr, va, out, opts, workers=n, backend="local", quiet=True, log=lines.append)
        assert diverged_lines(lines) == expected and (result.status, result.exit_code) == ("diverged", 1)
        assert result.message.replace(out, "OUT") == one.message.replace(str(tmp_path / "one"), "OUT")


def test_a_non_finite_gradient_norm_rolls_back_and_training_goes_on(tmp_path, monkeypatch):
    # the clipping norm of window 3 is made inf (once per run): the step is refused before the driver's weights
    # change, the run goes back to its initial weights with half the rate and then trains as one process does
    import math

    from rnnkit.lm.train import trainer as one_process
    from rnnkit.nn.optim import clip_scale
    from rnnkit.scale import data_parallel

    calls = []

    def poisoned(grads, max_norm, rows=None):
        calls.append(1)
        norm, scale = clip_scale(grads, max_norm, rows)
        return (math.inf if len(calls) == 4 else norm), scale

    monkeypatch.setattr(one_process, "clip_scale", poisoned)
    monkeypatch.setattr(data_parallel, "clip_scale", poisoned)
    tr, va = small_corpus(tmp_path)
    opts = options("gru", "full", 2.0, clip=5.0, **DROPOUT)
    lines = []
    train(tr, va, str(tmp_path / "one"), opts, quiet=True, log=lines.append)
    expected = diverged_lines(lines)
    assert expected == ["diverged: the gradient norm became inf at epoch 1, window 3; back to the last good "
                        "weights, lr halved to 1"]
    for n in (2, 3):
        calls.clear()
        lines = []
        result = train_data_parallel(tr, va, str(tmp_path / f"n{n}"), opts, workers=n, backend="local", quiet=True,
                                     log=lines.append)
        assert result.status == "epochs" and diverged_lines(lines) == expected
        assert relative_difference(weights(tmp_path / "one"), weights(tmp_path / f"n{n}")) <= 1e-5, n


def test_max_minutes_counts_the_time_before_a_worker_restart(tmp_path, monkeypatch):
    # a clock that moves 1 s per window; a worker dies in the 9th window (9 s spent), the run restarts from the
    # checkpoint at window 0: a 15 s budget leaves 6 windows, not 15 (a clock started over at the restart)
    import types

    from rnnkit.lm.train import trainer as one_process
    from rnnkit.scale.cluster import WorkerDied

    clock = [0.0]
    monkeypatch.setattr(one_process, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    died = []

    def tick(trainer):
        clock[0] += 1.0
        if trainer.state["window"] == 8 and not died:
            died.append(1)
            raise WorkerDied(1, "killed by the test")

    tr, va = small_corpus(tmp_path)
    lines = []
    result = train_data_parallel(tr, va, str(tmp_path / "m"), options("rnn", "full", 0.5, epochs=5), workers=2,
                                 backend="local", quiet=True, log=lines.append, after_step=tick, max_minutes=0.25)
    assert died and any("worker 1 died (killed by the test): restarting 2 worker(s)" in line for line in lines)
    assert result.status == "time" and clock[0] == 15.0
    assert result.cli_message().startswith("stopped after --max-minutes 0.25 at epoch 1, window 6/")
