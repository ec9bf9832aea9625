"""Issue 19 on the RNN side: eval --independent equals score's summary, per-word
scores that add up exactly, several N-gram models mixed with EM weights, and
n-best lists in the formats of the field through `rnnkit score --nbest`."""

import json
import math

import pytest
from lm_helpers import cli

TEXT = "the cat sat on a zebra\na dog saw the mat\n"


def _json_lines(out):
    return [json.loads(line) for line in out.splitlines()]


def test_eval_independent_is_scores_summary(mix_models, tmp_path, capsys):
    rnn = mix_models / "rnn"
    text = tmp_path / "t.txt"
    text.write_text(TEXT)
    code, out, _ = cli(capsys, "eval", rnn, text, "--independent", "--json")
    independent = json.loads(out)
    code, out, _ = cli(capsys, "eval", rnn, text, "--json")
    stream = json.loads(out)
    assert independent["independent"] is True and stream["independent"] is False
    assert independent["perplexity"] != pytest.approx(stream["perplexity"], rel=1e-6)  # two readings, two figures
    code, out, err = cli(capsys, "score", rnn, text, "--json")
    rows = _json_lines(out)
    total, tokens = sum(r["logprob"] for r in rows), sum(r["tokens"] for r in rows)
    assert independent["perplexity"] == pytest.approx(10 ** (-total / tokens), rel=1e-9)
    assert independent["logprob"] == pytest.approx(total, rel=1e-9) and independent["tokens"] == tokens
    unk, known = sum(r["unk_targets"] for r in rows), sum(r["logprob_without_unk"] for r in rows)
    assert unk == independent["unk_tokens"] == 1  # zebra
    assert independent["perplexity_without_unk"] == pytest.approx(10 ** (-known / (tokens - unk)), rel=1e-9)
    code, _, err = cli(capsys, "score", rnn, text)
    assert f"perplexity {independent['perplexity']:.2f} with <unk>, " in err
    assert f"{independent['perplexity_without_unk']:.2f} without the 1 <unk> targets" in err
    code, out, _ = cli(capsys, "eval", rnn, text)
    assert "the text read as one stream" in out and "without the 1 <unk> targets" in out


@pytest.mark.parametrize("independent", [False, True])
def test_eval_per_word_adds_up_exactly(mix_models, tmp_path, capsys, independent):
    rnn = mix_models / "rnn"
    text = tmp_path / "t.txt"
    text.write_text("\n" + TEXT)  # a blank line: skipped, and the line numbers stay the file's
    flags = ["--independent"] if independent else []
    code, out, _ = cli(capsys, "eval", rnn, text, "--per-word", "--json", *flags)
    *lines, summary = _json_lines(out)
    code, out, _ = cli(capsys, "eval", rnn, text, "--json", *flags)
    plain = json.loads(out)
    assert [line["line"] for line in lines] == [2, 3]
    assert [w["token"] for w in lines[0]["per_word"]] == "the cat sat on a zebra <eos>".split()
    values = [w["log10prob"] for line in lines for w in line["per_word"]]
    assert math.fsum(values) == summary["logprob"]  # exactly
    for line in lines:
        assert math.fsum(w["log10prob"] for w in line["per_word"]) == line["logprob"]
    assert summary["perplexity"] == pytest.approx(plain["perplexity"], rel=1e-9)
    assert summary["perplexity_without_unk"] == pytest.approx(plain["perplexity_without_unk"], rel=1e-9)
    code, out, _ = cli(capsys, "eval", rnn, text, "--per-word", *flags)
    first = out.split("\n\n")[0].splitlines()
    assert [row.split("\t")[0] for row in first] == "the cat sat on a zebra <eos>".split()
    assert float(first[0].split("\t")[1]) == pytest.approx(values[0], abs=1e-6)


def test_score_per_word(mix_models, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(TEXT)
    code, out, _ = cli(capsys, "score", mix_models / "rnn", text, "--per-word", "--json")
    for row in _json_lines(out):
        assert math.fsum(w["log10prob"] for w in row["per_word"]) == row["logprob"]
        assert len(row["per_word"]) == row["tokens"] and row["per_word"][-1]["token"] == "<eos>"
    code, out, _ = cli(capsys, "score", mix_models / "rnn", text, "--per-word")
    assert out.splitlines()[0].startswith("#log10_prob") and out.splitlines()[2].startswith("\tthe\t-")
    code, _, err = cli(capsys, "score", mix_models / "rnn", text, "--nbest", "--per-word")
    assert code == 2 and "--per-word applies to plain scoring" in err


def test_eval_mixes_several_ngram_models_with_em_weights(mix_models, tmp_path, capsys):
    rnn, kn3, valid = mix_models / "rnn", mix_models / "kn3.arpa", mix_models / "valid.txt"
    kn2 = tmp_path / "kn2.arpa"
    assert cli(capsys, "ngram", "train", mix_models / "train.txt", "-o", "2", "--discount", "kn", "--out", kn2)[0] == 0
    kn2_bin = tmp_path / "kn2.bin"
    assert cli(capsys, "ngram", "build-binary", kn2, kn2_bin)[0] == 0
    code, out, _ = cli(capsys, "eval", rnn, valid, "--mix", kn3, "--mix", kn2_bin, "--tune-lambda", valid, "--json")
    r = json.loads(out)
    assert code == 0 and r["models"] == [str(kn3), str(kn2_bin)] and len(r["weights"]) == 3
    assert sum(r["weights"]) == pytest.approx(1.0) and r["lambda"] == r["weights"][0]
    assert r["mix_perplexity"] <= min([r["rnn_perplexity"]] + r["ngram_perplexities"]) + 1e-9
    # EM's weights are at least as good on the text they were tuned on as any on a coarse grid.
    code, out, _ = cli(capsys, "eval", rnn, valid, "--mix", kn3, "--mix", kn2, "--lambda", "0.4", "--json")
    fixed = json.loads(out)
    assert fixed["weights"] == pytest.approx([0.4, 0.3, 0.3]) and r["mix_perplexity"] <= fixed["mix_perplexity"]
    code, out, _ = cli(capsys, "eval", rnn, valid, "--mix", kn3, "--mix", kn2, "--tune-lambda", valid)
    assert "kn2.arpa, weight" in out and "RNN weight" in out


NBEST_RNNLM = "u1 the cat sat on the mat\nu1 the mat sat on the cat\nu2 a dog saw a cat\nu2 dog a saw cat a\n"


def _lm_scores(capsys, rnn, texts, tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("".join(t + "\n" for t in texts))
    code, out, _ = cli(capsys, "score", rnn, plain, "--json")
    return [r["logprob"] for r in _json_lines(out)]


def test_score_nbest_rnnlm_format(mix_models, tmp_path, capsys):
    rnn = mix_models / "rnn"
    nbest = tmp_path / "nbest.txt"
    nbest.write_text(NBEST_RNNLM)
    expected = _lm_scores(capsys, rnn, [line.split(None, 1)[1] for line in NBEST_RNNLM.splitlines()], tmp_path)
    code, out, _ = cli(capsys, "score", rnn, nbest, "--nbest")  # recognised: no tabs, no SRILM numbers
    assert code == 0 and [float(x) for x in out.split()] == pytest.approx(expected, abs=1e-6)
    code, out, _ = cli(capsys, "score", rnn, nbest, "--nbest", "--best")
    assert out.splitlines() == ["u1 the cat sat on the mat", "u2 a dog saw a cat"]


def test_score_nbest_kaldi_format(mix_models, tmp_path, capsys):
    rnn = mix_models / "rnn"
    text = tmp_path / "text"
    text.write_text("u1-1 the mat sat on the cat\nu1-2 the cat sat on the mat\n")
    ac = tmp_path / "ac_costs"
    ac.write_text("u1-1 10.0\nu1-2 10.5\n")
    lm_costs = tmp_path / "lm_costs"
    lm_costs.write_text("u1-1 4.0\nu1-2 5.0\n")
    expected = _lm_scores(capsys, rnn, ["the mat sat on the cat", "the cat sat on the mat"], tmp_path)
    args = ["score", rnn, text, "--nbest", "--acoustic-costs", ac, "--lm-costs", lm_costs]
    code, out, _ = cli(capsys, *args)
    rows = [line.split() for line in out.splitlines()]
    assert code == 0 and [r[0] for r in rows] == ["u1-1", "u1-2"]
    assert [float(r[1]) for r in rows] == pytest.approx([-x * math.log(10) for x in expected], abs=1e-5)
    code, out, _ = cli(capsys, *args, "--json")
    [utt] = _json_lines(out)
    best = utt["candidates"][0]
    assert utt["utt"] == "u1" and best["am_score"] in (pytest.approx(-10.0 / math.log(10)),
                                                       pytest.approx(-10.5 / math.log(10)))
    assert best["combined"] == pytest.approx(best["lm_logprob"] + best["am_score"])


def test_score_nbest_srilm_formats(mix_models, tmp_path, capsys):
    rnn = mix_models / "rnn"
    plain = tmp_path / "utt3.nbest"
    plain.write_text("-100.5 -12.0 6 the cat sat on the mat\n-100.0 -11.0 6 the mat sat on the cat\n")
    expected = _lm_scores(capsys, rnn, ["the cat sat on the mat", "the mat sat on the cat"], tmp_path)
    code, out, _ = cli(capsys, "score", rnn, plain, "--nbest")
    rows = [line.split() for line in out.splitlines()]
    assert code == 0 and [r[0] for r in rows] == ["-100.500000", "-100.000000"]
    assert [float(r[1]) for r in rows] == pytest.approx(expected, abs=1e-6) and rows[0][2:] == "6 the cat sat on the mat".split()
    v1 = tmp_path / "utt4.nbest"
    v1.write_text("NBestList1.0\n(-1000) the cat sat on the mat\n(-900) the mat sat on the cat\n")
    code, out, _ = cli(capsys, "score", rnn, v1, "--nbest", "--best")
    assert code == 0 and out.split()[0] == "utt4"
    code, _, err = cli(capsys, "score", rnn, plain, "--nbest", "--format", "tsv")
    assert code == 1 and "expected 'utt_id<TAB>text[<TAB>score]'" in err and err.count("\n") == 1


def test_score_nbest_tsv_unchanged_and_mixture_tuned(mix_models, tmp_path, capsys):
    rnn, kn3, valid = mix_models / "rnn", mix_models / "kn3.arpa", mix_models / "valid.txt"
    nbest = tmp_path / "nbest.tsv"
    nbest.write_text("u1\tthe cat sat on the mat\t-3.0\nu1\tthe mat sat on the cat\t-2.9\n")
    code, out, _ = cli(capsys, "score", rnn, nbest, "--nbest")
    rows = [line.split("\t")[:2] for line in out.splitlines()]
    assert code == 0 and rows == [["#utt_id", "rank"], ["u1", "1"], ["u1", "2"]]
    code, out, err = cli(capsys, "score", rnn, nbest, "--nbest", "--mix", kn3, "--tune-lambda", valid, "--json")
    assert code == 0 and "mixture weights (RNN first, tuned by EM" in err
    code, _, err = cli(capsys, "score", rnn, nbest, "--format", "kaldi")
    assert code == 2 and "apply to --nbest only" in err
