"""Scoring many sentences at once: the output layer once per distinct prefix, never on padding, same numbers."""

import numpy as np
import pytest

from rnnkit.lm import score as score_module
from rnnkit.lm.model import RNNLM
from rnnkit.lm.score import sentence_log_probs, shared_prefixes
from rnnkit.lm.vocab import Vocab

V = 13


def _vocab():
    return Vocab(["<unk>", "<eos>"] + [f"w{i}" for i in range(V - 2)], [0] * V)


def _model(softmax="full", cell="gru"):
    word_class = np.arange(V, dtype=np.int64) % 4 if softmax == "class" else None
    m = RNNLM(V, embed=6, hidden=8, cell=cell, softmax=softmax, classes=4 if softmax == "class" else None,
              word_class=word_class, seed=2, dtype=np.float64)
    m.eval()
    return m


def _one_by_one(model, vocab, id_lists):
    """The oracle: each sentence alone, every step's full distribution (log_probs), its targets picked."""
    out = []
    for ids in id_lists:
        x = np.concatenate([[vocab.eos_id], ids]).astype(np.int32)
        y = np.concatenate([ids, [vocab.eos_id]]).astype(np.int32)
        logp = model.log_probs(x[:, None])[:, 0]
        out.append(logp[np.arange(len(y)), y])
    return out


def _sentences(rng, vocab):
    base = [rng.integers(2, V, n).astype(np.int32) for n in (5, 9, 3, 12)]
    s = [base[0], base[0][:3], base[0].copy(), base[1], np.concatenate([base[1][:4], base[2]]),
         np.array([], np.int32), base[3], base[3][:11], np.concatenate([base[3][:6], [2, 3]]), base[2],
         np.array([], np.int32), base[1][:1], base[0].copy()]
    s += [rng.integers(2, V, rng.integers(0, 15)).astype(np.int32) for _ in range(30)]
    return [a.astype(np.int32) for a in s]


@pytest.mark.parametrize("softmax,cell", [("full", "gru"), ("full", "rnn"), ("class", "lstm")])
def test_shared_and_unpadded_scores_equal_each_sentence_alone(rng, softmax, cell, monkeypatch):
    vocab, model = _vocab(), _model(softmax, cell)
    sentences = _sentences(rng, vocab)
    monkeypatch.setattr(score_module, "SCORE_ROWS", 40)  # several chunks, the state carried between them
    got = sentence_log_probs(model, vocab, sentences, batch=7)
    want = _one_by_one(model, vocab, sentences)
    assert [len(g) for g in got] == [len(s) + 1 for s in sentences]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_the_output_layer_runs_once_per_distinct_prefix(rng, monkeypatch):
    vocab, model = _vocab(), _model()
    sentences = _sentences(rng, vocab)
    prefixes = {tuple(s[:t].tolist()) for s in sentences for t in range(len(s) + 1)}
    rows = []
    original = model.output.token_log_probs

    def counting(h, targets, extra=None):
        rows.append((h.shape[0], 0 if extra is None else len(extra[0])))
        return original(h, targets, extra)

    monkeypatch.setattr(model.output, "token_log_probs", counting)
    sentence_log_probs(model, vocab, sentences)
    positions = sum(len(s) + 1 for s in sentences)
    assert sum(r for r, _ in rows) == len(prefixes) < positions
    # the rest are read from rows computed anyway: a fork for each sentence that parts from its neighbour
    assert sum(e for _, e in rows) == len({s.tobytes() for s in sentences}) - 1


def test_shared_prefixes_plan():
    s = [np.array(a, np.int32) for a in ([3, 4, 5], [3, 4], [3, 4, 5], [6], [3, 7, 8])]
    own, forks, copies = shared_prefixes(s)
    # sorted by bytes: [3 4] < [3 4 5] (= its copy) < [3 7 8] < [6]
    assert own == [3, 0, 4, 1, 2]
    assert sorted(forks) == [(0, 1, 2), (3, 1, 0), (4, 1, 1)]
    assert (2, 0, 4) in copies and (0, 1, 2) in copies
