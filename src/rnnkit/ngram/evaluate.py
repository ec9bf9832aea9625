"""Evaluation: perplexity as SRILM's ``ngram -ppl`` reports it.

logprob is the sum of log10 p over every scored token, ``</s>`` included.
With W words, S sentences, O skipped OOVs and Z zero probabilities:

    ppl  = 10 ** (-logprob / (W - O - Z + S))    every token and every </s>
    ppl1 = 10 ** (-logprob / (W - O - Z))        same logprob, </s> not counted

A closed-vocabulary model skips its OOVs (O counts them); an open one scores
them as ``<unk>`` (O = 0, though ``oovs`` still says how many there were).
"""

import math
import time
from dataclasses import dataclass

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.ngram.text import read_text_lines, sentences_from_lines


@dataclass
class PerplexityReport:
    """What SRILM's ``ngram -ppl`` prints, as numbers (see above)."""

    sentences: int
    words: int
    oovs: int
    oov_policy: str  # "skipped" (closed vocabulary) or "scored-as-unk" (open)
    zeroprobs: int
    logprob: float
    ppl: float
    ppl1: float

    @property
    def tokens_scored(self):
        skipped = self.oovs if self.oov_policy == "skipped" else 0
        return self.words - skipped - self.zeroprobs + self.sentences

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
        }


@dataclass
class TextPerplexity:
    """The perplexity of a text file (``NgramModel.evaluate_file``): the file, the
    model's file, order and tokenizer, the PerplexityReport, and the seconds
    spent reading and tokenising the text and scoring it."""

    file: str
    model: str
    order: int
    tokenizer: str
    report: PerplexityReport
    read_text_seconds: float
    score_seconds: float


def perplexity(model, sentences):
    """The PerplexityReport of token lists (without <s> and </s>) under an NgramModel."""
    policy = "scored-as-unk" if model.open_vocabulary else "skipped"
    if not sentences:
        return PerplexityReport(0, 0, 0, policy, 0, 0.0, math.nan, math.nan)
    ids, depth, _, _, oov = model.id_stream(sentences)
    scores = model.score_ids(ids, depth)[depth > 0]
    zero = np.isneginf(scores)
    scored = ~np.isnan(scores) & ~zero
    oovs = int(oov.sum())
    zeroprobs = int(zero.sum())
    logprob = float(scores[scored].sum())
    n_sent = len(sentences)
    n_words = len(scores) - n_sent
    denom = n_words - (0 if model.open_vocabulary else oovs) - zeroprobs + n_sent
    ppl = 10.0 ** (-logprob / denom) if denom > 0 else math.nan
    ppl1 = 10.0 ** (-logprob / (denom - n_sent)) if denom - n_sent > 0 else math.nan
    return PerplexityReport(n_sent, n_words, oovs, policy, zeroprobs, logprob, ppl, ppl1)


def perplexity_of_file(model, path):
    """The TextPerplexity of a UTF-8 text file, one sentence per line ('-' reads stdin)."""
    started = time.perf_counter()
    sentences, _ = sentences_from_lines(read_text_lines(path), model.tokenizer, source=path)
    if not sentences:
        raise RnnkitError(f"{path}: no sentences to score (the file is empty or blank)")
    read = time.perf_counter()
    report = perplexity(model, sentences)
    scored = time.perf_counter()
    return TextPerplexity(path, model.source, model.order, model.tokenizer, report, read - started, scored - read)
