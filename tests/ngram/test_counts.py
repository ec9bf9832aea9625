"""Counting n-grams and Kneser-Ney's adjusted counts (rnnkit.ngram.counts), and the sentences they come from."""

import pytest
from ngram_helpers import HAND_CORPUS, sentences

from rnnkit import ngram
from rnnkit.errors import RnnkitError
from rnnkit.ngram.counts import adjusted_counts, count_ngrams


def test_adjusted_counts_are_left_continuations():
    counts = count_ngrams(sentences(HAND_CORPUS), 2)
    adjusted = adjusted_counts(counts)
    unigram = dict(zip(counts.vocab, adjusted[0].tolist()))
    # Distinct words before each word: a <- {<s>, a}, b <- {<s>, b}, c <- {b}, </s> <- {a, b, c}.
    assert unigram == {"<s>": 0, "</s>": 3, "b": 2, "c": 1, "a": 2}
    # The highest order keeps raw counts.
    bigram = {
        (counts.vocab[p], counts.vocab[w]): int(a) for p, w, a in zip(counts.prefix[1], counts.word[1], adjusted[1])
    }
    assert bigram[("<s>", "b")] == 4 and bigram[("b", "</s>")] == 3 and bigram[("a", "a")] == 1


def test_ngrams_starting_with_bos_keep_raw_counts():
    # "x y" three times: in a trigram model the bigram "<s> x" has no left
    # context, so it keeps its raw count 3; "x y" has one left word (<s>).
    counts = count_ngrams(sentences(["x y"] * 3), 3)
    adjusted = adjusted_counts(counts)
    bigram = {
        (counts.vocab[p], counts.vocab[w]): int(a) for p, w, a in zip(counts.prefix[1], counts.word[1], adjusted[1])
    }
    assert bigram[("<s>", "x")] == 3
    assert bigram[("x", "y")] == 1


def test_sentence_markers_in_text():
    sents, lines = ngram.sentences_from_lines(["<s> a b </s>", "", "c"], "word")
    assert sents == [["a", "b"], ["c"]] and lines == [1, 3]
    with pytest.raises(RnnkitError, match="line 2"):
        ngram.sentences_from_lines(["a", "a </s> b"], "word", source="t.txt")
