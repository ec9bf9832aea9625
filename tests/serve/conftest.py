"""Small models for the server's tests, trained once per session on the demo corpora that ship with rnnkit."""

from importlib import resources

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install 'rnnkit[serve]'")
pytest.importorskip("httpx", reason="httpx is not installed (pip install 'rnnkit[test]')")

SMALL = dict(hidden=32, embed=16, batch=8, bptt=20, epochs=3, optimizer="adam", lr=0.01, seed=3)


def _split(tmp, name):
    lines = (resources.files("rnnkit") / "data" / name).read_text(encoding="utf-8").splitlines()
    train, valid = tmp / f"{name}.train", tmp / f"{name}.valid"
    train.write_text("\n".join(lines[:180]) + "\n", encoding="utf-8")
    valid.write_text("\n".join(lines[180:]) + "\n", encoding="utf-8")
    return str(train), str(valid)


@pytest.fixture
def anyio_backend():
    return "asyncio"  # the event loop uvicorn runs the server on


@pytest.fixture(scope="session")
def served_models(tmp_path_factory):
    """Paths of: zh (char language model), en (word language model), zh-cloze (char cloze model), zh3.arpa."""
    from rnnkit import LanguageModel
    from rnnkit.cli import main

    tmp = tmp_path_factory.mktemp("served")
    zh_train, zh_valid = _split(tmp, "demo_zh.txt")
    en_train, en_valid = _split(tmp, "demo_en.txt")
    paths = {"zh": tmp / "zh", "en": tmp / "en", "zh-cloze": tmp / "zh-cloze", "zh3.arpa": tmp / "zh3.arpa"}
    quiet = dict(quiet=True, log=lambda *_: None)
    LanguageModel.train(zh_train, zh_valid, str(paths["zh"]), tokenizer="char", **SMALL, **quiet)
    LanguageModel.train(en_train, en_valid, str(paths["en"]), tokenizer="word", **SMALL, **quiet)
    LanguageModel.train(zh_train, zh_valid, str(paths["zh-cloze"]), tokenizer="char", task="cloze", **SMALL, **quiet)
    assert main(["ngram", "train", zh_train, "--order", "3", "--tokenizer", "char", "--unk",
                 "--out", str(paths["zh3.arpa"])]) == 0
    return {name: str(p) for name, p in paths.items()}


@pytest.fixture(scope="session")
def engine(served_models):
    from rnnkit.serve.engine import Engine

    m = served_models
    return Engine.load([m["zh"], m["en"], m["zh-cloze"]], m["zh3.arpa"])


@pytest.fixture
def make_client(engine):
    """make_client(limits=None, cors_origins=()) -> a TestClient (httpx) on a fresh app, closed after the test."""
    from fastapi.testclient import TestClient

    from rnnkit.serve.app import create_app

    clients = []

    def make(limits=None, cors_origins=(), raise_server_exceptions=True):
        client = TestClient(create_app(engine, limits, cors_origins), raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()
