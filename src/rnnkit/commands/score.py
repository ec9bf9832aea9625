"""`rnnkit score MODEL_DIR [FILE|-] [--json] [--nbest ...]`: sentence scores and n-best re-ranking.

Plain scoring prints a header line (HEADER) and one tab-separated row per input line:
    log10 probability, perplexity, tokens (with <eos>), OOV tokens, text
With --nbest the input is an n-best list in one of the formats of the field
(--format tsv|rnnlm|srilm|kaldi, recognised where the file says which; see
rnnkit.lm.nbest) and is written back re-scored in its own convention; the
tab-separated form prints every utterance's candidates best first, after NBEST_HEADER:
    utt_id, rank, combined score, LM log10 probability, acoustic score (or -), text
The header starts with '#', which the n-best reader and most tools skip; the
other n-best formats are written without one, as their own tools write them.
--json prints one JSON object per line (per input line, or per utterance), no header.
The summary (standard error) gives the two figures of every rnnkit
evaluation: with <unk> and without the <unk> targets; it equals
`rnnkit eval --independent`.
"""

import json
import sys

from rnnkit.commands import adapt_options, model_options
from rnnkit.errors import RnnkitError, UsageError
from rnnkit.lm.api import LanguageModel, check_weights
from rnnkit.lm.mix import check_lambda
from rnnkit.lm.nbest import FORMATS, best_line, read_nbest_list, rescored_lines
from rnnkit.lm.tokenize import read_lines

NAME = "score"
HELP = "log-probability and perplexity of each line, or re-rank an n-best list (--nbest)"

# The first line of the plain output: what each tab-separated column is.
HEADER = "#log10_prob\tppl\ttokens\toov\ttext"
NBEST_HEADER = "#utt_id\trank\tcombined\tlm_log10_prob\tam_score\ttext"
EPILOG = ("output: a header line, then one tab-separated row per line: log10 probability, perplexity "
          "(10^(-log10_prob / tokens)), tokens (<eos> included), OOV tokens, text; the totals on standard error. "
          "With --nbest: utt_id, rank, combined score, LM log10 probability, acoustic score (- if none), text; "
          "--best: utt_id and the best text, no header. --json: one JSON object per line, no header.")


def add_arguments(p):
    p.epilog = EPILOG
    p.add_argument("model", metavar="MODEL_DIR")
    p.add_argument("file", metavar="FILE", nargs="?", default="-", help="UTF-8 text, one sentence per line (default: -, standard input)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of tab-separated text")
    p.add_argument("--nbest", action="store_true", help="FILE is an n-best list: 'utt_id<TAB>text[<TAB>score]' lines "
                   "or another --format")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS,
                   help="with --nbest: tsv (utt_id<TAB>text[<TAB>score]), rnnlm (rnnlm -nbest: 'id words'), srilm "
                        "(NBestList1.0 or 'acoustic lm count words', one utterance per file), kaldi ('uttid-N words' "
                        "with --acoustic-costs/--lm-costs); auto (default) goes by what the file says. Written back "
                        "re-scored: tsv ranked; rnnlm one log10 P per line; srilm with the LM score replaced; kaldi "
                        "'uttid-N cost' (-ln P)")
    p.add_argument("--acoustic-costs", metavar="FILE", help="with --format kaldi: 'uttid-N cost' lines (-ln p)")
    p.add_argument("--lm-costs", metavar="FILE", help="with --format kaldi: the old LM's 'uttid-N cost' lines")
    p.add_argument("--per-word", action="store_true",
                   help="without --nbest: after each row, one '<TAB>token<TAB>log10 p' line per prediction "
                        "(<eos> last); with --json a 'per_word' list; the row's logprob is their exact sum")
    p.add_argument("--lm-weight", type=float, default=1.0, metavar="W", help="weight of the LM log10 probability (default: 1)")
    p.add_argument("--am-weight", type=float, default=1.0, metavar="W", help="weight of the acoustic/OCR score (default: 1)")
    p.add_argument("--best", action="store_true", help="with --nbest: print only 'utt_id<TAB>best text'")
    p.add_argument("--mix", metavar="FILE.arpa", action="append",
                   help="with --nbest: the LM score is the RNN mixed with this N-gram model (ARPA or binary); "
                        "repeat for several")
    p.add_argument("--lambda", dest="lam", type=float, default=0.5, metavar="L",
                   help="with --mix: weight of the RNN, P = L P_rnn + (1 - L) P_ngram per token (default 0.5); "
                        "several N-gram models share 1 - L equally")
    p.add_argument("--tune-lambda", metavar="VALID_TEXT",
                   help="with --mix: choose every mixture weight on this held-out text by EM (SRILM's compute-best-mix)")
    adapt_options.add_arguments(p, tune=False)
    model_options.add_arguments(p)


def _fmt(x):
    return "-" if x is None else f"{x:.4f}"


def run(args):
    nbest_only = (args.best or args.lm_weight != 1.0 or args.am_weight != 1.0 or args.mix or args.tune_lambda
                  or args.format != "auto" or args.acoustic_costs or args.lm_costs)
    if not args.nbest and nbest_only:
        raise UsageError("--best, --lm-weight, --am-weight, --mix, --tune-lambda, --format and the cost files "
                         "apply to --nbest only")
    if args.nbest and args.per_word:
        raise UsageError("--per-word applies to plain scoring, not --nbest")
    if args.tune_lambda and not args.mix:
        raise UsageError("--tune-lambda needs --mix FILE.arpa")
    check_lambda(args.lam)  # the option checks before the model is read
    check_weights(args.lm_weight, args.am_weight)
    dynamic, cache = adapt_options.settings(args)
    lm = LanguageModel.load(args.model, args.verify)
    lines = read_lines(args.file)
    source = "<stdin>" if args.file == "-" else args.file
    if not lines:
        raise RnnkitError(f"{source}: no text to score (the input is empty)")
    out = sys.stdout
    if args.nbest:
        costs = {name: read_lines(path) if path else None
                 for name, path in (("acoustic_costs", args.acoustic_costs), ("lm_costs", args.lm_costs))}
        nbest = read_nbest_list(lines, source, args.format, **costs)
        r = lm.rescore_nbest_list(nbest, args.lm_weight, args.am_weight, mix=args.mix, lam=args.lam,
                                  tune_on=args.tune_lambda, dynamic=dynamic, cache=cache)
        if args.json:
            for utt in r.results:
                out.write(json.dumps(utt.to_json(), ensure_ascii=False) + "\n")
        elif args.best:
            for utt in r.results:
                out.write(best_line(nbest, utt.utt, utt.best.text) + "\n")
        elif nbest.format != "tsv":
            for line in rescored_lines(nbest, r.lm_scores):
                out.write(line + "\n")
        else:
            out.write(NBEST_HEADER + "\n")
            for utt in r.results:
                for c in utt.candidates:
                    out.write(f"{utt.utt}\t{c.rank}\t{c.combined:.4f}\t{c.lm_logprob:.4f}\t"
                              f"{_fmt(c.am_score)}\t{c.text}\n")
        if r.weights is not None and args.tune_lambda:
            print(f"# mixture weights (RNN first, tuned by EM on {args.tune_lambda}): "
                  + " ".join(f"{w:.4f}" for w in r.weights), file=sys.stderr)
        return 0
    rows = lm.score(lines, per_word=args.per_word, dynamic=dynamic, cache=cache)
    if not args.json:
        out.write(HEADER + "\n")
    for r in rows:
        if args.json:
            out.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
            continue
        out.write(f"{r.logprob:.4f}\t{r.ppl:.2f}\t{r.tokens}\t{r.oov}\t{r.text}\n")
        for w in r.per_word or ():
            out.write(f"\t{w['token']}\t{w['log10prob']:.6f}\n")
    if rows and not args.json:
        total = sum(r.logprob for r in rows)
        count = sum(r.tokens for r in rows)
        unk = sum(r.unk_targets for r in rows)
        known = sum(r.logprob_without_unk for r in rows)
        without = f"{10 ** (-known / (count - unk)):.2f}" if count > unk else "n/a"
        print(f"# {len(rows)} lines, {count} tokens: log10 probability {total:.4f}, "
              f"perplexity {10 ** (-total / count):.2f} with <unk>, {without} without the {unk} <unk> targets "
              "(each line from the start state: rnnkit eval --independent)", file=sys.stderr)
    return 0
