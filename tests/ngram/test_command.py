"""The ``rnnkit ngram train|eval|predict`` command: flags, output, and one-line errors."""

import json

import pytest
from ngram_helpers import GOOD, HAND_CORPUS, SMALL_CORPUS, bad_arpa, cli_result, sentences, write_text

from rnnkit import ngram


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
    lines = stdout.splitlines()
    assert code == 0 and lines[:2] == ["<s> the ____", "(3-gram model: only the last 2 tokens count)"]
    assert lines[2].split() == ["1", lines[2].split()[1], "cat"]  # rnnkit predict's columns: rank, p, token


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
        (["train", "{corpus}", "--order", "9", "--out", "{out}"], 2, "--order 9 is longer than any sentence"),
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
    assert stderr.count("\n") == 1 and stderr.startswith(f"rnnkit ngram {argv[0]}: error: ") and words in stderr
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
