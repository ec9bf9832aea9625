"""Small corpora and models for the language-model tests; nothing here needs the network."""

import random

import pytest

WORDS = "the a cat dog sat ran on under mat rug big small red blue quickly slowly".split()


def make_corpus(path, lines=200, seed=0):
    """A toy English text with some structure (determiner, adjective?, noun, verb ...)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(lines):
        det = rnd.choice(["the", "a"])
        noun = rnd.choice(["cat", "dog"])
        adj = rnd.choice(["big", "small", "red", "blue", ""])
        verb = rnd.choice(["sat", "ran"])
        prep = rnd.choice(["on", "under"])
        obj = rnd.choice(["mat", "rug"])
        out.append(" ".join(w for w in [det, adj, noun, verb, prep, "the", obj] if w))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path):
    """(train path, valid path) of the toy corpus."""
    return make_corpus(tmp_path / "train.txt", 300, seed=1), make_corpus(tmp_path / "valid.txt", 40, seed=2)


ZH_LINES = [
    "我昨天上学迟到了，老师批评了我。",
    "他昨天上学迟到了，老师批评了他。",
    "她今天来得很早，老师表扬了她。",
    "我的手机坏了，我打算买一部新手机。",
    "我每天骑自行车去上学。",
]


@pytest.fixture
def zh_corpus(tmp_path):
    train = tmp_path / "zh_train.txt"
    train.write_text("\n".join(ZH_LINES * 6) + "\n", encoding="utf-8")
    valid = tmp_path / "zh_valid.txt"
    valid.write_text("\n".join(ZH_LINES[:2]) + "\n", encoding="utf-8")
    return train, valid


# Small and fast: a few seconds for every training run in these tests.
TINY = dict(hidden=16, embed=8, batch=4, bptt=6, epochs=3, optimizer="sgd", lr=1.0, seed=3)


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    """A model directory trained once on the toy corpus, shared by read-only tests."""
    from rnnkit.lm.train import train

    d = tmp_path_factory.mktemp("model")
    tr, va = make_corpus(d / "train.txt", 300, seed=1), make_corpus(d / "valid.txt", 40, seed=2)
    out = d / "m"
    train(str(tr), str(va), str(out), dict(TINY, epochs=4), quiet=True, log=lambda *_: None)
    return out, tr, va
