"""The GRU layer: PyTorch's equations (with the separate recurrent bias b_hn) and BPTT
against finite differences, the same matrix as `rnnkit gradcheck --cell gru` on
slightly smaller networks so the file runs in seconds."""

import numpy
import pytest

from rnnkit.nn import GRU, RecurrentStack
from rnnkit.nn.checks import TOLERANCE, build_case, cases
from rnnkit.nn.gradcheck import check_gradients


def sigmoid(v):
    return 1 / (1 + numpy.exp(-v))


def matrix():
    """The gradcheck matrix; its bidirectional stacks take most of the time: full suite only."""
    return [pytest.param(c, marks=pytest.mark.slow) if c["direction"] == "bi" and c["depth"] > 1 else c
            for c in cases(cells=("gru",))]


@pytest.mark.parametrize("case", matrix(), ids=lambda c: f"{c['direction']}-{c['depth']}-{c['form']}")
def test_gradients_match_finite_differences(case):
    loss_and_grads, arrays = build_case(cell="gru", bidirectional=case["direction"] == "bi", depth=case["depth"],
                                        form=case["form"], T=3, B=2, input_size=2, hidden_size=3, classes=3)
    assert any(name.endswith("b_hn") for name in arrays)
    errors = check_gradients(loss_and_grads, arrays)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOLERANCE, (worst, errors[worst])


def test_forward_is_the_gru_equations(rng):
    I, H = 3, 4
    layer = GRU(I, H, seed=0, dtype=numpy.float64)
    layer.params["b"][...] = rng.standard_normal(3 * H)
    layer.params["b_hn"][...] = rng.standard_normal(H)
    x = rng.standard_normal((5, 2, I))
    h = rng.standard_normal((2, H))
    states = layer.forward(x, h)
    U, W, b, b_hn = (layer.params[k] for k in ("U", "W", "b", "b_hn"))
    blocks = lambda a: [a[k * H:(k + 1) * H] for k in range(3)]  # noqa: E731  gate order r, z, n
    (Ur, Uz, Un), (Wr, Wz, Wn), (br, bz, bn) = blocks(U), blocks(W), blocks(b)
    for t in range(5):
        r = sigmoid(x[t] @ Ur.T + h @ Wr.T + br)
        z = sigmoid(x[t] @ Uz.T + h @ Wz.T + bz)
        n = numpy.tanh(x[t] @ Un.T + bn + r * (h @ Wn.T + b_hn))  # the reset gate scales W_hn h + b_hn
        h = (1 - z) * n + z * h
        assert numpy.allclose(states[t], h, atol=1e-14)
    assert numpy.allclose(layer.final_state, h, atol=1e-14)


def test_parameters():
    layer = GRU(3, 5, seed=0)
    assert set(layer.params) == set(layer.grads) == {"U", "W", "b", "b_hn"}
    assert layer.params["U"].shape == (15, 3) and layer.params["W"].shape == (15, 5)
    assert layer.params["b"].shape == (15,) and layer.params["b_hn"].shape == (5,)
    assert not layer.params["b"].any() and not layer.params["b_hn"].any()
    b = GRU(3, 5, update_bias=2.0).params["b"]
    assert (b[5:10] == 2.0).all() and not b[:5].any() and not b[10:].any()


def test_stack_of_grus(rng):
    stack = RecurrentStack(3, 4, 3, cell="gru", bidirectional=True, form="article", seed=0, dtype=numpy.float64)
    assert "layers.2.bw.b_hn" in stack.params
    out = stack.forward(rng.standard_normal((5, 2, 3)))
    dx, dstate0 = stack.backward(numpy.ones_like(out))
    assert out.shape == (5, 2, 8) and dx.shape == (5, 2, 3)
    assert [tuple(d.shape) for layer in dstate0 for d in layer] == [(2, 4)] * 6
