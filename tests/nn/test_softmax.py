import numpy
import pytest

from rnnkit.nn import SoftmaxCrossEntropy, log_softmax, softmax
from rnnkit.nn import _fast


def test_softmax_is_a_distribution_and_stable():
    x = numpy.array([[1000.0, 1001.0, 999.0], [-5.0, 0.0, 5.0]])
    y = softmax(x)
    assert numpy.allclose(y.sum(axis=1), 1) and (y > 0).all()
    assert numpy.allclose(numpy.exp(log_softmax(x)), y)
    ce = SoftmaxCrossEntropy()
    loss = ce.forward(x, numpy.array([1, 2]))
    assert numpy.isfinite(loss)
    expected = -numpy.mean(numpy.log(y[[0, 1], [1, 2]]))
    assert abs(loss - expected) < 1e-12


def test_softmax_inplace_overwrites_logits_only_when_asked(rng):
    logits = rng.standard_normal((4, 6))
    keep = logits.copy()
    SoftmaxCrossEntropy().forward(logits, numpy.zeros(4, int))
    assert numpy.array_equal(logits, keep)
    ce = SoftmaxCrossEntropy(inplace=True)
    ce.forward(logits, numpy.zeros(4, int))
    assert not numpy.array_equal(logits, keep), "the logits were reused as the gradient buffer"
    assert numpy.allclose(ce.backward(), (softmax(keep) - numpy.eye(6)[numpy.zeros(4, int)]) / 4)
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 6\)"):
        ce.forward(keep, numpy.full(4, 6))


def test_softmax_bias_added_inside_equals_added_before(rng):
    logits, bias, targets = rng.standard_normal((70, 9)), rng.standard_normal(9), rng.integers(0, 9, 70)
    before = SoftmaxCrossEntropy()
    expected = before.forward(logits + bias, targets)
    work = logits.copy()
    nll, sums = _fast.xent_rows(work, targets, bias=bias)
    assert nll.mean() == pytest.approx(expected, rel=1e-13)
    G, r = _fast.xent_grad_rows(work, targets, sums)
    assert numpy.allclose(r[:, None] * G, before.backward(), atol=1e-15)
    # float32, several blocks and both threads' spans: within float32 rounding
    big = rng.standard_normal((300, 500)).astype(numpy.float32)
    b32 = rng.standard_normal(500).astype(numpy.float32)
    t = rng.integers(0, 500, 300)
    ref = SoftmaxCrossEntropy().forward(big.astype(numpy.float64) + b32, t)
    assert _fast.xent_rows(big, t, bias=b32)[0].mean() == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_softmax_rows_shifted_only_where_e_to_the_x_could_overflow(rng, dtype):
    """Rows whose maximum is far above SHIFT_FREE (e^x overflows) or far below it (every e^x
    underflows to 0) must come out as the float64 reference; moderate rows go unshifted."""
    logits = rng.standard_normal((100, 300)) * 3
    logits[3] += 1000.0   # e^1000 overflows in either dtype
    logits[5] -= 1000.0   # e^-1000 is 0 in either dtype: the sum would be 0
    logits[8] += 70.0     # just above the range: fine in float64, V e^73 overflows float32
    logits[9] -= 30.0     # just below it
    bias = rng.standard_normal(300)
    targets = rng.integers(0, 300, 100)
    shifted = logits + bias
    y = numpy.exp(log_softmax(shifted))
    expected_nll = -log_softmax(shifted)[numpy.arange(100), targets]
    expected_grad = (y - numpy.eye(300)[targets]) / 100
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == numpy.float32 else dict(rtol=1e-12, atol=1e-14)
    work = logits.astype(dtype)
    nll, sums = _fast.xent_rows(work, targets, bias=bias.astype(dtype))
    assert numpy.isfinite(nll).all() and numpy.allclose(nll, expected_nll, **tol)
    G, r = _fast.xent_grad_rows(work, targets, sums)
    assert G.dtype == r.dtype == dtype and r.shape == (100,)
    assert numpy.allclose(r[:, None] * G, expected_grad, **tol)
    ce = SoftmaxCrossEntropy()  # the public layer, through the same kernel
    assert ce.forward(shifted.astype(dtype), targets) == pytest.approx(expected_nll.mean(), rel=tol["rtol"])
    assert numpy.allclose(ce.backward(), expected_grad, **tol)


def test_token_nll_is_minus_the_log_softmax_at_the_targets(rng):
    """Evaluation's path: several blocks and both threads' spans, huge logits, float32."""
    logits = rng.standard_normal((300, 500)).astype(numpy.float32) * 4
    logits[7] += 1000.0  # exp would overflow without the row maximum
    targets = rng.integers(0, 500, 300)
    expected = -log_softmax(logits.astype(numpy.float64))[numpy.arange(300), targets]
    keep = logits.copy()
    ce = SoftmaxCrossEntropy()
    nll = ce.token_nll(logits, targets)
    assert nll.dtype == numpy.float64 and numpy.allclose(nll, expected, rtol=1e-6, atol=1e-5)
    assert numpy.array_equal(logits, keep)
    assert ce.forward(logits, targets) == pytest.approx(expected.mean(), rel=1e-6)
    ce.token_nll(logits, targets)
    with pytest.raises(RuntimeError, match="forward"):
        ce.backward()  # token_nll keeps nothing for backward, and must not reuse the last forward's
