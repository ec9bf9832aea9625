"""Evaluation: perplexity as SRILM's ``ngram -ppl`` reports it, and per-word scores as KenLM's ``query``.

logprob is the sum of log10 p over every scored token, ``</s>`` included.
With W words, S sentences, O skipped OOVs and Z zero probabilities:

    ppl  = 10 ** (-logprob / (W - O - Z + S))    every token and every </s>
    ppl1 = 10 ** (-logprob / (W - O - Z))        same logprob, </s> not counted

A closed-vocabulary model skips its OOVs (O counts them); an open one scores
them as ``<unk>`` (O = 0, though ``oovs`` still says how many there were).

The two figures every rnnkit evaluation reports (README, "Perplexity"):

    perplexity              every predicted token, </s> included, <unk> targets
                            included (KenLM's "including OOVs"); undefined for a
                            closed vocabulary that skipped OOVs, which have no
                            probability
    perplexity_without_unk  the same without the <unk> targets: words outside
                            the vocabulary and literal <unk> tokens (KenLM's
                            "excluding OOVs"; SRILM's ppl of a closed model)

Totals are exact sums (math.fsum) of the per-token values, so the per-word
scores of ``--per-word`` add up to the reported logprob.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.ngram.text import EOS, read_text_lines, sentences_from_lines


@dataclass
class PerplexityReport:
    """What SRILM's ``ngram -ppl`` prints, as numbers, and the two figures (see above).

    ``unk_targets``: predicted tokens that are <unk> to the model (OOV words
    and literal <unk>); ``logprob_without_unk`` and ``tokens_without_unk``
    leave them out.
    """

    sentences: int
    words: int
    oovs: int
    oov_policy: str  # "skipped" (closed vocabulary) or "scored-as-unk" (open)
    zeroprobs: int
    logprob: float
    ppl: float
    ppl1: float
    unk_targets: int = 0
    logprob_without_unk: float = 0.0
    tokens_without_unk: int = 0

    @property
    def tokens_scored(self):
        skipped = self.oovs if self.oov_policy == "skipped" else 0
        return self.words - skipped - self.zeroprobs + self.sentences

    @property
    def perplexity(self):
        """Every token, <unk> targets included (NaN when a closed vocabulary skipped OOVs)."""
        if self.oov_policy == "skipped" and self.oovs:
            return math.nan
        return self.ppl

    @property
    def perplexity_without_unk(self):
        n = self.tokens_without_unk
        return pow10(-self.logprob_without_unk / n) if n > 0 else math.nan

    def as_dict(self):
        def finite(x):
            return x if math.isfinite(x) else None

        return {
            "sentences": self.sentences,
            "words": self.words,
            "oovs": self.oovs,
            "oov_policy": self.oov_policy,
            "zeroprobs": self.zeroprobs,
            "tokens_scored": self.tokens_scored,
            "logprob": self.logprob,
            "ppl": finite(self.ppl),
            "ppl1": finite(self.ppl1),
            "perplexity": finite(self.perplexity),
            "perplexity_without_unk": finite(self.perplexity_without_unk),
            "unk_targets": self.unk_targets,
            "tokens_without_unk": self.tokens_without_unk,
            "logprob_without_unk": self.logprob_without_unk,
        }


@dataclass
class SentenceScores:
    """One sentence's scores, token by token (``NgramModel.score_sentences``).

    ``tokens`` are its words and the final </s>; per token, ``log10probs``
    (NaN for a skipped OOV, -inf for a zero probability), ``ngram_lengths``
    (the length of the n-gram whose probability was used, as KenLM's
    ``full_scores``; 0 for a skipped OOV) and ``oov`` (not in the
    vocabulary). ``report`` is the sentence's PerplexityReport.
    """

    line: int
    tokens: list
    log10probs: np.ndarray
    ngram_lengths: np.ndarray
    oov: np.ndarray
    report: PerplexityReport

    def words(self):
        """One dict per token: token, log10prob (None where skipped), ngram_length, oov."""
        return [
            {"token": t, "log10prob": float(p) if not math.isnan(p) else None, "ngram_length": int(n), "oov": bool(o)}
            for t, p, n, o in zip(self.tokens, self.log10probs.tolist(), self.ngram_lengths.tolist(), self.oov.tolist())
        ]


@dataclass
class TextPerplexity:
    """The perplexity of a text file (``NgramModel.evaluate_file``): the file, the
    model's file, order and tokenizer, the PerplexityReport, and the seconds
    spent reading and tokenising the text and scoring it; ``sentences``: the
    SentenceScores of each line when asked for, else empty."""

    file: str
    model: str
    order: int
    tokenizer: str
    report: PerplexityReport
    read_text_seconds: float
    score_seconds: float
    sentences: list = field(default_factory=list)


def pow10(x):
    """10^x, inf where that is beyond float64 (a perplexity of a model that gives text next to no probability)."""
    try:
        return 10.0 ** x
    except OverflowError:
        return math.inf


def _report(open_vocabulary, scores, oov, unk, n_sent):
    """The PerplexityReport of the scores of n_sent sentences' predicted tokens."""
    policy = "scored-as-unk" if open_vocabulary else "skipped"
    zero = np.isneginf(scores)
    scored = ~np.isnan(scores) & ~zero
    oovs = int(oov.sum())
    zeroprobs = int(zero.sum())
    logprob = math.fsum(scores[scored].tolist())
    known = scored & ~unk
    n_words = len(scores) - n_sent
    denom = n_words - (0 if open_vocabulary else oovs) - zeroprobs + n_sent
    ppl = pow10(-logprob / denom) if denom > 0 else math.nan
    ppl1 = pow10(-logprob / (denom - n_sent)) if denom - n_sent > 0 else math.nan
    return PerplexityReport(
        n_sent,
        n_words,
        oovs,
        policy,
        zeroprobs,
        logprob,
        ppl,
        ppl1,
        unk_targets=int(unk.sum()),
        logprob_without_unk=math.fsum(scores[known].tolist()),
        tokens_without_unk=int(known.sum()),
    )


def _scored_stream(model, sentences):
    """Per predicted token of the sentences (words and </s>, sentence after sentence):
    log10 p, n-gram length, OOV mask, <unk>-target mask; and each sentence's start in them."""
    ids, depth, starts, lengths, oov = model.id_stream(sentences)
    logp, longest = model.score_ids(ids, depth, with_lengths=True)
    unk = oov | (ids == model.unk_id) if model.unk_id >= 0 else oov.copy()
    keep = depth > 0
    first = starts - np.arange(len(starts))  # each <s> dropped moves the next sentence back by one
    return logp[keep], longest[keep], oov[keep], unk[keep], first, lengths


def perplexity(model, sentences):
    """The PerplexityReport of token lists (without <s> and </s>) under an NgramModel."""
    if not sentences:
        return _report(model.open_vocabulary, np.zeros(0), np.zeros(0, bool), np.zeros(0, bool), 0)
    logp, _, oov, unk, _, _ = _scored_stream(model, sentences)
    return _report(model.open_vocabulary, logp, oov, unk, len(sentences))


def score_sentences(model, sentences, line_numbers=None):
    """(SentenceScores of each token list, the PerplexityReport of them all) from one scoring pass."""
    if line_numbers is None:
        line_numbers = range(1, len(sentences) + 1)
    if not sentences:
        return [], perplexity(model, sentences)
    logp, longest, oov, unk, first, lengths = _scored_stream(model, sentences)
    per_sentence = []
    for sentence, line, lo, n in zip(sentences, line_numbers, first.tolist(), lengths.tolist()):
        span = slice(lo, lo + n + 1)
        report = _report(model.open_vocabulary, logp[span], oov[span], unk[span], 1)
        per_sentence.append(SentenceScores(line, list(sentence) + [EOS], logp[span], longest[span], oov[span], report))
    return per_sentence, _report(model.open_vocabulary, logp, oov, unk, len(sentences))


def perplexity_of_file(model, path, per_sentence=False):
    """The TextPerplexity of a UTF-8 text file, one sentence per line ('-' reads stdin);
    per_sentence: with the SentenceScores of every line."""
    started = time.perf_counter()
    sentences, line_numbers = sentences_from_lines(read_text_lines(path), model.tokenizer, source=path)
    if not sentences:
        raise RnnkitError(f"{path}: no sentences to score (the file is empty or blank)")
    read = time.perf_counter()
    if per_sentence:
        scores, report = score_sentences(model, sentences, line_numbers)
    else:
        scores, report = [], perplexity(model, sentences)
    scored = time.perf_counter()
    return TextPerplexity(
        path, model.source, model.order, model.tokenizer, report, read - started, scored - read, scores
    )
