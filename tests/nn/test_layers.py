import numpy
import pytest

from rnnkit.nn import Dropout, Embedding, Linear, SoftmaxCrossEntropy, init_weights, log_softmax, softmax
from rnnkit.nn.gradcheck import check_gradients
from rnnkit.nn.optim import SGD, clip_grad_norm, clip_grad_value, global_norm, make_optimizer


def test_linear_and_embedding_gradients(rng):
    emb = Embedding(6, 3, dtype=numpy.float64, seed=0)
    lin = Linear(3, 5, dtype=numpy.float64, seed=0)
    lin.params["c"][...] = rng.standard_normal(5)
    ids = rng.integers(0, 6, (4, 2))
    ids[0, 0] = ids[1, 1]  # a repeated id must sum its gradients
    targets = rng.integers(0, 5, 8)
    ce = SoftmaxCrossEntropy()

    def loss_and_grads():
        emb.zero_grad()
        lin.zero_grad()
        loss = ce.forward(lin.forward(emb.forward(ids)).reshape(8, 5), targets)
        emb.backward(lin.backward(ce.backward().reshape(4, 2, 5)))
        return loss, {"E": emb.grads["E"], "V": lin.grads["V"], "c": lin.grads["c"]}

    errors = check_gradients(loss_and_grads, {"E": emb.params["E"], "V": lin.params["V"], "c": lin.params["c"]})
    assert max(errors.values()) < 1e-8, errors


def test_scatter_add_rows_sums_repeated_rows(rng):
    from rnnkit.nn.embedding import scatter_add_rows

    rows = numpy.array([5, 0, 5, 3, 5, 0, 9])  # unsorted, repeated
    values = rng.standard_normal((7, 4))
    target = rng.standard_normal((10, 4))
    expected = target.copy()
    for r, v in zip(rows, values):
        expected[r] += v
    scatter_add_rows(target, rows, values)
    assert numpy.allclose(target, expected, atol=1e-14)
    columns = rng.standard_normal((4, 10))  # a transposed view, as for U's columns of the one-hot path
    expected = columns.copy()
    for r, v in zip(rows, values):
        expected[:, r] += v
    scatter_add_rows(columns.T, rows, values)
    assert numpy.allclose(columns, expected, atol=1e-14)
    before = target.copy()
    scatter_add_rows(target, rows[:0], values[:0])  # an empty window changes nothing
    assert numpy.array_equal(target, before)


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
    before, inside = SoftmaxCrossEntropy(), SoftmaxCrossEntropy(inplace=True)
    expected = before.forward(logits + bias, targets)
    assert inside.forward(logits.copy(), targets, bias=bias) == pytest.approx(expected, rel=1e-13)
    assert numpy.allclose(inside.backward(), before.backward(), atol=1e-15)
    # float32, several blocks and both threads' spans: within float32 rounding
    big = rng.standard_normal((300, 500)).astype(numpy.float32)
    b32 = rng.standard_normal(500).astype(numpy.float32)
    t = rng.integers(0, 500, 300)
    ref = SoftmaxCrossEntropy().forward(big.astype(numpy.float64) + b32, t)
    assert SoftmaxCrossEntropy(inplace=True).forward(big, t, bias=b32) == pytest.approx(ref, rel=1e-6)


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
    ce = SoftmaxCrossEntropy()
    nll = ce.token_nll(logits.astype(dtype), targets, bias=bias.astype(dtype))
    assert numpy.isfinite(nll).all() and numpy.allclose(nll, expected_nll, **tol)
    loss = ce.forward(logits.astype(dtype), targets, bias=bias.astype(dtype))
    assert loss == pytest.approx(expected_nll.mean(), rel=tol["rtol"])
    G, r = ce.backward_rows()
    assert G.dtype == r.dtype == dtype and r.shape == (100,)
    assert numpy.allclose(r[:, None] * G, expected_grad, **tol)
    ce.forward(logits.astype(dtype), targets, bias=bias.astype(dtype))
    assert numpy.allclose(ce.backward(), expected_grad, **tol)


def test_linear_backward_with_row_scale_equals_scaling_dout_first(rng):
    lin = Linear(4, 6, dtype=numpy.float64, seed=0)
    x, dout, r = rng.standard_normal((5, 3, 4)), rng.standard_normal((5, 3, 6)), rng.random(15) + 0.5
    lin.forward(x)
    dx_scaled = lin.backward(dout, row_scale=r)
    grads_scaled = {k: v.copy() for k, v in lin.grads.items()}
    lin.zero_grad()
    lin.forward(x)
    dx = lin.backward(dout * r.reshape(5, 3, 1))
    assert numpy.allclose(dx_scaled, dx, atol=1e-14)
    for name in ("V", "c"):
        assert numpy.allclose(grads_scaled[name], lin.grads[name], atol=1e-13), name


def test_linear_backward_can_leave_the_weight_gradient_in_pieces(rng, monkeypatch):
    monkeypatch.setattr(Linear, "ROWS_PER_PIECE", 4)  # 10 rows: pieces of 4, 4 and 2
    lin = Linear(3, 10, dtype=numpy.float64, seed=0)
    x, dout, r = rng.standard_normal((6, 3)), rng.standard_normal((6, 10)), rng.random(6) + 0.5
    lin.forward(x)
    dx = lin.backward(dout, row_scale=r)
    expected = {k: v.copy() for k, v in lin.grads.items()}
    lin.zero_grad()
    lin.forward(x)
    dx_deferred = lin.backward(dout, row_scale=r, defer_weight_grad=True)
    assert numpy.array_equal(dx_deferred, dx) and numpy.array_equal(lin.grads["c"], expected["c"])
    assert not lin.grads["V"].any(), "deferred means not computed yet"
    assert len(lin.pending) == 3
    for piece in lin.pending:
        piece()
    assert numpy.allclose(lin.grads["V"], expected["V"], atol=1e-14)


def test_token_nll_is_minus_the_log_softmax_at_the_targets(rng):
    """Evaluation's path: several blocks and both threads' spans, bias inside, huge logits, float32."""
    logits = rng.standard_normal((300, 500)).astype(numpy.float32) * 4
    logits[7] += 1000.0  # exp would overflow without the row maximum
    bias, targets = rng.standard_normal(500).astype(numpy.float32), rng.integers(0, 500, 300)
    expected = -log_softmax((logits + bias).astype(numpy.float64))[numpy.arange(300), targets]  # float32 sum, as inside
    keep = logits.copy()
    ce = SoftmaxCrossEntropy()
    nll = ce.token_nll(logits, targets, bias=bias)
    assert nll.dtype == numpy.float64 and numpy.allclose(nll, expected, rtol=1e-6, atol=1e-5)
    assert numpy.array_equal(logits, keep)
    assert ce.forward(logits, targets, bias=bias) == pytest.approx(expected.mean(), rel=1e-6)
    ce.token_nll(logits, targets)
    with pytest.raises(RuntimeError, match="forward"):
        ce.backward()  # token_nll keeps nothing for backward, and must not reuse the last forward's


def test_initialisers():
    r = numpy.random.default_rng(0)
    U, W = init_weights("uniform", r, 20, 10, numpy.float64)
    assert numpy.abs(U).max() <= 1e-4 and numpy.abs(W).max() <= 1e-4
    U, W = init_weights("orthogonal", r, 20, 10, numpy.float64)
    assert numpy.allclose(W.T @ W, numpy.eye(20), atol=1e-12)
    U, W = init_weights("identity", r, 20, 10, numpy.float64, scale=0.5)
    assert numpy.array_equal(W, 0.5 * numpy.eye(20)) and numpy.abs(U).max() < 0.01
    U, W = init_weights("xavier", r, 20, 10, numpy.float64)
    assert numpy.abs(U).max() <= (6 / 30) ** 0.5 and numpy.abs(W).max() <= (6 / 40) ** 0.5
    with pytest.raises(ValueError, match="unknown init"):
        init_weights("zeros", r, 2, 2, numpy.float64)


def test_clipping():
    grads = {"a": numpy.array([3.0, 0.0]), "b": numpy.array([[4.0]])}
    assert clip_grad_norm(grads, 10.0) == 5.0 and grads["a"][0] == 3.0  # under the threshold: untouched
    norm = clip_grad_norm(grads, 1.0)
    assert norm == 5.0 and abs(global_norm(grads) - 1.0) < 1e-6
    direction = grads["a"][0] / grads["b"][0, 0]
    assert abs(direction - 0.75) < 1e-12, "clipping by norm keeps the direction"
    grads = {"a": numpy.array([-3.0, 0.5, 2.0])}
    clip_grad_value(grads, 1.0)
    assert numpy.array_equal(grads["a"], [-1.0, 0.5, 1.0])


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "adam"])
def test_step_with_grad_scale_equals_clipping_first(name, rng):
    from rnnkit.nn.optim import clip_scale

    params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    grads = {k: 3.0 * rng.standard_normal(v.shape) for k, v in params.items()}
    clipped = {k: v.copy() for k, v in params.items()}
    clipped_grads = {k: v.copy() for k, v in grads.items()}
    norm = clip_grad_norm(clipped_grads, 0.5)
    norm2, scale = clip_scale(grads, 0.5)
    assert norm2 == norm and 0 < scale < 1 and clip_scale(grads, 10 * norm) == (norm, 1.0)
    make_optimizer(name, clipped, clipped_grads, 0.1).step()
    make_optimizer(name, params, grads, 0.1).step(grad_scale=scale)
    for k in params:
        assert numpy.allclose(params[k], clipped[k], rtol=1e-13, atol=1e-15), k


def test_sgd_updates_large_arrays_in_pieces_like_one_update(rng, monkeypatch):
    from rnnkit.nn import optim

    monkeypatch.setattr(optim, "PIECE", 64)
    p = {"w": rng.standard_normal((30, 7)), "v": rng.standard_normal(5)}  # 210 elements: 4 pieces, the last short
    g = {k: rng.standard_normal(a.shape) for k, a in p.items()}
    expected = {k: p[k] - 0.3 * 0.5 * g[k] for k in p}
    SGD(p, g, lr=0.3).step(grad_scale=0.5)
    for k in p:
        assert numpy.allclose(p[k], expected[k], rtol=0, atol=1e-15), k


def test_optimizer_state_round_trip():
    p = {"w": numpy.ones(3)}
    g = {"w": numpy.full(3, 0.5)}
    opt = make_optimizer("adam", p, g, lr=0.1)
    opt.step()
    state = opt.state_dict()
    p2 = {"w": p["w"].copy()}
    opt2 = make_optimizer("adam", p2, {"w": g["w"]}, lr=0.1)
    opt2.load_state_dict(state)
    opt.step()
    opt2.step()
    assert numpy.array_equal(p["w"], p2["w"])
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("lbfgs", p, g, lr=1)
    with pytest.raises(ValueError, match="learning rate must be positive"):
        SGD(p, g, lr=0)


def test_dropout_scales_and_masks(rng):
    d = Dropout(0.5, seed=0)
    x = numpy.ones((1000, 10), numpy.float32)
    y = d.forward(x)
    assert set(numpy.unique(y)) <= {0.0, 2.0} and abs(y.mean() - 1.0) < 0.05
    assert numpy.array_equal(d.backward(numpy.ones_like(x)), y)
    d.eval()
    assert d.forward(x) is x
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\)"):
        Dropout(1.0)
