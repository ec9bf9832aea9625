"""`rnnkit score MODEL_DIR [FILE|-] [--json] [--nbest ...]`: sentence scores and n-best re-ranking.

Plain scoring prints a header line (HEADER) and one tab-separated row per input line:
    log10 probability, perplexity, tokens (with <eos>), OOV tokens, text
With --nbest the input is an n-best list (see rnnkit.lm.score for the format)
and every utterance's candidates are printed best first, after NBEST_HEADER:
    utt_id, rank, combined score, LM log10 probability, acoustic score (or -), text
The header starts with '#', which the n-best reader and most tools skip.
--json prints one JSON object per line (per input line, or per utterance), no header.
"""

import json
import math
import sys

from rnnkit.errors import OptionError, UsageError
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.mix import check_lambda
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
    p.add_argument("--nbest", action="store_true", help="FILE is an n-best list: 'utt_id<TAB>text[<TAB>score]' lines")
    p.add_argument("--lm-weight", type=float, default=1.0, metavar="W", help="weight of the LM log10 probability (default: 1)")
    p.add_argument("--am-weight", type=float, default=1.0, metavar="W", help="weight of the acoustic/OCR score (default: 1)")
    p.add_argument("--best", action="store_true", help="with --nbest: print only 'utt_id<TAB>best text'")
    p.add_argument("--mix", metavar="FILE.arpa", help="with --nbest: the LM score is the RNN mixed with this N-gram model")
    p.add_argument("--lambda", dest="lam", type=float, default=0.5, metavar="L",
                   help="with --mix: weight of the RNN, P = L P_rnn + (1 - L) P_ngram per token (default 0.5)")


def _fmt(x):
    return "-" if x is None else f"{x:.4f}"


def run(args):
    if not args.nbest and (args.best or args.lm_weight != 1.0 or args.am_weight != 1.0 or args.mix):
        raise UsageError("--best, --lm-weight, --am-weight and --mix apply to --nbest only")
    check_lambda(args.lam)  # the option checks before the model is read
    for name in ("lm_weight", "am_weight"):
        if not math.isfinite(getattr(args, name)):
            raise OptionError(f"{{{name}}} must be a finite number", name)
    lm = LanguageModel.load(args.model)
    lines = read_lines(args.file)
    source = "<stdin>" if args.file == "-" else args.file
    out = sys.stdout
    if args.nbest:
        if not (args.json or args.best):
            out.write(NBEST_HEADER + "\n")
        for r in lm.rescore_nbest(lines, args.lm_weight, args.am_weight, source, mix=args.mix, lam=args.lam):
            if args.json:
                out.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
            elif args.best:
                out.write(f"{r.utt}\t{r.best.text}\n")
            else:
                for c in r.candidates:
                    out.write(f"{r.utt}\t{c.rank}\t{c.combined:.4f}\t{c.lm_logprob:.4f}\t"
                              f"{_fmt(c.am_score)}\t{c.text}\n")
        return 0
    rows = lm.score(lines)
    if not args.json:
        out.write(HEADER + "\n")
    for r in rows:
        if args.json:
            out.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
        else:
            out.write(f"{r.logprob:.4f}\t{r.ppl:.2f}\t{r.tokens}\t{r.oov}\t{r.text}\n")
    if rows and not args.json:
        total = sum(r.logprob for r in rows)
        count = sum(r.tokens for r in rows)
        print(f"# {len(rows)} lines, {count} tokens: log10 probability {total:.4f}, "
              f"perplexity {10 ** (-total / count):.2f}", file=sys.stderr)
    return 0
