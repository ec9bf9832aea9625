"""Quality benchmark: a recurrent language model on Penn Treebank with `rnnkit train`.

Not a test: it takes up to an hour. It writes the PTB files (checked against
their MD5s), trains with the command line a user would type, evaluates the
best model on the test set, and prints one JSON object:

    python benchmarks/ptb_rnn.py --work /work/runs/ptb-rnn [--minutes 55] [--threads 1] [-- train options]
    python benchmarks/ptb_rnn.py --work /work/runs/ptb-lstm --threads 1 -- --cell lstm --layers 2 \
        --softmax full --lr 20 --bptt 20 --anneal-from 4 --epochs 13      # docs/results.md, gated cells

The result goes into docs/results.md by hand, with the curve from
MODEL_DIR/metrics.jsonl (rnnkit plot, or any JSON-lines reader).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time



def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True, help="directory for the PTB files and the model")
    p.add_argument("--minutes", type=float, default=55.0, help="--max-minutes for training (default: 55)")
    p.add_argument("--force", action="store_true", help="replace an existing model in WORK/model")
    p.add_argument("--threads", type=int, help="BLAS threads for the run (OPENBLAS_NUM_THREADS); on a busy "
                                                 "machine 1 avoids threads spinning against each other")
    p.add_argument("extra", nargs="*", help="more `rnnkit train` options (after --)")
    args = p.parse_args()

    from rnnkit.datasets import ptb_files

    files = ptb_files(os.path.join(args.work, "ptb"))
    model = os.path.join(args.work, "model")
    cmd = ["rnnkit", "train", files.train, "--valid", files.valid, "--out", model,
           "--max-minutes", f"{args.minutes:g}", "--quiet", *args.extra]
    if args.force:
        cmd.append("--force")
    env = dict(os.environ)
    if args.threads:
        env.update(OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    runner = [sys.executable, "-m", "rnnkit.cli"]
    t0 = time.monotonic()
    subprocess.run(runner + cmd[1:], check=True, env=env)
    train_seconds = time.monotonic() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    def evaluate(path):
        out = subprocess.run(runner + ["eval", model, path, "--json"], check=True, capture_output=True, text=True,
                             env=env)
        return json.loads(out.stdout)

    test, valid = evaluate(files.test), evaluate(files.valid)
    with open(os.path.join(model, "metrics.jsonl")) as f:
        epochs = [json.loads(line) for line in f]
    print(json.dumps({
        "command": " ".join(cmd),
        "blas_threads": args.threads or "default",
        "test_ppl": round(test["perplexity"], 2),
        "valid_ppl": round(valid["perplexity"], 2),
        "test_tokens": test["tokens"],
        "epochs": len(epochs),
        "train_minutes": round(train_seconds / 60, 1),
        "peak_rss_mib": round(rss_mib),
        "tokens_per_s_median": sorted(e["tokens_per_s"] for e in epochs)[len(epochs) // 2] if epochs else None,
    }, indent=1))


if __name__ == "__main__":
    main()
