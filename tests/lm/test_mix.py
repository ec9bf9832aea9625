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


def test_a_loaded_ngram_model_mixes_as_its_file_does_and_no_file_is_read(mix_models, monkeypatch):
    """rescore_nbest / rescore_nbest_list / evaluate_mixed take an NgramModel as well as a path:
    the same numbers, and the model is not read again (a server loads it once)."""
    from rnnkit.lm.nbest import read_nbest_list

    lm = LanguageModel.load(str(mix_models / "rnn"))
    arpa, valid = mix_models / "kn3.arpa", mix_models / "valid.txt"
    lines = ["u\tthe cat sat on the mat\t-3.5", "u\tthe mat sat on the cat\t-3.0", "v\ta dog saw a cat\t-1"]
    by_path = lm.rescore_nbest(lines, mix=arpa, lam=0.4)
    list_by_path = lm.rescore_nbest_list(read_nbest_list(lines, "x", format="tsv"), mix=[arpa], lam=0.4)
    report_by_path = lm.evaluate_mixed(valid, arpa, lam=0.4)
    ngram = NgramModel.load(str(arpa))

    def no_reading(*args, **kwargs):
        raise AssertionError("an N-gram file was read")

    monkeypatch.setattr(NgramModel, "load", no_reading)
    by_model = lm.rescore_nbest(lines, mix=ngram, lam=0.4)
    assert [r.to_json() for r in by_model] == [r.to_json() for r in by_path]
    assert by_path[0].candidates[0].lm_logprob != lm.rescore_nbest(lines)[0].candidates[0].lm_logprob  # it mixed
    list_by_model = lm.rescore_nbest_list(read_nbest_list(lines, "x", format="tsv"), mix=[ngram], lam=0.4)
    assert list_by_model.lm_scores == list_by_path.lm_scores and list_by_model.weights == list_by_path.weights
    report = lm.evaluate_mixed(valid, ngram, lam=0.4)
    assert report.mix_perplexity == report_by_path.mix_perplexity and report.to_json()["models"] == [str(arpa)]
    with pytest.raises(AssertionError, match="was read"):  # a path still reads its file
        lm.rescore_nbest(lines, mix=arpa, lam=0.4)
