"""Small corpora and models for the language-model tests; nothing here needs the network."""

import pytest

from lm_helpers import TINY, ZH_LINES, make_corpus


@pytest.fixture
def corpus(tmp_path):
    """(train path, valid path) of the toy corpus."""
    return make_corpus(tmp_path / "train.txt", 300, seed=1), make_corpus(tmp_path / "valid.txt", 40, seed=2)


@pytest.fixture
def zh_corpus(tmp_path):
    train = tmp_path / "zh_train.txt"
    train.write_text("\n".join(ZH_LINES * 6) + "\n", encoding="utf-8")
    valid = tmp_path / "zh_valid.txt"
    valid.write_text("\n".join(ZH_LINES[:2]) + "\n", encoding="utf-8")
    return train, valid


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    """A model directory trained once on the toy corpus, shared by read-only tests."""
    from rnnkit.lm.train import train

    d = tmp_path_factory.mktemp("model")
    tr, va = make_corpus(d / "train.txt", 300, seed=1), make_corpus(d / "valid.txt", 40, seed=2)
    out = d / "m"
    train(str(tr), str(va), str(out), dict(TINY, epochs=4), quiet=True, log=lambda *_: None)
    return out, tr, va
