"""What the softmax layers' tests share."""

import numpy


def weight_grad_through_sink(layer, h, targets):
    """(∂E/∂h, ∇V as a weight sink receives it) of a fresh loss on ``layer`` (FullSoftmax or
    ClassSoftmax), with the deferred weight-gradient pieces run: dynamic evaluation's path,
    where V is stepped from the pieces and grads["V"] is left alone."""
    layer.zero_grad()
    layer.loss(h, targets)
    received = numpy.zeros_like(layer.grads["V"])

    def sink(lo, hi, d, x):
        received[lo:hi] += d.T @ x

    dh, pieces = layer._backward_loss(defer_weight_grad=True, weight_sink=sink)
    for piece in pieces:
        piece()
    return dh, received
