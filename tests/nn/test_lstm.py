"""The LSTM layer: its equations, its initial forget bias, and BPTT against finite differences.

The gradient checks run the same matrix as `rnnkit gradcheck --cell lstm`
(direction x depth x deep form, non-zero random h0 and c0, float64) on
slightly smaller networks so that the file runs in seconds; every parameter,
the input and both halves of every initial state are checked.
"""

import numpy
import pytest

from rnnkit.nn import LSTM, RecurrentStack
from rnnkit.nn.checks import TOLERANCE, build_case, cases
from rnnkit.nn.gradcheck import check_gradients


def sigmoid(v):
    return 1 / (1 + numpy.exp(-v))


def matrix():
    """The gradcheck matrix; its bidirectional stacks take most of the time: full suite only."""
    return [pytest.param(c, marks=pytest.mark.slow) if c["direction"] == "bi" and c["depth"] > 1 else c
            for c in cases(cells=("lstm",))]


@pytest.mark.parametrize("case", matrix(), ids=lambda c: f"{c['direction']}-{c['depth']}-{c['form']}")
def test_gradients_match_finite_differences(case):
    loss_and_grads, arrays = build_case(cell="lstm", bidirectional=case["direction"] == "bi", depth=case["depth"],
                                        form=case["form"], T=3, B=2, input_size=2, hidden_size=3, classes=3)
    # s0[2k] is an h0 and s0[2k+1] the matching c0: both must be checked.
    assert sum(name.startswith("s0[") for name in arrays) == 2 * case["depth"] * (2 if case["direction"] == "bi" else 1)
    errors = check_gradients(loss_and_grads, arrays)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOLERANCE, (worst, errors[worst])


def test_forward_is_the_lstm_equations(rng):
    I, H = 3, 4
    layer = LSTM(I, H, seed=0, dtype=numpy.float64)
    layer.params["b"][...] = rng.standard_normal(4 * H)
    x = rng.standard_normal((5, 2, I))
    h, c = rng.standard_normal((2, H)), rng.standard_normal((2, H))
    states = layer.forward(x, (h, c))
    U, W, b = layer.params["U"], layer.params["W"], layer.params["b"]
    blocks = lambda a: [a[k * H:(k + 1) * H] for k in range(4)]  # noqa: E731  gate order i, f, g, o
    (Ui, Uf, Ug, Uo), (Wi, Wf, Wg, Wo), (bi, bf, bg, bo) = blocks(U), blocks(W), blocks(b)
    for t in range(5):
        i = sigmoid(x[t] @ Ui.T + h @ Wi.T + bi)
        f = sigmoid(x[t] @ Uf.T + h @ Wf.T + bf)
        g = numpy.tanh(x[t] @ Ug.T + h @ Wg.T + bg)
        o = sigmoid(x[t] @ Uo.T + h @ Wo.T + bo)
        c = f * c + i * g
        h = o * numpy.tanh(c)
        assert numpy.allclose(states[t], h, atol=1e-14)
    assert numpy.allclose(layer.final_state[0], h, atol=1e-14)
    assert numpy.allclose(layer.final_state[1], c, atol=1e-14)


def test_parameters_and_forget_bias():
    layer = LSTM(3, 5, seed=0)
    assert set(layer.params) == set(layer.grads) == {"U", "W", "b"}
    assert layer.params["U"].shape == (20, 3) and layer.params["W"].shape == (20, 5)
    assert layer.params["U"].dtype == numpy.float32
    b = layer.params["b"]
    assert (b[5:10] == 1.0).all() and not b[:5].any() and not b[10:].any(), "only the forget gate starts biased"
    b = LSTM(3, 5, forget_bias=2.5, input_bias=-2.5).params["b"]
    assert (b[5:10] == 2.5).all() and (b[:5] == -2.5).all() and not b[10:].any()
    assert LSTM(3, 5, seed=7).params["W"].tolist() == LSTM(3, 5, seed=7).params["W"].tolist(), "same seed, same weights"


def test_forget_gate_decides_how_far_the_error_term_travels():
    # The remedy of docs/article.md §6: along the cell, dc_{t-1} = dc_t ⊙ f_t (no W, no squashing).
    # Held open (f ≈ 1) the error term reaches c_0 60 steps back undiminished; closed
    # (f ≈ 0) it is gone after one step.
    T, H = 60, 8
    x = numpy.zeros((T, 1, 1))
    d = numpy.zeros((T, 1, H))
    d[-1] = 1.0
    reach = {}
    for bias in (30.0, -30.0):
        lstm = LSTM(1, H, seed=0, dtype=numpy.float64, forget_bias=bias)
        lstm.params["W"][H:2 * H] = 0  # the forget gate is its bias alone
        lstm.forward(x, (numpy.zeros((1, H)), numpy.ones((1, H))))
        _, (_, dc0) = lstm.backward(d)
        o, tc = lstm._cache[3][-1, :, 3 * H:], lstm._cache[6][-1]
        dc_T = o * (1 - tc**2)  # dE/dc_T from the loss at the last step
        reach[bias] = numpy.abs(dc0).max() / numpy.abs(dc_T).max()
    assert reach[30.0] > 0.99
    assert reach[-30.0] < 1e-12


def test_stack_of_lstms_nests_h_c_pairs(rng):
    stack = RecurrentStack(3, 4, 2, cell="lstm", bidirectional=True, seed=0, dtype=numpy.float64)
    out = stack.forward(rng.standard_normal((5, 2, 3)))
    assert out.shape == (5, 2, 8)
    (fw, bw) = stack.final_state[1]
    assert len(fw) == 2 and fw[0].shape == fw[1].shape == (2, 4) and len(bw) == 2
    _, dstate0 = stack.backward(numpy.ones_like(out))
    assert [[tuple(a.shape) for a in d] for layer in dstate0 for d in layer] == [[(2, 4), (2, 4)]] * 4
