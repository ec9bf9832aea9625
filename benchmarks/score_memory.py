"""Peak memory (RSS) of `rnnkit score` against `rnnkit eval` on the same text (docs/performance.md).

    python benchmarks/score_memory.py [--vocab 2000] [--mb 20] [--keep DIR]

Makes an untrained word model (vocabulary V, full softmax: the case where a
(tokens x vocabulary) array would be largest) and two texts: one line of about
--mb megabytes, and 64 lines of 2,000 tokens. Each command runs in a child
process of its own; its peak RSS is the child's ru_maxrss.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def make_model(directory, vocab_size):
    from rnnkit.lm.api import LanguageModel
    from rnnkit.lm.model import RNNLM
    from rnnkit.lm.vocab import Vocab

    vocab = Vocab(["<unk>", "<eos>"] + [f"w{i}" for i in range(vocab_size - 2)], [1] * vocab_size)
    model = RNNLM(vocab_size, embed=16, hidden=16, seed=1)
    config = {"task": "lm", "tokenizer": "word", "model": model.config(), "vocab_size": vocab_size}
    LanguageModel(model, vocab, "word", config).save(directory)


def words(rng, vocab_size, n):
    return " ".join(f"w{i}" for i in rng.integers(0, vocab_size - 2, n))


def peak_rss(argv):
    """(peak RSS in MiB, seconds) of a child process running ``argv``."""
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.execvp(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)}: exit status {os.waitstatus_to_exitcode(status)}")
    return usage.ru_maxrss / 1024, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=2000)
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--keep", metavar="DIR")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="score-memory-")
    os.makedirs(work, exist_ok=True)
    model = os.path.join(work, "model")
    if not os.path.exists(os.path.join(model, "config.json")):
        make_model(model, args.vocab)
    rng = np.random.default_rng(0)
    texts = {}
    one = os.path.join(work, "one_line.txt")
    if not os.path.exists(one):
        per_word = len(f"w{args.vocab // 2} ")
        with open(one, "w") as f:
            f.write(words(rng, args.vocab, int(args.mb * 2**20 / per_word)) + "\n")
    texts[f"one line of {os.path.getsize(one) / 2**20:.0f} MB"] = one
    lines = os.path.join(work, "64x2000.txt")
    with open(lines, "w") as f:
        f.write("".join(words(rng, args.vocab, 2000) + "\n" for _ in range(64)))
    texts["64 lines of 2,000 tokens"] = lines
    rnnkit = [sys.executable, "-m", "rnnkit.cli"]
    print(f"vocabulary {args.vocab:,}, full softmax, hidden 16; load: {os.getloadavg()[0]:.1f}")
    for name, path in texts.items():
        for command in (["eval", model, path], ["score", model, path]):
            rss, seconds = peak_rss(rnnkit + command)
            print(f"{name:26s} rnnkit {command[0]:5s}  peak RSS {rss:7.0f} MiB  {seconds:6.1f} s")


if __name__ == "__main__":
    main()
