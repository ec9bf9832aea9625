"""rnnkit against PyTorch through the bridge (rnnkit.nn.from_torch).

For nn.RNN (tanh and relu), nn.LSTM and nn.GRU, 1 to 3 layers, uni- and
bidirectional, in float64: the stack that from_torch builds gives the same
outputs, final states and gradients (every weight and bias, the input, h0 and
c0) as the torch module, to 1e-10. Plus the way back (to_torch_state_dict,
to_torch), batch_first, and the errors.
"""

import itertools
import sys

import numpy
import pytest

from rnnkit.nn import RecurrentStack, from_torch, to_torch_state_dict
from rnnkit.nn.torch_bridge import to_torch

torch = pytest.importorskip("torch", reason="PyTorch is the oracle for these checks (pip install torch==2.13.0)")

TOL = 1e-10
KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)]


def make_torch(kind, nonlinearity, layers, bidirectional, **kw):
    torch.manual_seed(layers * 10 + bidirectional)
    if kind == "rnn":
        return torch.nn.RNN(4, 5, num_layers=layers, nonlinearity=nonlinearity, bidirectional=bidirectional,
                            dtype=torch.float64, **kw)
    cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
    module = cls(4, 5, num_layers=layers, bidirectional=bidirectional, dtype=torch.float64, **kw)
    with torch.no_grad():  # non-zero, distinct biases on both sides so their mapping matters
        for name, p in module.named_parameters():
            if name.startswith("bias"):
                p.uniform_(-0.5, 0.5)
    return module


def split_state(h, layers, bidirectional):
    """torch's (layers * dirs, B, H) -> rnnkit's per-layer list (of (fw, bw) pairs)."""
    return [(h[2 * i], h[2 * i + 1]) if bidirectional else h[i] for i in range(layers)]


def per_layer_direction(state, bidirectional):
    return [s for layer in state for s in (layer if bidirectional else (layer,))]


@pytest.mark.parametrize("kind,nonlinearity,layers,bidirectional",
                         [(k, n, l, b) for (k, n), l, b in itertools.product(KINDS, [1, 2, 3], [False, True])],
                         ids=lambda v: str(v))
def test_matches_torch(kind, nonlinearity, layers, bidirectional):
    T, B, H = 6, 3, 5
    module = make_torch(kind, nonlinearity, layers, bidirectional)
    stack = from_torch(module)
    assert stack.dtype == numpy.float64
    dirs = 2 if bidirectional else 1
    rng = numpy.random.default_rng(layers)
    x = rng.standard_normal((T, B, 4))
    h0 = rng.uniform(0.0 if nonlinearity == "relu" else -1.0, 1.0, (layers * dirs, B, H))
    c0 = rng.uniform(-1.0, 1.0, (layers * dirs, B, H))
    weights = rng.standard_normal((T, B, dirs * H))

    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    out_t, hn_t = module(xt, (h0t, c0t) if kind == "lstm" else h0t)
    (out_t * torch.tensor(weights)).sum().backward()

    hs0 = split_state(h0, layers, bidirectional)
    if kind == "lstm":
        cs0 = split_state(c0, layers, bidirectional)
        pair = (lambda h, c: ((h[0], c[0]), (h[1], c[1]))) if bidirectional else (lambda h, c: (h, c))
        state0 = [pair(h, c) for h, c in zip(hs0, cs0)]
    else:
        state0 = hs0
    out = stack.forward(x, state0)
    dx, dstate0 = stack.backward(weights)

    assert numpy.abs(out - out_t.detach().numpy()).max() < TOL
    assert numpy.abs(dx - xt.grad.numpy()).max() < TOL
    final = per_layer_direction(stack.final_state, bidirectional)
    dinit = per_layer_direction(dstate0, bidirectional)
    if kind == "lstm":
        hn_t, cn_t = hn_t
        assert numpy.abs(numpy.stack([c for _, c in final]) - cn_t.detach().numpy()).max() < TOL
        assert numpy.abs(numpy.stack([c for _, c in dinit]) - c0t.grad.numpy()).max() < TOL
        final, dinit = [h for h, _ in final], [h for h, _ in dinit]
    assert numpy.abs(numpy.stack(final) - hn_t.detach().numpy()).max() < TOL
    assert numpy.abs(numpy.stack(dinit) - h0t.grad.numpy()).max() < TOL

    for i in range(layers):
        for suffix, name in [("", "fw."), ("_reverse", "bw.")] if bidirectional else [("", "")]:
            prefix = f"layers.{i}.{name}"
            grad = {n: getattr(module, f"{n}_l{i}{suffix}").grad.numpy() for n in
                    ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            ours = stack.grads
            assert numpy.abs(ours[prefix + "U"] - grad["weight_ih"]).max() < TOL
            assert numpy.abs(ours[prefix + "W"] - grad["weight_hh"]).max() < TOL
            assert numpy.abs(ours[prefix + "b"] - grad["bias_ih"]).max() < TOL
            if kind == "gru":  # b holds bias_hh's r and z blocks; b_hn its n block
                assert numpy.abs(ours[prefix + "b"][:2 * H] - grad["bias_hh"][:2 * H]).max() < TOL
                assert numpy.abs(ours[prefix + "b_hn"] - grad["bias_hh"][2 * H:]).max() < TOL
            else:
                assert numpy.abs(ours[prefix + "b"] - grad["bias_hh"]).max() < TOL


@pytest.mark.parametrize("kind,nonlinearity", KINDS)
def test_round_trip(kind, nonlinearity):
    module = make_torch(kind, nonlinearity, 2, True)
    stack = from_torch(module)
    # torch -> rnnkit -> torch state dict: the same function in a fresh torch module
    fresh = make_torch(kind, nonlinearity, 2, True)
    fresh.load_state_dict(to_torch_state_dict(stack))
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        a, b = module(x)[0], fresh(x)[0]
    assert (a - b).abs().max().item() < 1e-12
    # rnnkit -> torch -> rnnkit: the very same parameters
    again = from_torch(to_torch(stack))
    assert set(again.params) == set(stack.params)
    for k, p in stack.params.items():
        assert numpy.array_equal(again.params[k], p), k


def test_rnnkit_stack_to_torch_and_float32():
    stack = RecurrentStack(4, 6, 2, cell="lstm", seed=3)  # float32, rnnkit's own init and forget bias
    module = to_torch(stack)
    assert isinstance(module, torch.nn.LSTM) and module.weight_ih_l1.dtype == torch.float32
    x = numpy.random.default_rng(0).standard_normal((7, 2, 4)).astype(numpy.float32)
    ours = stack.forward(x)
    with torch.no_grad():
        theirs = module(torch.from_numpy(x))[0].numpy()
    assert numpy.abs(ours - theirs).max() < 1e-5
    assert from_torch(module).dtype == numpy.float32


def test_batch_first_needs_only_a_transpose():
    module = make_torch("gru", None, 2, False, batch_first=True)
    stack = from_torch(module)
    x = numpy.random.default_rng(1).standard_normal((3, 7, 4))  # (B, T, features)
    with torch.no_grad():
        theirs = module(torch.tensor(x))[0].numpy()
    ours = stack.forward(x.transpose(1, 0, 2).copy()).transpose(1, 0, 2)
    assert numpy.abs(ours - theirs).max() < TOL
    assert to_torch(stack, batch_first=True).batch_first


def test_settings_carried_over():
    stack = from_torch(torch.nn.RNN(4, 5, num_layers=3, nonlinearity="relu", dropout=0.25))
    assert [d.p for d in stack.dropouts] == [0.25, 0.25]
    assert all(layer.f.name == "relu" for layer in stack.layers)
    no_bias = from_torch(torch.nn.GRU(4, 5, bias=False))
    assert not no_bias.params["layers.0.b"].any() and not no_bias.params["layers.0.b_hn"].any()


def test_errors(monkeypatch):
    with pytest.raises(TypeError, match="expects a torch.nn.RNN, LSTM or GRU"):
        from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="proj_size"):
        from_torch(torch.nn.LSTM(4, 5, proj_size=2))
    with pytest.raises(ValueError, match="no PyTorch equivalent"):
        to_torch_state_dict(RecurrentStack(4, 5, 2, cell="gru", bidirectional=True, form="article"))
    with pytest.raises(ValueError, match="tanh and relu only"):
        to_torch_state_dict(RecurrentStack(4, 5, 1, activation="sigmoid"))
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(ImportError, match="need PyTorch"):
        to_torch_state_dict(RecurrentStack(4, 5))
