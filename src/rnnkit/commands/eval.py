"""`rnnkit eval MODEL_DIR FILE [--json]`: perplexity of a text under a trained model."""

import json

from rnnkit.lm.api import LanguageModel

NAME = "eval"
HELP = ("perplexity, cross-entropy (bits and nats per token), token count and OOV rate of a text "
        "(a cloze model: cloze perplexity and top-1/top-5 accuracy)")


def add_arguments(p):
    p.add_argument("model", metavar="MODEL_DIR")
    p.add_argument("file", metavar="FILE", help="UTF-8 text, one sentence per line ('-': standard input)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")


def run(args):
    from rnnkit.lm import cloze

    if cloze.model_task(args.model) == cloze.TASK:  # hook: cloze perplexity and top-1/top-5 accuracy
        return cloze.eval_command(args)
    lm = LanguageModel.load(args.model)
    r = lm.evaluate(args.file)
    if args.json:
        print(json.dumps({"file": args.file, **r}))
    else:
        print(f"{args.file}: perplexity {r['perplexity']:.2f}, {r['bits_per_token']:.4f} bits/token "
              f"({r['nats_per_token']:.4f} nats), {r['tokens']:,} tokens (<eos> included), "
              f"OOV {r['oov']:,} ({100 * r['oov_rate']:.2f}%)")
    return 0
