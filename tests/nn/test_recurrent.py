import numpy
import pytest

from rnnkit.nn import Embedding, Recurrent, RecurrentStack
from rnnkit.nn.activations import ACTIVATIONS, get_activation
from rnnkit.nn.gradcheck import check_gradients


def test_shapes_and_contract(rng):
    layer = Recurrent(3, 5, seed=0)
    assert set(layer.params) == set(layer.grads) == {"U", "W", "b"}
    assert layer.params["U"].shape == (5, 3) and layer.params["W"].shape == (5, 5) and layer.params["b"].shape == (5,)
    x = rng.standard_normal((4, 2, 3)).astype(numpy.float32)
    states = layer.forward(x)
    assert states.shape == (4, 2, 5) and states.dtype == numpy.float32
    dx, ds0 = layer.backward(numpy.ones_like(states))
    assert dx.shape == x.shape and ds0.shape == (2, 5)
    g = layer.grads["W"].copy()
    layer.backward(numpy.ones_like(states))
    assert numpy.allclose(layer.grads["W"], 2 * g), "gradients accumulate until zero_grad()"
    layer.zero_grad()
    assert all(not g.any() for g in layer.grads.values())


def test_forward_is_equation_2(rng):
    # s_t = f(U x_t + W s_{t-1} + b), written out step by step in float64
    layer = Recurrent(3, 4, activation="sigmoid", seed=0, dtype=numpy.float64)
    layer.params["b"][...] = rng.standard_normal(4)
    x = rng.standard_normal((5, 2, 3))
    s = rng.standard_normal((2, 4))
    states = layer.forward(x, s)
    U, W, b = layer.params["U"], layer.params["W"], layer.params["b"]
    for t in range(5):
        s = 1 / (1 + numpy.exp(-(x[t] @ U.T + s @ W.T + b)))
        assert numpy.allclose(states[t], s, atol=1e-14)


def test_activation_derivatives_from_output(rng):
    net = rng.standard_normal(50) * 2
    for name in ACTIVATIONS:
        f = get_activation(name)
        y = f.forward(net.copy())
        eps = 1e-6
        numeric = (f.forward(net + eps) - f.forward(net - eps)) / (2 * eps)
        assert numpy.allclose(f.derivative(y), numeric, atol=1e-6), name
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        get_activation("swish")


def test_one_hot_input_equals_column_lookup(rng):
    # docs/article.md §7: U times a one-hot vector is a column of U; the engine uses the lookup.
    V = 7
    layer = Recurrent(V, 4, seed=0, dtype=numpy.float64)
    ids = rng.integers(0, V, (5, 3))
    one_hot = numpy.eye(V)[ids]
    assert numpy.array_equal(layer.input_projection(ids), layer.input_projection(one_hot))
    out_ids = layer.forward(ids)
    d = rng.standard_normal(out_ids.shape)
    layer.backward(d)
    g_ids = layer.grads["U"].copy()
    layer.zero_grad()
    out_hot = layer.forward(one_hot)
    layer.backward(d)
    assert numpy.allclose(out_ids, out_hot) and numpy.allclose(g_ids, layer.grads["U"])

    emb = Embedding(V, 4, seed=0, dtype=numpy.float64)
    assert numpy.array_equal(emb.forward(ids), one_hot @ emb.params["E"])


def test_truncated_bptt_carries_state_and_stops_gradient(rng):
    layer = Recurrent(3, 4, seed=0, dtype=numpy.float64)
    x = rng.standard_normal((8, 2, 3))
    whole = layer.forward(x)
    first = layer.forward(x[:4])
    second = layer.forward(x[4:], layer.final_state)
    assert numpy.allclose(numpy.concatenate([first, second]), whole, atol=1e-14)
    # The second chunk's backward ends at its s0: the gradient it returns for s0
    # is handed back to the caller, and the first chunk's parameters get nothing.
    layer.zero_grad()
    _, ds0 = layer.backward(numpy.ones_like(second))
    assert numpy.abs(ds0).sum() > 0
    direct = {k: g.copy() for k, g in layer.grads.items()}
    layer.zero_grad()
    layer.forward(x[4:], first[-1].copy())
    layer.backward(numpy.ones_like(second))
    for k in direct:
        assert numpy.allclose(direct[k], layer.grads[k])


def test_reverse_layer_runs_backwards_in_time(rng):
    fw = Recurrent(3, 4, seed=5, dtype=numpy.float64)
    bw = Recurrent(3, 4, seed=5, dtype=numpy.float64, reverse=True)
    x = rng.standard_normal((6, 2, 3))
    # s'_t = f(U' x_t + W' s'_{t+1}) equals a forward layer run on the reversed sequence.
    assert numpy.allclose(bw.forward(x), fw.forward(x[::-1].copy())[::-1])
    assert numpy.allclose(bw.final_state, fw.final_state)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_token_id_input_gradient(activation, rng):
    layer = Recurrent(6, 4, activation=activation, seed=0, dtype=numpy.float64)
    for p in layer.params.values():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    ids = rng.integers(0, 6, (4, 3))
    s0 = rng.uniform(0.1, 0.9, (3, 4))
    w = rng.standard_normal((4, 3, 4))

    def loss_and_grads():
        layer.zero_grad()
        states = layer.forward(ids, s0)
        _, ds0 = layer.backward(w)
        return float((w * states).sum()), {**layer.grads, "s0": ds0}

    errors = check_gradients(loss_and_grads, {**layer.params, "s0": s0})
    assert max(errors.values()) < 1e-7, errors


def test_bad_inputs_name_expected_and_received_shapes():
    layer = Recurrent(3, 4, seed=0)
    with pytest.raises(ValueError, match=r"x: expected shape \(\?, \?, 3\), got \(5, 2, 7\)"):
        layer.forward(numpy.zeros((5, 2, 7), numpy.float32))
    with pytest.raises(ValueError, match=r"x: expected 3 dimensions"):
        layer.forward(numpy.zeros((5, 3), numpy.float32))
    with pytest.raises(ValueError, match=r"s0: expected shape \(2, 4\), got \(3, 4\)"):
        layer.forward(numpy.zeros((5, 2, 3), numpy.float32), numpy.zeros((3, 4), numpy.float32))
    with pytest.raises(ValueError, match=r"x: expected dtype float32 \(the layer's dtype\), got float64"):
        layer.forward(numpy.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 3\)"):
        layer.forward(numpy.full((5, 2), 9))
    layer.forward(numpy.zeros((5, 2, 3), numpy.float32))
    with pytest.raises(ValueError, match=r"dstates: expected shape \(5, 2, 4\), got \(5, 2, 3\)"):
        layer.backward(numpy.zeros((5, 2, 3), numpy.float32))
    with pytest.raises(ValueError, match="unknown cell 'tree'"):
        RecurrentStack(3, 4, cell="tree")
    with pytest.raises(ValueError, match="unknown deep form"):
        RecurrentStack(3, 4, form="sideways")
    with pytest.raises(RuntimeError, match="before forward"):
        Recurrent(3, 4).backward(numpy.zeros((1, 1, 4), numpy.float32))
