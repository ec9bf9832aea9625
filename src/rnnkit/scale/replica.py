"""One data-parallel worker: a replica of the model and its share of the B parallel streams.

Synchronous data-parallel SGD (docs/scaling.md). The global batch of B streams
is cut into N contiguous shares, one per worker. A step:

1. every worker runs forward and BPTT over its share of the window and returns
   its gradient, weighted by share / B, so that the sum over the workers is the
   gradient of the mean loss over all B streams: the one-process gradient;
   row-sparse gradients (the embedding's) travel as (rows, values), and the
   output layer's ∇V, where that is smaller, as the factors of each block of
   rows, ∇V[lo:hi] = d^T x (``factors``);
2. the driver sums them, clips the sum and steps its own copy of the model;
3. every worker applies the same summed gradient with the same clipping factor
   and optimizer: the replicas stay bit-identical to the driver's model.

Step 3 rides on the next step's call (``step(update, ...)``), so a step costs
one round trip. Replica is plain Python: the Ray actor (rnnkit.scale.cluster)
wraps it, and the tests run it in-process as well.
"""

import os
import time
from functools import partial

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


def pack_factors(pieces):
    """[(lo, hi, d (n, hi - lo), x (n, H))] as three arrays, whatever the number of pieces:
    (blocks (K, 3) of lo, hi, n; every d's values, one after the other; every x, stacked)."""
    if not pieces:
        return None
    blocks = xp.array([(lo, hi, d.shape[0]) for lo, hi, d, _ in pieces], dtype=xp.int64)
    return (blocks, xp.concatenate([d.ravel() for _, _, d, _ in pieces]),
            xp.concatenate([x for _, _, _, x in pieces]))


def unpack_factors(packed):
    """The pieces (lo, hi, d, x) of pack_factors, views into its arrays."""
    blocks, d_values, x = packed
    at = row = 0
    for lo, hi, n in blocks.tolist():
        yield lo, hi, d_values[at:at + n * (hi - lo)].reshape(n, hi - lo), x[row:row + n]
        at, row = at + n * (hi - lo), row + n


def factor_sink(grads, touched, name, weight):
    """(sink for RNNLM.backward's ``weight_sink``, the pieces it kept). A piece of ∇V = d^T x is kept
    as its factors (d weighted) when they are fewer numbers than its rows: for a class softmax,
    the few tokens of a class against the class's rows, of which there may be thousands. The
    other pieces are multiplied out into ``grads[name]`` and reported to ``touched``."""
    kept = []

    def sink(lo, hi, d, x):
        if d.size + x.size < (hi - lo) * x.shape[1]:
            kept.append((lo, hi, d * weight, x))
        else:
            grads[name][lo:hi] += d.T @ x
            touched(xp.arange(lo, hi))

    return sink, kept


def write_grads(model, dense, sparse, factored):
    """Put a summed gradient into ``model.grads`` (zero before); returns the rows of the sparse ones.
    ``factored`` {name: pack_factors(...)}: products added onto the rows that ``sparse`` wrote."""
    model.zero_grad()
    row_sparse = model.grad_rows().keys()
    for name, g in dense.items():
        model.grads[name][...] = g
    rows = {}
    for name, (r, v) in sparse.items():
        model.grads[name][r] = v
        rows[name] = r
    for name, packed in factored.items():
        g, blocks = model.grads[name], []
        for lo, hi, d, x in unpack_factors(packed):
            g[lo:hi] += d.T @ x
            blocks.append(xp.arange(lo, hi))
        if name in row_sparse:  # (a dense one, V tied to the embedding, is stepped whole)
            rows[name] = xp.union1d(rows.get(name, blocks[0][:0]), xp.concatenate(blocks))
    return rows


def clear_grads(model, rows):
    """Zero what write_grads wrote (zero_grad knows only the rows that backward touched)."""
    for name, g in model.grads.items():
        if name in rows:
            g[rows[name]] = 0
        else:
            g.fill(0)


def apply_update(model, optimizer, update):
    """The optimizer step of ``update`` = (dense, sparse, factored, clipping factor, lr): what the driver did."""
    dense, sparse, factored, scale, lr = update
    rows = write_grads(model, dense, sparse, factored)
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
        # the name of the output layer's V (the embedding's E too, with tied weights): its gradient may
        # travel as factors
        V = self.model.output.params["V"]
        self._v_name = next(k for k, p in self.model.params.items() if p is V)
        self.hidden = None
        # last, so that a replica that failed to build holds nothing
        self._blas = threadpool_limits(blas_threads)  # held for the actor's life (close): one core, one thread

    def close(self):
        """Give BLAS back its threads. An actor's process ends with it; a replica of this process
        (cluster.LocalPool) must, or the driver computes on one thread after training."""
        self._blas.restore_original_limits()

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
        factored gradients as {name: pack_factors(...)}, seconds spent here)."""
        model = self.model
        t0 = time.perf_counter()
        if update is not None:
            apply_update(model, self.optimizer, update)
        x, y = self.batches.get(epoch, index)
        loss = model.loss(x, y, self.hidden)
        w = model.params[next(iter(model.params))].dtype.type(self.weight)
        sink, kept = factor_sink(model.grads, partial(model.output.touched, "V"), self._v_name, w)
        model.backward(weight_sink=sink)
        self.hidden = model.final_state
        rows = model.grad_rows()
        dense = {k: g * w for k, g in model.grads.items() if k not in rows}
        sparse = {k: (r, model.grads[k][r] * w) for k, r in rows.items()}
        factored = {self._v_name: pack_factors(kept)} if kept else {}
        model.zero_grad()
        return loss * y.size, int(y.size), dense, sparse, factored, time.perf_counter() - t0

    def hidden_state(self):
        return self.hidden

    def generator_states(self):
        """Where the dropout generators are: the same in every replica, and where one process's would be."""
        return [g.bit_generator.state for g in self.model.generators()]

    def params(self):
        return self.model.params
