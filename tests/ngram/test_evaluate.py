"""Perplexity as SRILM's ngram -ppl reports it (rnnkit.ngram.evaluate), and the Penn Treebank figures."""

import pytest
from ngram_helpers import SMALL_CORPUS, sentences

from rnnkit import ngram


def test_ppl_and_ppl1_follow_srilm():
    model = ngram.estimate(sentences(SMALL_CORPUS), 2)
    text = sentences(SMALL_CORPUS[:3])
    report = model.evaluate(text)
    total = sum(s.sum() for s in model.token_log10probs(text))
    words = sum(len(s) for s in text)
    assert report.logprob == pytest.approx(total)
    assert report.ppl == pytest.approx(10 ** (-total / (words + len(text))))
    assert report.ppl1 == pytest.approx(10 ** (-total / words))
