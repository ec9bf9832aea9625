"""Fixtures for every test: a seeded generator; small corpora and models for the language-model and command tests."""

import os

import numpy
import pytest

# The recurrent loops' BLAS threads are chosen by timing (rnnkit.parallel.step_threads),
# and OpenBLAS's results differ in the last bits between one thread and two: the
# tests that compare two runs number for number need the count fixed (README, --seed).
# tests/test_parallel.py sets "auto" itself where it tests the choice.
os.environ.setdefault("RNNKIT_STEP_THREADS", "1")

from lm_helpers import TINY, ZH_LINES, make_corpus


@pytest.fixture
def rng():
    return numpy.random.default_rng(1234)


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


@pytest.fixture(scope="session")
def cloze_model(tmp_path_factory):
    """(cloze model dir, left-to-right model dir, train path, valid path), trained once on the toy corpus."""
    from rnnkit.lm.train import train

    d = tmp_path_factory.mktemp("cloze")
    tr, va = make_corpus(d / "train.txt", 300, seed=1), make_corpus(d / "valid.txt", 40, seed=2)
    out = d / "m"
    train(str(tr), str(va), str(out), dict(TINY, task="cloze", epochs=4, bptt=None), quiet=True, log=lambda *_: None)
    lm_out = d / "lm"
    train(str(tr), str(va), str(lm_out), dict(TINY, epochs=4), quiet=True, log=lambda *_: None)
    return out, lm_out, tr, va


MIX_TEXT = ["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog", "the dog saw the cat on a mat"] * 6


@pytest.fixture(scope="session")
def mix_models(tmp_path_factory):
    """A directory with an RNN (rnn/) and a KN 3-gram (kn3.arpa) trained on the same small text, and valid.txt."""
    from rnnkit.cli import main

    d = tmp_path_factory.mktemp("mix")
    (d / "train.txt").write_text("\n".join(MIX_TEXT) + "\n")
    (d / "valid.txt").write_text("the cat sat on a log\na dog saw the mat\n")
    assert main(["train", str(d / "train.txt"), "--valid", str(d / "valid.txt"), "--out", str(d / "rnn"),
                 "--hidden", "16", "--epochs", "3", "--batch", "2", "--bptt", "5", "--quiet"]) == 0
    assert main(["ngram", "train", str(d / "train.txt"), "--order", "3", "--out", str(d / "kn3.arpa")]) == 0
    return d
