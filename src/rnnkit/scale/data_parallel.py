"""`rnnkit train --workers N`: the one-process trainer with its windows computed on N replicas.

The driver is rnnkit.lm.train.Trainer: the same options, schedule,
validation, model files and checkpoints. Only ``_train_window`` differs: the
window's gradient comes from the workers (rnnkit.scale.replica), summed, and
the driver steps its own model with the clipping and optimizer of one process.
Validation runs on the driver's model, so the schedule sees what one process
would see.

Faults: the driver writes the checkpoint every epoch and every
``checkpoint_minutes``. A worker that dies mid-epoch restarts all of them
from the last checkpoint (one line in the log); the run then goes on exactly as
it would have (a checkpoint holds every stream's hidden state), and
``max_minutes`` still counts from the run's start. A diverged window (a
non-finite loss or gradient norm) is caught before the driver steps, as in one
process, and rolled back by the one-process trainer's code.
"""

import math
import os
import time

from rnnkit.backend import xp
from rnnkit.errors import OptionError
from rnnkit.lm.train import state as checkpoint
from rnnkit.lm.train.options import memory_estimate
from rnnkit.lm.train.trainer import Diverged, Trainer, available_memory, train
from rnnkit.nn.optim import clip_scale
from rnnkit.scale.cluster import LocalPool, RayPool, WorkerDied, connect
from rnnkit.scale.replica import (clear_grads, join_states, pack_factors, shares, split_state, unpack_factors,
                                  write_grads)

# A Ray worker process with NumPy and rnnkit imported, before its replica: about this much.
WORKER_PROCESS_BYTES = 150 << 20


def sum_results(results):
    """(loss sum, tokens, dense sum, sparse sum, factored) of the workers' step results, added in worker order.

    A sparse gradient's rows are distinct within each worker (Module.grad_rows), so each worker's values go
    into the union's rows with one fancy ``+=``: a row's sum is worker 0 + worker 1 + ..., left to right like
    the dense sums. (scatter_add_rows over the concatenation, used before, took 36 of the driver's 49 ms a
    step for PTB's class softmax at 2 workers, 2 x 6,226 rows of V; this takes 5.)
    Factored gradients are not multiplied out: each block's factors are the workers' stacked,
    d^T x = Σ_w d_w^T x_w, and the update carries them so (PTB's class softmax at 2 workers: an
    update of 1.9 MB instead of 7.9; docs/scaling.md).
    """
    loss = sum(r[0] for r in results)
    tokens = sum(r[1] for r in results)
    if len(results) == 1:
        return loss, tokens, results[0][2], results[0][3], results[0][4]
    dense = {k: g.copy() for k, g in results[0][2].items()}
    for r in results[1:]:
        for k, g in r[2].items():
            dense[k] += g
    sparse = {}
    for name in results[0][3]:
        parts = [r[3][name] for r in results]
        unique = xp.unique(xp.concatenate([rows for rows, _ in parts]))
        values = parts[0][1]
        total = xp.zeros((unique.size,) + values.shape[1:], dtype=values.dtype)
        for rows, values in parts:
            total[xp.searchsorted(unique, rows)] += values
        sparse[name] = (unique, total)
    factored = {}
    for name in {name for r in results for name in r[4]}:
        blocks = {}
        for r in results:
            if name in r[4]:
                for lo, hi, d, x in unpack_factors(r[4][name]):
                    blocks.setdefault((lo, hi), []).append((d, x))
        factored[name] = pack_factors([(lo, hi, xp.concatenate([d for d, _ in parts]),
                                        xp.concatenate([x for _, x in parts]))
                                       for (lo, hi), parts in sorted(blocks.items())])
    return loss, tokens, dense, sparse, factored


class DataParallelTrainer(Trainer):
    """Trainer whose windows run on ``workers`` replicas: Ray actors, or this process with ``backend="local"``."""

    def __init__(self, corpus, valid, out, opts, log=print, quiet=False, max_minutes=None, workers=2,
                 ray_address=None, backend="ray", checkpoint_minutes=None, after_step=None):
        super().__init__(corpus, valid, out, opts, log=log, quiet=quiet, max_minutes=max_minutes)
        if workers < 1:
            raise OptionError(f"{{workers}} must be at least 1, got {workers}", "workers")
        if checkpoint_minutes is not None and not checkpoint_minutes > 0:
            raise OptionError(f"{{checkpoint_minutes}} must be positive, got {checkpoint_minutes}",
                              "checkpoint_minutes")
        self.workers, self.ray_address, self.backend = workers, ray_address, backend
        self.checkpoint_minutes, self.after_step = checkpoint_minutes, after_step
        self.pool, self.restarts, self.comm_seconds = None, 0, 0.0
        self._workers_current = False  # the workers hold the run's hidden state and generators (after _sync)

    # --- the workers ---------------------------------------------------------------

    def _check(self):
        opts = self.opts
        if opts.get("task", "lm") != "lm":
            raise OptionError("{workers} trains left-to-right models ({task} lm) only", "workers", "task")
        if opts["batch"] < self.workers:
            raise OptionError(f"{{batch}} {opts['batch']} streams cannot be shared by {{workers}} {self.workers}",
                              "batch", "workers")
        if self.backend == "ray" and self.ray_address is None:
            # a local Ray instance starts one process per worker on this machine: refuse, with the
            # figure, more than its memory holds (each process, and its replica of the model)
            share = dict(opts, batch=-(-opts["batch"] // self.workers))
            need = self.workers * (WORKER_PROCESS_BYTES + memory_estimate(share, len(self.vocab))[0])
            have = available_memory()
            if have is not None and need > have:
                raise OptionError(f"{{workers}} {self.workers} local Ray workers need about {need / 2**30:,.1f} GiB "
                                  f"(a process and a replica of the model each); {have / 2**30:,.1f} GiB of memory "
                                  "is available", "workers")

    def _start_pool(self):
        self._check()
        # in memory: the array itself; a DATA_DIR: its path, memory-mapped by each worker
        data = self.train_ids if hasattr(self.train_ids, "reshape") else os.path.abspath(self.corpus)
        vocab_json = self.vocab.to_json()
        if self.backend == "local":
            args = [(data, vocab_json, self.opts, lo, hi) for lo, hi in shares(self.opts["batch"], self.workers)]
            self.pool = LocalPool(args)
        else:
            ray = connect(self.ray_address, num_cpus=self.workers if self.ray_address is None else None)
            if not isinstance(data, str):
                data = ray.put(data)  # once in the object store; every actor maps it
            vocab_json = ray.put(vocab_json)
            args = [(data, vocab_json, self.opts, lo, hi) for lo, hi in shares(self.opts["batch"], self.workers)]
            self.pool = RayPool(ray, args)
        where = "this process" if self.backend == "local" else (self.ray_address or "a local Ray instance")
        self.log(f"data parallel: {self.workers} worker(s) on {where}, "
                 f"{self.opts['batch']} streams as {[hi - lo for lo, hi in shares(self.opts['batch'], self.workers)]}")

    def _sync(self):
        """Every worker takes the driver's weights, optimizer state, its streams' hidden state and the dropout
        generators' states."""
        opt_state = self.optimizer.state_dict()
        parts = shares(self.opts["batch"], self.workers)
        hidden = [split_state(self.hidden, lo, hi) if self.hidden is not None else None for lo, hi in parts]
        generators = [g.bit_generator.state for g in self.model.generators()]
        self.pool.each("load", [(self.model.params, opt_state, h, generators) for h in hidden])
        self._pending = None
        self._workers_current = True

    def _gather_hidden(self):
        return join_states(self.pool.each("hidden_state", [()] * self.workers))

    def _take_generators(self):
        """The driver's dropout generators to where the workers' are (they drew every window's masks; the
        driver drew none): what the checkpoint saves and the next _sync hands out is one process's state."""
        states = self.pool.each("generator_states", [()] * self.workers)[0]
        for g, state in zip(self.model.generators(), states):
            g.bit_generator.state = state

    # --- the loop's pieces, as rnnkit.lm.train.Trainer has them -------------------------

    def _train_epoch(self, stop):
        self.optimizer.lr = self.state["lr"]
        self._sync()
        return super()._train_epoch(stop)

    def _train_window(self):
        st = self.state
        t0 = time.perf_counter()
        results = self.pool.step(self._pending, st["epoch"], st["window"])
        t1 = time.perf_counter()
        loss, tokens, dense, sparse, factored = sum_results(results)
        if not math.isfinite(loss):  # as train_step: before the weights are touched
            raise Diverged(f"the training loss became {loss / tokens}")
        rows = write_grads(self.model, dense, sparse, factored)
        scale = 1.0
        if self.opts["clip"]:
            norm, scale = clip_scale(self.model.grads, self.opts["clip"], rows)
            if not math.isfinite(norm):
                clear_grads(self.model, rows)
                raise Diverged(f"the gradient norm became {norm}")
        self.optimizer.step(grad_scale=scale, rows=rows)
        clear_grads(self.model, rows)
        self._pending = (dense, sparse, factored, scale, self.optimizer.lr)
        # (round trip, slowest worker's own time, the driver's sum and step): the rest of the
        # round trip is communication (docs/scaling.md)
        self.step_seconds = (t1 - t0, max(r[-1] for r in results), time.perf_counter() - t1)
        if self.after_step is not None:
            self.after_step(self)
        return loss / tokens, tokens

    def _after_window(self):
        if self.checkpoint_minutes is not None and time.monotonic() - self._saved_at >= self.checkpoint_minutes * 60:
            self.save_checkpoint()

    def save_checkpoint(self):
        if self._workers_current:
            if self.state["window"] > 0:
                self.hidden = self._gather_hidden()  # the workers carry it; the checkpoint holds all B streams
            self._take_generators()
        super().save_checkpoint()
        self._saved_at = time.monotonic()

    def _restore(self):
        saved = checkpoint.Checkpoint(self.checkpoint_path)
        self.state = saved.state
        self.best_params, self.hidden = saved.restore(self.model, self.optimizer)

    def run(self):
        self._saved_at = time.monotonic()
        try:
            self._start_pool()
            if not os.path.exists(self.checkpoint_path):
                self.save_checkpoint()  # a worker lost before the first epoch ends restarts from here
            while True:
                try:
                    return super().run()
                except WorkerDied as exc:
                    self.restarts += 1
                    self._restore()
                    st = self.state
                    self.log(f"{exc}: restarting {self.workers} worker(s) from the checkpoint at epoch "
                             f"{st['epoch'] + 1}, window {st['window']}/{self.windows}")
                    self._workers_current = False
                    self.pool.restart()
        finally:
            if self.pool is not None:
                self.pool.shutdown()


def train_data_parallel(corpus, valid, out, options=None, workers=2, ray_address=None, backend="ray",
                        checkpoint_minutes=None, after_step=None, **kwargs):
    """rnnkit.lm.train.train on ``workers`` replicas; the same arguments, and the same result."""

    def make(*args, **kw):
        return DataParallelTrainer(*args, **kw, workers=workers, ray_address=ray_address, backend=backend,
                                   checkpoint_minutes=checkpoint_minutes, after_step=after_step)

    return train(corpus, valid, out, options, make_trainer=make, **kwargs)
