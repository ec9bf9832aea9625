"""Training and evaluation speed of rnnkit against PyTorch on the CPU, side by side.

For each configuration, two worker processes (one rnnkit, one PyTorch) build
the same language model (same vocabulary, sizes, data windows from PTB's
training set, batch, BPTT length, SGD with gradient clipping) and are told in
turn, alternating which goes first, to run a fixed number of steps. Each
repetition's tokens per second is recorded; the JSON record per configuration
gives median, min and max of each side, their ratio, the model's floating-point
work per token, the GEMM throughput NumPy reaches on the model's own matrix
shapes in the same run (in the rnnkit worker, so under the same BLAS settings),
the fraction of that limit rnnkit reaches, and each worker's peak RSS.

The limits are measured in every repetition, right after its two timed runs,
so that a slow spell of a shared machine shows in both. Against PyTorch's
speed in the same repetition they give the ceiling of the ratio: the ratio
rnnkit would reach at the GEMM limit (every product at NumPy's measured speed
and nothing else), and at the GEMM limit plus e^x over the (N, vocab) logits,
which any exact full softmax computes once per window (NumPy's speed, on
every core). A target ratio above the ceiling cannot be met by code that runs
its products and exponentials through NumPy, however the rest is arranged.

    python benchmarks/speed.py                      # all configurations, machine's BLAS settings
    python benchmarks/speed.py --native             # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for the workers
    python benchmarks/speed.py --configs elman-1x200 --reps 7
    python benchmarks/speed.py --smoke              # tiny sizes: checks the output's shape, not speed

Each record is printed as a JSON line and, unless --smoke, appended to
benchmarks/results/speed-<UTC date>.jsonl (--out FILE to choose another file,
--out - for standard output only), where the recorded runs that
docs/performance.md cites are kept.

Separate processes keep each side's memory and thread pools apart; PyTorch
uses its default thread count on the same cores.

Honest under load. Each repetition records the machine's load average
(os.getloadavg) before and after it, and the CPU time each side's process
actually got while it ran (time.process_time in the worker, against the wall
time). A side that got less than STARVED of one core's time (a busy machine
took its core away) makes the repetition invalid: the summaries use the valid
repetitions only, and say how many there were. A ratio above its own ceiling
(the ratio at the GEMM limit) cannot come from the code; the record then
carries a warning, printed on standard error too, instead of passing it off as
a speed figure. (An independent run with one other CPU-bound process reported
a ratio of 8.95 against a ceiling of 2.65 and said nothing; that is what this
guards against.)
"""

import argparse
import datetime
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

from rnnkit import blas_env

CONFIGS = {
    # name: (mode, cell, layers, hidden)
    "elman-1x200": ("train", "rnn", 1, 200),
    "elman-2x650": ("train", "rnn", 2, 650),
    "elman-1x200-eval": ("eval", "rnn", 1, 200),
    "elman-2x650-eval": ("eval", "rnn", 2, 650),
    "lstm-2x200": ("train", "lstm", 2, 200),
    "gru-1x200": ("train", "gru", 1, 200),
}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
# A side that got less CPU time than this fraction of its wall time was starved
# by other processes (measured here: a side alone on its core gets 0.95-1.0;
# with another CPU-bound process on a 2-core machine one side fell to 0.3-0.5).
STARVED = 0.75
RESULTS = pathlib.Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------- data

def ptb_train_ids(vocab_limit=None):
    """PTB's training set as int32 ids (words and <eos> per line), vocabulary of 10,000."""
    import numpy
    from rnnkit.lm.datasets import ptb

    words = ptb().train.replace("\n", " <eos> ").split()
    vocab, ids = numpy.unique(numpy.array(words), return_inverse=True)
    return ids.astype(numpy.int32), len(vocab)


def synthetic_ids(vocab, n, seed=0):
    import numpy

    return numpy.random.default_rng(seed).integers(0, vocab, n).astype(numpy.int32), vocab


def windows(ids, batch, bptt, count):
    """``count`` (input, target) windows of (bptt, batch) from parallel streams."""
    n = (len(ids) - 1) // batch
    streams = ids[: n * batch].reshape(batch, n).T
    targets = ids[1: n * batch + 1].reshape(batch, n).T
    out = []
    for i in range(count):
        start = (i * bptt) % (n - bptt)
        out.append((streams[start:start + bptt].copy(), targets[start:start + bptt].copy()))
    return out


# --------------------------------------------------------------------------- workers

class RnnkitSide:
    def __init__(self, cfg, vocab):
        from rnnkit.lm.model import RNNLM
        from rnnkit.lm.train import train_step
        from rnnkit.nn.optim import SGD

        self.model = RNNLM(vocab, embed=cfg["hidden"], hidden=cfg["hidden"], layers=cfg["layers"], cell=cfg["cell"],
                           seed=0)
        self.opt = SGD(self.model.params, self.model.grads, lr=1.0)
        self.train_step = train_step
        self.state = None
        self.train = cfg["mode"] == "train"
        self.model.train(self.train)

    def num_params(self):
        return self.model.num_params()

    def step(self, x, y):
        if self.train:  # rnnkit train's own step
            loss = self.train_step(self.model, self.opt, x, y, self.state, clip=0.25)
        else:  # what rnnkit eval and score run: log P of each target, nothing kept for backward
            loss = -float(self.model.token_log_probs(x, y, self.state).mean())
        self.state = self.model.final_state
        return loss


class TorchSide:
    def __init__(self, cfg, vocab):
        import torch

        torch.manual_seed(0)
        self.torch = torch
        H, L = cfg["hidden"], cfg["layers"]
        rnn_cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cfg["cell"]]
        self.emb = torch.nn.Embedding(vocab, H)
        self.rnn = rnn_cls(H, H, num_layers=L)
        self.out = torch.nn.Linear(H, vocab)
        self.modules = torch.nn.ModuleList([self.emb, self.rnn, self.out])
        self.opt = torch.optim.SGD(self.modules.parameters(), lr=1.0)
        self.state = None
        self.train = cfg["mode"] == "train"
        self.modules.train(self.train)

    def num_params(self):
        return sum(p.numel() for p in self.modules.parameters())

    def _detach(self, state):
        if isinstance(state, tuple):
            return tuple(s.detach() for s in state)
        return state.detach()

    def step(self, x, y):
        torch = self.torch
        x, y = torch.from_numpy(x).long(), torch.from_numpy(y).long()
        with torch.set_grad_enabled(self.train):
            h, state = self.rnn(self.emb(x), self.state)
            logits = self.out(h.reshape(-1, h.shape[-1]))
            loss = torch.nn.functional.cross_entropy(logits, y.reshape(-1))
        self.state = self._detach(state)
        if self.train:
            self.opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.modules.parameters(), 0.25)
            self.opt.step()
        return loss.item()


def gemm_shapes(cfg, vocab):
    """(m, k, n, calls per window) of every matrix product the model needs per window."""
    T, B, H, L, G = cfg["bptt"], cfg["batch"], cfg["hidden"], cfg["layers"], GATES[cfg["cell"]]
    N = T * B
    shapes = [(N, H, vocab, 1)]                               # logits = h V^T
    for _ in range(L):
        shapes += [(N, H, G * H, 1), (B, H, G * H, T)]        # input projection; recurrence per step
    if cfg["mode"] == "train":
        shapes += [(vocab, N, H, 1), (N, vocab, H, 1)]        # dV; dh
        for _ in range(L):
            shapes += [(G * H, N, H, 1), (N, G * H, H, 1),    # dU; dx
                       (G * H, N, H, 1), (B, G * H, H, T)]    # dW; ds per step
    return shapes


def call_times(fn, seconds, at_least=3):
    """Seconds of each call of fn(), called (after one warm-up call) until ``seconds`` have passed."""
    fn()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < at_least:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def measure_gemm(shapes, seconds=0.3):
    """Time each product on float32 random matrices: seconds per window at NumPy's speed."""
    import numpy

    rng = numpy.random.default_rng(0)
    total_time, total_flops = 0.0, 0
    for m, k, n, calls in shapes:
        a = rng.standard_normal((m, k), dtype=numpy.float32)
        b = rng.standard_normal((k, n), dtype=numpy.float32)
        times = call_times(lambda: a @ b, seconds / len(shapes))
        total_time += calls * sum(times) / len(times)
        total_flops += calls * 2 * m * k * n
    return total_time, total_flops


def measure_exp(rows, vocab, seconds=0.3):
    """Seconds for e^x over an (rows, vocab) float32 array, in the row blocks the
    softmax shares out over the cores: the one element-wise pass over the logits
    that an exact softmax cannot leave out."""
    import numpy
    from rnnkit.parallel import parallel_map
    from rnnkit.nn._fast import ROWS_PER_BLOCK, spans as row_spans

    logits = numpy.random.default_rng(0).random((rows, vocab), dtype=numpy.float32) * 15 - 10  # in [-10, 5)
    out = numpy.empty_like(logits)
    spans = row_spans(rows, ROWS_PER_BLOCK)

    def exp_rows(span):
        numpy.exp(logits[span[0]:span[1]], out=out[span[0]:span[1]])

    return statistics.median(call_times(lambda: parallel_map(exp_rows, spans), seconds))


def blas_kernel():
    try:
        from threadpoolctl import threadpool_info

        return [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} x{i.get('num_threads')}"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        return ["unknown (threadpoolctl not installed)"]


def worker(side_name, cfg):
    if cfg["smoke"]:
        ids, vocab = synthetic_ids(cfg["vocab"], 20000)
    else:
        ids, vocab = ptb_train_ids()
    side = (RnnkitSide if side_name == "rnnkit" else TorchSide)(cfg, vocab)
    batches = windows(ids, cfg["batch"], cfg["bptt"], 64)
    cursor = 0
    reply = {"ready": True, "vocab": vocab, "params": side.num_params()}
    print(json.dumps(reply), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "run":
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(cmd["steps"]):
                x, y = batches[cursor % len(batches)]
                cursor += 1
                side.step(x, y)
            # CPU seconds of every thread of this process: what the machine really gave it
            reply = {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}
        elif cmd["op"] == "limits":
            seconds, flops = measure_gemm(gemm_shapes(cfg, vocab), cmd["seconds"])
            exp_seconds = measure_exp(cfg["batch"] * cfg["bptt"], vocab, cmd["seconds"])
            reply = {"seconds": seconds, "flops": flops, "exp_seconds": exp_seconds, "kernel": blas_kernel()}
        elif cmd["op"] == "stats":
            reply = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        else:
            break
        print(json.dumps(reply), flush=True)


# --------------------------------------------------------------------------- driver

class Worker:
    def __init__(self, side, cfg, env):
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", side, "--cfg", json.dumps(cfg)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.hello = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker died (exit code {self.proc.wait()})")
        return json.loads(line)

    def ask(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def judge(reps, ratio_median, ceiling):
    """Warnings for a record: too few valid repetitions, or a ratio above its own ceiling.

    ``reps``: the per-repetition entries (each with "valid"); ``ceiling``: the
    median ratio at the GEMM limit. Returns a list of sentences (empty: none).
    """
    warnings = []
    valid = sum(r["valid"] for r in reps)
    if valid < len(reps):
        loads = ", ".join(f"{r['load_before']:.1f}" for r in reps)
        warnings.append(f"{len(reps) - valid} of {len(reps)} repetitions invalid: a side got under {STARVED:.0%} "
                        f"of a core (load averages before each: {loads})")
    if ratio_median > ceiling:
        warnings.append(f"ratio {ratio_median:.2f} is above its own ceiling {ceiling:.2f} (the ratio at the GEMM "
                        "limit): the measurement was disturbed, not a speed figure")
    return warnings


def run_config(name, args, env):
    mode, cell, layers, hidden = CONFIGS[name]
    cfg = {"mode": mode, "cell": cell, "layers": layers, "hidden": hidden, "batch": args.batch, "bptt": args.bptt,
           "smoke": args.smoke, "vocab": 200}
    if args.smoke:
        cfg["hidden"] = 16
    workers = {side: Worker(side, cfg, env) for side in ("rnnkit", "torch")}
    tokens = args.steps * cfg["batch"] * cfg["bptt"]
    for w in workers.values():
        w.ask(op="run", steps=max(1, args.steps // 2))  # warm-up
    all_speeds = {side: [] for side in workers}
    all_limits = []  # each repetition's GEMM and e^x times per window (module docstring)
    reps = []
    for rep in range(args.reps):
        order = ("rnnkit", "torch") if rep % 2 == 0 else ("torch", "rnnkit")
        entry = {"rep": rep + 1, "load_before": os.getloadavg()[0]}
        for side in order:
            r = workers[side].ask(op="run", steps=args.steps)
            all_speeds[side].append(tokens / r["seconds"])
            entry[side] = {"tokens_per_s": tokens / r["seconds"], "cpu_per_wall": r["cpu_seconds"] / r["seconds"]}
        all_limits.append(workers["rnnkit"].ask(op="limits", seconds=0.02 if args.smoke else 0.25))
        entry["load_after"] = os.getloadavg()[0]
        entry["valid"] = not any(entry[s]["cpu_per_wall"] < STARVED for s in workers)
        reps.append(entry)
    # the summaries from the valid repetitions; from all of them (and said so) when none is
    keep = [i for i, r in enumerate(reps) if r["valid"]] or list(range(len(reps)))
    speeds = {side: [v[i] for i in keep] for side, v in all_speeds.items()}
    limits = [all_limits[i] for i in keep]
    stats = {side: w.ask(op="stats") for side, w in workers.items()}
    hello = {side: w.hello for side, w in workers.items()}
    for w in workers.values():
        w.close()
    window_tokens = cfg["batch"] * cfg["bptt"]
    gemm_seconds = statistics.median(m["seconds"] for m in limits)
    limit = window_tokens / gemm_seconds
    flops = limits[0]["flops"]
    ours, theirs = summary(speeds["rnnkit"]), summary(speeds["torch"])
    gemm_ceiling = summary([window_tokens / m["seconds"] / t for m, t in zip(limits, speeds["torch"])])
    warnings = judge(reps, ours["median"] / theirs["median"], gemm_ceiling["median"])
    for w in warnings:
        print(f"speed.py {name}: warning: {w}", file=sys.stderr, flush=True)
    return {
        "config": name, "mode": mode, "cell": cell, "layers": layers, "hidden": cfg["hidden"],
        "vocab": hello["rnnkit"]["vocab"], "batch": cfg["batch"], "bptt": cfg["bptt"],
        "params": {"rnnkit": hello["rnnkit"]["params"], "torch": hello["torch"]["params"]},
        "reps": args.reps, "steps_per_rep": args.steps,
        "valid_reps": sum(r["valid"] for r in reps),
        "warnings": warnings,
        # load average (1 min) and the CPU each side got, per repetition: how disturbed the run was
        "per_rep": reps,
        "rnnkit_tokens_per_s": ours, "torch_tokens_per_s": theirs,
        "ratio_median": ours["median"] / theirs["median"],
        # Each repetition times both sides back to back, so a slow spell of this
        # shared machine hits both; the ratio within each repetition is less
        # sensitive to it than the ratio of the two medians.
        "ratio_per_rep": summary([a / b for a, b in zip(speeds["rnnkit"], speeds["torch"])]),
        "flops_per_token": flops / window_tokens,
        "gemm_gflops": flops / gemm_seconds / 1e9,
        "gemm_limit_tokens_per_s": limit,
        "fraction_of_gemm_limit": ours["median"] / limit,
        "torch_fraction_of_gemm_limit": theirs["median"] / limit,
        "exp_ms_per_window": 1e3 * statistics.median(m["exp_seconds"] for m in limits),
        # The ratio rnnkit would reach at each limit, against PyTorch in the same
        # repetition: a target above it is out of reach there (module docstring).
        "ratio_ceiling": {
            "gemm": gemm_ceiling,
            "gemm_and_exp": summary([window_tokens / (m["seconds"] + m["exp_seconds"]) / t
                                     for m, t in zip(limits, speeds["torch"])]),
        },
        "peak_rss_mb": {side: s["peak_rss_mb"] for side, s in stats.items()},
        "blas": limits[0]["kernel"],
        "blas_env": {k: env.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", *blas_env.SETTINGS)},
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names: " + ", ".join(CONFIGS))
    p.add_argument("--reps", type=int, default=5, help="timed repetitions per side (after a warm-up)")
    p.add_argument("--steps", type=int, default=10, help="training windows per repetition")
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--native", action="store_true",
                   help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for the workers (NumPy's own kernel choice)")
    p.add_argument("--smoke", action="store_true", help="tiny model and synthetic data: checks the output only")
    p.add_argument("--out", help="JSON-lines file the records are appended to (default: "
                                 "benchmarks/results/speed-<UTC date>.jsonl; none with --smoke; '-': none)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--cfg", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.worker, json.loads(args.cfg))
    # Both workers run with the OpenBLAS settings the `rnnkit` command gives itself
    # (rnnkit.blas_env); PyTorch's products are MKL's, which does not read them.
    env = blas_env.apply(dict(os.environ))
    if args.native:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    if args.smoke:
        args.reps, args.steps = min(args.reps, 2), min(args.steps, 2)
    names = args.configs.split(",")
    for name in names:
        if name not in CONFIGS:
            p.error(f"unknown configuration {name!r}; expected one of {', '.join(CONFIGS)}")
    out = args.out or ("-" if args.smoke else str(RESULTS / f"speed-{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}.jsonl"))
    for name in names:
        line = json.dumps(run_config(name, args, env))
        print(line, flush=True)
        if out != "-":
            # appended record by record, so an interrupted run keeps what it measured
            with open(out, "a", encoding="utf-8") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
