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


def test_score_each_line_from_the_start_state(trained_model):
    """A line's score does not depend on the lines around it, nor on batching."""
    lm = rnnkit.LanguageModel.load(str(trained_model[0]))
    alone = lm.score(["the dog ran under the rug"])[0]["logprob"]
    rows = lm.score(["a cat", "the dog ran under the rug", "a big red cat sat on the mat", ""])
    assert rows[1]["logprob"] == pytest.approx(alone, abs=1e-5)
    assert rows[3]["tokens"] == 1  # an empty line: just its end
    # equals the sum of the per-token log-probabilities from the start state
    per_token = lm.token_logprobs([["the", "dog", "ran", "under", "the", "rug"]])[0]
    assert len(per_token) == 7 and per_token.sum() / 2.302585092994046 == pytest.approx(alone, abs=1e-5)


def test_unknown_option_is_a_usage_error(corpus, tmp_path):
    with pytest.raises(rnnkit.errors.UsageError, match="unknown training option"):
        rnnkit.LanguageModel.train(str(corpus[0]), str(corpus[1]), str(tmp_path / "m"), hiden=3)


def test_perplexity_without_unk_targets(trained_model, tmp_path):
    import numpy as np

    from rnnkit.lm.data import encode_file, with_start

    out, _, _ = trained_model
    lm = rnnkit.LanguageModel.load(str(out))
    text = tmp_path / "oov.txt"
    lines = ["the zebra sat on the mat", "the big cat quokka", "the dog ran"]
    text.write_text("\n".join(lines) + "\n")
    r = lm.evaluate(str(text))
    unseen = sum(w not in lm.vocab for line in lines for w in line.split())
    assert unseen >= 2 and r["oov"] == unseen and r["unk_tokens"] == unseen
    # the same numbers from the full distributions (log_probs), not the evaluator's path
    ids = encode_file(str(text), lm.tokenizer, lm.vocab).ids
    stream = with_start(ids, lm.vocab.eos_id)
    logp = lm.model.log_probs(stream[:-1, None])
    target_logp = logp[np.arange(ids.size), 0, ids].astype(np.float64)
    known = ids != lm.vocab.unk_id
    assert r["perplexity"] == pytest.approx(np.exp(-target_logp.mean()), rel=1e-5)
    assert r["perplexity_without_unk"] == pytest.approx(np.exp(-target_logp[known].mean()), rel=1e-5)
    assert r["perplexity_without_unk"] != pytest.approx(r["perplexity"], rel=1e-3)
