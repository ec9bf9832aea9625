import numpy

from rnnkit.nn import Linear


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
