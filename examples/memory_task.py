"""A small Elman network learns a task that needs memory: output the symbol seen k steps ago.

At each step the network reads a random symbol (one of 8, as token ids, i.e.
one-hot inputs) and must output the symbol it read k = 3 steps earlier. A
feed-forward network cannot do this; the recurrent state s_t has to carry the
last k symbols. Training is BPTT with Adam and gradient clipping, all rnnkit.

    python examples/memory_task.py
"""

import numpy

from rnnkit.nn import Linear, Recurrent, SoftmaxCrossEntropy
from rnnkit.nn.optim import Adam, clip_grad_norm


def train(delay=3, symbols=8, hidden=64, steps=20, batch=32, iterations=1500, seed=0, verbose=True):
    rng = numpy.random.default_rng(seed)
    rnn = Recurrent(symbols, hidden, activation="tanh", init="orthogonal", seed=rng)
    out = Linear(hidden, symbols, seed=rng)
    loss_fn = SoftmaxCrossEntropy()
    params = {**{f"rnn.{k}": v for k, v in rnn.params.items()}, **{f"out.{k}": v for k, v in out.params.items()}}
    grads = {**{f"rnn.{k}": v for k, v in rnn.grads.items()}, **{f"out.{k}": v for k, v in out.grads.items()}}
    opt = Adam(params, grads, lr=3e-3)
    for it in range(1, iterations + 1):
        ids = rng.integers(0, symbols, (steps, batch))
        # targets exist from step `delay` on: the symbol read `delay` steps before
        targets = ids[:-delay].reshape(-1)
        rnn.zero_grad()
        out.zero_grad()
        states = rnn.forward(ids)
        logits = out.forward(states[delay:])
        loss = loss_fn.forward(logits.reshape(-1, symbols), targets)
        dstates = numpy.zeros_like(states)
        dstates[delay:] = out.backward(loss_fn.backward().reshape(logits.shape))
        rnn.backward(dstates)
        clip_grad_norm(grads, 5.0)
        opt.step()
        if verbose and it % 250 == 0:
            print(f"iteration {it:5}: cross-entropy {loss:.4f} nats")
    # error rate on fresh sequences
    ids = rng.integers(0, symbols, (steps, 500))
    predicted = out.forward(rnn.forward(ids)[delay:]).argmax(axis=-1)
    error_rate = float((predicted != ids[:-delay]).mean())
    if verbose:
        print(f"error rate on 500 fresh sequences: {error_rate:.4f} (chance: {1 - 1 / symbols:.3f})")
    return error_rate


if __name__ == "__main__":
    train()
