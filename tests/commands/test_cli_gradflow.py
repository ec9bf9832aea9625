"""`rnnkit gradflow`: the JSON, the table and figure, one-line errors, a trained model on real text."""

import json
import random

import pytest

from rnnkit.cli import main


def one_line_error(capsys, code, argv):
    assert main(argv) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("rnnkit ") and "error" in lines[0]
    assert "Traceback" not in captured.err
    return lines[0]


# --- the command ----------------------------------------------------------------------------


def test_command_json_holds_the_numbers(capsys):
    argv = ["gradflow", "--activation", "tanh", "--init", "orthogonal", "--init-scale", "0.5",
            "--config", "cell=rnn,activation=identity,init=orthogonal,scale=1.5,label=explodes",
            "--steps", "22", "--batch", "4", "--hidden", "8", "--flow-only", "--json"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["clipping"] is None
    vanish, explode = doc["curves"]
    assert vanish["ratio"][20] < 1e-3 and explode["ratio"][20] > 1e3
    assert explode["label"] == "explodes" and len(explode["distance"]) == 22
    assert vanish["quantity"] == "delta = dE/dnet_k"


def test_command_json_with_clipping_has_no_nan(capsys):
    argv = ["gradflow", "--cell", "gru", "--steps", "5", "--batch", "2", "--hidden", "4", "--train-steps", "250",
            "--json"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "NaN" not in text and "Infinity" not in text  # strict JSON: diverged values are null
    clip = json.loads(text)["clipping"]
    # Without clipping the loss explodes. Whether it reaches float64's overflow within 250 steps depends on
    # the CPU's kernels (an AVX2 machine: yes; an AVX-512 one: at 1e212), so either counts.
    free = clip["runs"]["no clipping"]
    assert free["diverged_at_step"] is not None or free["last_loss"] > 1e100 * free["first_loss"]
    clipped = clip["runs"]["clipping"]
    assert clipped["diverged_at_step"] is None and clipped["last_loss"] < clipped["first_loss"]


def test_command_table_and_figure(capsys, tmp_path):
    out = tmp_path / "flow.png"
    assert main(["gradflow", "--activation", "relu", "--init", "identity", "--steps", "12", "--batch", "2",
                 "--hidden", "4", "--flow-only", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "d=10" in text and "relu, identity" in text and f"wrote {out}" in text
    assert out.stat().st_size > 10_000


def test_figure_into_a_missing_directory_is_one_line(capsys, tmp_path):
    line = one_line_error(capsys, 1, ["gradflow", "--steps", "3", "--flow-only", "--cell", "rnn",
                                      "--out", str(tmp_path / "no" / "x.png")])
    assert "does not exist" in line


@pytest.mark.parametrize("argv, words", [
    (["--cell", "transformer"], "unknown cell"),
    (["--activation", "swish"], "unknown activation"),
    (["--init", "he"], "unknown init"),
    (["--cell", "lstm", "--activation", "relu"], "rnn cell only"),
    (["--config", "cell=rnn,actvation=relu"], "unknown key"),
    (["--steps", "1"], "--steps"),
    (["--clip", "0"], "--clip"),
    (["--text", "x.txt"], "--model"),
    (["--out", "figure.jpg"], ".png"),
])
def test_bad_input_is_a_one_line_usage_error(capsys, argv, words):
    line = one_line_error(capsys, 2, ["gradflow", *argv])
    assert words in line


def test_model_dir_that_is_not_a_model_is_a_one_line_error(capsys, tmp_path):
    line = one_line_error(capsys, 1, ["gradflow", "--model", str(tmp_path / "nothing"), "--json"])
    assert "nothing" in line
    line = one_line_error(capsys, 1, ["gradflow", "--model", str(tmp_path), "--json"])
    assert "config.json" in line


# --- a trained language model on real text -----------------------------------------------------


def write_corpus(path, lines, seed):
    rnd = random.Random(seed)
    words = "the cat dog sat on mat ran to a big small red house and".split()
    path.write_text("".join(" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 9))) + "\n"
                            for _ in range(lines)))
    return str(path)


@pytest.fixture(scope="module")
def gradflow_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    train = write_corpus(d / "train.txt", 300, 1)
    valid = write_corpus(d / "valid.txt", 80, 2)
    out = str(d / "model")
    assert main(["train", train, "--valid", valid, "--out", out, "--hidden", "8", "--epochs", "2",
                 "--batch", "4", "--bptt", "10", "--quiet"]) == 0
    return out, valid


def test_gradflow_on_a_trained_model(capsys, gradflow_model):
    out, valid = gradflow_model
    capsys.readouterr()
    # config.json names the validation text, outside the model directory: read only when named on the command line
    assert main(["gradflow", "--model", out, "--steps", "15", "--batch", "3", "--warmup", "5", "--json"]) == 1
    assert "outside the model directory" in capsys.readouterr().err
    assert main(["gradflow", "--model", out, "--text", valid, "--steps", "15", "--batch", "3", "--warmup", "5",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    trained, fresh = doc["curves"]
    assert trained["style"] == "trained" and fresh["style"] == "untrained"
    assert trained["text"] == valid
    assert trained["bptt"] == 10  # the training window, drawn as a vertical line
    assert trained["ratio"][0] == 1.0 and len(trained["ratio"]) == 15
    assert all(r is None or r >= 0 for r in trained["ratio"])
    assert trained["ratio"] != fresh["ratio"]
    assert doc["clipping"] is None


def test_gradflow_model_text_too_short_is_one_line(capsys, gradflow_model, tmp_path):
    out, _ = gradflow_model
    short = tmp_path / "short.txt"
    short.write_text("the cat\n")
    line = one_line_error(capsys, 1, ["gradflow", "--model", out, "--text", str(short), "--json"])
    assert "too few" in line
