"""Data-parallel step time on Ray: 1, 2, 3 workers, one BLAS thread each (docs/scaling.md).

    python benchmarks/scaling.py --workers 1 2 3 --steps 40          # PTB, GRU 1x200, batch 20, bptt 35

Runs the real driver (rnnkit.scale.data_parallel.DataParallelTrainer) window by
window and splits each step into: the slowest worker's own time (apply the
previous update, forward, BPTT, weight its gradient), the driver's sum and
optimizer step, and the rest of the round trip, which is communication
(object store put/get, serialisation, scheduling). Prints one JSON line per
worker count, with the 1-minute load average before and after (the machine is
shared: a busy core slows a worker and, in a synchronous step, everyone).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--cell", default="gru")
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--corpus", help="text or DATA_DIR (default: PTB train)")
    ap.add_argument("--valid", help="default: PTB valid")
    args = ap.parse_args()

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from rnnkit.lm.train.options import resolve_options
    from rnnkit.scale.data_parallel import DataParallelTrainer

    if args.corpus is None:
        from rnnkit.datasets import ptb_files

        paths = ptb_files(os.path.join(tempfile.gettempdir(), "rnnkit-ptb"))
        args.corpus, args.valid = paths.train, paths.valid
    ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}})
    opts = resolve_options(dict(cell=args.cell, hidden=args.hidden, batch=args.batch, bptt=args.bptt))
    for n in args.workers:
        with tempfile.TemporaryDirectory() as out:
            tr = DataParallelTrainer(args.corpus, args.valid, out, dict(opts), log=lambda m: None, quiet=True,
                                     workers=n)
            tr.start()
            tr._start_pool()
            tr.optimizer.lr = tr.state["lr"]
            tr._sync()
            load_before = os.getloadavg()[0]
            rows, t_start = [], None
            for k in range(args.warmup + args.steps):
                if k == args.warmup:
                    t_start = time.perf_counter()
                loss, tokens = tr._train_window()
                tr.state["window"] += 1
                if k >= args.warmup:
                    rows.append(tr.step_seconds)
            wall = time.perf_counter() - t_start
            tr.pool.shutdown()
        trip = [r[0] for r in rows]
        work = [r[1] for r in rows]
        driver = [r[2] for r in rows]
        comm = [a - b for a, b in zip(trip, work)]
        step = [a + c for a, c in zip(trip, driver)]
        tokens = args.batch * args.bptt * args.steps
        print(json.dumps({
            "workers": n, "model": f"{args.cell} 1x{args.hidden}", "batch": args.batch, "bptt": args.bptt,
            "steps": args.steps, "step_ms": 1e3 * statistics.median(step),
            "worker_ms": 1e3 * statistics.median(work), "comm_ms": 1e3 * statistics.median(comm),
            "driver_ms": 1e3 * statistics.median(driver),
            "comm_share": statistics.median(c / s for c, s in zip(comm, step)),
            "tokens_per_s": tokens / wall, "load_before": load_before, "load_after": os.getloadavg()[0],
        }), flush=True)
    ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
