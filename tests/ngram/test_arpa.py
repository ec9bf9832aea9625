"""ARPA files: the writer (rnnkit.ngram.arpa_write), the reader (rnnkit.ngram.arpa_read) and the side file."""

import gzip
import json
import math

import numpy as np
import pytest
from ngram_helpers import GOOD, HAND_CORPUS, SMALL_CORPUS, SRILM_STYLE, bad_arpa, sentences

from rnnkit import ngram
from rnnkit.errors import RnnkitError
from rnnkit.ngram import arpa_write


def test_sums_to_one_from_arpa(tmp_path):
    model = ngram.estimate(sentences(SMALL_CORPUS), 3)
    path = str(tmp_path / "m.arpa")
    model.write_arpa(path)
    loaded = ngram.NgramModel.load(path)
    for k in range(1, 3):
        for row in loaded.ngram_ids(k):
            probs = 10.0 ** loaded.next_log10probs([loaded.vocab[i] for i in row])
            assert probs.sum() == pytest.approx(1.0, abs=2e-5)


def test_arpa_round_trip(tmp_path):
    text = sentences(SMALL_CORPUS)
    for order, discount, unk in [(1, "kn", False), (3, "modified-kn", True), (5, "kn", True)]:
        model = ngram.estimate(text, order, discount, unk, tokenizer="word")
        path = str(tmp_path / f"m{order}.arpa")
        model.write_arpa(path)
        loaded = ngram.NgramModel.load(path)
        assert loaded.order == order and loaded.vocab == model.vocab and loaded.counts() == model.counts()
        assert loaded.open_vocabulary == unk and loaded.tokenizer == "word"
        assert loaded.estimation["discount"] == discount
        probe = text + [["the", "unseen", "cat"]]
        for a, b in zip(model.token_log10probs(probe), loaded.token_log10probs(probe)):
            np.testing.assert_allclose(a, b, atol=1.1e-6)
        meta = json.loads(open(path + ".json", encoding="utf-8").read())
        assert meta["order"] == order and meta["unk"] == unk


def test_gzip_round_trip(tmp_path):
    model = ngram.estimate(sentences(SMALL_CORPUS), 3)
    path = str(tmp_path / "m.arpa.gz")
    model.write_arpa(path)
    assert gzip.decompress(open(path, "rb").read()).startswith(b"\\data\\")
    loaded = ngram.NgramModel.load(path)
    assert loaded.evaluate(sentences(SMALL_CORPUS)).ppl == pytest.approx(
        model.evaluate(sentences(SMALL_CORPUS)).ppl, rel=1e-6
    )


def test_write_refuses_to_overwrite(tmp_path):
    model = ngram.estimate(sentences(SMALL_CORPUS), 2)
    path = tmp_path / "m.arpa"
    path.write_text("precious")
    with pytest.raises(RnnkitError, match="already exists"):
        model.write_arpa(str(path))
    assert path.read_text() == "precious"
    model.write_arpa(str(path), force=True)
    assert path.read_text().startswith("\\data\\")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_arpa_text_layout(tmp_path):
    model = ngram.estimate(sentences(HAND_CORPUS), 2)
    path = tmp_path / "m.arpa"
    model.write_arpa(str(path))
    text = path.read_text()
    assert text.startswith("\\data\\\nngram 1=5\nngram 2=8\n\n\\1-grams:\n")
    assert "-99.000000\t<s>\t" in text
    assert "\n-0.279841\tb </s>\n" in text  # log10 p(</s> | b) = log10 0.525, worked out above
    assert "\n-0.397940\n" not in text and f"{math.log10(0.4):.6f}" in text  # b(b) = 0.4
    assert text.endswith("\n\\end\\\n")


def test_reads_srilm_style_files(tmp_path):
    path = tmp_path / "srilm.arpa"
    path.write_text(SRILM_STYLE)
    model = ngram.NgramModel.load(str(path))
    assert model.order == 2 and model.counts() == [5, 4] and model.open_vocabulary
    scores = model.token_log10probs([["a", "b"], ["b"], ["zzz"]])
    np.testing.assert_allclose(scores[0], [-0.2, -0.4, -0.5])
    # b after <s>: not listed, so b(<s>) p(b) = -0.3 + -0.7; </s> after b: listed.
    np.testing.assert_allclose(scores[1], [-1.0, -0.5])
    # zzz is scored as <unk> (-1e0 = -1) after b(<s>); </s> after <unk> has no context.
    np.testing.assert_allclose(scores[2], [-1.3, -0.8])


@pytest.mark.parametrize(
    "broken, line, words",
    [
        (GOOD.replace("ngram 2 = 4", "ngram 2 = 5"), 12, "has 4 entries but the \\data\\ header (line 1) says 5"),
        (GOOD.replace("-0.4 a b", "-0.4x a b"), 14, "bad log10 probability '-0.4x'"),
        (GOOD.replace("-0.4 a b", "-0.4 a"), 14, "found 2 fields"),
        (GOOD.replace("-0.4 a b", "-0.4 a q"), 14, "word 'q' is not listed"),
        (GOOD.replace("-0.4 a b", "0.4 a b"), 14, "is positive"),
        (GOOD.replace("-0.6 a -0.2", "-0.6 a nan"), 8, "back-off weight 'nan'"),
        (GOOD.replace("-0.5\tb </s>", "-0.5\ta b"), 16, "duplicate 2-gram (first on line 14)"),
        (GOOD.replace("-0.7\tb", "-0.7\ta"), 9, "duplicate unigram 'a'"),
        (GOOD.replace("\\end\\\n", ""), 18, "expected \\end\\, found the end of the file"),
        (GOOD.replace("\\2-grams:", "\\3-grams:"), 12, "expected \\2-grams:"),
        (GOOD.replace("ngram  1=5", "ngram one=5"), 2, "expected 'ngram N=COUNT'"),
        (GOOD.replace("ngram  1=5\n", ""), 1, "no count for order 1"),
    ],
)
def test_malformed_arpa_names_the_line(tmp_path, broken, line, words):
    with pytest.raises(RnnkitError) as info:
        ngram.NgramModel.load(bad_arpa(tmp_path, broken))
    message = str(info.value)
    assert f"bad.arpa: line {line}: " in message and words in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "content, words",
    [
        ("", "no \\data\\ line"),
        ("hello\nworld\n", "no \\data\\ line"),
        (b"\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t\xff\n\\end\\\n", "invalid UTF-8"),
        (
            GOOD.replace("-99\t<s>\t-0.3\n", "")
            .replace("-0.2\t<s> a\n", "")
            .replace("ngram  1=5", "ngram 1=4")
            .replace("ngram 2 = 4", "ngram 2 = 3"),
            "no <s> unigram",
        ),
    ],
)
def test_malformed_arpa_other_errors(tmp_path, content, words):
    with pytest.raises(RnnkitError, match="bad.arpa") as info:
        ngram.NgramModel.load(bad_arpa(tmp_path, content))
    assert words in str(info.value)


def test_missing_arpa_file(tmp_path):
    with pytest.raises(RnnkitError, match="no such file"):
        ngram.NgramModel.load(str(tmp_path / "nope.arpa"))


def test_long_words_and_odd_numbers_are_read_exactly(tmp_path):
    long_word = "x" * 40
    nbsp_word = "a\u00a0b"  # KenLM splits on ASCII whitespace only
    text = (
        "\\data\\\nngram 1=5\nngram 2=2\n\n\\1-grams:\n"
        f"-1.25\t<s>\t-0.125\n-0.5\t</s>\n-2.5E-1\t{long_word}\t+0\n-0.1234567890123\t{nbsp_word}\n-inf\t<unk>\n\n"
        f"\\2-grams:\n-0.0625\t<s> {long_word}\n-0.375\t{long_word} {nbsp_word}\n\n\\end\\\n"
    )
    model = ngram.NgramModel.load(bad_arpa(tmp_path, text))
    assert model.vocab == ["<s>", "</s>", long_word, nbsp_word, "<unk>"]
    np.testing.assert_array_equal(model.tables[0].logprob, [-1.25, -0.5, -0.25, -0.1234567890123, -np.inf])
    np.testing.assert_allclose(model.token_log10probs([[long_word, nbsp_word]])[0], [-0.0625, -0.375, -0.5])


def test_numbers_are_read_exactly_as_float_reads_them(tmp_path):
    rng = np.random.default_rng(0)
    values = np.concatenate([-rng.exponential(3, 3000), [0.0, -99.0, -0.5]])
    texts = [f"{v:.{int(rng.integers(0, 12))}f}" for v in values]
    texts += [f"{v:.7e}" for v in values[:50]] + ["-5", "-0", "+0.0", "-7.", "-.5", "-12345678901234567.25", "-inf"]
    words = [f"w{i}" for i in range(len(texts))]
    body = "".join(f"{t}\t{w}\n" for t, w in zip(texts, words))
    arpa = f"\\data\\\nngram 1={len(texts) + 2}\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n{body}\n\\end\\\n"
    model = ngram.NgramModel.load(bad_arpa(tmp_path, arpa))
    read = model.tables[0].logprob[[model.word_index[w] for w in words]]
    np.testing.assert_array_equal(read, [float(t) for t in texts])


def test_fixed_formatter_matches_printf():
    rng = np.random.default_rng(1)
    values = np.concatenate([-rng.exponential(2, 3000), [0.0, -99.0, -0.0000004, -123.5, 4.25]])
    text, lengths = arpa_write.format_fixed(values)
    for row, length, value in zip(text, lengths, values):
        rendered = row[len(row) - length :].tobytes().decode()
        expected = f"{value:.6f}"
        if expected == "-0.000000":
            expected = "0.000000"
        assert float(rendered) == pytest.approx(float(expected), abs=1.01e-6)
        assert len(rendered) == len(expected), (rendered, expected)


def test_side_file_records_tokenizer(tmp_path):
    lines = ["我们 去 学校", "老师 来 了"]
    model = ngram.estimate(ngram.sentences_from_lines(lines, "char")[0], 2, tokenizer="char")
    path = str(tmp_path / "zh.arpa")
    model.write_arpa(path)
    loaded = ngram.NgramModel.load(path)
    assert loaded.tokenizer == "char" and loaded.sidecar == path + ".json"
    loaded.check_compatible("char")
    with pytest.raises(RnnkitError, match="built with option 'tokenizer' char, not word"):
        loaded.check_compatible("word")


def test_without_side_file_reads_like_kenlm(tmp_path):
    model = ngram.estimate(sentences(SMALL_CORPUS), 2)  # closed: no <unk>
    path = tmp_path / "m.arpa"
    model.write_arpa(str(path))
    (tmp_path / "m.arpa.json").unlink()
    loaded = ngram.NgramModel.load(str(path))
    assert loaded.sidecar is None and loaded.tokenizer == "word" and not loaded.open_vocabulary


def test_bad_side_file(tmp_path):
    model = ngram.estimate(sentences(SMALL_CORPUS), 2)
    path = tmp_path / "m.arpa"
    model.write_arpa(str(path))
    (tmp_path / "m.arpa.json").write_text('{"format": "rnnkit-ngram", "order": 3}')
    with pytest.raises(RnnkitError, match="says order 3"):
        ngram.NgramModel.load(str(path))


@pytest.mark.slow
def test_ptb_arpa_round_trip(ptb, ptb_model):
    # Our reader at scale: the PTB 3-gram read back has the same n-grams and perplexity.
    model, path = ptb_model(3)
    loaded = ngram.NgramModel.load(path)
    assert loaded.counts() == model.counts() and loaded.vocab == model.vocab
    assert loaded.evaluate(ptb["test"]).ppl == pytest.approx(model.evaluate(ptb["test"]).ppl, rel=1e-5)
