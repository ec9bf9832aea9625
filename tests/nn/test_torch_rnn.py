"""The engine against torch.nn.RNN: same weights in, same outputs and gradients out.

float64 on both sides, agreement to 1e-10. Weights are copied by hand here
(W_ih -> U, W_hh -> W, b_ih + b_hh -> b) so this test depends on nothing but
the engine; the general bridge (rnnkit.nn.from_torch) has tests of its own.
"""

import itertools

import numpy
import pytest

from rnnkit.nn import RecurrentStack

torch = pytest.importorskip("torch", reason="PyTorch is the oracle for these checks (pip install torch==2.13.0)")


def _copy_torch_to_rnnkit(rnn, stack, layers, bidirectional):
    for i in range(layers):
        for suffix, name in [("", "fw"), ("_reverse", "bw")] if bidirectional else [("", None)]:
            prefix = f"layers.{i}." + (f"{name}." if name else "")
            stack.params[prefix + "U"][...] = getattr(rnn, f"weight_ih_l{i}{suffix}").detach().numpy()
            stack.params[prefix + "W"][...] = getattr(rnn, f"weight_hh_l{i}{suffix}").detach().numpy()
            stack.params[prefix + "b"][...] = (getattr(rnn, f"bias_ih_l{i}{suffix}") + getattr(rnn, f"bias_hh_l{i}{suffix}")).detach().numpy()


@pytest.mark.parametrize("nonlinearity,layers,bidirectional",
                         list(itertools.product(["tanh", "relu"], [1, 2, 3], [False, True])))
def test_matches_torch_rnn(nonlinearity, layers, bidirectional):
    T, B, I, H = 5, 3, 4, 6
    torch.manual_seed(0)
    rnn = torch.nn.RNN(I, H, num_layers=layers, nonlinearity=nonlinearity, bidirectional=bidirectional,
                       dtype=torch.float64)
    dirs = 2 if bidirectional else 1
    stack = RecurrentStack(I, H, layers, activation=nonlinearity, bidirectional=bidirectional, dtype=numpy.float64)
    _copy_torch_to_rnnkit(rnn, stack, layers, bidirectional)

    rng = numpy.random.default_rng(1)
    x = rng.standard_normal((T, B, I))
    h0 = rng.uniform(0.0 if nonlinearity == "relu" else -1.0, 1.0, (layers * dirs, B, H))
    weights = rng.standard_normal((T, B, dirs * H))

    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    out_t, hn_t = rnn(xt, h0t)
    (out_t * torch.tensor(weights)).sum().backward()

    # torch orders h0 as (layer, direction); ours is a list of layers of (fw, bw) pairs.
    state0 = [(h0[2 * i], h0[2 * i + 1]) if bidirectional else h0[i] for i in range(layers)]
    out = stack.forward(x, state0)
    dx, dstate0 = stack.backward(weights)

    assert numpy.abs(out - out_t.detach().numpy()).max() < 1e-10
    final = numpy.stack([s for layer in stack.final_state for s in (layer if bidirectional else (layer,))])
    assert numpy.abs(final - hn_t.detach().numpy()).max() < 1e-10
    assert numpy.abs(dx - xt.grad.numpy()).max() < 1e-10
    dh0 = numpy.stack([s for layer in dstate0 for s in (layer if bidirectional else (layer,))])
    assert numpy.abs(dh0 - h0t.grad.numpy()).max() < 1e-10
    for i in range(layers):
        for suffix, name in [("", "fw"), ("_reverse", "bw")] if bidirectional else [("", None)]:
            prefix = f"layers.{i}." + (f"{name}." if name else "")
            for ours, theirs in [("U", "weight_ih"), ("W", "weight_hh"), ("b", "bias_ih"), ("b", "bias_hh")]:
                g = getattr(rnn, f"{theirs}_l{i}{suffix}").grad.numpy()
                assert numpy.abs(stack.grads[prefix + ours] - g).max() < 1e-10, prefix + ours


def test_softmax_cross_entropy_matches_torch():
    from rnnkit.nn import SoftmaxCrossEntropy

    rng = numpy.random.default_rng(2)
    logits = rng.standard_normal((7, 11)) * 5
    targets = rng.integers(0, 11, 7)
    lt = torch.tensor(logits, requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(lt, torch.tensor(targets))
    loss_t.backward()
    ce = SoftmaxCrossEntropy()
    assert abs(ce.forward(logits, targets) - loss_t.item()) < 1e-12
    assert numpy.abs(ce.backward() - lt.grad.numpy()).max() < 1e-14


@pytest.mark.slow
def test_adam_and_momentum_match_torch():
    from rnnkit.nn.optim import Adam, Momentum, Adagrad

    rng = numpy.random.default_rng(3)
    for ours, theirs, kw in [(Adam, torch.optim.Adam, {"lr": 0.01}), (Momentum, torch.optim.SGD, {"lr": 0.1}),
                             (Adagrad, torch.optim.Adagrad, {"lr": 0.1})]:
        p = rng.standard_normal(5)
        pt = torch.tensor(p.copy(), requires_grad=True)
        extra = {"momentum": 0.9} if theirs is torch.optim.SGD else {}
        opt_t = theirs([pt], **kw, **extra)
        params, grads = {"p": p}, {"p": numpy.zeros(5)}
        opt = ours(params, grads, **kw)
        for _ in range(4):
            g = rng.standard_normal(5)
            grads["p"][...] = g
            opt.step()
            pt.grad = torch.tensor(g)
            opt_t.step()
        assert numpy.abs(p - pt.detach().numpy()).max() < 1e-9, ours.__name__
