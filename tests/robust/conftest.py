import shutil

import pytest

from robust_helpers import TINY, quiet, write_corpus


@pytest.fixture
def corpus(tmp_path):
    """(train path, valid path) of the toy corpus."""
    return write_corpus(tmp_path / "train.txt", 300, seed=1), write_corpus(tmp_path / "valid.txt", 40, seed=2)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A model directory trained once, never modified (copy it with ``model_copy`` to tamper)."""
    from rnnkit.lm.train import train

    d = tmp_path_factory.mktemp("robust_model")
    tr, va = write_corpus(d / "train.txt", 300, seed=1), write_corpus(d / "valid.txt", 40, seed=2)
    train(str(tr), str(va), str(d / "m"), dict(TINY, epochs=2), quiet=True, log=quiet)
    return d / "m"


@pytest.fixture
def model_copy(tiny_model, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(tiny_model, dst)
    return dst
