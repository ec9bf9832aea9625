"""``rnnkit ngram train|eval|predict``: the Kneser-Ney N-gram baseline, in ARPA files.

- ``train CORPUS --order N --out FILE.arpa``: interpolated modified Kneser-Ney
  (``--discount kn`` for plain KN), as KenLM's lmplz and SRILM's
  ``ngram-count -kndiscount -interpolate`` build it; writes FILE.arpa and the
  side file FILE.arpa.json (tokenizer, vocabulary, discounts).
- ``eval FILE.arpa TEXT``: perplexity as SRILM's ``ngram -ppl`` reports it.
- ``predict FILE.arpa "PREFIX"``: the most probable next words (the article's
  fill-the-blank game, played by an N-gram model).
- ``build-binary FILE.arpa FILE.bin``: the binary form (as KenLM's
  build_binary), which ``eval``, ``predict`` and ``--mix`` load in a
  fraction of a second; they recognise either form by its content.

The work is in rnnkit.ngram's NgramModel; this module parses its arguments,
calls the model and prints what it returns.
"""

import json
import math
import os
import sys
import time

from rnnkit.commands.prediction_text import print_predictions
from rnnkit.errors import RnnkitError
from rnnkit.lm.tokenize import TOKENIZERS
from rnnkit.ngram import DISCOUNT_METHODS, SIDECAR_SUFFIX, UNK, NgramModel
from rnnkit.ngram.counts import check_order

NAME = "ngram"
HELP = "N-gram baseline: train a Kneser-Ney model (ARPA file), measure perplexity, predict the next word"


def add_arguments(parser):
    actions = parser.add_subparsers(dest="ngram_action", metavar="ACTION", required=True)

    train = actions.add_parser(
        "train",
        help="estimate an interpolated Kneser-Ney model and write it as an ARPA file",
        description="Estimate an interpolated (modified) Kneser-Ney model from a text corpus, one sentence "
        "per line, and write it as an ARPA file plus a side file FILE.arpa.json.",
    )
    train.add_argument("corpus", metavar="CORPUS", help="UTF-8 text, one sentence per line ('-' reads stdin)")
    train.add_argument("--order", "-o", type=int, required=True, metavar="N", help="the N of the N-gram (e.g. 3 or 5)")
    train.add_argument("--out", required=True, metavar="FILE.arpa", help="the ARPA file to write (.gz compresses)")
    train.add_argument("--tokenizer", choices=TOKENIZERS, default="word", help="how lines are cut into tokens")
    train.add_argument(
        "--unk",
        action="store_true",
        help="open vocabulary (as KenLM, SRILM -unk): keep probability for unseen words in <unk> and score "
        "out-of-vocabulary words as <unk>; without it they are skipped as OOVs (SRILM's default)",
    )
    train.add_argument(
        "--discount",
        choices=DISCOUNT_METHODS,
        default="modified-kn",
        help="modified-kn: three discounts per order (Chen & Goodman); kn: one discount per order",
    )
    train.add_argument(
        "--prune",
        type=int,
        nargs="+",
        metavar="T",
        help="count pruning, as lmplz's --prune: leave out the k-grams seen at most T_k times, one threshold "
        "per order from the unigrams (which are never pruned: 0), the last one holding for the higher orders; "
        "e.g. --prune 0 1 1 drops singleton bigrams and trigrams. Discounts are estimated before pruning",
    )
    train.add_argument("--force", action="store_true", help="replace FILE.arpa if it exists")
    train.add_argument("--json", action="store_true", help="print a JSON summary")

    evaluate = actions.add_parser(
        "eval",
        help="perplexity of a text (as SRILM's ngram -ppl)",
        description="Perplexity of a text under an ARPA model, with and without sentence ends (SRILM's ppl "
        "and ppl1), the out-of-vocabulary count and the total log10 probability.",
    )
    evaluate.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    evaluate.add_argument("text", metavar="TEXT", help="UTF-8 text, one sentence per line ('-' reads stdin)")
    evaluate.add_argument(
        "--tokenizer", choices=TOKENIZERS, default=None, help="default: the model's (from FILE.arpa.json), else word"
    )
    evaluate.add_argument(
        "--per-line",
        action="store_true",
        help="also the figures of every sentence (as SRILM's ngram -ppl -debug 1): the sentence, then its "
        "two SRILM lines; with --json one JSON object per sentence",
    )
    evaluate.add_argument(
        "--per-word",
        action="store_true",
        help="also one line per token, as KenLM's query: token<TAB>log10 probability<TAB>length of the n-gram "
        "used ('OOV' and 0 for a word a closed vocabulary skips), a blank line after each sentence; with "
        "--json a 'per_word' list in each sentence's object. The values add up to the reported logprob",
    )
    evaluate.add_argument("--json", action="store_true", help="print the numbers as JSON (with --per-line or "
                          "--per-word: one object per sentence, then the summary object as without them)")

    predict = actions.add_parser(
        "predict",
        help="the most probable next words after a prefix",
        description="The K most probable next tokens after PREFIX, taken as the start of a sentence.",
    )
    predict.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    predict.add_argument("prefix", metavar="PREFIX", help="the beginning of a sentence")
    predict.add_argument("--top", type=int, default=10, metavar="K", help="how many words to list (default 10)")
    predict.add_argument(
        "--tokenizer", choices=TOKENIZERS, default=None, help="default: the model's (from FILE.arpa.json), else word"
    )
    predict.add_argument("--json", action="store_true", help="print the predictions as JSON")

    build = actions.add_parser(
        "build-binary",
        help="write the binary form of an ARPA file, which loads in a fraction of a second",
        description="Read an ARPA file (and its side file) once and write the model as rnnkit's binary form: "
        "a safetensors file of the lookup tables, memory-mapped when loaded (never pickle). eval, predict and "
        "--mix accept it wherever they accept the ARPA file, and give the same numbers.",
    )
    build.add_argument("arpa", metavar="FILE.arpa", help="an ARPA file (rnnkit's, KenLM's, SRILM's; .gz too)")
    build.add_argument("out", metavar="FILE.bin", help="the binary file to write")
    build.add_argument("--force", action="store_true", help="replace FILE.bin if it exists")
    build.add_argument("--json", action="store_true", help="print a JSON summary")


_MODEL_HELP = "an ARPA file (rnnkit's, KenLM's, SRILM's; .gz too) or its binary form (ngram build-binary)"


def run(args):
    actions = {"train": _train, "eval": _eval, "predict": _predict, "build-binary": _build_binary}
    return actions[args.ngram_action](args)


def _train(args):
    check_order(args.order)  # refused before any file is looked at
    out = args.out
    # Refuse early, before the corpus is read: nothing is overwritten by accident.
    if not args.force:
        for target in (out, out + SIDECAR_SUFFIX):
            if os.path.exists(target):
                raise RnnkitError(f"{target}: already exists (use --force to replace it)")
    if os.path.isdir(out):
        raise RnnkitError(f"{out}: is a directory")
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise RnnkitError(f"{out}: directory {out_dir} does not exist")
    if args.corpus != "-" and os.path.exists(args.corpus) and os.path.exists(out):
        if os.path.samefile(args.corpus, out):
            raise RnnkitError(f"{out}: is the corpus itself; choose another --out")

    started = time.perf_counter()
    model = NgramModel.train(args.corpus, args.order, args.discount, args.unk, args.tokenizer, args.prune)
    summary = model.training_summary()
    for fallback in summary.fallbacks:
        n = ", ".join(f"n{r}={c}" for r, c in enumerate(fallback.count_of_counts, 1))
        used = " ".join(f"{d:g}" for d in fallback.discounts)
        print(
            f"rnnkit ngram train: warning: order {fallback.order}: the corpus is too small for estimated "
            f"discounts ({n}); using {used} (as lmplz --discount_fallback)",
            file=sys.stderr,
        )
    model.write_arpa(out, force=args.force)
    seconds = time.perf_counter() - started

    if args.json:
        result = {"out": out}
        result.update({name: getattr(summary, name) for name in _TRAIN_JSON})
        if summary.prune:
            result["prune"] = summary.prune
        result["seconds"] = round(seconds, 3)
        print(json.dumps(result, ensure_ascii=False))
    else:
        counts = " ".join(f"{k}-grams={n}" for k, n in enumerate(summary.ngrams, 1))
        print(
            f"wrote {out}: order {summary.order}, {summary.discount}, {summary.sentences} sentences, "
            f"{summary.tokens} tokens; {counts}{_pruned(summary)}; {seconds:.1f} s"
        )
    return 0


def _pruned(summary):
    if not summary.prune:
        return ""
    return f" (pruned at {' '.join(map(str, summary.prune))}: {' '.join(map(str, summary.pruned))} left out)"


# The TrainingSummary fields in the --json summary, in its order (between "out" and "seconds").
_TRAIN_JSON = ("order", "discount", "tokenizer", "unk", "vocabulary", "ngrams", "sentences", "tokens", "discounts")


def _eval(args):
    started = time.perf_counter()
    model = NgramModel.load(args.model, tokenizer=args.tokenizer)
    loaded = time.perf_counter()
    result = model.evaluate_file(args.text, per_sentence=args.per_line or args.per_word)
    report = result.report
    for sentence in result.sentences:
        _print_sentence(sentence, args)
    if args.json:
        out = {"file": result.file, "model": result.model, "order": result.order, "tokenizer": result.tokenizer}
        out.update(report.as_dict())
        out["load_seconds"] = round(loaded - started, 3)
        out["read_text_seconds"] = round(result.read_text_seconds, 3)
        out["score_seconds"] = round(result.score_seconds, 3)
        print(json.dumps(out, ensure_ascii=False))
        return 0
    # SRILM's two lines, so existing scripts that read them keep working.
    print(f"file {result.file}: {report.sentences} sentences, {report.words} words, {report.oovs} OOVs")
    print(_srilm_line(report))
    if report.oovs and report.oov_policy == "scored-as-unk":
        print(f"({report.oovs} OOVs were scored as {UNK})")
    print(_figures_line(report))
    return 0


def _srilm_line(report):
    return f"{report.zeroprobs} zeroprobs, logprob= {report.logprob:.6g} ppl= {report.ppl:.6g} ppl1= {report.ppl1:.6g}"


def _figures_line(report):
    """The two figures every rnnkit evaluation reports, labelled (README, "Perplexity")."""
    if math.isnan(report.perplexity) and report.oovs:
        with_unk = f"n/a with {UNK} (a closed vocabulary: its {report.oovs} OOVs have no probability)"
    else:
        with_unk = f"{report.perplexity:.2f} with {UNK} ({report.tokens_scored} tokens, </s> included)"
    return (
        f"perplexity {with_unk}; {report.perplexity_without_unk:.2f} without the "
        f"{report.unk_targets} {UNK} targets ({report.tokens_without_unk} tokens)"
    )


def _print_sentence(sentence, args):
    if args.json:
        out = {"line": sentence.line, "text": " ".join(sentence.tokens[:-1])}
        out.update(sentence.report.as_dict())
        if args.per_word:
            out["per_word"] = sentence.words()
        print(json.dumps(out, ensure_ascii=False))
        return
    if args.per_line:
        print(" ".join(sentence.tokens[:-1]))
    if args.per_word:
        for token, logp, n in zip(sentence.tokens, sentence.log10probs.tolist(), sentence.ngram_lengths.tolist()):
            print(f"{token}\t{'OOV' if math.isnan(logp) else format(logp, '.6f')}\t{n}")
    if args.per_line:
        r = sentence.report
        print(f"{r.sentences} sentences, {r.words} words, {r.oovs} OOVs")
        print(_srilm_line(r))
    print()


def _build_binary(args):
    if os.path.exists(args.out) and not args.force:
        raise RnnkitError(f"{args.out}: already exists (use --force to replace it)")
    if os.path.exists(args.out) and os.path.exists(args.arpa) and os.path.samefile(args.arpa, args.out):
        raise RnnkitError(f"{args.out}: is the ARPA file itself; choose another name")
    started = time.perf_counter()
    model = NgramModel.load(args.arpa)
    loaded = time.perf_counter()
    model.write_binary(args.out, force=args.force)
    seconds = time.perf_counter() - started
    size = os.path.getsize(args.out)
    if args.json:
        print(json.dumps({"arpa": args.arpa, "out": args.out, "order": model.order, "ngrams": model.counts(),
                          "bytes": size, "read_seconds": round(loaded - started, 3),
                          "seconds": round(seconds, 3)}, ensure_ascii=False))
    else:
        counts = " ".join(f"{k}-grams={n}" for k, n in enumerate(model.counts(), 1))
        print(f"wrote {args.out}: order {model.order}; {counts}; {size / 2**20:.1f} MiB; {seconds:.1f} s")
    return 0


def _predict(args):
    model = NgramModel.load(args.model, tokenizer=args.tokenizer)
    result = model.predict(args.prefix, args.top)
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
        return 0
    note = f"{result.order}-gram model: only the last {result.order - 1} tokens count" if result.order > 1 \
        else "1-gram model: the prefix does not count"
    print_predictions(" ".join(result.context), [(p.token, p.probability) for p in result.predictions],
                      result.out_of_vocabulary, note, as_unk=model.open_vocabulary)
    return 0
