"""Count pruning (``rnnkit ngram train --prune``), as lmplz's ``--prune``: the
hand-worked bigram case, distributions that still sum to 1, kept n-grams that
keep their contexts, KenLM reading the pruned file, and the option's checks."""

import json

import numpy as np
import pytest
from ngram_helpers import HAND_CORPUS, SMALL_CORPUS, cli_result, sentences, write_text

from rnnkit import ngram
from rnnkit.errors import OptionError

CORPUS = SMALL_CORPUS + ["the dog saw a cat on a log", "a log and a mat", "the cat sat on the log"]


def test_hand_worked_bigram_pruning():
    # Bigram counts (ngram_helpers): <s> b 4, b </s> 3, <s> a 2, a </s> 2 and four singletons.
    # Discounts come from every bigram (n1..n4 = 4, 2, 1, 1): Y = 1/2, D1 = 1/2, D2 = 5/4, D3+ = 1.
    full = ngram.estimate(sentences(HAND_CORPUS), 2)
    pruned = ngram.estimate(sentences(HAND_CORPUS), 2, prune=[0, 1])
    assert pruned.counts() == [full.counts()[0], 4] and pruned.estimation["prune"] == [0, 1]
    assert pruned.estimation["orders"][1]["discounts"] == full.estimation["orders"][1]["discounts"]
    assert pruned.training_summary().pruned == [0, 4]
    p_end = 10 ** full.tables[0].logprob[full.word_index["</s>"]]
    # After "b": b </s> (3) is kept; b b and b c (1 each) are pruned and free their whole count.
    gamma_full = (1.0 + 0.5 + 0.5) / 5
    gamma_pruned = (1.0 + 1 + 1) / 5
    assert 10 ** full.log10prob(["b"], "</s>") == pytest.approx((3 - 1.0) / 5 + gamma_full * p_end)
    assert 10 ** pruned.log10prob(["b"], "</s>") == pytest.approx((3 - 1.0) / 5 + gamma_pruned * p_end)
    p_c = 10 ** full.tables[0].logprob[full.word_index["c"]]
    assert 10 ** pruned.log10prob(["b"], "c") == pytest.approx(gamma_pruned * p_c)  # backed off


@pytest.mark.parametrize("prune", [[0, 1], [0, 1, 1], [0, 0, 1], [0, 1, 2, 2], [0, 2]])
def test_pruned_distributions_sum_to_one_and_keep_their_contexts(prune):
    model = ngram.estimate(sentences(CORPUS), 4, open_vocabulary=True, prune=prune)
    full = ngram.estimate(sentences(CORPUS), 4, open_vocabulary=True)
    assert sum(model.counts()) < sum(full.counts())
    assert model.counts()[0] == full.counts()[0]
    for k in range(2, model.order + 1):
        ids = model.ngram_ids(k)  # raises if a kept n-gram lost its prefix
        for row in ids[:50]:
            context = [model.vocab[i] for i in row[1:]]  # its suffix is listed too
            assert np.isfinite(model.next_log10probs(context)).sum() == len(model.vocab) - 1
        contexts = [[model.vocab[i] for i in row] for row in model.ngram_ids(k - 1)[:40]]
        for context in contexts:
            p = 10 ** model.next_log10probs(context)
            assert p.sum() == pytest.approx(1.0, abs=1e-9)


def test_kenlm_reads_pruned_files_and_agrees(tmp_path):
    kenlm = pytest.importorskip("kenlm", reason="kenlm is not installed (pip install kenlm; it builds from source)")
    model = ngram.estimate(sentences(CORPUS), 3, open_vocabulary=True, prune=[0, 1, 1])
    path = str(tmp_path / "p.arpa")
    model.write_arpa(path)
    theirs = kenlm.Model(path)
    probes = CORPUS + ["the zebra saw a dog", "log log mat"]
    ours = [float(s.sum()) for s in ngram.NgramModel.load(path).token_log10probs(sentences(probes))]
    np.testing.assert_allclose(ours, [theirs.score(p, bos=True, eos=True) for p in probes], atol=1e-4)


@pytest.mark.parametrize(
    "prune, words",
    [
        ([1, 1], "unigrams cannot be pruned"),
        ([0, 2, 1], "may not decrease"),
        ([0, 1, 1, 1], "4 thresholds for a model of order 3"),
        ([0, -1], "whole numbers of at least 0"),
    ],
)
def test_bad_thresholds_are_refused(prune, words):
    with pytest.raises(OptionError, match=words) as exc:
        ngram.estimate(sentences(CORPUS), 3, prune=prune)
    assert exc.value.option == "prune"


def test_cli_prune(tmp_path, capsys):
    corpus = write_text(tmp_path / "c.txt", CORPUS)
    out = str(tmp_path / "p.arpa")
    code, stdout, _ = cli_result(capsys, "ngram", "train", corpus, "-o", "3", "--out", out, "--prune", "0", "1", "--json")
    summary = json.loads(stdout)
    full = ngram.estimate(sentences(CORPUS), 3)
    assert code == 0 and summary["prune"] == [0, 1, 1]  # the last threshold holds for the trigrams
    assert summary["ngrams"] == ngram.NgramModel.load(out).counts() and summary["ngrams"][2] < full.counts()[2]
    code, _, stderr = cli_result(capsys, "ngram", "train", corpus, "-o", "3", "--out", out, "--force", "--prune", "1")
    assert code == 2 and stderr.count("\n") == 1 and "--prune: unigrams cannot be pruned" in stderr
    code, stdout, _ = cli_result(capsys, "ngram", "train", corpus, "-o", "3", "--out", out, "--force")
    assert code == 0 and "pruned" not in stdout
