"""The fused output layer (FullSoftmax) against Linear followed by SoftmaxCrossEntropy."""

import numpy
import pytest

from rnnkit.nn import Linear, SoftmaxCrossEntropy, log_softmax, softmax
from rnnkit.nn import _fast
from rnnkit.nn.full_softmax import FullSoftmax
from rnnkit.nn.gradcheck import check_gradients
from softmax_helpers import weight_grad_through_sink


def _head(rng, H=5, vocab=40):
    head = FullSoftmax(H, vocab, seed=0, dtype=numpy.float64)
    head.params["c"][...] = rng.standard_normal(vocab)
    return head, rng.standard_normal((70, H)), rng.integers(0, vocab, 70)


def test_full_softmax_equals_linear_then_softmax_cross_entropy(rng):
    head, h, targets = _head(rng)
    lin = Linear(5, 40, dtype=numpy.float64)
    lin.params["V"][...], lin.params["c"][...] = head.params["V"], head.params["c"]
    ce = SoftmaxCrossEntropy()
    expected = ce.forward(lin.forward(h), targets)
    assert head.loss(h, targets) == expected  # c added inside the blocks: the same sums, bit for bit
    dh_expected = lin.backward(ce.backward())
    assert numpy.allclose(head.backward_loss(), dh_expected, rtol=1e-12, atol=1e-15)
    for name in ("V", "c"):
        assert numpy.allclose(head.grads[name], lin.grads[name], rtol=1e-12, atol=1e-15), name
    expected_logp = log_softmax(h @ head.params["V"].T + head.params["c"])
    assert numpy.allclose(head.log_probs(h), expected_logp, atol=1e-13)
    assert numpy.allclose(head.token_log_probs(h, targets), expected_logp[numpy.arange(70), targets], atol=1e-13)
    assert numpy.allclose(numpy.exp(head.log_probs(h)), softmax(h @ head.params["V"].T + head.params["c"]))


def test_full_softmax_gradients_and_its_deferred_weight_gradient(rng, monkeypatch):
    monkeypatch.setattr(_fast, "ROWS_PER_PIECE", 16)  # 40 rows of V: three pieces
    head, h, targets = _head(rng)

    def loss_and_grads():
        head.zero_grad()
        loss = head.loss(h, targets)
        return loss, {**head.grads, "h": head.backward_loss()}

    errors = check_gradients(loss_and_grads, {**head.params, "h": h})
    assert max(errors.values()) < 1e-8, errors
    _, expected = loss_and_grads()
    expected = {k: v.copy() for k, v in expected.items()}
    head.zero_grad()
    head.loss(h, targets)
    dh, pieces = head._backward_loss(defer_weight_grad=True)
    assert numpy.array_equal(dh, expected["h"]) and numpy.array_equal(head.grads["c"], expected["c"])
    assert not head.grads["V"].any() and len(pieces) == 3
    for piece in pieces:
        piece()
    assert numpy.allclose(head.grads["V"], expected["V"], atol=1e-14)
    with pytest.raises(RuntimeError, match="loss"):
        head.backward_loss()  # once per loss: the logits array is now the gradient
    # a sink receives ∇V's rows instead of grads["V"] (dynamic evaluation steps V with them);
    # dh is then summed block by block of V's rows: equal up to rounding
    dh, received = weight_grad_through_sink(head, h, targets)
    assert numpy.allclose(dh, expected["h"], rtol=1e-12, atol=1e-15) and not head.grads["V"].any()
    assert numpy.allclose(received, expected["V"], atol=1e-14)


def _sharing(on):
    """product_map sharing its blocks among threads, as in dynamic evaluation, or not."""
    from contextlib import nullcontext

    from rnnkit import parallel

    return parallel.shared_products() if on else nullcontext()


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_weight_sink_may_change_its_rows_of_V(rng, monkeypatch, threads):
    """The sink gets each block of V's rows after that block's share of dh is made: a sink that
    changes the rows it is handed (dynamic evaluation's step) leaves dh as it was, and every row
    reaches it once, whichever thread runs the block."""
    monkeypatch.setattr(_fast, "ROWS_PER_PIECE", 8)  # 40 rows of V: five blocks
    monkeypatch.setenv("RNNKIT_NUM_THREADS", threads)
    with _sharing(True):
        _sink_changes_its_rows(rng)


def _sink_changes_its_rows(rng):
    head, h, targets = _head(rng)
    head.zero_grad()
    head.loss(h, targets)
    expected_dh = head.backward_loss()
    V0 = head.params["V"].copy()
    seen = []

    def sink(lo, hi, d, x):
        seen.append((lo, hi))
        head.params["V"][lo:hi] = 1e6  # what a step would do, far larger

    head.loss(h, targets)
    dh, pieces = head._backward_loss(defer_weight_grad=True, weight_sink=sink)
    assert pieces == [] and sorted(seen) == [(0, 8), (8, 16), (16, 24), (24, 32), (32, 40)]
    assert numpy.allclose(dh, expected_dh, rtol=1e-12, atol=1e-15)
    assert (head.params["V"] == 1e6).all() and not numpy.array_equal(V0, head.params["V"])


@pytest.mark.parametrize("threads", ["1", "2", "3"])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("rows", [1, 20, 70])  # cut over the threads below FEW_ROWS, BLAS's above
def test_the_output_product_of_few_rows_cut_over_threads_is_the_product(rng, monkeypatch, threads, shared, rows):
    """Cut only with threads to share it, inside shared_products: elsewhere BLAS keeps it."""
    monkeypatch.setattr(_fast, "ROWS_PER_PIECE", 8)  # 40 rows of V: enough to cut
    monkeypatch.setenv("RNNKIT_NUM_THREADS", threads)
    with _sharing(shared):
        _product_of_few_rows(rng, monkeypatch, rows, cuts=threads != "1" and shared and rows < _fast.FEW_ROWS)


def _product_of_few_rows(rng, monkeypatch, rows, cuts):
    from rnnkit import parallel

    cut = []

    def counted(fn, items):
        cut.append(len(items))
        return parallel.product_map(fn, items)

    monkeypatch.setattr(_fast, "product_map", counted)
    for dtype in (numpy.float64, numpy.float32):
        x, V = rng.standard_normal((rows, 5)).astype(dtype), rng.standard_normal((40, 5)).astype(dtype)
        out = _fast.times_transpose(x, V)
        assert cut == ([parallel.num_threads()] if cuts else [])
        cut.clear()
        assert out.shape == (rows, 40) and out.dtype == dtype and out.flags.c_contiguous
        assert numpy.allclose(out, x @ V.T, rtol=1e-5 if dtype == numpy.float32 else 1e-12, atol=1e-6)
    head, h, targets = _head(rng)
    assert numpy.allclose(head.log_probs(h[:rows]), log_softmax(h[:rows] @ head.params["V"].T + head.params["c"]))
    assert numpy.allclose(head.token_log_probs(h[:rows], targets[:rows]),
                          head.log_probs(h[:rows])[numpy.arange(rows), targets[:rows]], atol=1e-13)


def test_full_softmax_rejects_bad_input(rng):
    head, h, targets = _head(rng)
    with pytest.raises(ValueError, match="h: expected"):
        head.loss(h[:, :4], targets)
    with pytest.raises(ValueError, match="dtype"):
        head.loss(h.astype(numpy.float32), targets)
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 40\)"):
        head.token_log_probs(h, targets + 40)


@pytest.mark.parametrize("n", [70, 300])  # one span, and blocks shared out among threads
def test_extra_targets_of_some_rows_come_from_the_same_pass(rng, n):
    head = FullSoftmax(5, 40, seed=0, dtype=numpy.float64)
    head.params["c"][...] = rng.standard_normal(40)
    h, targets = rng.standard_normal((n, 5)) * 3, rng.integers(0, 40, n)
    h[7] *= 40  # a row shifted by its maximum (SHIFT_FREE)
    rows = numpy.array([n - 1, 0, 7, 7, 33, 0, n // 2])
    more = rng.integers(0, 40, rows.size)
    own, extra = head.token_log_probs(h, targets, extra=(rows, more))
    logp = log_softmax(h @ head.params["V"].T + head.params["c"])
    assert numpy.allclose(own, logp[numpy.arange(n), targets], atol=1e-12)
    assert numpy.allclose(extra, logp[rows, more], atol=1e-12)
    assert numpy.array_equal(own, head.token_log_probs(h, targets))
    with pytest.raises(ValueError, match="extra rows"):
        head.token_log_probs(h, targets, extra=(numpy.array([n]), numpy.array([0])))
    with pytest.raises(ValueError, match="extra targets"):
        head.token_log_probs(h, targets, extra=(numpy.array([0]), numpy.array([40])))
