"""The paths config.json records still name the files when read from another directory."""

import json
import os

from rnnkit.lm import io
from rnnkit.lm.train import train

from lm_helpers import TINY


def test_config_paths_work_from_another_directory(corpus, tmp_path, monkeypatch):
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
    monkeypatch.chdir(tmp_path)
    training = json.loads((work / "m" / "config.json").read_text())["training"]
    for key, name in (("corpus", "train.txt"), ("valid", "valid.txt"), ("vocab", "words.txt")):
        assert os.path.isabs(training[key]) and os.path.samefile(training[key], work / "data" / name)
        assert io.stored_path(str(work / "m"), training[key]) == training[key]


def test_relative_paths_of_older_model_dirs_are_found(tmp_path, monkeypatch):
    (tmp_path / "project" / "data").mkdir(parents=True)
    (tmp_path / "project" / "m").mkdir()
    (tmp_path / "project" / "data" / "valid.txt").write_text("x\n")
    monkeypatch.chdir(tmp_path)  # not where it trained
    found = io.stored_path("project/m", "data/valid.txt")
    assert found and os.path.samefile(found, tmp_path / "project" / "data" / "valid.txt")
    assert io.stored_path("project/m", "data/missing.txt") is None
    assert io.stored_path("project/m", str(tmp_path / "nowhere.txt")) is None
