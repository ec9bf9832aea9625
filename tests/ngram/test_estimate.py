"""Kneser-Ney discounts and interpolation (rnnkit.ngram.estimate), worked by hand and checked as distributions."""

import math
from collections import Counter

import numpy as np
import pytest
from ngram_helpers import HAND_CORPUS, SMALL_CORPUS, sentences

from rnnkit import ngram
from rnnkit.errors import RnnkitError, UsageError
from rnnkit.ngram.counts import adjusted_counts, count_ngrams


def test_discounts_worked_by_hand():
    counts = count_ngrams(sentences(HAND_CORPUS), 2)
    adjusted = adjusted_counts(counts)
    discounts, count_of_counts, fell_back = ngram.kn_discounts(adjusted[1], "modified-kn")
    assert count_of_counts == [4, 2, 1, 1]
    # Y = n1 / (n1 + 2 n2) = 4 / 8 = 1/2
    # D1 = 1 - 2 Y n2/n1 = 1 - 2 * 1/2 * 2/4 = 1/2
    # D2 = 2 - 3 Y n3/n2 = 2 - 3 * 1/2 * 1/2 = 5/4
    # D3+ = 3 - 4 Y n4/n3 = 3 - 4 * 1/2 * 1/1 = 1
    assert discounts == pytest.approx((0.5, 1.25, 1.0))
    assert not fell_back
    # Plain KN: one discount, D = Y.
    plain, _, _ = ngram.kn_discounts(adjusted[1], "kn")
    assert plain == pytest.approx((0.5, 0.5, 0.5))


def test_probability_worked_by_hand():
    model = ngram.estimate(sentences(HAND_CORPUS), 2)
    # After b: b </s> (3), b b (1), b c (1); sum 5; D3+ = 1, D1 = 1/2.
    #   gamma(b) = (1 + 1/2 + 1/2) / 5 = 0.4
    # Unigram adjusted counts a:2 b:2 c:1 </s>:3, sum 8. Their count-of-counts
    # (n1=1, n2=2, n3=1, n4=0) cannot give discounts: lmplz's fallback 0.5, 1, 1.5.
    #   gamma() = (1 + 1 + 0.5 + 1.5) / 8 = 0.5, spread over 4 words
    #   p(c) = (1 - 0.5)/8 + 0.5/4 = 0.1875;  p(</s>) = (3 - 1.5)/8 + 0.125 = 0.3125
    # p(c | b) = (1 - 0.5)/5 + 0.4 * 0.1875 = 0.175
    # p(</s> | b) = (3 - 1)/5 + 0.4 * 0.3125 = 0.525
    assert 10 ** model.log10prob(["b"], "c") == pytest.approx(0.175)
    assert 10 ** model.log10prob(["b"], "</s>") == pytest.approx(0.525)
    assert 10 ** model.log10prob([], "c") == pytest.approx(0.1875)
    assert model.estimation["orders"][0]["fallback"] is True
    assert model.estimation["orders"][1]["discounts"] == pytest.approx([0.5, 1.25, 1.0])
    b = model.word_index["b"]
    assert model.tables[0].bow[b] == pytest.approx(math.log10(0.4))


def test_discount_fallback_and_bad_method():
    d, coc, fell_back = ngram.kn_discounts(np.array([1, 1, 1]), "modified-kn")
    assert fell_back and d == ngram.FALLBACK_DISCOUNTS["modified-kn"] and coc == [3, 0, 0, 0]
    d, _, fell_back = ngram.kn_discounts(np.array([1, 1, 1]), "kn")
    assert fell_back and d == ngram.FALLBACK_DISCOUNTS["kn"]
    with pytest.raises(UsageError):
        ngram.kn_discounts(np.array([1]), "witten-bell")


@pytest.mark.parametrize("discount", ngram.DISCOUNT_METHODS)
@pytest.mark.parametrize("open_vocabulary", [False, True])
@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_every_context_sums_to_one(order, discount, open_vocabulary):
    model = ngram.estimate(sentences(SMALL_CORPUS), order, discount, open_vocabulary)
    contexts = [[]]
    for k in range(1, order):
        contexts += [[model.vocab[i] for i in row] for row in model.ngram_ids(k)]
    for context in contexts:
        probs = 10.0 ** model.next_log10probs(context)
        assert probs[model.bos_id] == 0.0
        assert probs.sum() == pytest.approx(1.0, abs=1e-12), context
    assert len(contexts) == sum(model.counts()[:-1]) + 1


def test_unk_gets_the_uniform_share():
    assert "<unk>" not in ngram.estimate(sentences(SMALL_CORPUS), 3).vocab
    unigram = ngram.estimate(sentences(SMALL_CORPUS), 1, open_vocabulary=True)
    # A unigram model keeps raw counts; an unseen <unk> gets only the uniform
    # term: gamma() / |V| = (sum of the discounts taken) / (sum of counts) / |V|.
    counts = Counter(w for s in sentences(SMALL_CORPUS) for w in s + ["</s>"])
    d1, d2, d3 = unigram.estimation["orders"][0]["discounts"]
    taken = sum(d1 if c == 1 else d2 if c == 2 else d3 for c in counts.values())
    predictable = len(counts) + 1  # the words, </s> and <unk>
    expected = taken / sum(counts.values()) / predictable
    assert 10 ** unigram.log10prob([], "<unk>") == pytest.approx(expected)


def test_count_of_counts_counts_each_r_exactly():
    # n_4 counts the adjusted counts equal to 4, not "4 or more": 5, 6 and 9 belong to no n_r.
    _, count_of_counts, _ = ngram.kn_discounts(np.array([1, 1, 2, 3, 4, 5, 6, 9, 0]), "modified-kn")
    assert count_of_counts == [2, 1, 1, 1]


def test_train_and_its_summary(tmp_path):
    corpus = tmp_path / "train.txt"
    corpus.write_text("".join(line + "\n" for line in HAND_CORPUS + SMALL_CORPUS), encoding="utf-8")
    model = ngram.NgramModel.train(str(corpus), 3, "kn", open_vocabulary=True)
    summary = model.training_summary()
    assert isinstance(summary, ngram.TrainingSummary)
    assert (summary.order, summary.discount, summary.tokenizer, summary.unk) == (3, "kn", "word", True)
    assert summary.vocabulary == len(model.vocab) and summary.ngrams == model.counts()
    assert summary.sentences == len(HAND_CORPUS + SMALL_CORPUS)
    assert summary.tokens == sum(len(s) + 1 for s in sentences(HAND_CORPUS + SMALL_CORPUS))
    assert [len(d) for d in summary.discounts] == [1, 1, 1]
    records = model.estimation["orders"]
    assert [f.order for f in summary.fallbacks] == [r["order"] for r in records if r["fallback"]]
    assert model.estimation["corpus"] == str(corpus)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: ngram.estimate([["a"]], 0), "{order} must be at least 1, not 0"),
        (lambda: ngram.estimate([["a"]], 2, discount="witten-bell"), "unknown {discount} 'witten-bell'"),
        (lambda: ngram.estimate([["a"]], 4), "{order} 4 is longer than any sentence"),
        (lambda: ngram.estimate([[]], 2), "the corpus has no words"),
    ],
)
def test_library_errors_name_options_not_flags(call, words):
    # The library names an option ("option 'order'"); the command line alone says --order.
    with pytest.raises(RnnkitError) as info:
        call()
    assert words.format(order="option 'order'", discount="option 'discount'") in str(info.value)
    assert "--" not in str(info.value)
    assert words.format(order="--order", discount="--discount") in info.value.cli_message()
