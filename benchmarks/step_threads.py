"""The recurrent loops' BLAS threads: all (as before), one, and the measured choice, A/B in one process.

One training step (forward, BPTT, SGD update) of a one-layer model, B 20,
T 35, V 10,000, full softmax; the three settings (RNNKIT_STEP_THREADS "64",
"1", "auto") alternate step by step, so a busy spell of a shared machine hits
all three. Prints one JSON line: median and minimum ms per step, the load
average before and after, and the CPU time the process got per wall second.

    python benchmarks/step_threads.py rnn 200 15
    python benchmarks/step_threads.py lstm 200 8
"""

import json
import os
import statistics
import sys
import time

from rnnkit import blas_env

blas_env.apply()

import numpy as np  # noqa: E402  (after blas_env: OpenBLAS reads its settings when it loads)

from rnnkit.lm.model import RNNLM  # noqa: E402
from rnnkit.lm.train import train_step  # noqa: E402
from rnnkit.nn.optim import make_optimizer  # noqa: E402

MODES = {"all (before)": "64", "one": "1", "auto": "auto"}


def main(cell="rnn", hidden=200, steps=15, vocab=10000, batch=20, bptt=35):
    model = RNNLM(vocab, hidden, hidden, 1, cell=cell, seed=1)
    model.train()
    opt = make_optimizer("sgd", model.params, model.grads, 0.1)
    rng = np.random.default_rng(0)
    x = rng.integers(0, vocab, (bptt, batch)).astype(np.int32)
    y = rng.integers(0, vocab, (bptt, batch)).astype(np.int32)
    times = {k: [] for k in MODES}
    load0, cpu0, wall0 = os.getloadavg()[0], time.process_time(), time.perf_counter()
    for value in MODES.values():  # warm-up
        os.environ["RNNKIT_STEP_THREADS"] = value
        train_step(model, opt, x, y, None, 0.25)
    for _ in range(steps):
        for mode, value in MODES.items():
            os.environ["RNNKIT_STEP_THREADS"] = value
            t = time.perf_counter()
            train_step(model, opt, x, y, None, 0.25)
            times[mode].append(time.perf_counter() - t)
    print(json.dumps({
        "cell": cell, "hidden": hidden, "batch": batch, "bptt": bptt, "vocab": vocab, "steps": steps,
        "ms_median": {k: round(1e3 * statistics.median(v), 1) for k, v in times.items()},
        "ms_min": {k: round(1e3 * min(v), 1) for k, v in times.items()},
        "load": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "cpu_per_wall": round((time.process_time() - cpu0) / (time.perf_counter() - wall0), 2),
    }))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0] if args else "rnn", int(args[1]) if len(args) > 1 else 200, int(args[2]) if len(args) > 2 else 15)
