import numpy as np
import pytest

from rnnkit.errors import RnnkitError
from rnnkit.lm.data import (build_vocab_and_encode, encode_file, encode_lines, num_windows, streams, window,
                            with_start)
from rnnkit.lm.vocab import EOS


def test_eos_after_every_line_and_blank_lines_skipped(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("a b\n\n  \nb c a\n", encoding="utf-8")
    vocab, enc = build_vocab_and_encode(str(p), "word")
    assert vocab.decode(enc.ids.tolist()) == ["a", "b", EOS, "b", "c", "a", EOS]
    assert enc.ids.dtype == np.int32 and enc.lines == 2 and enc.oov == 0
    assert vocab.counts[vocab.eos_id] == 2


def test_encode_counts_oov_but_not_literal_unk(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("a b\n", encoding="utf-8")
    vocab, _ = build_vocab_and_encode(str(p), "word")
    enc = encode_lines(["a <unk> zz yy", "b"], "word", vocab)
    assert enc.ids.tolist() == [vocab.id("a"), 0, 0, 0, 1, vocab.id("b"), 1]
    assert enc.oov == 2 and enc.tokens == 7
    assert enc.oov_rate == pytest.approx(2 / 7)


def test_char_tokenizer(tmp_path):
    p = tmp_path / "zh.txt"
    p.write_text("我昨天上学迟到了\n", encoding="utf-8")
    vocab, enc = build_vocab_and_encode(str(p), "char")
    assert vocab.decode(enc.ids.tolist()) == list("我昨天上学迟到了") + [EOS]


def test_jieba_tokenizer(tmp_path):
    pytest.importorskip("jieba", reason="the jieba tokenizer needs jieba (pip install 'rnnkit[zh]')")
    p = tmp_path / "zh.txt"
    p.write_text("我昨天上学迟到了\n", encoding="utf-8")
    vocab, enc = build_vocab_and_encode(str(p), "jieba")
    words = vocab.decode(enc.ids.tolist())
    assert words[-1] == EOS and "".join(words[:-1]) == "我昨天上学迟到了" and len(words) < 9


def test_empty_missing_and_invalid_utf8(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(RnnkitError, match="no text"):
        build_vocab_and_encode(str(empty), "word")
    with pytest.raises(RnnkitError, match="no such file"):
        build_vocab_and_encode(str(tmp_path / "nope.txt"), "word")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good line\nok \xff bad\n")
    with pytest.raises(RnnkitError, match=r"line 2: invalid UTF-8 at byte offset 13"):
        build_vocab_and_encode(str(bad), "word")
    good = tmp_path / "good.txt"
    good.write_text("x\n", encoding="utf-8")
    vocab, _ = build_vocab_and_encode(str(good), "word")
    with pytest.raises(RnnkitError, match="no text"):
        encode_file(str(empty), "word", vocab)


def test_streams_are_contiguous_pieces_time_major():
    ids = np.arange(23, dtype=np.int32)
    s = streams(ids, 4)  # 5 tokens per stream, 3 left out
    assert s.shape == (5, 4)
    assert s[:, 0].tolist() == [0, 1, 2, 3, 4] and s[:, 3].tolist() == [15, 16, 17, 18, 19]
    with pytest.raises(RnnkitError, match="too few"):
        streams(np.arange(7, dtype=np.int32), 4)


def test_windows_cover_the_stream_and_labels_are_next_tokens():
    ids = np.arange(40, dtype=np.int32)
    s = streams(ids, 2)  # (20, 2)
    n = num_windows(s.shape[0], 6)
    assert n == 4  # 19 predictions: 6 + 6 + 6 + 1
    xs, ys = zip(*(window(s, i, 6) for i in range(n)))
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert x.shape == (19, 2)
    assert (y == x + 1).all()  # every label is the next token of its stream
    assert x[:, 1].tolist() == list(range(20, 39))


def test_with_start_prepends_eos():
    assert with_start(np.array([5, 6], dtype=np.int32), 1).tolist() == [1, 5, 6]
