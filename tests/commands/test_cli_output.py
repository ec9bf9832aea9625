"""Output read once and understood: predict and ngram predict share a layout; errors name the subcommand."""

import re

import pytest

from lm_helpers import cli

ROW = re.compile(r"^ *\d+  +\d\.\d{4}  \S+$")  # rank, probability, token


@pytest.fixture
def arpa(trained_model, tmp_path, capsys):
    path = tmp_path / "kn3.arpa"
    assert cli(capsys, "ngram", "train", trained_model[1], "--order", "3", "--out", path)[0] == 0
    return path


def test_predict_and_ngram_predict_share_one_layout(trained_model, arpa, capsys):
    code, rnn, _ = cli(capsys, "predict", trained_model[0], "the big", "--top", 3)
    assert code == 0
    code, kn, _ = cli(capsys, "ngram", "predict", arpa, "the big", "--top", 3)
    assert code == 0
    rnn, kn = rnn.splitlines(), kn.splitlines()
    assert rnn[0] == "the big ____" and kn[0] == "the big ____"  # the part of the prefix a 3-gram model uses
    assert kn[1] == "(3-gram model: only the last 2 tokens count)"
    assert all(ROW.match(line) for line in rnn[1:]) and len(rnn) == 4
    assert all(ROW.match(line) for line in kn[2:]) and len(kn) == 5
    assert [line.split()[0] for line in kn[2:]] == ["1", "2", "3"]


def test_unknown_prefix_words_are_named_alike(trained_model, arpa, capsys):
    _, rnn, _ = cli(capsys, "predict", trained_model[0], "the zebra")
    _, kn, _ = cli(capsys, "ngram", "predict", arpa, "the zebra")
    assert "(unknown to the model, read as <unk>: zebra)" in rnn.splitlines()
    assert any(line.startswith("(unknown to the model") and line.endswith(": zebra)") for line in kn.splitlines())


def test_tune_lambda_with_lambda_is_an_error(trained_model, arpa, capsys):
    model, _, valid = trained_model
    code, _, err = cli(capsys, "eval", model, valid, "--mix", arpa, "--tune-lambda", valid, "--lambda", 0.3)
    assert code == 2 and err.strip() == ("rnnkit eval: error: --tune-lambda chooses L on held-out text and "
                                         "--lambda gives it: use one, not both")
    code, out, _ = cli(capsys, "eval", model, valid, "--mix", arpa, "--tune-lambda", valid)
    assert code == 0 and "tuned on" in out


@pytest.mark.parametrize("argv, prefix", [
    (["ngram", "eval", "{missing}", "{missing}"], "rnnkit ngram eval: error: "),
    (["ngram", "predict", "{missing}", "the"], "rnnkit ngram predict: error: "),
    (["eval", "{missing}", "{missing}"], "rnnkit eval: error: "),
])
def test_errors_name_the_subcommand(tmp_path, capsys, argv, prefix):
    code, _, err = cli(capsys, *[a.format(missing=tmp_path / "missing") for a in argv])
    assert code == 1 and err.startswith(prefix) and err.count("\n") == 1
