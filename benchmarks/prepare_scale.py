"""rnnkit prepare on a generated Zipf corpus: tokens/s and peak RSS (docs/scaling.md).

    python benchmarks/prepare_scale.py --tokens 20e6 50e6 --workers 2 --dir /tmp/prep

The corpus is written in pieces (never whole in memory); prepare runs in a
child process whose peak RSS (ru_maxrss of the child and, with --workers > 1,
of its largest tokenising process) is reported with the load average.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def generate(path, tokens, vocab=100_000, seed=0):
    """A Zipf (s = 1) corpus of about ``tokens`` words in lines of 5-35 words, written 1M words at a time."""
    if os.path.exists(path) and os.path.getsize(path) > 0:
        return
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(vocab)])
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    with open(path, "w") as f:
        done = 0
        while done < tokens:
            n = int(min(1_000_000, tokens - done))
            ids = rng.choice(vocab, n, p=p)
            cuts = np.cumsum(rng.integers(5, 36, n // 5 + 1))
            cuts = cuts[cuts < n]
            f.write("\n".join(" ".join(words[piece]) for piece in np.split(ids, cuts)) + "\n")
            done += n


CHILD = """
import json, resource, sys, time
from rnnkit.scale.prepare import prepare
t0 = time.monotonic()
m = prepare([sys.argv[1]], sys.argv[2], workers=int(sys.argv[3]), force=True)
seconds = time.monotonic() - t0
print(json.dumps({"tokens": m["tokens"], "seconds": seconds, "shards": len(m["shards"]),
                  "vocab": m["vocab_size"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=float, nargs="+", default=[20e6, 50e6])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/rnnkit-prepare-bench")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    for tokens in args.tokens:
        corpus = os.path.join(args.dir, f"zipf-{int(tokens / 1e6)}M.txt")
        t0 = time.monotonic()
        generate(corpus, int(tokens))
        gen = time.monotonic() - t0
        out = subprocess.run([sys.executable, "-c", CHILD, corpus, corpus + ".data", str(args.workers)],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout)
        row.update(corpus_mb=os.path.getsize(corpus) / 2**20, workers=args.workers, generate_seconds=gen,
                   tokens_per_s=row["tokens"] / row["seconds"], load=os.getloadavg()[0])
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
