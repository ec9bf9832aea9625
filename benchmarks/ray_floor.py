"""The floor under data-parallel training's exchange on Ray: a step's round trip with no work in it.

    python benchmarks/ray_floor.py --workers 2 --update-mb 1.9 --result-mb 1.5

Each of N actors (one CPU each, as rnnkit's workers) is called the way
rnnkit.scale.cluster.RayPool.step calls them: the driver puts an update of
UPDATE_MB once, every actor reads it and returns RESULT_MB of float32, and the
driver gets every result. The actors compute nothing, so the median round trip
is what the exchange costs by itself on this machine (docs/scaling.md compares
it with the "comm" of benchmarks/scaling.py, whose sizes its row gives). One JSON
line per worker count, with the load average before and after.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


class Echo:
    def __init__(self, result_floats):
        self.result = np.ones(result_floats, dtype=np.float32)

    def step(self, update):
        return float(update[0].sum() if update is not None else 0.0), self.result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--update-mb", type=float, default=1.9)
    ap.add_argument("--result-mb", type=float, default=1.5)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        update = (np.ones(int(args.update_mb * 1e6 / 4), dtype=np.float32),)
        for n in args.workers:
            actor = ray.remote(num_cpus=1)(Echo)
            actors = [actor.remote(int(args.result_mb * 1e6 / 4)) for _ in range(n)]
            ray.get([a.step.remote(None) for a in actors])
            load_before = os.getloadavg()[0]
            trips = []
            for _ in range(args.steps):
                t0 = time.perf_counter()
                ref = ray.put(update)
                ray.get([a.step.remote(ref) for a in actors])
                trips.append(time.perf_counter() - t0)
            for a in actors:
                ray.kill(a)
            print(json.dumps({"workers": n, "update_mb": args.update_mb, "result_mb": args.result_mb,
                              "steps": args.steps, "round_trip_ms": round(1e3 * statistics.median(trips), 2),
                              "p10_ms": round(1e3 * statistics.quantiles(trips, n=10)[0], 2),
                              "p90_ms": round(1e3 * statistics.quantiles(trips, n=10)[-1], 2),
                              "load_before": load_before, "load_after": os.getloadavg()[0]}), flush=True)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
