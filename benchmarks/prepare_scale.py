"""rnnkit prepare on a generated Zipf corpus: tokens/s and peak RSS (docs/scaling.md).

    python benchmarks/prepare_scale.py --tokens 20e6 200e6 --workers 2 --dir /work/prepare-bench --generate \\
        --out benchmarks/results/prepare-$(date +%F).json

``--generate`` writes each corpus first where it is not there yet (Zipf, s =
1, over 100,000 words, lines of 5-35 words, seeded: the same text every time),
in pieces of 1M words, never whole in memory; its time is reported apart
(``generate_seconds``) and is not part of prepare's. Without the flag a corpus
that is missing is an error. Before writing anything the free space of
``--dir`` is checked against what the run needs (the corpora, about 5 bytes a
token, and one DATA_DIR at a time, 4 bytes a token with this vocabulary): a
200M-token corpus is about 1 GB of text and 0.8 GB of ids. The DATA_DIR is
removed after its measurement unless ``--keep-data``.

prepare runs in a child process, so that its peak RSS (ru_maxrss of the child
and, with --workers > 1, of its largest tokenising process) is its own. Prints
one JSON line per corpus; ``--out FILE`` also writes one JSON document with
every row and the machine (cores, load, versions, commit, command). A smoke run
takes seconds: ``--tokens 2e5 --dir /tmp/prep-smoke --generate``.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from machine_info import machine

TEXT_BYTES_PER_TOKEN = 5.0  # "w1234 ": 4.6 measured on 21M and 52M tokens, rounded up
ID_BYTES_PER_TOKEN = 4      # uint32 ids: the 100,000-word vocabulary passes uint16's 65,535


def generate(path, tokens, vocab=100_000, seed=0):
    """A Zipf (s = 1) corpus of ``tokens`` words in lines of 5-35 words, written 1M words at a time (to a
    temporary name first: an interrupted run leaves no half corpus that a later run would take as whole)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(vocab)])
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    part = path + ".part"
    with open(part, "w") as f:
        done = 0
        while done < tokens:
            n = int(min(1_000_000, tokens - done))
            ids = rng.choice(vocab, n, p=p)
            cuts = np.cumsum(rng.integers(5, 36, n // 5 + 1))
            cuts = cuts[cuts < n]
            f.write("\n".join(" ".join(words[piece]) for piece in np.split(ids, cuts)) + "\n")
            done += n
    os.replace(part, path)


CHILD = """
import json, resource, sys, time
from rnnkit.scale.prepare import prepare
t0 = time.monotonic()
m = prepare([sys.argv[1]], sys.argv[2], workers=int(sys.argv[3]), chunk_bytes=int(sys.argv[4]), force=True)
seconds = time.monotonic() - t0
print(json.dumps({"tokens": m["tokens"], "lines": m["lines"], "seconds": seconds, "shards": len(m["shards"]),
                  "vocab": m["vocab_size"], "dtype": m["dtype"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def check_room(args, corpora):
    """Refuse at once, in one line, a run the disk of --dir cannot hold."""
    missing = [t for t, path in corpora if not os.path.exists(path)]
    need = sum(TEXT_BYTES_PER_TOKEN * t for t in missing) if args.generate else 0
    need += ID_BYTES_PER_TOKEN * max(t for t, _ in corpora) * (len(corpora) if args.keep_data else 1)
    free = shutil.disk_usage(args.dir).free
    if need * 1.1 > free:
        sys.exit(f"prepare_scale: {args.dir} has {free / 2**30:.1f} GiB free; this run needs about "
                 f"{need * 1.1 / 2**30:.1f} GiB (corpora to write and the DATA_DIR): use another --dir")
    return need


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=float, nargs="+", default=[20e6, 200e6],
                    help="corpus sizes in tokens (default: 20e6 200e6; peak RSS should not grow with them)")
    ap.add_argument("--workers", type=int, default=2, help="tokenising processes (default 2)")
    ap.add_argument("--chunk-mb", type=float, default=32, help="prepare's chunk size (default 32, its default)")
    ap.add_argument("--dir", default="/tmp/rnnkit-prepare-bench", help="where the corpora and DATA_DIRs go")
    ap.add_argument("--generate", action="store_true", help="write the corpora that are not in --dir yet")
    ap.add_argument("--keep-data", action="store_true", help="keep each DATA_DIR (default: removed after use)")
    ap.add_argument("--out", help="also write every row and the machine as one JSON document here")
    args = ap.parse_args()
    if min(args.tokens) < 1 or args.workers < 1 or args.chunk_mb <= 0:
        ap.error("--tokens, --workers and --chunk-mb must be positive")
    os.makedirs(args.dir, exist_ok=True)
    corpora = [(int(t), os.path.join(args.dir, f"zipf-{t / 1e6:g}M.txt")) for t in args.tokens]
    missing = [path for _, path in corpora if not os.path.exists(path)]
    if missing and not args.generate:
        sys.exit(f"prepare_scale: {missing[0]} is not there: add --generate to write it")
    check_room(args, corpora)
    info = machine()
    rows = []
    for tokens, corpus in corpora:
        t0 = time.monotonic()
        if not os.path.exists(corpus):
            generate(corpus, tokens)
        gen = time.monotonic() - t0
        data = corpus + ".data"
        load_before = os.getloadavg()[0]
        out = subprocess.run([sys.executable, "-c", CHILD, corpus, data, str(args.workers),
                              str(int(args.chunk_mb * 2**20))], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"prepare_scale: rnnkit prepare failed on {corpus}: "
                     f"{(out.stderr.strip().splitlines() or ['?'])[-1]}")
        row = json.loads(out.stdout)
        row.update(corpus=corpus, corpus_mb=round(os.path.getsize(corpus) / 2**20, 1),
                   data_mb=round(directory_bytes(data) / 2**20, 1), workers=args.workers, chunk_mb=args.chunk_mb,
                   generate_seconds=round(gen, 1), tokens_per_s=round(row["tokens"] / row["seconds"]),
                   load_before=load_before, load_after=os.getloadavg()[0])
        if not args.keep_data:
            shutil.rmtree(data)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        info["load_1_5_15_end"] = list(os.getloadavg())
        with open(args.out, "w") as f:
            json.dump({"benchmark": "prepare_scale", "machine": info, "rows": rows}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
