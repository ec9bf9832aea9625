"""Gated cells against vanishing gradients (docs/article.md §6): recall a symbol seen T steps earlier.

The task. Step 0 shows one of K "message" symbols; steps 1 .. T-1 show random
distractor symbols; step T shows a query marker, and the network must answer
with the message symbol seen T steps before. Nothing in between helps: the
only way to answer better than chance (1/K) is to carry the message across all
T steps, so the error term of the answer has to travel T steps back (式3).

    x:  m  d d d d … d  ?          m ∈ {0..K-1}, d ∈ distractors, ? the query
    y:                  m          one answer, read from the state at the query

For the tanh Elman layer that error term is a product of T factors
W diag[f'(net)] and shrinks geometrically with T. With Xavier init (W near the
edge of stability) the untrained network's state still echoes the message after
50-100 steps, and it learns the task there; at 200 steps it does not, within
the budget. The LSTM's cell and the GRU's update gate carry the error term
(almost) unchanged, so they learn the 200-step task in a few hundred batches.

The gated cells are started with their gates set for memory: the LSTM with
forget-gate bias 5 and input-gate bias -5 (remember, write little: the idea of
chrono initialisation, Tallec & Ollivier 2018), the GRU with update-gate bias 5
(``--gate-bias``). With the layers' defaults (forget bias 1, update bias 0, as
in PyTorch) the state is forgotten within a few dozen steps at initialisation
and the error term vanishes with it. benchmarks/long_dependency.py measures
both settings at several distances; docs/results.md has the table.

    python examples/long_dependency.py                  # lstm, gru and rnn at T = 200
    python examples/long_dependency.py --cell gru --steps 60
"""

import argparse
import time

import numpy

from rnnkit.nn import GRU, LSTM, Linear, Recurrent, SoftmaxCrossEntropy
from rnnkit.nn.optim import Adam, clip_grad_norm

CELLS = {"lstm": LSTM, "gru": GRU, "rnn": Recurrent}


def make_batch(rng, batch, steps, symbols=4, distractors=4):
    """Token ids (steps + 1, batch) and the answers (batch,); see the module docstring."""
    x = rng.integers(symbols, symbols + distractors, size=(steps + 1, batch))
    y = rng.integers(0, symbols, size=batch)
    x[0] = y
    x[-1] = symbols + distractors  # the query marker
    return x, y


class Model:
    """One recurrent layer reading token ids (one-hot inputs), and V on the last state."""

    def __init__(self, cell, vocab, hidden, classes, seed, **cell_kwargs):
        rng = numpy.random.default_rng(seed)
        self.rnn = CELLS[cell](vocab, hidden, seed=rng, **cell_kwargs)
        self.out = Linear(hidden, classes, seed=rng)
        self.loss = SoftmaxCrossEntropy()
        self.params = {**{f"rnn.{k}": v for k, v in self.rnn.params.items()},
                       **{f"out.{k}": v for k, v in self.out.params.items()}}
        self.grads = {**{f"rnn.{k}": v for k, v in self.rnn.grads.items()},
                      **{f"out.{k}": v for k, v in self.out.grads.items()}}

    def logits(self, x):
        return self.out.forward(self.rnn.forward(x)[-1])  # o = V s_T + c (式1), only at the query

    def step(self, x, y):
        """Forward, loss, BPTT; returns the loss. The error enters at the last step only."""
        for g in self.grads.values():
            g.fill(0)
        states = self.rnn.forward(x)
        loss = self.loss.forward(self.out.forward(states[-1]), y)
        dstates = numpy.zeros_like(states)
        dstates[-1] = self.out.backward(self.loss.backward())
        self.rnn.backward(dstates)
        return loss

    def accuracy(self, x, y):
        return float((self.logits(x).argmax(axis=1) == y).mean())


def error_term_ratio(cell, steps, hidden=32, batch=32, symbols=4, distractors=4, seed=0, **cell_kwargs):
    """‖dE/dx_0‖ / ‖dE/dx_T‖ at initialisation: how much of the answer's error term reaches the message.

    式3 in numbers: the error enters at the query step T only, and this is the
    fraction of it that arrives T steps back, where the message was shown.
    """
    rng = numpy.random.default_rng(seed)
    x, _ = make_batch(rng, batch, steps, symbols, distractors)
    layer = CELLS[cell](symbols + distractors + 1, hidden, seed=seed, dtype=numpy.float64, **cell_kwargs)
    states = layer.forward(numpy.eye(symbols + distractors + 1)[x])  # one-hot floats, so dx exists
    dstates = numpy.zeros_like(states)
    dstates[-1] = rng.standard_normal(dstates[-1].shape)
    dx, _ = layer.backward(dstates)
    return float(numpy.linalg.norm(dx[0]) / numpy.linalg.norm(dx[-1]))


def train(cell="lstm", steps=60, hidden=32, batch=32, iterations=1500, lr=1e-2, clip=1.0, symbols=4,
          distractors=4, seed=0, target=0.99, test_size=500, eval_every=25, verbose=False, **cell_kwargs):
    """Train one network with Adam and gradient clipping; returns a dict of the result.

    Every ``eval_every`` iterations the accuracy on a fixed held-out set of
    ``test_size`` sequences is measured; training stops once it reaches
    ``target``, and ``solved_at`` is that iteration (None if never).
    """
    rng = numpy.random.default_rng(seed + 1000)
    model = Model(cell, symbols + distractors + 1, hidden, symbols, seed, **cell_kwargs)
    opt = Adam(model.params, model.grads, lr=lr)
    x_test, y_test = make_batch(numpy.random.default_rng(seed + 2000), test_size, steps, symbols, distractors)
    start = time.perf_counter()
    solved_at, acc, loss = None, model.accuracy(x_test, y_test), float("nan")
    for it in range(1, iterations + 1):
        x, y = make_batch(rng, batch, steps, symbols, distractors)
        loss = model.step(x, y)
        clip_grad_norm(model.grads, clip)  # the article's remedy for exploding gradients
        opt.step()
        if it % eval_every == 0 or it == iterations:
            acc = model.accuracy(x_test, y_test)
            if verbose:
                print(f"{cell:4} T={steps:3} it {it:5}  loss {loss:.3f}  held-out accuracy {acc:.3f}")
            if acc >= target:
                solved_at = it
                break
    return {"cell": cell, "steps": steps, "hidden": hidden, "seed": seed, "iterations": it,
            "solved_at": solved_at, "accuracy": acc, "chance": 1.0 / symbols, "loss": loss,
            "seconds": time.perf_counter() - start}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cell", action="append", choices=sorted(CELLS), help="repeatable; default lstm gru rnn")
    p.add_argument("--steps", type=int, default=200, help="distance T between the symbol and the question")
    p.add_argument("--iterations", type=int, default=600)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gate-bias", type=float, default=5.0,
                   help="initial forget-gate bias (LSTM; its input gate gets minus this) / update-gate bias (GRU); "
                        "the layers' defaults are 1 (input 0) and 0")
    args = p.parse_args(argv)
    for cell in args.cell or ("lstm", "gru", "rnn"):
        kw = {"lstm": {"forget_bias": args.gate_bias, "input_bias": -args.gate_bias},
              "gru": {"update_bias": args.gate_bias}}.get(cell, {})
        print(f"{cell}: error term reaching the message at initialisation: "
              f"{error_term_ratio(cell, args.steps, hidden=args.hidden, seed=args.seed, **kw):.1e} of the answer's")
        r = train(cell, steps=args.steps, hidden=args.hidden, iterations=args.iterations, seed=args.seed, verbose=True, **kw)
        print(f"==> {cell}: accuracy {r['accuracy']:.3f} (chance {r['chance']:.2f}) after {r['iterations']} "
              f"iterations, {r['seconds']:.1f} s\n")


if __name__ == "__main__":
    main()
