"""The article's own toy, run through rnnkit with every gradient checked.

The article builds RecurrentLayer(3, 2, IdentityActivator(), 1e-3), feeds it
x_1 = [1, 2, 3] and x_2 = [2, 3, 4], takes E = the sum of the last state and
checks only dE/dW. Here the same layer (input width 3, state width 2) is
checked for U, W, b, the inputs and the initial state, first from s_0 = 0 as
in the article, then from a non-zero s_0 and with tanh, where a wrong δ_1
could no longer hide (docs/article.md §8).

    python examples/article_toy.py
"""

import numpy

from rnnkit.nn import Recurrent
from rnnkit.nn.gradcheck import check_gradients


def run(activation, s0):
    layer = Recurrent(3, 2, activation=activation, init="uniform", seed=0, dtype=numpy.float64)
    layer.params["W"][...] = numpy.random.default_rng(1).uniform(-0.5, 0.5, (2, 2))
    x = numpy.array([[[1.0, 2.0, 3.0]], [[2.0, 3.0, 4.0]]])  # (T=2, B=1, 3)

    def loss_and_grads():
        layer.zero_grad()
        states = layer.forward(x, s0)
        dstates = numpy.zeros_like(states)
        dstates[-1] = 1.0  # E = sum of the last state's elements
        dx, ds0 = layer.backward(dstates)
        return states[-1].sum(), {**layer.grads, "x": dx, "s0": ds0}

    states = layer.forward(x, s0)
    errors = check_gradients(loss_and_grads, {**layer.params, "x": x, "s0": s0})
    print(f"{activation:8} s0={s0.ravel()}  states={numpy.round(states[:, 0], 6).tolist()}")
    for name, err in errors.items():
        print(f"    d E / d {name:2}: max relative error {err:.1e}")
    return max(errors.values())


if __name__ == "__main__":
    worst = max(run("identity", numpy.zeros((1, 2))), run("tanh", numpy.array([[0.3, -0.7]])))
    print(f"worst relative error {worst:.1e}: {'OK' if worst < 1e-6 else 'FAILED'}")
