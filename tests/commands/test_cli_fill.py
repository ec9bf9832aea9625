"""`rnnkit eval` and `rnnkit fill` on a cloze model: the text, the JSON, one-line errors."""

import json

import pytest

from lm_helpers import cli


def test_eval_and_fill_commands(cloze_model, capsys):
    out, _, _, va = cloze_model
    code, stdout, _ = cli(capsys, "eval", out, va)
    assert code == 0 and "cloze perplexity" in stdout and "top-5 accuracy" in stdout
    code, stdout, _ = cli(capsys, "eval", out, va, "--json")
    r = json.loads(stdout)
    assert r["task"] == "cloze" and {"perplexity", "top1", "top5", "tokens"} <= set(r)

    code, stdout, _ = cli(capsys, "fill", out, "the big __ sat on the mat", "--top", 3)
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == "the big ____ sat on the mat"
    assert lines[1].split()[2] in ("cat", "dog") and len(lines) == 4
    code, stdout, _ = cli(capsys, "fill", out, "the __2__ sat on the mat", "--json", "--top", 4)
    r = json.loads(stdout)
    assert code == 0 and r["scoring"] == "pseudo-likelihood" and r["blank_tokens"] == 2
    assert all(len(p["tokens"]) == 2 for p in r["predictions"]) and len(r["predictions"]) == 4
    assert r["predictions"][0]["tokens"][1] in ("cat", "dog")
    assert all("pseudo_likelihood" in p and "probability" not in p for p in r["predictions"])
    code, stdout, _ = cli(capsys, "fill", out, "the __ sat on the mat", "--json", "--top", 20)
    r = json.loads(stdout)
    assert r["scoring"] == "exact" and sum(p["probability"] for p in r["predictions"]) == pytest.approx(1, abs=1e-5)


@pytest.mark.parametrize("argv,match", [
    (["fill", "{cloze}", "the cat sat"], "no blank in the text"),
    (["fill", "{cloze}", "the __0__ sat"], "at least one token"),
    (["fill", "{cloze}", "the cat__ sat"], "unsupported blank"),
    (["fill", "{cloze}", "the __ sat", "--top", "0"], "--top"),
    (["fill", "{lm}", "the __ sat"], "not a cloze model"),
    (["fill", "{missing}", "the __ sat"], "no such model directory"),
    (["predict", "{cloze}", "the cat"], "not a left-to-right language model"),
])
def test_bad_input_is_one_line(cloze_model, tmp_path, capsys, argv, match):
    out, lm_out, _, _ = cloze_model
    names = {"cloze": out, "lm": lm_out, "missing": tmp_path / "nope"}
    code, stdout, err = cli(capsys, *[a.format(**names) for a in argv])
    assert code != 0 and stdout == ""
    assert len(err.strip().splitlines()) == 1 and match in err, err


def test_chinese_characters_fill_the_article_blank(zh_corpus, tmp_path, capsys):
    tr, va = zh_corpus
    out = tmp_path / "zh"
    code, _, _ = cli(capsys, "train", tr, "--valid", va, "--out", out, "--task", "cloze", "--tokenizer", "char",
                     "--hidden", 24, "--batch", 2, "--epochs", 8, "--lr", 1, "--optimizer", "adam", "--lr", 0.02,
                     "--quiet")
    assert code == 0
    code, stdout, _ = cli(capsys, "fill", out, "我的手机坏了，我打算____一部新手机。", "--top", 3)
    assert code == 0 and stdout.splitlines()[0] == "我的手机坏了，我打算____一部新手机。"
    code, stdout, _ = cli(capsys, "fill", out, "我的手机坏了，我打算__2__新手机。", "--json")
    r = json.loads(stdout)
    assert code == 0 and all(len(p["text"]) == 2 for p in r["predictions"])
