"""The article's game: the next token's distribution after a prefix, with the output layer run at the last step only."""

import numpy as np
import pytest

import rnnkit
from rnnkit.lm.model import RNNLM
from rnnkit.lm.predict import next_log_probs


@pytest.mark.parametrize("softmax", ["full", "class"])
def test_last_log_probs_is_the_last_row_of_log_probs(rng, softmax):
    word_class = np.arange(12, dtype=np.int64) % 3 if softmax == "class" else None
    m = RNNLM(12, embed=5, hidden=7, cell="gru", softmax=softmax, classes=3 if word_class is not None else None,
              word_class=word_class, seed=1, dtype=np.float64)
    m.eval()
    ids = rng.integers(0, 12, (6, 2)).astype(np.int32)
    every = m.log_probs(ids)
    state_after_all = m.final_state
    last = m.last_log_probs(ids)
    assert last.shape == (2, 12)
    np.testing.assert_allclose(last, every[-1], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(m.final_state, state_after_all)  # generation goes on from here


def test_predict_runs_the_output_layer_once(trained_model, monkeypatch):
    """A prefix of n tokens asks the output layer for one row, not n + 1, and the answer is unchanged."""
    lm = rnnkit.LanguageModel.load(str(trained_model[0]))
    prefix = "the cat sat on the"
    tokens, _ = lm.predict(prefix, top=3).tokens, None
    ids = np.array(lm.vocab.encode(tokens), dtype=np.int32)
    context = np.concatenate([[lm.vocab.eos_id], ids]).astype(np.int32)
    expected = lm.model.log_probs(context[:, None])[-1, 0]  # every step's distribution, the last one kept

    rows = []
    original = lm.model.output.log_probs

    def counting(h):
        rows.append(h.shape[0])
        return original(h)

    monkeypatch.setattr(lm.model.output, "log_probs", counting)
    got = next_log_probs(lm.model, lm.vocab, ids)
    prediction = lm.predict(prefix, top=3)
    assert rows == [1, 1] and len(tokens) == 5
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    best = np.argsort(-expected)[:3]
    assert [t for t, _ in prediction] == [lm.vocab.tokens[i] for i in best]
    assert [p for _, p in prediction] == pytest.approx(np.exp(expected[best]), rel=1e-5)
