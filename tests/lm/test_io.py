"""Model files: round trip, atomic writes, and a clear error for every kind of broken directory."""

import json
import os

import numpy as np
import pytest

from rnnkit.errors import RnnkitError
from rnnkit.lm import io
from rnnkit.lm.api import LanguageModel


def test_save_load_round_trip_gives_identical_predictions(trained_model, tmp_path):
    model_dir, _, valid = trained_model
    lm = LanguageModel.load(str(model_dir))
    copy = tmp_path / "copy"
    lm.save(str(copy))
    again = LanguageModel.load(str(copy))
    for k, v in lm.model.params.items():
        np.testing.assert_array_equal(again.model.params[k], v)
        assert again.model.params[k].dtype == np.float32
    assert again.vocab.tokens == lm.vocab.tokens and again.vocab.counts == lm.vocab.counts
    assert again.predict("the big", 3) == lm.predict("the big", 3)
    assert again.evaluate(str(valid)) == lm.evaluate(str(valid))
    assert sorted(os.listdir(copy)) == ["config.json", "vocab.json", "weights.safetensors"]


def test_config_records_what_the_issue_asks(trained_model):
    cfg = json.loads((trained_model[0] / "config.json").read_text())
    assert cfg["format"] == "rnnkit-lm" and cfg["rnnkit_version"]
    assert cfg["tokenizer"] == "word" and cfg["vocab_file"] == "vocab.json"
    assert cfg["model"]["hidden"] == 16 and cfg["training"]["bptt"] == 6
    assert set(cfg["files"]) == {"weights.safetensors", "vocab.json"}


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "f.bin"
    io.atomic_write(str(p), b"old")
    io.atomic_write(str(p), b"new contents")
    assert p.read_bytes() == b"new contents"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "f.bin"
    io.atomic_write(str(p), b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        io.atomic_write(str(p), b"new")
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_save_refuses_a_non_empty_directory(trained_model, tmp_path):
    lm = LanguageModel.load(str(trained_model[0]))
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(RnnkitError, match="option 'force'"):
        lm.save(str(target))
    assert os.listdir(target) == ["keep.txt"]
    lm.save(str(target), force=True)
    assert (target / "keep.txt").read_text() == "mine"


@pytest.fixture
def model_copy(trained_model, tmp_path):
    d = tmp_path / "broken"
    LanguageModel.load(str(trained_model[0])).save(str(d))
    return d


def test_missing_directory_and_files(model_copy, tmp_path):
    with pytest.raises(RnnkitError, match="no such model directory"):
        LanguageModel.load(str(tmp_path / "nowhere"))
    (model_copy / "weights.safetensors").unlink()
    with pytest.raises(RnnkitError, match="weights.safetensors: missing"):
        LanguageModel.load(str(model_copy))
    (model_copy / "config.json").unlink()
    with pytest.raises(RnnkitError, match="config.json missing"):
        LanguageModel.load(str(model_copy))
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(RnnkitError, match="not a model directory"):
        LanguageModel.load(str(f))


def test_truncated_weights(model_copy):
    w = model_copy / "weights.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    with pytest.raises(RnnkitError, match="does not match config.json"):
        LanguageModel.load(str(model_copy))
    # without the recorded hash: refused, unless asked for; then the safetensors reader catches it
    cfg = json.loads((model_copy / "config.json").read_text())
    del cfg["files"]
    (model_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RnnkitError, match="names no SHA-256"):
        LanguageModel.load(str(model_copy))
    with pytest.raises(RnnkitError, match="not a readable safetensors file"):
        LanguageModel.load(str(model_copy), verify=False)


def test_truncated_config(model_copy):
    c = model_copy / "config.json"
    c.write_bytes(c.read_bytes()[:50])
    with pytest.raises(RnnkitError, match="not valid JSON"):
        LanguageModel.load(str(model_copy))


def test_foreign_files(model_copy):
    (model_copy / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    with pytest.raises(RnnkitError, match="not an rnnkit language model"):
        LanguageModel.load(str(model_copy))
    (model_copy / "config.json").write_text("[1, 2]")
    with pytest.raises(RnnkitError, match="not an rnnkit language model"):
        LanguageModel.load(str(model_copy))


def test_arrays_that_do_not_fit(model_copy):
    cfg = json.loads((model_copy / "config.json").read_text())
    del cfg["files"]
    cfg["model"]["hidden"] = 17
    (model_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RnnkitError, match="has shape"):
        LanguageModel.load(str(model_copy), verify=False)


def test_check_arrays_messages():
    want = {"a": np.zeros(2, np.float32), "b": np.zeros((2, 2), np.float32)}
    with pytest.raises(RnnkitError, match="missing b"):
        io.check_arrays("f", want, {"a": want["a"]})
    with pytest.raises(RnnkitError, match="unexpected c"):
        io.check_arrays("f", want, {**want, "c": want["a"]})
    with pytest.raises(RnnkitError, match="dtype float64"):
        io.check_arrays("f", want, {**want, "a": np.zeros(2)})
