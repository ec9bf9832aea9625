"""N-best lists in the formats of the field: read them, and write them back re-scored.

A recogniser (speech, OCR) proposes several candidate texts per utterance;
a language model re-scores them (docs/article.md §1). rnnkit reads four
forms, each as its own tools write it:

    tsv     rnnkit's own: ``utt_id<TAB>text[<TAB>score]``, candidates of one
            utterance share utt_id; the score is the recogniser's (higher is
            better). Blank lines and lines starting with ``#`` are skipped.
    rnnlm   the input of Mikolov's ``rnnlm -nbest``: ``id word word ...``, the
            first token the utterance id (candidates of one utterance share it).
    srilm   one utterance per file, its id the file's name. Either
            ``NBestList1.0`` (a first line saying so, then ``(score) words``,
            the score the recogniser's total in SRILM's bytelog scale) or the
            plain form ``acoustic-score lm-score word-count words`` (log10).
    kaldi   the text of Kaldi's n-best rescoring scripts: ``uttid-N word ...``
            (utterance uttid, candidate N), with the acoustic and the old LM
            costs (``uttid-N cost``, cost = -ln p) in separate files.

``--format auto`` goes by what the file says: a tab anywhere (or a name
ending in .tsv) is tsv, ``NBestList1.0`` or lines of the plain SRILM form
are srilm; otherwise kaldi when cost files are given, else rnnlm.

Each is written back in its own convention, the LM score being the new
model's log10 P(text + end of sentence):

    tsv     utt_id, rank, combined, LM log10 p, acoustic score (or -), text;
            per utterance, best first
    rnnlm   one LM log10 probability per candidate, in the file's order
            (what ``rnnlm -nbest`` prints)
    srilm   the plain form with the LM score replaced (as SRILM's ``ngram
            -rescore`` writes it), in the file's order; an NBestList1.0
            score becomes the acoustic score, in log10
    kaldi   ``uttid-N cost`` with the new LM cost -ln P, in the file's order
            (what Kaldi's rnnlm scoring step hands back to its rescoring script)

Scores are kept as log10 probabilities inside (higher is better): a Kaldi
cost c is -c / ln 10, a bytelog score b is b * 1024 * ln(1.0001) / ln 10.
"""

import math
import os
import re
from dataclasses import dataclass

from rnnkit.errors import OptionError, RnnkitError

FORMATS = ("tsv", "rnnlm", "srilm", "kaldi")
SRILM_HEADER = "NBestList1.0"
LN10 = math.log(10.0)
_BYTELOG_TO_LOG10 = 1024.0 * math.log(1.0001) / LN10  # SRILM's bytelog: log base 1.0001, divided by 1024
_KALDI_KEY = re.compile(r"^(.+)-(\d+)$")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_SRILM_PLAIN = re.compile(rf"^\s*({_NUMBER})\s+({_NUMBER})\s+(\d+)(?:\s+(.*))?$")
_SRILM_V1 = re.compile(rf"^\s*\(\s*({_NUMBER})\s*\)(?:\s+(.*))?$")


@dataclass
class Hypothesis:
    """One candidate: its utterance, text, the recogniser's score (log10-like,
    higher is better; None if the file has none), the LM score the file came
    with (log10; None if none), its own id in the file (rnnlm's and Kaldi's
    line id) and its line number."""

    utt: str
    text: str
    am_score: float = None
    old_lm_score: float = None
    key: str = None
    line: int = 0


@dataclass
class NbestList:
    """The candidates of an n-best file, in the file's order, and its format."""

    format: str
    hypotheses: list
    source: str

    def entries(self):
        """(utt_id, text, acoustic score or None) of every candidate: what score.rank_nbest takes."""
        return [(h.utt, h.text, h.am_score) for h in self.hypotheses]


def check_format(name):
    if name not in FORMATS + ("auto",):
        raise OptionError(f"unknown {{format}} {name!r}; expected auto or one of {', '.join(FORMATS)}", "format")


def _content(lines):
    return [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]


def detect_format(lines, with_costs=False, source=""):
    """The format the lines say they are in (see the module docstring). A tab anywhere,
    or a name ending in .tsv, means tsv: a tsv line that lost its tab is then an error
    naming it, not a candidate of another format."""
    content = _content(lines)
    if not content or source.endswith(".tsv") or any("\t" in line for _, line in content):
        return "tsv"
    if content[0][1].strip() == SRILM_HEADER:
        return "srilm"
    if all(_SRILM_PLAIN.match(line) for _, line in content):
        return "srilm"
    return "kaldi" if with_costs else "rnnlm"


def read_nbest_list(lines, source, format="auto", acoustic_costs=None, lm_costs=None):
    """An NbestList from the lines of an n-best file (``acoustic_costs`` and ``lm_costs``:
    the lines of Kaldi's cost files). Errors name the file and the line."""
    check_format(format)
    with_costs = acoustic_costs is not None or lm_costs is not None
    if format == "auto":
        format = detect_format(lines, with_costs, source)
    if with_costs and format != "kaldi":
        raise OptionError(f"{source}: cost files go with {{format}} kaldi, not {format}", "format")
    read = {"tsv": _read_tsv, "rnnlm": _read_rnnlm, "srilm": _read_srilm, "kaldi": _read_kaldi}[format]
    hypotheses = read(lines, source)
    if not hypotheses:
        expected = "lines 'utt_id<TAB>text[<TAB>score]'" if format == "tsv" else f"a {format} n-best list"
        raise RnnkitError(f"{source}: no candidates (expected {expected})")
    if format == "kaldi":
        _attach_costs(hypotheses, acoustic_costs, source, "am_score")
        _attach_costs(hypotheses, lm_costs, source, "old_lm_score")
    return NbestList(format, hypotheses, source)


def _read_tsv(lines, source):
    out, with_score = [], None
    for n, line in _content(lines):
        fields = line.split("\t")
        if len(fields) not in (2, 3):
            raise RnnkitError(
                f"{source}: line {n}: expected 'utt_id<TAB>text[<TAB>score]', got {len(fields)} tab-separated field(s)"
            )
        utt, text = fields[0].strip(), fields[1]
        if not utt:
            raise RnnkitError(f"{source}: line {n}: empty utterance id")
        score = _number(fields[2], source, n, "the score") if len(fields) == 3 else None
        if with_score is None:
            with_score = score is not None
        elif with_score != (score is not None):
            raise RnnkitError(f"{source}: line {n}: some candidates have a score and some do not; give all or none")
        out.append(Hypothesis(utt, text, score, line=n))
    return out


def _read_rnnlm(lines, source):
    out = []
    for n, line in enumerate(lines, 1):
        fields = line.split(None, 1)
        if not fields:
            continue
        out.append(Hypothesis(fields[0], fields[1] if len(fields) > 1 else "", key=fields[0], line=n))
    return out


def _read_kaldi(lines, source):
    out = []
    for h in _read_rnnlm(lines, source):
        m = _KALDI_KEY.match(h.key)
        if not m:
            raise RnnkitError(f"{source}: line {h.line}: expected 'uttid-N words' (Kaldi's n-best text), got id {h.key!r}")
        h.utt = m.group(1)
        out.append(h)
    return out


def _attach_costs(hypotheses, lines, source, field):
    if lines is None:
        return
    costs = {}
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise RnnkitError(f"{source} costs: line {n}: expected 'uttid-N cost', got {len(fields)} fields")
        costs[fields[0]] = -_number(fields[1], f"{source} costs", n, "the cost") / LN10
    for h in hypotheses:
        if h.key not in costs:
            raise RnnkitError(f"{source}: line {h.line}: no cost for {h.key!r} in the {field.split('_')[0]} cost file")
        setattr(h, field, costs[h.key])


def _read_srilm(lines, source):
    utt = _utterance_of(source)
    content = _content(lines)
    out = []
    if content and content[0][1].strip() == SRILM_HEADER:
        for n, line in content[1:]:
            m = _SRILM_V1.match(line)
            if not m:
                raise RnnkitError(f"{source}: line {n}: expected '(score) words' after {SRILM_HEADER}")
            score = _number(m.group(1), source, n, "the score") * _BYTELOG_TO_LOG10
            out.append(Hypothesis(utt, _strip_marks(m.group(2) or ""), score, line=n))
        return out
    for n, line in content:
        m = _SRILM_PLAIN.match(line)
        if not m:
            raise RnnkitError(f"{source}: line {n}: expected 'acoustic-score lm-score word-count words' (SRILM)")
        am = _number(m.group(1), source, n, "the acoustic score")
        lm = _number(m.group(2), source, n, "the LM score")
        out.append(Hypothesis(utt, _strip_marks(m.group(4) or ""), am, lm, line=n))
    return out


def _utterance_of(source):
    name = os.path.basename(source)
    for ext in (".gz", ".nbest", ".txt"):
        if name.endswith(ext) and len(name) > len(ext):
            name = name[: -len(ext)]
    return name or source


def _strip_marks(text):
    """SRILM's hypotheses may carry <s> and </s>; the LM adds its own."""
    words = text.split()
    if words[:1] == ["<s>"]:
        words = words[1:]
    if words[-1:] == ["</s>"]:
        words = words[:-1]
    return " ".join(words)


def _number(text, source, n, what):
    try:
        value = float(text)
    except ValueError:
        raise RnnkitError(f"{source}: line {n}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise RnnkitError(f"{source}: line {n}: {what} {text!r} is not finite")
    return value


# --- writing back ------------------------------------------------------------------


def rescored_lines(nbest, lm_scores):
    """The n-best list written back in its own format with the new LM scores
    (log10, one per hypothesis in the file's order), as text lines. tsv is
    written by the caller from the ranking (it has ranks and combined scores)."""
    if nbest.format == "rnnlm":
        return [f"{lm:.6f}" for lm in lm_scores]
    if nbest.format == "kaldi":
        return [f"{h.key} {-lm * LN10:.6f}" for h, lm in zip(nbest.hypotheses, lm_scores)]
    if nbest.format == "srilm":
        return [
            f"{h.am_score or 0.0:.6f} {lm:.6f} {len(h.text.split())}" + (f" {h.text}" if h.text else "")
            for h, lm in zip(nbest.hypotheses, lm_scores)
        ]
    raise ValueError(f"rescored_lines does not write {nbest.format}")


def best_line(nbest, utt, text):
    """The one-best line of an utterance: ``utt<TAB>text`` (tsv), else ``utt text`` (Kaldi's transcript form)."""
    return f"{utt}\t{text}" if nbest.format == "tsv" else f"{utt} {text}".rstrip()
