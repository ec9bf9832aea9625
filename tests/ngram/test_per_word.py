"""``rnnkit ngram eval --per-word / --per-line``: KenLM's full_scores token by
token, SRILM's -debug 1 sentence by sentence, and totals that are the exact
sums of what is printed (in --json)."""

import json
import math

import numpy as np
import pytest
from ngram_helpers import SMALL_CORPUS, cli_result, sentences, write_text

from rnnkit import ngram

TEXT = SMALL_CORPUS + ["the zebra sat on a mat", "log log log", "zebra"]


def _model(tmp_path, open_vocabulary=True, order=3):
    path = str(tmp_path / "m.arpa")
    ngram.estimate(sentences(SMALL_CORPUS), order, open_vocabulary=open_vocabulary).write_arpa(path)
    return path


@pytest.mark.parametrize("order", [2, 3, 4])
def test_per_word_scores_are_kenlms_full_scores(tmp_path, order):
    kenlm = pytest.importorskip("kenlm", reason="kenlm is not installed (pip install kenlm; it builds from source)")
    path = _model(tmp_path, True, order)
    theirs = kenlm.Model(path)
    scored, _ = ngram.NgramModel.load(path).score_sentences(sentences(TEXT))
    for line, sentence in zip(TEXT, scored):
        full = list(theirs.full_scores(line, bos=True, eos=True))
        np.testing.assert_allclose(sentence.log10probs, [p for p, _, _ in full], atol=1e-4)
        assert sentence.ngram_lengths.tolist() == [n for _, n, _ in full]
        assert sentence.oov.tolist() == [oov for _, _, oov in full]


def test_json_per_word_adds_up_exactly_to_the_totals(tmp_path, capsys):
    path = _model(tmp_path)
    text = write_text(tmp_path / "t.txt", TEXT)
    code, stdout, _ = cli_result(capsys, "ngram", "eval", path, text, "--per-word", "--per-line", "--json")
    *lines, summary = [json.loads(row) for row in stdout.splitlines()]
    assert code == 0 and len(lines) == len(TEXT) and "file" in summary
    everything, known = [], []
    for row, text_line in zip(lines, TEXT):
        words = row["per_word"]
        assert [w["token"] for w in words] == text_line.split() + ["</s>"]
        values = [w["log10prob"] for w in words]
        assert math.fsum(values) == row["logprob"]  # exactly: the totals are sums of these values
        assert math.fsum(v for v, w in zip(values, words) if not w["oov"]) == row["logprob_without_unk"]
        everything += values
        known += [v for v, w in zip(values, words) if not w["oov"]]
    assert math.fsum(everything) == summary["logprob"]
    assert math.fsum(known) == summary["logprob_without_unk"]
    assert summary["unk_targets"] == 2 and summary["tokens_without_unk"] == summary["tokens_scored"] - 2
    assert summary["perplexity_without_unk"] == pytest.approx(10 ** (-math.fsum(known) / len(known)))
    assert summary["perplexity"] == summary["ppl"]  # an open vocabulary: every token is scored


def test_per_line_reports_each_sentence_as_if_evaluated_alone(tmp_path, capsys):
    path = _model(tmp_path)
    model = ngram.NgramModel.load(path)
    text = write_text(tmp_path / "t.txt", ["", *TEXT])  # a blank line is skipped, the numbers stay the file's
    code, stdout, _ = cli_result(capsys, "ngram", "eval", path, text, "--per-line", "--json")
    rows = [json.loads(row) for row in stdout.splitlines()][:-1]
    assert [r["line"] for r in rows] == list(range(2, len(TEXT) + 2))
    for row, line in zip(rows, TEXT):
        alone = model.evaluate([line.split()])
        assert row["ppl"] == pytest.approx(alone.ppl, rel=1e-12) and row["text"] == line
        assert "per_word" not in row


def test_text_forms(tmp_path, capsys):
    path = _model(tmp_path, open_vocabulary=False)
    text = write_text(tmp_path / "t.txt", ["the zebra sat", "a dog"])
    code, stdout, _ = cli_result(capsys, "ngram", "eval", path, text, "--per-line", "--per-word")
    blocks = stdout.split("\n\n")
    assert code == 0 and blocks[0].splitlines()[0] == "the zebra sat"
    rows = [line.split("\t") for line in blocks[0].splitlines()[1:5]]
    assert [r[0] for r in rows] == ["the", "zebra", "sat", "</s>"]
    assert rows[1][1:] == ["OOV", "0"]  # a closed vocabulary skips it, as SRILM does
    assert rows[2][2] == "1"  # the history was cut at the OOV: only the unigram
    assert blocks[0].splitlines()[5] == "1 sentences, 3 words, 1 OOVs"  # SRILM counts the OOV among the words
    summary = blocks[-1].splitlines()
    assert summary[0].startswith(f"file {text}: 2 sentences, 5 words, 1 OOVs")
    assert summary[-1].startswith("perplexity n/a with <unk> (a closed vocabulary: its 1 OOVs have no probability)")
    code, stdout, _ = cli_result(capsys, "ngram", "eval", path, text, "--per-word")
    assert code == 0 and stdout.splitlines()[0] == "the\t" + rows[0][1] + "\t" + rows[0][2]


def _kenlm_both_figures(kenlm, path, lines):
    """KenLM's 'Perplexity including OOVs' and 'excluding OOVs', from full_scores as its query tool counts them."""
    model = kenlm.Model(path)
    every, known = [], []
    for line in lines:
        for prob, _, oov in model.full_scores(line, bos=True, eos=True):
            every.append(prob)
            if not oov:
                known.append(prob)
    return 10 ** (-sum(every) / len(every)), 10 ** (-sum(known) / len(known)), len(every) - len(known)


def test_the_two_figures_are_kenlms(tmp_path):
    kenlm = pytest.importorskip("kenlm", reason="kenlm is not installed (pip install kenlm; it builds from source)")
    path = _model(tmp_path)
    report = ngram.NgramModel.load(path).evaluate(sentences(TEXT + ["<unk> cat"]))  # a literal <unk> counts too
    including, excluding, oovs = _kenlm_both_figures(kenlm, path, TEXT + ["<unk> cat"])
    assert report.unk_targets == oovs == 3
    assert report.perplexity == pytest.approx(including, rel=1e-5)
    assert report.perplexity_without_unk == pytest.approx(excluding, rel=1e-5)


@pytest.mark.slow
def test_ptb_two_figures_are_kenlms(ptb, ptb_model):
    kenlm = pytest.importorskip("kenlm", reason="kenlm is not installed (pip install kenlm; it builds from source)")
    model, path = ptb_model(3)
    report = model.evaluate(ptb["test"])
    including, excluding, oovs = _kenlm_both_figures(kenlm, path, [" ".join(s) for s in ptb["test"]])
    # 148.28 and 170.52 over 82,430 and 77,636 predictions: PTB's <unk> is KenLM's OOV.
    assert report.unk_targets == oovs == 4794
    assert report.perplexity == pytest.approx(including, rel=1e-5)
    assert report.perplexity_without_unk == pytest.approx(excluding, rel=1e-5)
