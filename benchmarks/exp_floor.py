"""e^x and log-softmax over one window's logits (700 x 10,000 float32), NumPy against PyTorch, one thread.

The figures docs/performance.md uses for the "exponentials are a floor"
argument. Both libraries run in this one process, alternating call by call,
so that a busy spell of a shared machine hits both; the load average
(os.getloadavg) before and after is printed with them, and the CPU time the
process got against the wall time (below 0.75: the figures are disturbed).

    OPENBLAS_NUM_THREADS=1 python benchmarks/exp_floor.py [--rows 700] [--vocab 10000] [--calls 30]
"""

import argparse
import json
import os
import statistics
import time

import numpy


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=700)
    p.add_argument("--vocab", type=int, default=10000)
    p.add_argument("--calls", type=int, default=30)
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    x = numpy.random.default_rng(0).random((args.rows, args.vocab), dtype=numpy.float32) * 15 - 10
    out = numpy.empty_like(x)
    tx = torch.from_numpy(x)

    def numpy_log_softmax():
        m = x.max(axis=1, keepdims=True)
        numpy.subtract(x, m, out=out)
        e = numpy.exp(out)
        return out - numpy.log(e.sum(axis=1, keepdims=True))

    cases = {
        "numpy.exp": lambda: numpy.exp(x, out=out),
        "torch.exp": lambda: torch.exp(tx),
        "torch.log_softmax": lambda: torch.log_softmax(tx, dim=1),
        "numpy log_softmax (4 passes)": numpy_log_softmax,
    }
    times = {name: [] for name in cases}
    load_before, cpu, wall = os.getloadavg()[0], time.process_time(), time.perf_counter()
    for name, fn in cases.items():
        fn()  # warm-up
    for _ in range(args.calls):
        for name, fn in cases.items():  # alternating: one call of each in turn
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    cpu_per_wall = (time.process_time() - cpu) / (time.perf_counter() - wall)
    record = {
        "rows": args.rows, "vocab": args.vocab, "calls": args.calls, "threads": 1,
        "ms": {name: {"median": 1e3 * statistics.median(v), "min": 1e3 * min(v)} for name, v in times.items()},
        "load_before": load_before, "load_after": os.getloadavg()[0], "cpu_per_wall": cpu_per_wall,
        "torch": torch.__version__, "numpy": numpy.__version__,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
