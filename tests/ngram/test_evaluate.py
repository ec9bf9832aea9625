"""Perplexity as SRILM's ngram -ppl reports it (rnnkit.ngram.evaluate), and the Penn Treebank figures."""

import pytest
from ngram_helpers import SMALL_CORPUS, sentences

from rnnkit import ngram
from rnnkit.errors import RnnkitError


def test_ppl_and_ppl1_follow_srilm():
    model = ngram.estimate(sentences(SMALL_CORPUS), 2)
    text = sentences(SMALL_CORPUS[:3])
    report = model.evaluate(text)
    total = sum(s.sum() for s in model.token_log10probs(text))
    words = sum(len(s) for s in text)
    assert report.logprob == pytest.approx(total)
    assert report.ppl == pytest.approx(10 ** (-total / (words + len(text))))
    assert report.ppl1 == pytest.approx(10 ** (-total / words))


# Mikolov et al. 2011 publish KN3 148.3 and KN5 141.2 on these files; KenLM's lmplz
# gives 148.28 and 141.19 (to the two decimals it was recorded with). Half a unit
# in that last place is a tight check: a wrong count-of-counts rule, a wrong
# discount or a wrong back-off moves the perplexity by far more.
@pytest.mark.slow
@pytest.mark.parametrize("order, lmplz", [(3, 148.28), (5, 141.19)])
def test_ptb_perplexity(ptb, ptb_model, order, lmplz):
    model, _ = ptb_model(order)
    report = model.evaluate(ptb["test"])
    assert (report.sentences, report.words + report.sentences, report.oovs) == (3761, 82430, 0)
    assert abs(report.ppl - lmplz) <= 0.005, report.ppl
    published = {3: 148.3, 5: 141.2}[order]
    assert abs(report.ppl / published - 1) < 0.005, report.ppl


def test_evaluate_file(tmp_path):
    model = ngram.estimate(sentences(SMALL_CORPUS), 3)
    path = tmp_path / "m.arpa"
    model.write_arpa(str(path))
    loaded = ngram.NgramModel.load(str(path))
    text = tmp_path / "test.txt"
    text.write_text("the cat sat\n\na zebra sat\n", encoding="utf-8")
    result = loaded.evaluate_file(str(text))
    assert isinstance(result, ngram.TextPerplexity)
    assert (result.file, result.model, result.order, result.tokenizer) == (str(text), str(path), 3, "word")
    assert result.report == loaded.evaluate([["the", "cat", "sat"], ["a", "zebra", "sat"]])
    assert result.report.oovs == 1 and result.read_text_seconds >= 0 and result.score_seconds >= 0
    (tmp_path / "blank.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(RnnkitError, match="no sentences to score"):
        loaded.evaluate_file(str(tmp_path / "blank.txt"))
