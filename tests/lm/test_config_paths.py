"""The one rule for paths config.json records: kept as given, resolved against the model
directory, used only inside it (io.stored_path); anything else the user names."""

import json
import os

import pytest

from rnnkit.errors import RnnkitError
from rnnkit.lm import io
from rnnkit.lm.train import train

from lm_helpers import TINY


def test_config_records_paths_as_given(corpus, tmp_path, monkeypatch):
    work = tmp_path / "project"
    (work / "data").mkdir(parents=True)
    for name, src in (("train.txt", corpus[0]), ("valid.txt", corpus[1])):
        (work / "data" / name).write_bytes(src.read_bytes())
    (work / "data" / "words.txt").write_text("the\ncat\ndog\n")
    monkeypatch.chdir(work)
    options = dict(TINY, epochs=1, vocab="data/words.txt")
    train("data/train.txt", "data/valid.txt", "m", options, quiet=True, log=None)
    # --resume with the same relative paths is still the same run
    train("data/train.txt", "data/valid.txt", "m", dict(options, epochs=2), resume=True, quiet=True, log=None)
    training = json.loads((work / "m" / "config.json").read_text())["training"]
    assert (training["corpus"], training["valid"], training["vocab"]) == ("data/train.txt", "data/valid.txt",
                                                                         "data/words.txt")
    # resolved against the model directory, not where training ran: m/data/valid.txt is not there
    with pytest.raises(RnnkitError, match="not there"):
        io.stored_path("m", training["valid"], "validation text", "text")


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "project" / "m"
    (d / "data").mkdir(parents=True)
    (d / "data" / "valid.txt").write_text("inside\n")
    (tmp_path / "project" / "data").mkdir()
    (tmp_path / "project" / "data" / "valid.txt").write_text("outside\n")
    return d


def _refused(model_dir, stored, match):
    with pytest.raises(RnnkitError, match=match) as info:
        io.stored_path(str(model_dir), stored, "validation text", "text")
    assert "\n" not in str(info.value) and info.value.cli_message().count("--text") == 1
    return info.value


def test_a_stored_path_inside_the_model_directory_is_used(model_dir, monkeypatch):
    monkeypatch.chdir(model_dir.parent)  # where a file of the same relative name lies, outside the model
    for stored in ("data/valid.txt", "./data/../data/valid.txt", str(model_dir / "data" / "valid.txt")):
        found = io.stored_path(str(model_dir), stored, "validation text", "text")
        assert open(found).read() == "inside\n"


def test_a_stored_path_outside_the_model_directory_is_refused(model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(model_dir.parent)
    outside = str(tmp_path / "project" / "data" / "valid.txt")
    for stored in ("../data/valid.txt", outside, os.path.relpath(outside, model_dir), "/etc/passwd", "..", "."):
        _refused(model_dir, stored, "outside the model directory")
    (model_dir / "link.txt").symlink_to(outside)  # a link inside that leads out
    _refused(model_dir, "link.txt", "outside the model directory")
    (model_dir / "out").symlink_to(tmp_path / "project" / "data", target_is_directory=True)
    _refused(model_dir, "out/valid.txt", "outside the model directory")


def test_a_stored_path_that_is_no_file_is_one_line(model_dir):
    _refused(model_dir, None, "names no validation text")
    for stored in ("", 3, ["data/valid.txt"], {"a": 1}, "a\0b"):
        _refused(model_dir, stored, "is no file name")
    _refused(model_dir, "data/missing.txt", "not there")
    _refused(model_dir, "data", "not there")  # a directory inside


def test_older_relative_paths_are_not_looked_for_elsewhere(model_dir, monkeypatch):
    """Older rnnkit recorded paths relative to where training ran; they are not searched for
    next to the model or in the current directory: the user names the file."""
    (model_dir / "data" / "valid.txt").unlink()
    for cwd in (model_dir.parent, model_dir.parent.parent):
        monkeypatch.chdir(cwd)
        _refused(model_dir, "data/valid.txt", "not there")
