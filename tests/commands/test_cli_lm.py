"""The commands end to end on a tiny corpus, through rnnkit.cli.main as a user calls them."""

import json

import pytest

from lm_helpers import cli
from rnnkit.lm.api import LanguageModel


def test_train_eval_predict_generate_score(corpus, tmp_path, capsys):
    tr, va = corpus
    out = tmp_path / "m"
    code, stdout, _ = cli(capsys, "train", tr, "--valid", va, "--out", out, "--hidden", 16, "--batch", 4,
                          "--bptt", 6, "--epochs", 3, "--lr", 1, "--quiet")
    assert code == 0
    assert "epoch   1" in stdout and stdout.strip().splitlines()[-1].startswith("done:")

    code, stdout, _ = cli(capsys, "eval", out, va, "--json")
    r = json.loads(stdout)
    assert code == 0 and set(r) >= {"perplexity", "bits_per_token", "nats_per_token", "tokens", "oov_rate"}
    assert r["tokens"] == sum(len(line.split()) + 1 for line in va.read_text().splitlines())
    assert r["bits_per_token"] == pytest.approx(r["nats_per_token"] / 0.6931471805599453)
    code, stdout, _ = cli(capsys, "eval", out, va)
    assert "perplexity" in stdout and "OOV" in stdout

    code, stdout, _ = cli(capsys, "predict", out, "the big", "--top", 3, "--json")
    r = json.loads(stdout)
    assert code == 0 and len(r["predictions"]) == 3
    probs = [p["probability"] for p in r["predictions"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6
    assert r["predictions"][0]["token"] in ("cat", "dog")  # "the big ____" is always a noun here
    code, stdout, _ = cli(capsys, "predict", out, "the big")
    assert stdout.splitlines()[0] == "the big ____" and len(stdout.splitlines()) == 11

    code, first, _ = cli(capsys, "generate", out, "--seed", 7, "--max-tokens", 30)
    code, second, _ = cli(capsys, "generate", out, "--seed", 7, "--max-tokens", 30)
    assert code == 0 and first == second and len(first.split()) >= 20
    _, other, _ = cli(capsys, "generate", out, "--seed", 8, "--max-tokens", 30)
    assert other != first
    _, greedy, _ = cli(capsys, "generate", out, "--prefix", "a small", "--temperature", 0, "--max-tokens", 3)
    assert greedy.startswith("a small ")
    _, topk, _ = cli(capsys, "generate", out, "--seed", 1, "--top-k", 1, "--max-tokens", 3, "--prefix", "a small")
    assert topk == greedy  # sampling among the single most likely token is the greedy choice

    text = tmp_path / "s.txt"
    text.write_text("the cat sat on the mat\nmat the on sat cat the\n", encoding="utf-8")
    code, stdout, err = cli(capsys, "score", out, text)
    header, *lines = stdout.splitlines()
    assert header == "#log10_prob\tppl\ttokens\toov\ttext"  # says what the columns are
    rows = [line.split("\t") for line in lines]
    assert code == 0 and len(rows) == 2 and rows[0][4] == "the cat sat on the mat"
    assert float(rows[0][0]) > float(rows[1][0])  # the grammatical order is more probable
    assert rows[0][2] == "7" and "perplexity" in err
    code, stdout, _ = cli(capsys, "score", out, text, "--json")
    js = [json.loads(line) for line in stdout.splitlines()]
    assert js[0]["tokens"] == 7 and js[0]["ppl"] == pytest.approx(10 ** (-js[0]["logprob"] / 7))


def test_nbest_rescoring(trained_model, tmp_path, capsys):
    model = trained_model[0]
    nb = tmp_path / "nbest.tsv"
    nb.write_text(
        "# utt_id<TAB>candidate<TAB>acoustic score\n"
        "u1\tmat the on sat cat the\t-1.0\n"
        "u1\tthe cat sat on the mat\t-2.0\n"
        "u2\ta dog ran\t-5\n"
        "u2\tdog a ran\t-5\n", encoding="utf-8")
    code, stdout, _ = cli(capsys, "score", model, nb, "--nbest")
    header, *lines = stdout.splitlines()
    assert header == "#utt_id\trank\tcombined\tlm_log10_prob\tam_score\ttext"
    rows = [line.split("\t") for line in lines]
    assert code == 0 and [r[:2] for r in rows] == [["u1", "1"], ["u1", "2"], ["u2", "1"], ["u2", "2"]]
    assert rows[0][5] == "the cat sat on the mat" and rows[2][5] == "a dog ran"
    assert float(rows[0][2]) == pytest.approx(float(rows[0][3]) + float(rows[0][4]), abs=2e-4)
    # a huge acoustic weight lets the recogniser's own score decide
    code, stdout, _ = cli(capsys, "score", model, nb, "--nbest", "--best", "--am-weight", 1000)
    assert stdout.splitlines()[0] == "u1\tmat the on sat cat the"
    code, stdout, _ = cli(capsys, "score", model, nb, "--nbest", "--json", "--lm-weight", 0.5)
    u1 = json.loads(stdout.splitlines()[0])
    assert u1["utt"] == "u1" and [c["rank"] for c in u1["candidates"]] == [1, 2]
    c = u1["candidates"][0]
    assert c["combined"] == pytest.approx(0.5 * c["lm_logprob"] + c["am_score"])
    # without acoustic scores the LM alone ranks
    plain = tmp_path / "plain.tsv"
    plain.write_text("x\tcat the\nx\tthe cat\n", encoding="utf-8")
    code, stdout, _ = cli(capsys, "score", model, plain, "--nbest", "--best")
    assert stdout == "x\tthe cat\n"


def test_chinese_char_model_plays_the_article_game(zh_corpus, tmp_path, capsys):
    tr, va = zh_corpus
    out = tmp_path / "zh"
    code, _, _ = cli(capsys, "train", tr, "--valid", va, "--out", out, "--tokenizer", "char", "--hidden", 24,
                     "--batch", 2, "--bptt", 10, "--epochs", 3, "--optimizer", "adam", "--quiet")
    assert code == 0
    code, stdout, _ = cli(capsys, "predict", out, "我昨天上学迟到了，老师批评了", "--top", 5, "--json")
    r = json.loads(stdout)
    assert code == 0 and r["tokens"] == list("我昨天上学迟到了，老师批评了") and r["unknown"] == []
    assert len(r["predictions"]) == 5
    code, stdout, _ = cli(capsys, "generate", out, "--prefix", "我", "--seed", 1, "--max-tokens", 10)
    assert code == 0 and stdout.startswith("我") and " " not in stdout.strip()


def test_jieba_model(zh_corpus, tmp_path, capsys):
    tr, va = zh_corpus
    out = tmp_path / "zhw"
    code, _, _ = cli(capsys, "train", tr, "--valid", va, "--out", out, "--tokenizer", "jieba", "--hidden", 16,
                     "--batch", 2, "--bptt", 5, "--epochs", 2, "--quiet")
    assert code == 0
    code, stdout, _ = cli(capsys, "predict", out, "我昨天上学迟到了，老师批评了", "--json")
    r = json.loads(stdout)
    assert code == 0 and "老师" in r["tokens"] and "".join(r["tokens"]) == "我昨天上学迟到了，老师批评了"


def test_demo_runs_quickly(tmp_path, capsys):
    code, stdout, _ = cli(capsys, "demo", "--minutes", 0.05, "--keep", tmp_path / "demo")
    assert code == 0
    assert "我昨天上学迟到了，老师批评了 ____" in stdout and "Generated" in stdout
    assert "criticized ____" in stdout and "demo finished" in stdout
    assert LanguageModel.load(str(tmp_path / "demo" / "zh")).tokenizer == "char"


def test_score_reads_standard_input(trained_model, capsys, monkeypatch):
    import io as _io
    import sys

    monkeypatch.setattr(sys, "stdin", _io.TextIOWrapper(_io.BytesIO("the cat sat\na dog ran\n".encode("utf-8"))))
    code, stdout, _ = cli(capsys, "score", trained_model[0])
    assert code == 0 and [line.split("\t")[4] for line in stdout.splitlines()[1:]] == ["the cat sat", "a dog ran"]
