"""One data-parallel worker: a replica of the model and its share of the B parallel streams.

Synchronous data-parallel SGD (docs/scaling.md). The global batch of B streams
is cut into N contiguous shares, one per worker. A step:

1. every worker runs forward and BPTT over its share of the window and returns
   its gradient, weighted by share / B, so that the sum over the workers is the
   gradient of the mean loss over all B streams: the one-process gradient;
   row-sparse gradients (the embedding's) travel as (rows, values);
2. the driver sums them, clips the sum and steps its own copy of the model;
3. every worker applies the same summed gradient with the same clipping factor
   and optimizer: the replicas stay bit-identical to the driver's model.

Step 3 rides on the next step's call (``step(update, ...)``), so a step costs
one round trip. Replica is plain Python: the Ray actor (rnnkit.scale.cluster)
wraps it, and the tests run it in-process as well.
"""

import os
import time

from rnnkit.backend import xp
from rnnkit.lm import io
from rnnkit.lm.prepared import Prepared, is_prepared
from rnnkit.lm.task import get_task
from rnnkit.nn import tree_map
from rnnkit.nn.optim import make_optimizer


def shares(batch, workers):
    """[(lo, hi)]: the streams of each worker, contiguous, sizes differing by at most one."""
    base, extra = divmod(batch, workers)
    out, lo = [], 0
    for w in range(workers):
        hi = lo + base + (w < extra)
        out.append((lo, hi))
        lo = hi
    return out


def split_state(state, lo, hi):
    """The hidden state of streams lo..hi (batch is axis 0 of every array)."""
    return tree_map(lambda a: xp.ascontiguousarray(a[lo:hi]), state)


def join_states(states):
    """The workers' hidden states, in worker order, as one state of all B streams."""
    if states[0] is None:
        return None
    if isinstance(states[0], (tuple, list)):
        return type(states[0])(join_states([s[i] for s in states]) for i in range(len(states[0])))
    return xp.concatenate(states, axis=0)


def write_grads(model, dense, sparse):
    """Put a summed gradient into ``model.grads`` (zero before); returns the rows of the sparse ones."""
    model.zero_grad()
    for name, g in dense.items():
        model.grads[name][...] = g
    rows = {}
    for name, (r, v) in sparse.items():
        model.grads[name][r] = v
        rows[name] = r
    return rows


def clear_grads(model, rows):
    """Zero what write_grads wrote (zero_grad knows only the rows that backward touched)."""
    for name, g in model.grads.items():
        if name in rows:
            g[rows[name]] = 0
        else:
            g.fill(0)


def apply_update(model, optimizer, update):
    """The optimizer step of ``update`` = (dense, sparse, clipping factor, lr): what the driver did."""
    dense, sparse, scale, lr = update
    rows = write_grads(model, dense, sparse)
    optimizer.lr = lr
    optimizer.step(grad_scale=scale, rows=rows)
    clear_grads(model, rows)


class Replica:
    """A worker's model and its streams lo..hi of the corpus ``data``.

    ``data``: the training ids (an array, e.g. from Ray's object store) or the
    path of a DATA_DIR, memory-mapped here (on a cluster: a shared file system).
    """

    def __init__(self, data, vocab_json, opts, lo, hi, blas_threads=1):
        from threadpoolctl import threadpool_limits

        from rnnkit.lm.vocab import Vocab

        self._blas = threadpool_limits(blas_threads)  # held for the actor's life: one core, one thread
        self.opts, self.lo, self.hi = opts, lo, hi
        vocab = Vocab.from_json(vocab_json)
        ids = Prepared(data).ids if isinstance(data, str) and is_prepared(data) else data
        task = get_task(opts.get("task"))
        self.batches = task.batches(ids, vocab, opts).part(lo, hi)
        self.weight = (hi - lo) / opts["batch"]
        self.model = task.build(vocab, opts)
        self.model.train()
        # every replica draws the whole batch's dropout masks from its copy of the driver's generators
        self.model.share_dropout(lo, hi, opts["batch"])
        self.optimizer = make_optimizer(opts["optimizer"], self.model.params, self.model.grads, opts["lr"])
        self.hidden = None

    def pid(self):
        return os.getpid()

    def blas_threads(self):
        """The threads of the BLAS this worker computes with (benchmarks/scaling.py checks it is 1)."""
        from threadpoolctl import threadpool_info

        return max((p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"), default=None)

    def load(self, params, optimizer_state, hidden, generators):
        """Take the driver's weights, optimizer buffers, this share's hidden state and the states of the
        dropout generators (start, epoch, restart, divergence)."""
        io.copy_into(self.model.params, params)
        self.optimizer.load_state_dict(optimizer_state)
        self.hidden = hidden
        for g, state in zip(self.model.generators(), generators):
            g.bit_generator.state = state
        self.model.zero_grad()

    def step(self, update, epoch, index):
        """Apply the previous step's ``update`` (None: nothing pending), then the gradient of window ``index``:
        (loss summed over its tokens, tokens, dense gradients, sparse gradients as {name: (rows, values)},
        seconds spent here)."""
        model = self.model
        t0 = time.perf_counter()
        if update is not None:
            apply_update(model, self.optimizer, update)
        x, y = self.batches.get(epoch, index)
        loss = model.loss(x, y, self.hidden)
        model.backward()
        self.hidden = model.final_state
        rows = model.grad_rows()
        w = model.params[next(iter(model.params))].dtype.type(self.weight)
        dense = {k: g * w for k, g in model.grads.items() if k not in rows}
        sparse = {k: (r, model.grads[k][r] * w) for k, r in rows.items()}
        model.zero_grad()
        return loss * y.size, int(y.size), dense, sparse, time.perf_counter() - t0

    def hidden_state(self):
        return self.hidden

    def generator_states(self):
        """Where the dropout generators are: the same in every replica, and where one process's would be."""
        return [g.bit_generator.state for g in self.model.generators()]

    def params(self):
        return self.model.params
