"""The Kneser-Ney N-gram baseline: estimation, ARPA files, queries and the ``rnnkit ngram`` command.

Everything here runs on small corpora written by the tests; the comparisons
with KenLM and the Penn Treebank numbers are in test_ngram_kenlm.py.
"""

import gzip
import json
import math
from collections import Counter

import numpy as np
import pytest

from rnnkit import cli
from rnnkit.errors import RnnkitError, UsageError
from rnnkit.lm import ngram

# The hand-worked example. Bigram counts with <s> and </s>:
#   <s> b: 4   b </s>: 3   <s> a: 2   a </s>: 2   b b: 1   b c: 1   c </s>: 1   a a: 1
# so the count-of-counts of order 2 are n1 = 4, n2 = 2, n3 = 1, n4 = 1.
HAND_CORPUS = ["b", "b b", "b c", "a a", "b", "a"]

SMALL_CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the cat saw the dog",
    "on the mat the cat sat",
    "a dog sat",
    "the log",
    "cat",
]


def sentences(lines):
    return [line.split() for line in lines]


def write_text(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def cli_result(capsys, *argv):
    """(exit code, stdout, stderr) of ``rnnkit ARGV`` run in this process."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------
# Counting and discounts, worked by hand


def test_discounts_worked_by_hand():
    counts = ngram.count_ngrams(sentences(HAND_CORPUS), 2)
    adjusted = ngram.adjusted_counts(counts)
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


def test_adjusted_counts_are_left_continuations():
    counts = ngram.count_ngrams(sentences(HAND_CORPUS), 2)
    adjusted = ngram.adjusted_counts(counts)
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
    counts = ngram.count_ngrams(sentences(["x y"] * 3), 3)
    adjusted = ngram.adjusted_counts(counts)
    bigram = {
        (counts.vocab[p], counts.vocab[w]): int(a) for p, w, a in zip(counts.prefix[1], counts.word[1], adjusted[1])
    }
    assert bigram[("<s>", "x")] == 3
    assert bigram[("x", "y")] == 1


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


# ---------------------------------------------------------------------------
# Probabilities are distributions


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


def test_sums_to_one_from_arpa(tmp_path):
    model = ngram.estimate(sentences(SMALL_CORPUS), 3)
    path = str(tmp_path / "m.arpa")
    model.write_arpa(path)
    loaded = ngram.NgramModel.load(path)
    for k in range(1, 3):
        for row in loaded.ngram_ids(k):
            probs = 10.0 ** loaded.next_log10probs([loaded.vocab[i] for i in row])
            assert probs.sum() == pytest.approx(1.0, abs=2e-5)


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


# ---------------------------------------------------------------------------
# Scoring


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


def test_ppl_and_ppl1_follow_srilm():
    model = ngram.estimate(sentences(SMALL_CORPUS), 2)
    text = sentences(SMALL_CORPUS[:3])
    report = model.evaluate(text)
    total = sum(s.sum() for s in model.token_log10probs(text))
    words = sum(len(s) for s in text)
    assert report.logprob == pytest.approx(total)
    assert report.ppl == pytest.approx(10 ** (-total / (words + len(text))))
    assert report.ppl1 == pytest.approx(10 ** (-total / words))


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


def test_sentence_markers_in_text():
    sents, lines = ngram.sentences_from_lines(["<s> a b </s>", "", "c"], "word")
    assert sents == [["a", "b"], ["c"]] and lines == [1, 3]
    with pytest.raises(RnnkitError, match="line 2"):
        ngram.sentences_from_lines(["a", "a </s> b"], "word", source="t.txt")


# ---------------------------------------------------------------------------
# ARPA files


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


# A model in the style SRILM writes: text before \data\, back-off weights left
# out where they are 0, spaces and tabs, blank lines, an exponent.
SRILM_STYLE = """This is a comment SRILM tools ignore.

\\data\\
ngram  1=5
ngram 2 = 4

\\1-grams:
-0.8\t</s>
-99\t<s>\t-0.3
-0.6 a -0.2
-0.7\tb
-1e0\t<unk>

\\2-grams:
-0.2\t<s> a
-0.4 a b
-0.3\ta </s>
-0.5\tb </s>

\\end\\
"""


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


def bad_arpa(tmp_path, text):
    path = tmp_path / "bad.arpa"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


GOOD = SRILM_STYLE.split("\\data\\", 1)[1]
GOOD = "\\data\\" + GOOD  # line 1 is \data\


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
    text, lengths = ngram._format_fixed(values)
    for row, length, value in zip(text, lengths, values):
        rendered = row[len(row) - length :].tobytes().decode()
        expected = f"{value:.6f}"
        if expected == "-0.000000":
            expected = "0.000000"
        assert float(rendered) == pytest.approx(float(expected), abs=1.01e-6)
        assert len(rendered) == len(expected), (rendered, expected)


# ---------------------------------------------------------------------------
# Side file and mixing API


def test_side_file_records_tokenizer(tmp_path):
    lines = ["我们 去 学校", "老师 来 了"]
    model = ngram.estimate(ngram.sentences_from_lines(lines, "char")[0], 2, tokenizer="char")
    path = str(tmp_path / "zh.arpa")
    model.write_arpa(path)
    loaded = ngram.NgramModel.load(path)
    assert loaded.tokenizer == "char" and loaded.sidecar == path + ".json"
    loaded.check_compatible("char")
    with pytest.raises(RnnkitError, match="--tokenizer char, not word"):
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


# ---------------------------------------------------------------------------
# The command line


def test_cli_train_eval_predict(tmp_path, capsys):
    corpus = write_text(tmp_path / "train.txt", SMALL_CORPUS)
    out = str(tmp_path / "m.arpa")
    code, stdout, stderr = cli_result(capsys, "ngram", "train", corpus, "--order", "3", "--out", out)
    assert code == 0 and "wrote" in stdout and stderr.count("\n") <= 3
    code, stdout, _ = cli_result(capsys, "ngram", "eval", out, corpus, "--json")
    result = json.loads(stdout)
    model = ngram.NgramModel.load(out)
    assert code == 0 and result["ppl"] == pytest.approx(model.evaluate(sentences(SMALL_CORPUS)).ppl)
    assert result["sentences"] == len(SMALL_CORPUS) and result["oovs"] == 0
    code, stdout, _ = cli_result(capsys, "ngram", "eval", out, corpus)
    assert code == 0 and stdout.startswith(f"file {corpus}: 8 sentences, ") and "ppl1=" in stdout
    code, stdout, _ = cli_result(capsys, "ngram", "predict", out, "the", "--top", "3", "--json")
    predictions = json.loads(stdout)["predictions"]
    assert code == 0 and len(predictions) == 3 and predictions[0]["token"] == "cat"
    code, stdout, _ = cli_result(capsys, "ngram", "predict", out, "the")
    assert code == 0 and "1. cat" in stdout


@pytest.mark.parametrize(
    "argv, code, words",
    [
        (["train", "{missing}", "--order", "3", "--out", "{out}"], 1, "no such file"),
        (["train", "{empty}", "--order", "3", "--out", "{out}"], 1, "no words"),
        (["train", "{corpus}", "--order", "0", "--out", "{out}"], 2, "--order must be at least 1"),
        (["train", "{corpus}", "--order", "3", "--out", "{existing}"], 1, "already exists"),
        (["train", "{corpus}", "--order", "3", "--out", "{tmp}/no/such/dir/m.arpa"], 1, "does not exist"),
        (["eval", "{missing}", "{corpus}"], 1, "no such file"),
        (["eval", "{broken}", "{corpus}"], 1, "line 12"),
        (["eval", "{existing}", "{corpus}"], 1, "no \\data\\ line"),
        (["eval", "{model}", "{empty}"], 1, "no sentences"),
        (["eval", "{model}", "{missing}"], 1, "no such file"),
        (["predict", "{model}", "the", "--top", "0"], 2, "--top must be at least 1"),
        (["eval", "{model}", "{corpus}", "--tokenizer", "char"], 1, "not char"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, capsys, argv, code, words):
    paths = {
        "tmp": str(tmp_path),
        "missing": str(tmp_path / "missing.txt"),
        "empty": write_text(tmp_path / "empty.txt", []),
        "corpus": write_text(tmp_path / "corpus.txt", SMALL_CORPUS),
        "out": str(tmp_path / "out.arpa"),
        "existing": write_text(tmp_path / "existing.arpa", ["keep me"]),
        "broken": bad_arpa(tmp_path, GOOD.replace("ngram 2 = 4", "ngram 2 = 5")),
        "model": str(tmp_path / "model.arpa"),
    }
    ngram.estimate(sentences(SMALL_CORPUS), 2).write_arpa(paths["model"])
    capsys.readouterr()
    exit_code, stdout, stderr = cli_result(capsys, "ngram", *[a.format(**paths) for a in argv])
    assert exit_code == code
    assert stderr.count("\n") == 1 and stderr.startswith("rnnkit ngram: error: ") and words in stderr
    assert "Traceback" not in stderr
    assert (tmp_path / "existing.arpa").read_text() == "keep me\n"
    assert not (tmp_path / "out.arpa").exists()


def test_cli_missing_action_is_a_usage_error(capsys):
    code, _, stderr = cli_result(capsys, "ngram")
    assert code == 2 and "ACTION" in stderr


def test_cli_warns_about_fallback_discounts(tmp_path, capsys):
    corpus = write_text(tmp_path / "tiny.txt", HAND_CORPUS)
    code, _, stderr = cli_result(capsys, "ngram", "train", corpus, "--order", "2", "--out", str(tmp_path / "m.arpa"))
    assert code == 0 and "warning: order 1" in stderr and "discount_fallback" in stderr
