"""`rnnkit eval MODEL_DIR FILE [--json]`: perplexity of a text under a trained model."""

import json

from rnnkit.errors import UsageError
from rnnkit.lm.api import LanguageModel, load
from rnnkit.lm.mix import check_lambda
from rnnkit.lm.results import ClozeEvaluation, Evaluation, MixEvaluation

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
    if args.tune_lambda and not args.mix:
        raise UsageError("--tune-lambda needs --mix FILE.arpa")
    if args.mix:
        check_lambda(args.lam)
    model = load(args.model)
    if args.mix:
        if not isinstance(model, LanguageModel):
            raise UsageError("--mix works with left-to-right language models (--task lm), not cloze models")
        r = model.evaluate_mixed(args.file, args.mix, lam=args.lam, tune_on=args.tune_lambda)
    else:
        r = model.evaluate(args.file)
    if args.json:
        print(json.dumps(r.to_json()))
    else:
        for line in SHOW[type(r)](r):
            print(line)
    return 0


def _lines(r):
    yield (f"{r.file}: perplexity {r.perplexity:.2f}, {r.bits_per_token:.4f} bits/token "
           f"({r.nats_per_token:.4f} nats), {r.tokens:,} tokens (<eos> included), "
           f"OOV {r.oov:,} ({100 * r.oov_rate:.2f}%)")
    if r.unk_tokens:
        yield f"  without the {r.unk_tokens:,} <unk> targets: perplexity {r.perplexity_without_unk:.2f}"


def _cloze_lines(r):
    yield (f"{r.file}: cloze perplexity {r.perplexity:.2f}, top-1 accuracy {100 * r.top1:.2f}%, "
           f"top-5 accuracy {100 * r.top5:.2f}%, {r.bits_per_token:.4f} bits/token "
           f"({r.nats_per_token:.4f} nats), {r.tokens:,} tokens each filled from both sides of its line "
           f"(<eos> not predicted), OOV {r.oov:,} ({100 * r.oov_rate:.2f}%)")


def _mixed_lines(r):
    tuned = f" (tuned on {r.tuned_on})" if r.tuned_on else ""
    yield f"{r.file}: {r.tokens:,} tokens, each line scored from its start"
    yield f"  RNN alone     perplexity {r.rnn_perplexity:.2f}"
    yield f"  N-gram alone  perplexity {r.ngram_perplexity:.2f}"
    yield f"  mixture       perplexity {r.mix_perplexity:.2f}  lambda {r.lam:.2f}{tuned}"


SHOW = {Evaluation: _lines, ClozeEvaluation: _cloze_lines, MixEvaluation: _mixed_lines}
