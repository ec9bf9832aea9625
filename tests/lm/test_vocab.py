import pytest

from rnnkit.errors import RnnkitError
from rnnkit.lm.vocab import EOS, UNK, Vocab


def test_specials_first_then_by_count_then_token():
    v = Vocab.build({"b": 3, "a": 3, "c": 5, "d": 1, EOS: 4})
    assert v.tokens == [UNK, EOS, "c", "a", "b", "d"]
    assert v.counts == [0, 4, 5, 3, 3, 1]
    assert (v.unk_id, v.eos_id) == (0, 1)


def test_min_count_and_max_vocab_send_cut_words_to_unk():
    counts = {"x": 10, "y": 5, "z": 1, "w": 1, UNK: 2}
    v = Vocab.build(counts, min_count=2)
    assert v.tokens == [UNK, EOS, "x", "y"]
    assert v.counts[0] == 2 + 1 + 1  # the literal <unk>s and the two cut words
    v = Vocab.build(counts, max_vocab=3)
    assert v.tokens == [UNK, EOS, "x"]
    assert v.counts[0] == 2 + 5 + 1 + 1


def test_lookup_encode_decode():
    v = Vocab.build({"hello": 2, "world": 1})
    assert v.id("hello") == 2 and v.id("nope") == v.unk_id and v.id(UNK) == 0
    assert v.encode(["hello", "nope", EOS]) == [2, 0, 1]
    assert v.decode([2, 3, 1]) == ["hello", "world", EOS]
    assert "hello" in v and "nope" not in v and len(v) == 4


def test_json_round_trip_and_bad_json():
    v = Vocab.build({"猫": 2, "狗": 1})
    w = Vocab.from_json(v.to_json())
    assert w.tokens == v.tokens and w.counts == v.counts
    with pytest.raises(RnnkitError, match="not an rnnkit vocabulary"):
        Vocab.from_json({"tokens": ["a", "b"], "counts": [1, 1]}, "x.json")
    with pytest.raises(RnnkitError, match="not an rnnkit vocabulary"):
        Vocab.from_json([1, 2], "x.json")


def test_bad_arguments():
    with pytest.raises(ValueError):
        Vocab.build({"a": 1}, min_count=0)
    with pytest.raises(ValueError):
        Vocab.build({"a": 1}, max_vocab=2)


def test_fixed_word_list_keeps_unseen_words_and_sends_the_rest_to_unk():
    counts = {"x": 10, "y": 5, "z": 1, UNK: 2, EOS: 3}
    v = Vocab.build(counts, words=["y", "never", "x", "y"])
    # ordered by training count like a built dictionary; a listed word the text never shows keeps count 0
    assert v.tokens == [UNK, EOS, "x", "y", "never"]
    assert v.counts == [2 + 1, 3, 10, 5, 0]  # z is not listed: its one occurrence is <unk>
