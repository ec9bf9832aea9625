"""Bad input everywhere: one line on stderr, exit code 1 (or 2 for usage), no traceback, nothing lost."""

import os

import pytest

from rnnkit.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err, code, want_code, *fragments):
    assert code == want_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for frag in fragments:
        assert frag in lines[0], lines[0]


@pytest.fixture
def files(tmp_path, corpus):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_bytes("第一行\n第二行\n".encode("utf-8") + b"abc\xe4\xb8\n")
    return dict(train=corpus[0], valid=corpus[1], empty=empty, bad=bad, missing=tmp_path / "missing.txt",
                out=tmp_path / "out")


def train_args(files, **over):
    f = dict(files, **over)
    return ["train", f["train"], "--valid", f["valid"], "--out", f["out"], "--hidden", 8, "--epochs", 1, "--quiet"]


def test_train_input_errors(capsys, files):
    code, _, err = run(capsys, *train_args(files, train=files["missing"]))
    one_line_error(err, code, 1, "missing.txt: no such corpus")
    code, _, err = run(capsys, *train_args(files, valid=files["missing"]))
    one_line_error(err, code, 1, "missing.txt: no such validation file")
    code, _, err = run(capsys, *train_args(files, train=files["empty"]))
    one_line_error(err, code, 1, "empty.txt: no text")
    code, _, err = run(capsys, *train_args(files, valid=files["empty"]))
    one_line_error(err, code, 1, "empty.txt: no text")
    code, _, err = run(capsys, *train_args(files, train=files["bad"]))
    one_line_error(err, code, 1, "bad.txt: line 3: invalid UTF-8 at byte offset 23")
    assert not files["out"].exists()  # nothing was created for a run that never started


def test_train_usage_errors(capsys, files):
    for extra, frag in [(["--hidden", "-3"], "--hidden must be a positive integer"),
                        (["--lr", "0"], "--lr must be a positive number"),
                        (["--dropout", "1.5"], "--dropout must be in [0, 1)"),
                        (["--batch", "0"], "--batch must be a positive integer"),
                        (["--activation", "cosh"], "--activation 'cosh'"),
                        (["--max-minutes", "0"], "--max-minutes must be positive"),
                        (["--tie-weights", "--embed", "4"], "--tie-weights needs --embed equal to --hidden")]:
        code, _, err = run(capsys, *train_args(files), *extra)
        one_line_error(err, code, 2, frag)
    with pytest.raises(SystemExit) as exc:  # argparse's own: a wrong type or choice
        main([str(a) for a in train_args(files)] + ["--hidden", "many"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in train_args(files)] + ["--tokenizer", "bpe"])
    assert exc.value.code == 2


def test_corpus_too_small_for_batch(capsys, files, tmp_path):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("a b\n", encoding="utf-8")
    code, _, err = run(capsys, *train_args(files, train=tiny), "--batch", 20)
    one_line_error(err, code, 1, "too few for --batch 20")


def test_existing_model_dir_is_not_touched(capsys, files):
    files["out"].mkdir()
    (files["out"] / "notes.txt").write_text("mine")
    code, _, err = run(capsys, *train_args(files))
    one_line_error(err, code, 1, "exists and is not empty", "--force")
    assert os.listdir(files["out"]) == ["notes.txt"]


def test_model_dir_errors(capsys, files, trained_model):
    for cmd in (["eval", files["missing"], files["valid"]], ["predict", files["missing"], "the"],
                ["generate", files["missing"]], ["score", files["missing"], files["valid"]]):
        code, _, err = run(capsys, *cmd)
        one_line_error(err, code, 1, "no such model directory")
    code, _, err = run(capsys, "eval", files["train"].parent, files["valid"])
    one_line_error(err, code, 1, "config.json missing")


def test_eval_and_score_input_errors(capsys, files, trained_model):
    model = trained_model[0]
    code, _, err = run(capsys, "eval", model, files["missing"])
    one_line_error(err, code, 1, "no such file")
    code, _, err = run(capsys, "eval", model, files["empty"])
    one_line_error(err, code, 1, "no text")
    code, _, err = run(capsys, "eval", model, files["bad"])
    one_line_error(err, code, 1, "line 3: invalid UTF-8")
    code, _, err = run(capsys, "score", model, files["bad"])
    one_line_error(err, code, 1, "line 3: invalid UTF-8")


def test_predict_and_generate_errors(capsys, trained_model):
    model = trained_model[0]
    code, _, err = run(capsys, "predict", model, "zebra xylophone")
    one_line_error(err, code, 1, "every token of the prefix is unknown", "zebra xylophone")
    code, _, err = run(capsys, "predict", model, "the", "--top", 0)
    one_line_error(err, code, 2, "--top must be a positive integer")
    code, _, err = run(capsys, "generate", model, "--temperature", -1)
    one_line_error(err, code, 2, "--temperature")
    code, _, err = run(capsys, "generate", model, "--max-tokens", 0)
    one_line_error(err, code, 2, "--max-tokens")
    code, _, err = run(capsys, "generate", model, "--top-k", 0)
    one_line_error(err, code, 2, "--top-k")
    code, _, err = run(capsys, "generate", model, "--prefix", "zebra")
    one_line_error(err, code, 1, "every token of the prefix is unknown")
    # a prefix with some known words works, and names the unknown ones
    code, out, _ = run(capsys, "predict", model, "the zebra")
    assert code == 0 and "zebra" in out


def test_nbest_errors(capsys, tmp_path, trained_model):
    model = trained_model[0]
    cases = [("u1 the cat\n", "line 1: expected 'utt_id<TAB>text[<TAB>score]'"),
             ("u1\tthe cat\tloud\n", "line 1: the score 'loud' is not a number"),
             ("u1\tthe cat\t-1\nu1\ta cat\n", "line 2: some candidates have a score and some do not"),
             ("\tthe cat\n", "line 1: empty utterance id"),
             ("# only a comment\n", "no candidates")]
    for text, frag in cases:
        f = tmp_path / "nb.tsv"
        f.write_text(text, encoding="utf-8")
        code, _, err = run(capsys, "score", model, f, "--nbest")
        one_line_error(err, code, 1, frag)
    code, _, err = run(capsys, "score", model, f, "--best")
    one_line_error(err, code, 2, "apply to --nbest only")


def test_train_resume_errors(capsys, files):
    code, _, err = run(capsys, *train_args(files), "--resume")
    one_line_error(err, code, 1, "no checkpoint to resume")
