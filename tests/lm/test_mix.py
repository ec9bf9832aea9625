"""The RNN interpolated with an N-gram model, token by token (the commands: tests/commands/test_cli_mix.py)."""

import numpy
import pytest

from rnnkit.lm.api import LanguageModel
from rnnkit.lm.mix import paired_probs, perplexity, tune_lambda
from rnnkit.ngram import NgramModel


def test_mixture_is_a_token_by_token_interpolation(mix_models):
    models = mix_models
    rnn = LanguageModel.load(str(models / "rnn"))
    ngram = NgramModel.load(str(models / "kn3.arpa"))
    p_rnn, p_ng = paired_probs(rnn, ngram, str(models / "valid.txt"))
    assert p_rnn.size == p_ng.size == 13  # 11 words and 2 sentence ends
    # each side agrees with its own model's sentence scores
    sents = [["the", "cat", "sat", "on", "a", "log"], ["a", "dog", "saw", "the", "mat"]]
    assert numpy.allclose(numpy.log10(p_ng), numpy.concatenate(ngram.token_log10probs(sents)))
    assert numpy.allclose(numpy.log(p_rnn), numpy.concatenate(rnn.token_logprobs(sents)))
    lam, best = tune_lambda(p_rnn, p_ng)
    assert best <= min(perplexity(p_rnn, p_ng, 0.0), perplexity(p_rnn, p_ng, 1.0)) + 1e-9
    assert abs(best - perplexity(p_rnn, p_ng, lam)) < 1e-12


def test_the_api_mixes_as_the_commands_do(mix_models):
    lm = LanguageModel.load(str(mix_models / "rnn"))
    arpa, valid = mix_models / "kn3.arpa", mix_models / "valid.txt"
    r = lm.evaluate_mixed(valid, arpa, lam=1.0)
    assert r.tokens == 13 and abs(r.mix_perplexity - r.rnn_perplexity) < 1e-9 and r.tuned_on is None
    assert r.to_json()["lambda"] == 1.0 and "tuned_on" not in r.to_json()
    tuned = lm.evaluate_mixed(valid, arpa, tune_on=valid)
    assert tuned.tuned_on == str(valid) and tuned.mix_perplexity <= min(r.rnn_perplexity, r.ngram_perplexity) + 1e-9
    assert list(tuned.to_json())[:2] == ["tuned_on", "valid_mix_perplexity"]
    lines = ["u\tthe cat sat on the mat", "u\tthe mat sat on the cat"]
    plain, as_rnn = lm.rescore_nbest(lines), lm.rescore_nbest(lines, mix=arpa, lam=1.0)
    assert [c.lm_logprob for c in plain[0].candidates] == pytest.approx([c.lm_logprob for c in as_rnn[0].candidates])
