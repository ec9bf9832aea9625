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
    # a sink receives ∇V's rows instead of grads["V"] (dynamic evaluation steps V with them)
    dh, received = weight_grad_through_sink(head, h, targets)
    assert numpy.array_equal(dh, expected["h"]) and not head.grads["V"].any()
    assert numpy.allclose(received, expected["V"], atol=1e-14)


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
