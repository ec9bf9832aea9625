"""Texts, sentences and n-best lists scored while adapting (rnnkit.lm.adapt_score): the same as
plain scoring when nothing adapts, better when the text repeats, mixed with an N-gram model, and
tuned on validation text only."""

import builtins
import math

import numpy as np
import pytest

from rnnkit.lm import adapt, adapt_score
from rnnkit.lm.adapt import DynamicEval, NeuralCache
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.score import rescore_nbest, score_lines

LINES = ["the red cat sat under the rug", "a small dog ran on the mat"] * 6


@pytest.fixture
def lm(trained_model):
    return LanguageModel.load(str(trained_model[0]))


def test_without_adapting_the_scores_are_plain_scoring(lm):
    plain = score_lines(lm.model, lm.vocab, lm.tokenizer, LINES)
    rows = adapt_score.score_lines_adaptive(lm, LINES)
    for a, b in zip(rows, plain):
        assert a["logprob"] == pytest.approx(b["logprob"], rel=1e-6) and a["tokens"] == b["tokens"]


@pytest.mark.parametrize("kw", [dict(dynamic=DynamicEval(lr=0.01, bptt=4)), dict(cache=NeuralCache(40, 1.0, 0.3))])
def test_lines_said_again_score_higher_and_the_weights_come_back(lm, kw):
    weights = {k: p.copy() for k, p in lm.model.params.items()}
    rows = adapt_score.score_lines_adaptive(lm, LINES, **kw)
    assert rows[-2]["logprob"] > rows[0]["logprob"] + 0.5 and rows[-1]["logprob"] > rows[1]["logprob"] + 0.5
    for k, p in lm.model.params.items():
        np.testing.assert_array_equal(p, weights[k])


NBEST = ["u1\tthe red cat sat under the rug\t-3.0", "u1\tthe red cat sat under the mat\t-3.0",
         "u2\tthe red cat sat under the rug\t-3.0", "u2\tthe red cat sat under the mat\t-3.0"]


def test_nbest_without_adapting_is_plain_rescoring(lm):
    plain = rescore_nbest(lm.model, lm.vocab, lm.tokenizer, NBEST, "<n-best>")
    got = adapt_score.rescore_nbest_adaptive(lm, NBEST, "<n-best>")
    assert [(u, [(c["text"], c["rank"]) for c in cands]) for u, cands in got] == \
        [(u, [(c["text"], c["rank"]) for c in cands]) for u, cands in plain]
    for (_, a), (_, b) in zip(got, plain):
        for ca, cb in zip(a, b):
            assert ca["lm_logprob"] == pytest.approx(cb["lm_logprob"], rel=1e-6)  # float32, batched there


def test_nbest_learns_from_each_utterances_first_candidate(lm):
    """u2 repeats u1's candidates: the one ranked first in u1 gains, the other gains less."""
    plain = dict((u, {c["text"]: c["lm_logprob"] for c in cands})
                 for u, cands in adapt_score.rescore_nbest_adaptive(lm, NBEST, "<n-best>"))
    got = dict((u, {c["text"]: c["lm_logprob"] for c in cands})
               for u, cands in adapt_score.rescore_nbest_adaptive(lm, NBEST, "<n-best>",
                                                                  dynamic=DynamicEval(lr=0.03, bptt=4)))
    first = max(plain["u1"], key=plain["u1"].get)
    other = min(plain["u1"], key=plain["u1"].get)
    assert got["u1"] == pytest.approx(plain["u1"], rel=1e-9)  # nothing learnt before the first utterance
    gain_first = got["u2"][first] - plain["u2"][first]
    gain_other = got["u2"][other] - plain["u2"][other]
    assert gain_first > 0.1 and gain_first > gain_other


@pytest.fixture
def kn(trained_model, tmp_path):
    from rnnkit.cli import main

    _, train, _ = trained_model
    out = tmp_path / "kn3.arpa"
    assert main(["ngram", "train", str(train), "--order", "3", "--out", str(out)]) == 0
    return str(out)


def test_mixed_with_an_ngram_every_distribution_sums_to_one(lm, kn, rng):
    """(1 - λc) p_model + λc p_cache mixed with P_ngram, over the whole vocabulary, for every step."""
    from rnnkit.lm.mix import load_compatible

    ngram = load_compatible(lm, kn)
    words = [w for w in lm.vocab.tokens if w not in ("<eos>", "<unk>")]
    sentence = "the red cat sat under the rug".split()
    ids = np.array(lm.vocab.encode(sentence), dtype=np.int32)
    x = np.concatenate([[lm.vocab.eos_id], ids]).astype(np.int32)
    y = np.concatenate([ids, [lm.vocab.eos_id]]).astype(np.int32)
    lam = 0.6
    with adapt.Adapter(lm.model, DynamicEval(lr=0.01, bptt=4), NeuralCache(10, 0.7, 0.3)) as a:
        a.step(x, y)  # something in the cache and learnt
        p_rnn = a.distributions(x, y)
    for t in range(len(y)):
        # the N-gram's next-token distribution after the first t words, each word (and the end) in turn
        p_ngram = np.zeros(len(lm.vocab))
        for w in words:
            p_ngram[lm.vocab.id(w)] = 10 ** ngram.token_log10probs([sentence[:t] + [w]])[0][t]
        p_ngram[lm.vocab.eos_id] = 10 ** ngram.token_log10probs([sentence[:t]])[0][t]
        # the toy text has no <unk>; the ARPA file keeps log10 probabilities to 6-7 digits
        assert p_ngram.sum() == pytest.approx(1.0, abs=1e-5)
        assert p_rnn[t].sum() == pytest.approx(1.0, abs=1e-6)  # a float32 model (test_adapt: float64 to 1e-12)
        mixed = lam * p_rnn[t] + (1 - lam) * p_ngram
        assert mixed.sum() == pytest.approx(1.0, abs=1e-5) and (mixed > 0).all()


def test_eval_mixed_with_an_ngram_matches_the_mixture_by_hand(lm, kn, trained_model):
    _, _, valid = trained_model
    dynamic, cache = DynamicEval(lr=0.01), NeuralCache(30, 0.5, 0.2)
    r = adapt_score.mixed_text(lm, kn, str(valid), lam=0.7, dynamic=dynamic, cache=cache)
    ids = adapt_score._encode(lm, str(valid)).ids
    logp = adapt.stream_log_probs(lm.model, ids, lm.vocab.eos_id, dynamic, cache)
    assert r["rnn_perplexity"] == pytest.approx(math.exp(-logp.mean()), rel=1e-9)
    assert r["ngram_perplexity"] > 1 and r["tokens"] == ids.size
    assert min(r["rnn_perplexity"], r["ngram_perplexity"]) * 0.5 < r["mix_perplexity"] < max(
        r["rnn_perplexity"], r["ngram_perplexity"])


@pytest.mark.parametrize("with_mix", [False, True])
def test_tuning_reads_the_validation_text_and_the_test_text_only_after(lm, kn, trained_model, tmp_path,
                                                                       monkeypatch, with_mix):
    _, _, valid = trained_model
    test = tmp_path / "test.txt"
    test.write_text("the red cat sat under the rug\n" * 5)
    events = []
    real_open, real_tune = builtins.open, adapt_score.tune

    def watching_open(file, *args, **kwargs):
        events.append(("open", str(file)))
        return real_open(file, *args, **kwargs)

    def watching_tune(*args, **kwargs):
        out = real_tune(*args, **kwargs)
        events.append(("tuned",))
        return out

    monkeypatch.setattr(builtins, "open", watching_open)
    monkeypatch.setattr(adapt_score, "tune", watching_tune)
    start = dict(dynamic=DynamicEval(lr=0.001), cache=NeuralCache(20))
    if with_mix:
        r = adapt_score.mixed_text(lm, kn, str(test), tune_path=str(valid), **start)
    else:
        r = adapt_score.evaluate_text(lm, str(test), tune_path=str(valid), **start)
    monkeypatch.undo()
    opened = [e[1] for e in events if e[0] == "open"]
    tuned_at = events.index(("tuned",))
    assert ("open", str(valid)) in events[:tuned_at]
    assert ("open", str(test)) not in events[:tuned_at] and str(test) in opened
    assert r["tuned_on"] == str(valid) and r["valid_perplexity"] > 0
