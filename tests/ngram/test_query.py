"""The query model (rnnkit.ngram.query): per-token probabilities, OOVs, the next word."""

import math

import numpy as np
import pytest
from ngram_helpers import SMALL_CORPUS, sentences

from rnnkit import ngram
from rnnkit.errors import RnnkitError, UsageError


def test_token_log10probs_shape_and_sentence_end():
    model = ngram.estimate(sentences(SMALL_CORPUS), 3)
    scores = model.token_log10probs([["the", "cat"], ["a", "dog", "sat"]])
    assert [len(s) for s in scores] == [3, 4]
    assert scores[0][-1] == pytest.approx(model.log10prob(["<s>", "the", "cat"], "</s>"))
    assert scores[1][1] == pytest.approx(model.log10prob(["<s>", "a"], "dog"))
    assert scores[1][0] == pytest.approx(model.log10prob(["<s>"], "a"))


def test_closed_vocabulary_skips_oovs_like_srilm():
    model = ngram.estimate(sentences(SMALL_CORPUS), 3)
    scores = model.token_log10probs([["the", "zebra", "sat"]])[0]
    assert math.isnan(scores[1])
    # The history is cut at the OOV: "sat" is scored with no context at all.
    assert scores[2] == pytest.approx(model.log10prob([], "sat"))
    report = model.evaluate([["the", "zebra", "sat"]])
    assert (report.sentences, report.words, report.oovs, report.oov_policy) == (1, 3, 1, "skipped")
    assert report.tokens_scored == 3
    finite = scores[~np.isnan(scores)]
    assert report.logprob == pytest.approx(finite.sum())
    assert report.ppl == pytest.approx(10 ** (-finite.sum() / 3))
    assert report.ppl1 == pytest.approx(10 ** (-finite.sum() / 2))


def test_open_vocabulary_scores_oovs_as_unk():
    model = ngram.estimate(sentences(SMALL_CORPUS), 3, open_vocabulary=True)
    scores = model.token_log10probs([["the", "zebra", "sat"]])[0]
    assert scores[1] == pytest.approx(model.log10prob(["<s>", "the"], "<unk>"))
    report = model.evaluate([["the", "zebra", "sat"]])
    assert report.oovs == 1 and report.oov_policy == "scored-as-unk" and report.tokens_scored == 4


def test_top_k_is_sorted_and_matches_probabilities():
    model = ngram.estimate(sentences(SMALL_CORPUS), 3)
    top = model.top_k(["<s>", "the"], 5)
    assert [w for w, _ in top][0] == "cat"
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    for word, p in top:
        assert p == pytest.approx(10 ** model.log10prob(["<s>", "the"], word))
    assert all(w != "<s>" for w, _ in model.top_k([], 100))


def test_articles_game_with_characters():
    lines = ["我昨天上学迟到了，老师批评了我。", "老师批评了他。", "我昨天迟到了。", "老师批评了我们。"]
    model = ngram.estimate(ngram.sentences_from_lines(lines, "char")[0], 4, tokenizer="char")
    best, _ = model.top_k(["<s>", *"我昨天上学迟到了，老师批评了"], 1)[0]
    assert best == "我"


def test_predict_returns_what_a_front_end_shows():
    model = ngram.estimate(sentences(SMALL_CORPUS), 3)
    result = model.predict("the zebra", top=4)
    assert isinstance(result, ngram.Prediction) and result.order == 3 and result.prefix == "the zebra"
    assert result.context == ["the", "zebra"] and result.out_of_vocabulary == ["zebra"]
    expected = model.top_k(["<s>", "the", "zebra"], 4)
    assert [(p.token, p.probability) for p in result.predictions] == expected
    assert result.as_dict()["predictions"][0] == {"token": expected[0][0], "probability": expected[0][1]}
    # At the start of a sentence the context is <s> alone.
    assert model.predict("", top=1).context == ["<s>"]
    with pytest.raises(UsageError, match="^option 'top' must be at least 1, not 0$") as info:
        model.predict("the", top=0)
    assert info.value.cli_message() == "--top must be at least 1, not 0"


def test_load_with_a_tokenizer(tmp_path):
    model = ngram.estimate(sentences(SMALL_CORPUS), 2)
    path = str(tmp_path / "m.arpa")
    model.write_arpa(path)
    assert ngram.NgramModel.load(path, tokenizer="word").tokenizer == "word"
    with pytest.raises(RnnkitError, match="built with option 'tokenizer' word, not char") as info:
        ngram.NgramModel.load(path, tokenizer="char")
    assert "--" not in str(info.value) and "built with --tokenizer word, not char" in info.value.cli_message()
    # Without a side file the caller's tokenizer is taken as given.
    (tmp_path / "m.arpa.json").unlink()
    assert ngram.NgramModel.load(path, tokenizer="char").tokenizer == "char"
