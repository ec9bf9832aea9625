"""Silent wrong answers (issue: lines broken at U+2028, NaN weights that load, divergence that ends "done")."""

import json
import math
import os

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.errors import RnnkitError
from rnnkit.lm import io
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.tokenize import read_lines, split_lines

from robust_helpers import TINY, quiet

ODD_BREAKS = ["\u2028", "\u2029", "\u0085", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\r"]


def test_split_lines_ends_lines_at_newline_and_crlf_only():
    for odd in ODD_BREAKS:
        assert split_lines(f"a{odd}b\nc\r\nd") == [f"a{odd}b", "c", "d"], repr(odd)
    assert split_lines("") == [] and split_lines("\n") == [""] and split_lines("x\n\ny") == ["x", "", "y"]


def test_text_files_keep_odd_line_breaks_inside_their_line(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("one\u2028two\x0cthree\u0085four\r\nfive\n".encode("utf-8"))
    assert read_lines(str(path)) == ["one\u2028two\x0cthree\u0085four", "five"]


def test_nbest_candidate_with_u2028_stays_one_candidate(tiny_model, tmp_path, capsys):
    nbest = tmp_path / "nbest.txt"
    # str.splitlines() made "u2<TAB>-2.0" a candidate of an invented utterance u2
    nbest.write_text("u1\tthe cat\u2028u2\t-2.0\nu1\tthe dog sat\t-1.0\n", encoding="utf-8")
    assert main(["score", str(tiny_model), str(nbest), "--nbest", "--json"]) == 0
    utts = [json.loads(line) for line in capsys.readouterr().out.split("\n") if line]
    # one utterance, u1, with two candidates; no invented utterance "u2"
    assert [u["utt"] for u in utts] == ["u1"]
    assert len(utts[0]["candidates"]) == 2


def test_score_file_and_api_string_split_at_newline_only(tiny_model, tmp_path, capsys):
    text = "the cat sat\u2028on the mat\x0cthe dog\nthe rug\n"
    path = tmp_path / "in.txt"
    path.write_text(text, encoding="utf-8")
    assert main(["score", str(tiny_model), str(path), "--json"]) == 0
    assert len(capsys.readouterr().out.strip("\n").split("\n")) == 2
    lm = LanguageModel.load(str(tiny_model))
    assert len(lm.score(text)) == 2


def test_word_list_with_form_feed_is_one_line(tmp_path):
    from rnnkit.lm.data import read_word_list

    path = tmp_path / "words.txt"
    path.write_text("cat\ndog\x0cmat\n", encoding="utf-8")
    with pytest.raises(RnnkitError, match="line 2: expected one token per line"):
        read_word_list(str(path))


def test_ngram_text_splits_at_newline_only(tmp_path):
    from rnnkit.ngram import read_sentences

    path = tmp_path / "t.txt"
    path.write_text("a b\u2028c\nd\n", encoding="utf-8")
    assert len(read_sentences(str(path))) == 2


def _rewrite_weights(model_dir, change):
    """Change an array and rehash it in config.json, as a writer of bad weights would."""
    arrays, _ = io.read_tensors(str(model_dir / io.WEIGHTS))
    arrays = {k: v.copy() for k, v in arrays.items()}
    change(arrays)
    data = io.tensors_bytes(arrays)
    (model_dir / io.WEIGHTS).write_bytes(data)
    config = json.loads((model_dir / io.CONFIG).read_text())
    config["files"][io.WEIGHTS] = io.sha256(data)
    (model_dir / io.CONFIG).write_text(json.dumps(config))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_refused_at_load_naming_the_array(model_copy, bad):
    def poison(arrays):
        name = sorted(k for k, v in arrays.items() if v.dtype.kind == "f")[0]
        arrays[name].flat[3] = bad
        poison.name = name

    _rewrite_weights(model_copy, poison)
    with pytest.raises(RnnkitError) as info:
        LanguageModel.load(str(model_copy))
    msg = str(info.value)
    assert poison.name in msg and ("NaN" in msg or "Inf" in msg) and "\n" not in msg


def test_non_finite_checkpoint_refused(tiny_model, tmp_path):
    from rnnkit.lm.train.state import Checkpoint

    arrays, meta = io.read_tensors(str(tiny_model / io.CHECKPOINT))
    arrays = {k: v.copy() for k, v in arrays.items()}
    name = next(k for k in sorted(arrays) if k.startswith("model/"))
    arrays[name].flat[0] = np.nan
    bad = tmp_path / "ck.safetensors"
    bad.write_bytes(io.tensors_bytes(arrays, meta))
    with pytest.raises(RnnkitError, match="SHA-256"):  # the manifest catches it first
        Checkpoint(str(bad))
    from rnnkit.lm.train.state import manifest

    bad.write_bytes(io.tensors_bytes(arrays, dict(meta, sha256=manifest(meta["rnnkit"], arrays))))
    with pytest.raises(RnnkitError, match=name):
        Checkpoint(str(bad))


def test_lr_100_without_clipping_recovers_by_halving(corpus, tmp_path):
    from rnnkit.lm.train import train

    logs = []
    result = train(str(corpus[0]), str(corpus[1]), str(tmp_path / "m"), dict(TINY, lr=100.0, clip=0.0),
                   quiet=True, log=logs.append)
    assert any(line.startswith("diverged:") and "lr halved to 50" in line for line in logs)
    # the model kept is a sane one: better than knowing nothing (uniform over the vocabulary)
    lm = LanguageModel.load(str(tmp_path / "m"))
    assert result.status == "epochs" and result.best_valid_ppl < len(lm.vocab)
    metrics = [json.loads(line) for line in (tmp_path / "m" / io.METRICS).read_text().splitlines()]
    assert all(row["lr"] < 100 for row in metrics)


def test_lr_1000_without_clipping_stops_with_one_line(corpus, tmp_path):
    from rnnkit.lm.train import train

    result = train(str(corpus[0]), str(corpus[1]), str(tmp_path / "m"), dict(TINY, lr=1000.0, clip=0.0),
                   quiet=True, log=quiet)
    assert result.status == "diverged" and result.exit_code == 1
    assert "\n" not in result.message and "diverged" in result.message and "--lr" in result.cli_message()


def test_divergence_after_a_good_epoch_rolls_back_to_it(corpus, tmp_path, monkeypatch):
    from rnnkit.lm.train import trainer

    calls = []
    real = trainer.Trainer._validate

    def validate(self):
        calls.append(1)
        return math.inf if len(calls) == 2 else real(self)  # the second epoch "blows up"

    monkeypatch.setattr(trainer.Trainer, "_validate", validate)
    logs = []
    result = trainer.train(str(corpus[0]), str(corpus[1]), str(tmp_path / "m"), dict(TINY, epochs=2), quiet=True,
                           log=logs.append)
    assert result.status == "epochs" and len(calls) == 3
    assert any("lr halved to 0.5" in line for line in logs)
    metrics = [json.loads(line) for line in (tmp_path / "m" / io.METRICS).read_text().splitlines()]
    assert [row["lr"] for row in metrics] == [1.0, 0.5]


def test_gradflow_reads_only_what_the_user_names(model_copy, tmp_path, capsys):
    """A path in config.json is resolved against the model directory and read only inside it."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the cat sat on the mat\n" * 50)

    def names(value):
        config = json.loads((model_copy / io.CONFIG).read_text())
        config["training"]["valid"] = value
        (model_copy / io.CONFIG).write_text(json.dumps(config))

    args = ["gradflow", "--model", str(model_copy), "--steps", "5", "--batch", "2", "--warmup", "2", "--json"]
    (model_copy / "link.txt").symlink_to(secret)
    for outside in (str(secret), "../secret.txt", os.path.relpath(secret), "link.txt"):
        names(outside)
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "outside the model directory" in err and "--text FILE" in err and err.count("\n") == 1
    assert main(args + ["--text", str(secret)]) == 0  # named by the user: read
    assert json.loads(capsys.readouterr().out)["curves"][0]["text"] == str(secret)
    (model_copy / "valid.txt").write_text(secret.read_text())
    names("valid.txt")  # inside: resolved against the model directory, not the current one
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["curves"][0]["text"] == str(model_copy / "valid.txt")
