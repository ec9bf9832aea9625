"""Linear, and the kernel behind its backward (rnnkit.nn._fast.linear_backward) with the
output layer's options: a factor per row, ∇V left in pieces."""

import numpy

from rnnkit.nn import Linear
from rnnkit.nn import _fast


def test_linear_backward_with_row_scale_equals_scaling_dout_first(rng):
    lin = Linear(4, 6, dtype=numpy.float64, seed=0)
    x, dout, r = rng.standard_normal((15, 4)), rng.standard_normal((15, 6)), rng.random(15) + 0.5
    gV, gc = numpy.zeros_like(lin.params["V"]), numpy.zeros_like(lin.params["c"])
    dx_scaled, pieces = _fast.linear_backward(x, dout, lin.params["V"], gV, gc, row_scale=r)
    assert pieces == []
    lin.forward(x)
    dx = lin.backward(dout * r[:, None])
    assert numpy.allclose(dx_scaled, dx, atol=1e-14)
    assert numpy.allclose(gV, lin.grads["V"], atol=1e-13) and numpy.allclose(gc, lin.grads["c"], atol=1e-13)


def test_linear_backward_can_leave_the_weight_gradient_in_pieces(rng, monkeypatch):
    monkeypatch.setattr(_fast, "ROWS_PER_PIECE", 4)  # 10 rows: pieces of 4, 4 and 2
    V = rng.standard_normal((10, 3))
    x, dout, r = rng.standard_normal((6, 3)), rng.standard_normal((6, 10)), rng.random(6) + 0.5
    gV, gc = numpy.zeros_like(V), numpy.zeros(10)
    dx, _ = _fast.linear_backward(x, dout, V, gV, gc, row_scale=r)
    gV_deferred, gc_deferred = numpy.zeros_like(V), numpy.zeros(10)
    dx_deferred, pieces = _fast.linear_backward(x, dout, V, gV_deferred, gc_deferred, row_scale=r,
                                                defer_weight_grad=True)
    assert numpy.array_equal(dx_deferred, dx) and numpy.array_equal(gc_deferred, gc)
    assert not gV_deferred.any(), "deferred means not computed yet"
    assert len(pieces) == 3
    for piece in pieces:
        piece()
    assert numpy.allclose(gV_deferred, gV, atol=1e-14)
