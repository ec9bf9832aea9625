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


def _kn_arpa(trained_model, tmp_path, order):
    """A Kneser-Ney model of this order on the trained model's corpus, as `rnnkit ngram train` writes it."""
    from rnnkit.cli import main

    _, train, _ = trained_model
    out = tmp_path / f"kn{order}.arpa"
    assert main(["ngram", "train", str(train), "--order", str(order), "--out", str(out)]) == 0
    return str(out)


@pytest.fixture
def kn(trained_model, tmp_path):
    return _kn_arpa(trained_model, tmp_path, 3)


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


# --- per-word values, several N-gram models, every n-best format ---------------------------


@pytest.fixture
def kn2(trained_model, tmp_path):
    return _kn_arpa(trained_model, tmp_path, 2)


def _flat(words):
    return [v for w in words for v in w.log10probs]


def test_per_word_values_are_the_adapted_and_cached_models_and_add_up_to_the_total(lm, trained_model):
    _, _, valid = trained_model
    dynamic, cache = DynamicEval(lr=0.01, bptt=7), NeuralCache(30, 0.5, 0.2)
    words, r = lm.word_scores(str(valid), dynamic=dynamic, cache=cache)
    ids = adapt_score._encode(lm, str(valid)).ids
    want = adapt.stream_log_probs(lm.model, ids, lm.vocab.eos_id, dynamic, cache) / math.log(10)
    values = _flat(words)
    np.testing.assert_allclose(values, want, rtol=1e-12, atol=0)
    assert r.logprob == math.fsum(values) and r.tokens == ids.size == len(values)
    assert 10 ** (-r.logprob / r.tokens) == pytest.approx(r.perplexity, rel=1e-9)
    assert r.dynamic["bptt"] == 7 and r.cache["size"] == 30
    assert r.perplexity == pytest.approx(lm.evaluate(str(valid), dynamic=dynamic, cache=cache).perplexity, rel=1e-9)


def test_per_word_values_mixed_with_two_ngrams_are_the_mixture_by_hand(lm, kn, kn2, trained_model):
    from rnnkit.ngram import NgramModel, read_sentences

    _, _, valid = trained_model
    dynamic, cache = DynamicEval(lr=0.01), NeuralCache(30, 0.5, 0.2)
    words, r = lm.word_scores(str(valid), dynamic=dynamic, cache=cache, mix=[kn, kn2], lam=0.6)
    ids = adapt_score._encode(lm, str(valid)).ids
    p_rnn = np.exp(adapt.stream_log_probs(lm.model, ids, lm.vocab.eos_id, dynamic, cache))
    sentences = read_sentences(str(valid))
    p = [10 ** np.concatenate(NgramModel.load(f).token_log10probs(sentences)) for f in (kn, kn2)]
    want = np.log10(0.6 * p_rnn + 0.2 * p[0] + 0.2 * p[1])
    values = _flat(words)
    np.testing.assert_allclose(values, want, rtol=1e-9, atol=1e-12)
    assert r.logprob == math.fsum(values) and r.weights == pytest.approx([0.6, 0.2, 0.2])
    assert 10 ** (-r.logprob / r.tokens) == pytest.approx(r.mix_perplexity, rel=1e-9)
    assert r.rnn_perplexity == pytest.approx(math.exp(-np.log(p_rnn).mean()), rel=1e-9)
    assert len(r.ngram_perplexities) == 2 and r.dynamic is not None
    # the weights chosen by EM instead: they sum to 1, and the mixture is no worse than the fixed one
    tuned = adapt_score.mixed_text(lm, [kn, kn2], str(valid), dynamic=dynamic, cache=cache, lambda_path=str(valid))
    assert sum(tuned.weights) == pytest.approx(1.0) and tuned.mix_perplexity <= r.mix_perplexity * (1 + 1e-9)


def test_per_word_values_of_a_static_mixture_are_the_mixture(lm, kn, trained_model):
    _, _, valid = trained_model
    words, r = lm.word_scores(str(valid), mix=kn, lam=0.5)
    plain = lm.evaluate_mixed(str(valid), kn, lam=0.5)
    assert r.logprob == math.fsum(_flat(words))
    assert 10 ** (-r.logprob / r.tokens) == pytest.approx(plain.mix_perplexity, rel=1e-9)


def test_score_per_word_under_adaptation_is_what_the_adapter_gives(lm):
    dynamic, cache = DynamicEval(lr=0.01, bptt=4), NeuralCache(40, 1.0, 0.3)
    rows = adapt_score.score_lines_adaptive(lm, LINES, dynamic, cache, per_word=True)
    _, ids, _ = adapt_score.encode_all(LINES, lm.tokenizer, lm.vocab)
    with adapt.Adapter(lm.model, dynamic, cache) as a:  # the same lines, learnt from in the same order
        want = [adapt_score.sentence_log_probs(a, i, lm.vocab.eos_id, learn=True) / math.log(10) for i in ids]
    for row, w in zip(rows, want):
        values = [x["log10prob"] for x in row.per_word]
        np.testing.assert_allclose(values, w, rtol=1e-12, atol=0)
        assert row.logprob == math.fsum(values) and row.per_word[-1]["token"] == "<eos>"
        assert row.logprob_without_unk == pytest.approx(row.logprob) and row.unk_targets == 0


def _formats():
    """The same two utterances as a tsv list and in the other formats (Kaldi with cost files)."""
    texts = {"u1": ["the red cat sat under the rug", "the red cat sat under the mat"],
             "u2": ["the red cat sat under the rug", "a red cat sat under the mat"]}
    am = {"u1": [-3.0, -2.5], "u2": [-3.0, -2.0]}
    tsv = [f"{u}\t{t}\t{a!r}" for u in texts for t, a in zip(texts[u], am[u])]
    kaldi = [f"{u}-{n + 1} {t}" for u in texts for n, t in enumerate(texts[u])]
    costs = [f"{u}-{n + 1} {-a * math.log(10)!r}" for u in texts for n, a in enumerate(am[u])]
    return tsv, kaldi, costs


@pytest.mark.parametrize("kw", [dict(dynamic=DynamicEval(lr=0.03, bptt=4)), dict(cache=NeuralCache(30, 1.0, 0.3))])
def test_every_nbest_format_adapts_as_the_tsv_list_does(lm, kn, kn2, trained_model, kw):
    from rnnkit.lm.nbest import read_nbest_list

    tsv, kaldi, costs = _formats()
    want = lm.rescore_nbest_list(read_nbest_list(tsv, "t.tsv"), am_weight=0.5, **kw)
    rnnlm = [f"{line.split(chr(9))[0]} {line.split(chr(9))[1]}" for line in tsv]
    got = {
        "kaldi": lm.rescore_nbest_list(read_nbest_list(kaldi, "k", acoustic_costs=costs), am_weight=0.5, **kw),
        # no acoustic scores in rnnlm's form: the LM alone ranks, so the candidate learnt from may differ
        "rnnlm": lm.rescore_nbest_list(read_nbest_list(rnnlm, "r", "rnnlm"), am_weight=0.5, **kw),
    }
    np.testing.assert_allclose(got["kaldi"].lm_scores, want.lm_scores, rtol=1e-12)
    assert [c.text for c in got["kaldi"].results[1].candidates] == [c.text for c in want.results[1].candidates]
    without_am = [line.rsplit("\t", 1)[0] for line in tsv]
    want_lm_alone = lm.rescore_nbest_list(read_nbest_list(without_am, "t.tsv"), **kw)
    np.testing.assert_allclose(got["rnnlm"].lm_scores, want_lm_alone.lm_scores, rtol=1e-12)
    static = lm.rescore_nbest_list(read_nbest_list(rnnlm, "r", "rnnlm"))
    assert got["rnnlm"].lm_scores[2] > static.lm_scores[2] + 0.05  # u1's words, said again in u2, gained
    # SRILM's plain form, one utterance per file: the acoustic scores it carries rank it
    srilm = [f"{a!r} 0 {len(t.split())} {t}" for t, a in zip(["the red cat sat under the rug"] * 2, [-3.0, -1.0])]
    r = lm.rescore_nbest_list(read_nbest_list(srilm, "u9.nbest", "srilm"), **kw)
    assert r.lm_scores[0] == pytest.approx(r.lm_scores[1], rel=1e-9)  # nothing learnt within the utterance
    # mixed with two N-gram models, the weights tuned on held-out lines read adapting
    valid = str(trained_model[2])
    mixed = lm.rescore_nbest_list(read_nbest_list(kaldi, "k", acoustic_costs=costs), mix=[kn, kn2], tune_on=valid, **kw)
    assert len(mixed.weights) == 3 and sum(mixed.weights) == pytest.approx(1.0)
    assert np.isfinite(mixed.lm_scores).all() and mixed.lm_scores != pytest.approx(got["kaldi"].lm_scores)
