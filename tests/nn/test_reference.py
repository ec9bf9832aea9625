"""nn/reference.py is the oracle: the fast layers equal it to 1e-12 in float64.

Across the gradcheck matrix (4 activations x uni/bidirectional x 1-3 layers x
both deep forms), RecurrentStack + Linear + SoftmaxCrossEntropy give the
reference's outputs and every one of its gradients: U, W, b of every layer and
direction, V, c, the inputs and every initial state. The reference itself is
checked against central differences, so the two cannot agree on a mistake.
"""

import numpy
import pytest

from rnnkit.nn import reference
from rnnkit.nn.activations import ACTIVATIONS
from rnnkit.nn.checks import cases
from rnnkit.nn.gradcheck import numerical_gradient, relative_error
from rnnkit.nn.linear import Linear
from rnnkit.nn.module import tree_leaves, tree_map
from rnnkit.nn.recurrent import Recurrent
from rnnkit.nn.softmax import SoftmaxCrossEntropy
from rnnkit.nn.stack import FORMS, RecurrentStack

EQUAL = 1e-12
MATRIX = list(cases())
T, B, M, H, CLASSES = 4, 3, 3, 4, 5


def case_id(case):
    return f"{case['activation']}-{case['direction']}-{case['depth']}-{case['form']}"


def build(case, seed=0):
    """A fast network, the same network for the reference, its inputs and targets."""
    rng = numpy.random.default_rng(seed)
    bi = case["direction"] == "bi"
    stack = RecurrentStack(M, H, case["depth"], bidirectional=bi, form=case["form"], seed=rng,
                           dtype=numpy.float64, activation=case["activation"])
    out = Linear(stack.output_size, CLASSES, seed=rng, dtype=numpy.float64)
    for p in list(stack.params.values()) + list(out.params.values()):
        p[...] = rng.uniform(-0.8, 0.8, size=p.shape)  # away from saturation and from zero: every term counts
    x = rng.standard_normal((T, B, M))
    state0 = [(rng.uniform(-0.9, 0.9, (B, H)), rng.uniform(-0.9, 0.9, (B, H))) if bi else rng.uniform(-0.9, 0.9, (B, H))
              for _ in range(case["depth"])]
    if case["activation"] == "relu":
        state0 = tree_map(numpy.abs, state0)  # a ReLU state is never negative
    targets = rng.integers(0, CLASSES, size=(T, B))

    def parts(layer):
        return {k: layer.params[k] for k in ("U", "W", "b")}

    V = out.params["V"]
    network = {
        "activation": case["activation"], "form": case["form"],
        "layers": [(parts(layer.fw), parts(layer.bw)) if bi else parts(layer) for layer in stack.layers],
        "V": [V[:, :H], V[:, H:]] if bi else [V], "c": out.params["c"],
    }
    return stack, out, network, x, state0, targets


def fast_run(stack, out, x, state0, targets):
    """The engine: outputs, logits, loss and every gradient, under the reference's names."""
    stack.zero_grad()
    out.zero_grad()
    top = stack.forward(x, state0)
    o = out.forward(top)
    ce = SoftmaxCrossEntropy()
    L = ce.forward(o.reshape(T * B, CLASSES), targets.reshape(-1))
    dx, dstate0 = stack.backward(out.backward(ce.backward().reshape(o.shape)))
    grads = {f"stack.{k}": g.copy() for k, g in stack.grads.items()}
    grads.update({f"out.{k}": g.copy() for k, g in out.grads.items()})
    grads["x"] = dx
    grads.update({f"s0[{i}]": g for i, g in enumerate(tree_leaves(dstate0))})
    return top, o, L, grads


def reference_run(network, x, state0, targets):
    top, o, _ = reference.forward(network, x, state0)
    L, g = reference.loss_and_gradients(network, x, state0, targets)
    grads = {}
    for i, layer in enumerate(g["layers"]):
        named = {"fw": layer[0], "bw": layer[1]} if isinstance(layer, tuple) else {"": layer}
        for direction, d in named.items():
            for k, v in d.items():
                grads[".".join(filter(None, ("stack.layers", str(i), direction, k)))] = v
    grads["out.V"] = numpy.concatenate(g["V"], axis=1)
    grads["out.c"] = g["c"]
    grads["x"] = g["x"]
    grads.update({f"s0[{i}]": s for i, s in enumerate(tree_leaves(g["s0"]))})
    return top, o, L, grads


def differences(case, seed=0):
    """{what: relative difference between the engine and the reference} for one case."""
    stack, out, network, x, state0, targets = build(case, seed)
    fast = fast_run(stack, out, x, state0, targets)
    ref = reference_run(network, x, state0, targets)
    diff = {"outputs": relative_error(fast[0], ref[0]), "logits": relative_error(fast[1], ref[1]),
            "loss": abs(fast[2] - ref[2]) / abs(ref[2])}
    assert set(fast[3]) == set(ref[3]), sorted(set(fast[3]) ^ set(ref[3]))
    diff.update({name: relative_error(fast[3][name], ref[3][name]) for name in ref[3]})
    return diff


def test_the_matrix_is_the_gradcheck_matrix():
    assert len(MATRIX) == 4 * (3 + 1 + 2 + 2)  # 4 activations x (uni 1-3, bi 1, bi 2-3 in both forms)
    assert {c["activation"] for c in MATRIX} == set(ACTIVATIONS) == set(reference.ACTIVATIONS)
    assert {c["form"] for c in MATRIX} == set(FORMS)


@pytest.mark.parametrize("case", MATRIX, ids=case_id)
def test_fast_layers_equal_the_reference(case):
    diff = differences(case)
    # every array: each layer's and direction's U, W, b, V, c, x, every s_0
    expected = 3 * case["depth"] * (2 if case["direction"] == "bi" else 1) + 2 + 1 + case["depth"] * (
        2 if case["direction"] == "bi" else 1)
    assert len(diff) == expected + 3
    worst = {k: v for k, v in diff.items() if not v <= EQUAL}
    assert not worst, worst


@pytest.mark.parametrize("case", MATRIX, ids=case_id)
def test_reference_against_finite_differences(case):
    _, _, network, x, state0, targets = build(case, seed=1)
    network["V"] = [numpy.ascontiguousarray(V) for V in network["V"]]  # V, V' apart, to be perturbed in place
    _, grads = reference.loss_and_gradients(network, x, state0, targets)
    arrays = {"x": (x, grads["x"]), "c": (network["c"], grads["c"])}
    for k, (V, g) in enumerate(zip(network["V"], grads["V"])):
        arrays[f"V{k}"] = (V, g)
    for i, (layer, g) in enumerate(zip(network["layers"], grads["layers"])):
        for d, (part, gpart) in enumerate(zip(*(((layer, g) if isinstance(layer, tuple) else ((layer,), (g,)))))):
            for name in ("U", "W", "b"):
                arrays[f"{i}.{d}.{name}"] = (part[name], gpart[name])
    for i, (s, g) in enumerate(zip(tree_leaves(state0), tree_leaves(grads["s0"]))):
        arrays[f"s0[{i}]"] = (s, g)

    def loss():
        return reference.loss(network, x, state0, targets)

    errors = {name: relative_error(analytic, numerical_gradient(loss, array)) for name, (array, analytic) in arrays.items()}
    assert max(errors.values()) < 1e-6, errors


def test_one_hot_inputs_are_a_column_lookup():
    # docs/article.md §7: the engine looks up columns of U for token ids; the
    # reference multiplies U by the one-hot vectors; the states are the same.
    rng = numpy.random.default_rng(2)
    layer = Recurrent(6, 4, activation="tanh", seed=0, dtype=numpy.float64)
    ids = rng.integers(0, 6, size=(5, 2))
    s0 = rng.uniform(-0.5, 0.5, (2, 4))
    one_hot = numpy.eye(6)[ids]  # (T, B, 6)
    fast = layer.forward(ids, s0)
    _, s = reference.elman_forward(layer.params, reference.columns(one_hot), s0.T, numpy.tanh)
    assert relative_error(fast, reference.rows(s)) <= EQUAL


def test_the_comparison_can_fail():
    # A gradient that differs in one element by 1e-9 of its scale is caught.
    case = {"activation": "tanh", "direction": "bi", "depth": 2, "form": "article"}
    stack, out, network, x, state0, targets = build(case)
    fast = fast_run(stack, out, x, state0, targets)
    ref = reference_run(network, x, state0, targets)
    for name in ("stack.layers.1.bw.W", "out.c", "s0[3]", "x"):
        wrong = fast[3][name].copy()
        wrong.flat[0] += 1e-9 * numpy.abs(wrong).max()
        assert relative_error(wrong, ref[3][name]) > EQUAL, name
