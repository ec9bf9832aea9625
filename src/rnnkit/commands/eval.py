"""`rnnkit eval MODEL_DIR FILE [--json]`: perplexity of a text under a trained model."""

import json

from rnnkit.errors import UsageError
from rnnkit.lm.api import LanguageModel

NAME = "eval"
HELP = ("perplexity, cross-entropy (bits and nats per token), token count and OOV rate of a text "
        "(a cloze model: cloze perplexity and top-1/top-5 accuracy)")


def add_arguments(p):
    p.add_argument("model", metavar="MODEL_DIR")
    p.add_argument("file", metavar="FILE", help="UTF-8 text, one sentence per line ('-': standard input)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.add_argument("--mix", metavar="FILE.arpa", help="interpolate with this N-gram model, token by token")
    p.add_argument("--lambda", dest="lam", type=float, metavar="L", default=0.5,
                   help="weight of the RNN in the mixture: P = L P_rnn + (1 - L) P_ngram (default 0.5)")
    p.add_argument("--tune-lambda", metavar="VALID_TEXT", help="choose L on this held-out text instead")


def run(args):
    from rnnkit.lm import cloze

    if cloze.model_task(args.model) == cloze.TASK:  # hook: cloze perplexity and top-1/top-5 accuracy
        if args.mix or args.tune_lambda:
            raise UsageError("--mix works with left-to-right language models (--task lm), not cloze models")
        return cloze.eval_command(args)
    lm = LanguageModel.load(args.model)
    if args.mix or args.tune_lambda:
        return _mixed(lm, args)
    r = lm.evaluate(args.file)
    if args.json:
        print(json.dumps({"file": args.file, **r}))
    else:
        print(f"{args.file}: perplexity {r['perplexity']:.2f}, {r['bits_per_token']:.4f} bits/token "
              f"({r['nats_per_token']:.4f} nats), {r['tokens']:,} tokens (<eos> included), "
              f"OOV {r['oov']:,} ({100 * r['oov_rate']:.2f}%)")
        if r["unk_tokens"]:
            print(f"  without the {r['unk_tokens']:,} <unk> targets: perplexity {r['perplexity_without_unk']:.2f}")
    return 0


def _mixed(lm, args):
    from rnnkit.lm.mix import check_lambda, mixed_report

    if not args.mix:
        raise UsageError("--tune-lambda needs --mix FILE.arpa")
    check_lambda(args.lam)
    r = mixed_report(lm, args.mix, args.file, lam=args.lam, tune_path=args.tune_lambda)
    if args.json:
        print(json.dumps(r))
    else:
        tuned = f" (tuned on {r['tuned_on']})" if "tuned_on" in r else ""
        print(f"{args.file}: {r['tokens']:,} tokens, each line scored from its start")
        print(f"  RNN alone     perplexity {r['rnn_perplexity']:.2f}")
        print(f"  N-gram alone  perplexity {r['ngram_perplexity']:.2f}")
        print(f"  mixture       perplexity {r['mix_perplexity']:.2f}  lambda {r['lambda']:.2f}{tuned}")
    return 0
