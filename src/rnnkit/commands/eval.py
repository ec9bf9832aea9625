"""`rnnkit eval MODEL_DIR FILE [--json]`: perplexity of a text under a trained model.

Every figure comes with and without the <unk> targets (README, "Perplexity:
one convention"); --independent scores each line from the start state, as
rnnlm -independent and rnnkit score do; --per-word prints every token's log10
probability (the adapted and mixed model's, with --dynamic, --cache and --mix);
--mix (repeatable) mixes in N-gram models.
"""

import json
import sys

from rnnkit.commands import adapt_options, model_options
from rnnkit.errors import UsageError
from rnnkit.lm.api import LanguageModel, load
from rnnkit.lm.mix import check_lambda
from rnnkit.lm.results import AdaptedEvaluation, AdaptedMixEvaluation, ClozeEvaluation, Evaluation, MixEvaluation

NAME = "eval"
HELP = ("perplexity, cross-entropy (bits and nats per token), token count and OOV rate of a text "
        "(a cloze model: cloze perplexity and top-1/top-5 accuracy)")


def add_arguments(p):
    p.add_argument("model", metavar="MODEL_DIR")
    p.add_argument("file", metavar="FILE", help="UTF-8 text, one sentence per line ('-': standard input)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.add_argument("--mix", metavar="FILE.arpa", action="append",
                   help="interpolate with this N-gram model (ARPA or ngram build-binary), token by token; "
                        "repeat for several")
    # default None, so that --lambda typed beside --tune-lambda is seen (0.5 when neither is given)
    p.add_argument("--lambda", dest="lam", type=float, metavar="L", default=None,
                   help="weight of the RNN in the mixture: P = L P_rnn + (1 - L) P_ngram (default 0.5); "
                        "several N-gram models share 1 - L equally")
    p.add_argument("--tune-lambda", metavar="VALID_TEXT",
                   help="choose every mixture weight on this held-out text instead, by EM (as SRILM's "
                        "compute-best-mix); not together with --lambda")
    p.add_argument("--independent", action="store_true",
                   help="score each line from the start state (rnnlm's -independent; what score sums) instead "
                        "of reading the text as one stream")
    p.add_argument("--per-word", action="store_true",
                   help="also print every token's log10 probability: 'token<TAB>log10 p' lines, a blank line "
                        "after each line of text (with --json one object per line with a 'per_word' list, "
                        "then the summary); they add up exactly to the summary's logprob")
    adapt_options.add_arguments(p)
    model_options.add_arguments(p)


def run(args):
    if args.tune_lambda and not args.mix:
        raise UsageError("--tune-lambda needs --mix FILE.arpa")
    if args.tune_lambda and args.lam is not None:
        raise UsageError("--tune-lambda chooses L on held-out text and --lambda gives it: use one, not both")
    if args.lam is None:
        args.lam = 0.5
    if args.mix:
        check_lambda(args.lam)
    dynamic, cache = adapt_options.settings(args)
    adapting = dict(dynamic=dynamic, cache=cache, log=_progress) if dynamic or cache else {}
    if adapting and args.independent:
        raise UsageError("--dynamic and --cache adapt over the text read as one stream: not with --independent")
    model = load(args.model, args.verify)
    if adapting and not isinstance(model, LanguageModel):
        raise UsageError("--dynamic and --cache work with left-to-right language models (--task lm), not cloze models")
    if (args.mix or args.independent or args.per_word) and not isinstance(model, LanguageModel):
        raise UsageError("--mix, --independent and --per-word work with left-to-right language models "
                         "(--task lm), not cloze models")
    if args.per_word:
        # the probabilities of the model evaluated below: adapted, cached and mixed as the flags say
        lines, r = model.word_scores(args.file, independent=args.independent, tune_on=args.tune, mix=args.mix,
                                     lam=args.lam, mix_tune_on=args.tune_lambda, **adapting)
        for words in lines:
            if args.json:
                print(json.dumps(words.to_json(), ensure_ascii=False))
                continue
            for token, logp in zip(words.tokens, words.log10probs):
                print(f"{token}\t{logp:.6f}")
            print()
    elif args.mix:
        r = model.evaluate_mixed(args.file, args.mix, lam=args.lam, tune_on=args.tune_lambda,
                                 **(dict(adapting, tune_adapting_on=args.tune) if adapting else {}))
    elif adapting:
        r = model.evaluate(args.file, tune_on=args.tune, **adapting)
    elif isinstance(model, LanguageModel):
        r = model.evaluate(args.file, independent=args.independent)
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
    if r.independent:
        yield "  (with <unk>; each line scored from the start state, as rnnlm -independent and rnnkit score)"
    else:
        yield "  (with <unk>; the text read as one stream, the state carried from line to line; --independent: " \
              "each line from the start state)"


def _cloze_lines(r):
    yield (f"{r.file}: cloze perplexity {r.perplexity:.2f}, top-1 accuracy {100 * r.top1:.2f}%, "
           f"top-5 accuracy {100 * r.top5:.2f}%, {r.bits_per_token:.4f} bits/token "
           f"({r.nats_per_token:.4f} nats), {r.tokens:,} tokens each filled from both sides of its line "
           f"(<eos> not predicted), OOV {r.oov:,} ({100 * r.oov_rate:.2f}%)")


def _progress(line):
    print(line, file=sys.stderr, flush=True)


def _adapted_lines(r):
    yield from _lines(r)
    yield from adapt_options.lines(r)


def _adapted_mixed_lines(r):
    yield from _mixed_lines(r)
    yield "  (the RNN: the text read as one stream, adapting to it)"
    yield from adapt_options.lines(r)


def _mixed_lines(r):
    tuned = f" (tuned on {r.tuned_on})" if r.tuned_on else ""
    yield f"{r.file}: {r.tokens:,} tokens, each line scored from its start"
    unk = f"without the {r.unk_tokens:,} <unk> targets " if r.unk_tokens else ""
    without = (lambda x: f"; {unk}{x:.2f}") if unk else (lambda x: "")
    yield f"  RNN alone     perplexity {r.rnn_perplexity:.2f}{without(r.rnn_perplexity_without_unk)}"
    if len(r.models) > 1:
        for path, ppl, ppl_known, w in zip(r.models, r.ngram_perplexities, r.ngram_perplexities_without_unk,
                                           r.weights[1:]):
            yield f"  N-gram alone  perplexity {ppl:.2f}{without(ppl_known)}  ({path}, weight {w:.3f})"
        yield (f"  mixture       perplexity {r.mix_perplexity:.2f}{without(r.mix_perplexity_without_unk)}  "
               f"RNN weight {r.lam:.3f}{tuned}")
        return
    yield f"  N-gram alone  perplexity {r.ngram_perplexity:.2f}{without(r.ngram_perplexity_without_unk)}"
    yield (f"  mixture       perplexity {r.mix_perplexity:.2f}  lambda {r.lam:.2f}{tuned}"
           f"{without(r.mix_perplexity_without_unk)}")


SHOW = {Evaluation: _lines, ClozeEvaluation: _cloze_lines, MixEvaluation: _mixed_lines,
        AdaptedEvaluation: _adapted_lines, AdaptedMixEvaluation: _adapted_mixed_lines}
