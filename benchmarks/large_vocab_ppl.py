"""What the class-based softmax costs in perplexity at a 40,000-word vocabulary, and what it saves in time.

Not a test: about 25 minutes on 2 cores. On fortunes-zh cut into words by jieba
(the files of `benchmarks/fortunes_zh.py`), it trains the same network twice
with `rnnkit train`, once with the full softmax and once with the class
softmax (``--softmax head:N``: the class softmax with a head of N words), every other option equal, then evaluates both on the test file and
prints one JSON object per model. The training text is fortunes-zh's `chinese`
training file with the package's two poetry files (tang300, song100) added:
the first alone has 37,810 distinct words, with the poems 43,041; every one of
them is in the dictionary (--min-count 1). The words never seen in training,
12% of the test tokens, are then <unk>, a token the models never saw either,
so the perplexity compared is the one without the <unk> targets (`rnnkit
eval`'s "without <unk>", KenLM's "excluding OOVs").

    python benchmarks/fortunes_zh.py /work/runs/zh
    python benchmarks/large_vocab_ppl.py --data /work/runs/zh --work /work/runs/zh-vocab2 --softmax class,full -- \
        --dropout 0.2 --epochs 16 --valid-without-unk --max-minutes 50      # docs/performance.md
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fortunes_zh import FORTUNES, paragraphs  # noqa: E402

POEMS = ("tang300", "song100")


def write_training_text(chinese_train, path):
    """zh.train.txt followed by the poems, one paragraph per line."""
    with open(chinese_train, encoding="utf-8") as f:
        text = f.read()
    for name in POEMS:
        with open(os.path.join(FORTUNES, name), encoding="utf-8") as f:
            for entry in f.read().split("\n%\n"):
                text += "".join(p + "\n" for p in paragraphs(entry))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="directory with zh.train.txt, zh.valid.txt, zh.test.txt")
    p.add_argument("--work", required=True, help="directory for the training text and the two models")
    p.add_argument("--softmax", default="full,class", help="which runs, in order (default: full,class); "
                   "head:N is the class softmax with a head of the N most frequent words (--head N)")
    p.add_argument("--threads", type=int, help="BLAS threads (OPENBLAS_NUM_THREADS)")
    p.add_argument("extra", nargs="*", help="more `rnnkit train` options (after --), the same for both runs")
    args = p.parse_args()
    train, valid, test = (os.path.join(args.data, f"zh.{s}.txt") for s in ("train", "valid", "test"))
    os.makedirs(args.work, exist_ok=True)
    train_text = os.path.join(args.work, "train.txt")
    write_training_text(train, train_text)
    env = dict(os.environ)
    if args.threads:
        env.update(OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    runner = [sys.executable, "-m", "rnnkit.cli"]
    for softmax in args.softmax.split(","):
        model = os.path.join(args.work, softmax.replace(":", "-"))
        layer = ["--softmax", "class", "--head", softmax.split(":")[1]] if softmax.startswith("head:") \
            else ["--softmax", softmax]
        cmd = ["train", train_text, "--valid", valid, "--out", model, "--tokenizer", "jieba", *layer,
               "--quiet", *args.extra]
        if os.path.exists(os.path.join(model, "checkpoint.safetensors")):
            cmd.append("--resume")
        t0 = time.monotonic()
        subprocess.run(runner + cmd, check=True, env=env)
        seconds = time.monotonic() - t0
        out = subprocess.run(runner + ["eval", model, test, "--json"], check=True, capture_output=True, text=True,
                             env=env)
        with open(os.path.join(model, "metrics.jsonl")) as f:
            epochs = [json.loads(line) for line in f]
        print(json.dumps({
            "softmax": softmax, "command": " ".join(["rnnkit"] + cmd),
            "epochs": len(epochs), "valid_ppl": min(e["valid_ppl"] for e in epochs),
            "test": json.loads(out.stdout), "wall_seconds_this_run": round(seconds, 1),
            "train_tokens_per_s": [round(e["tokens_per_s"]) for e in epochs],
        }), flush=True)


if __name__ == "__main__":
    main()
