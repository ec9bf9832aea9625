"""The gradient-check matrix behind `rnnkit gradcheck`.

Each case is a whole network: a (deep, maybe bidirectional) recurrent stack,
the output layer V with its bias (式1) and a softmax with cross-entropy on
random targets. Every parameter, the input x and every initial state are
checked, with T >= 3 steps, a batch and a non-zero random initial state, in
float64: the conditions under which the article's own check was blind (docs/article.md §8).
"""

import itertools

from rnnkit.backend import rng as make_rng, xp
from rnnkit.nn.gradcheck import check_gradients
from rnnkit.nn.linear import Linear
from rnnkit.nn.module import tree_leaves, tree_map
from rnnkit.nn.softmax import SoftmaxCrossEntropy
from rnnkit.nn.stack import RecurrentStack

TOLERANCE = 1e-6


def build_case(cell="rnn", activation="tanh", bidirectional=False, depth=1, form="concat",
               T=4, B=3, input_size=3, hidden_size=4, classes=5, seed=0):
    """A network, its inputs and a loss_and_grads function, ready for check_gradients."""
    rng = make_rng(seed)
    cell_kwargs = {"activation": activation} if cell == "rnn" else {}
    stack = RecurrentStack(input_size, hidden_size, depth, cell=cell, bidirectional=bidirectional, form=form,
                           seed=rng, dtype=xp.float64, **cell_kwargs)
    out = Linear(stack.output_size, classes, seed=rng, dtype=xp.float64)
    # Weights large enough that every unit is away from saturation and zero, so
    # every term of the gradient is exercised.
    for p in list(stack.params.values()) + list(out.params.values()):
        p[...] = rng.uniform(-0.8, 0.8, size=p.shape)
    x = rng.standard_normal((T, B, input_size))
    stack.forward(x)  # to learn the nesting of the state
    state0 = tree_map(lambda s: rng.uniform(-0.9, 0.9, size=s.shape), stack.final_state)
    if cell == "rnn" and activation == "relu":
        state0 = tree_map(xp.abs, state0)  # a ReLU state is never negative
    targets = rng.integers(0, classes, size=T * B)
    loss_fn = SoftmaxCrossEntropy()
    leaves = tree_leaves(state0)

    def loss_and_grads():
        stack.zero_grad()
        out.zero_grad()
        o = out.forward(stack.forward(x, state0))
        loss = loss_fn.forward(o.reshape(T * B, classes), targets)
        dh = out.backward(loss_fn.backward().reshape(T, B, classes))
        dx, dstate0 = stack.backward(dh)
        grads = {**{f"stack.{k}": g for k, g in stack.grads.items()}, **{f"out.{k}": g for k, g in out.grads.items()}}
        grads["x"] = dx
        grads.update({f"s0[{i}]": g for i, g in enumerate(tree_leaves(dstate0))})
        return loss, grads

    arrays = {**{f"stack.{k}": p for k, p in stack.params.items()}, **{f"out.{k}": p for k, p in out.params.items()}}
    arrays["x"] = x
    arrays.update({f"s0[{i}]": s for i, s in enumerate(leaves)})
    return loss_and_grads, arrays


def cases(cells=("rnn",), activations=("tanh", "sigmoid", "relu", "identity"), depths=(1, 2, 3)):
    """Every (cell, activation, direction, depth, deep form) combination worth checking.

    The deep form matters only for bidirectional stacks of two or more layers;
    gated cells have their own fixed nonlinearities, so they take no activation.
    """
    for cell in cells:
        for activation in activations if cell == "rnn" else ("-",):
            for bidirectional, depth in itertools.product((False, True), depths):
                forms = ("concat", "article") if bidirectional and depth > 1 else ("concat",)
                for form in forms:
                    yield {"cell": cell, "activation": activation, "direction": "bi" if bidirectional else "uni",
                           "depth": depth, "form": form}


def run_case(case, seed=0):
    """{array name: relative error} for one case of ``cases()``."""
    loss_and_grads, arrays = build_case(cell=case["cell"], activation=case["activation"] if case["cell"] == "rnn" else None,
                                        bidirectional=case["direction"] == "bi", depth=case["depth"],
                                        form=case["form"], seed=seed)
    return check_gradients(loss_and_grads, arrays)
