"""rnnkit.LanguageModel: the same powers as the commands, for notebooks."""

import pytest

import rnnkit
from lm_helpers import TINY


def test_train_load_and_use(corpus, tmp_path):
    tr, va = corpus
    lm = rnnkit.LanguageModel.train(str(tr), str(va), str(tmp_path / "m"), log=lambda *_: None, **TINY)
    assert isinstance(lm, rnnkit.LanguageModel) and "rnn 1x16" in repr(lm)
    ppl = lm.perplexity(va.read_text())
    assert ppl == pytest.approx(lm.evaluate(str(va))["perplexity"], rel=1e-6)
    assert lm.perplexity(["the cat sat on the mat"]) < lm.perplexity(["mat the on sat cat the"])
    top = lm.predict("the", top=4)
    assert len(top) == 4 and all(isinstance(t, str) and 0 < p <= 1 for t, p in top)
    assert lm.generate("the", max_tokens=10, seed=2) == lm.generate("the", max_tokens=10, seed=2)
    rows = lm.score("the cat sat\nthe dog ran")
    assert [r["line"] for r in rows] == [1, 2]
    ranked = lm.rescore_nbest(["u\tcat the\t0", "u\tthe cat\t0"])
    assert ranked[0][1][0]["text"] == "the cat"
    lm.save(str(tmp_path / "copy"))
    assert rnnkit.LanguageModel.load(str(tmp_path / "copy")).predict("the", top=4) == top


def test_unknown_option_is_a_usage_error(corpus, tmp_path):
    with pytest.raises(rnnkit.errors.UsageError, match="unknown training option"):
        rnnkit.LanguageModel.train(str(corpus[0]), str(corpus[1]), str(tmp_path / "m"), hiden=3)
