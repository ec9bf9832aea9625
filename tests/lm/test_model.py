"""The language model as a whole: every parameter's gradient, the lookup, tying, state carrying."""

import numpy as np
import pytest

from rnnkit.lm.model import RNNLM, flatten_state, unflatten_state
from rnnkit.nn.class_softmax import frequency_classes
from rnnkit.nn import Dropout
from rnnkit.nn.gradcheck import check_gradients

V = 11


def _modules(m):
    yield m
    for child in m._children.values():
        yield from _modules(child)


def _freeze_dropout(m):
    # Gradient checks evaluate the same function many times: one mask, kept.
    for mod in _modules(m):
        if isinstance(mod, Dropout):
            mod.reuse_mask = True


def _data(rng, T=4, B=3):
    return rng.integers(0, V, (T, B)).astype(np.int32), rng.integers(0, V, (T, B)).astype(np.int32)


CASES = {
    "onehot-input": dict(embed=0, hidden=6),
    "embedding": dict(embed=4, hidden=6, activation="relu"),
    "tied-deep-dropout": dict(embed=5, hidden=5, layers=2, dropout=0.3, tie_weights=True),
    "sigmoid-3-layers": dict(embed=3, hidden=4, layers=3, activation="sigmoid"),
    "class-softmax": dict(embed=4, hidden=5, softmax="class", classes=3),
    "class-softmax-tied-dropout": dict(embed=5, hidden=5, softmax="class", classes=4, tie_weights=True, dropout=0.2),
    "class-softmax-head-tied-gru": dict(embed=5, hidden=5, softmax="class", classes=2, head=3, tie_weights=True,
                                        cell="gru", dropout=0.2),
    "lstm": dict(embed=4, hidden=5, layers=2, cell="lstm", dropout=0.2),
    "gru": dict(embed=0, hidden=5, cell="gru"),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "lstm" else n for n in CASES])
def test_gradient_of_the_loss_wrt_every_parameter(name, rng):
    kw = dict(CASES[name])
    if kw.get("softmax") == "class":
        kw["word_class"] = frequency_classes(np.arange(V, 0, -1), kw["classes"], head=kw.get("head", 0))
    m = RNNLM(V, seed=1, dtype=np.float64, **kw)
    _freeze_dropout(m)
    ids, targets = _data(rng)
    # a non-zero initial state: the carried state of truncated BPTT
    def one():
        return rng.standard_normal((3, kw["hidden"]))

    s0 = [(one(), one()) if kw.get("cell") == "lstm" else one() for _ in range(kw.get("layers", 1))]

    def loss_and_grads():
        m.zero_grad()
        loss = m.loss(ids, targets, s0)
        m.backward()
        return loss, m.grads

    errors = check_gradients(loss_and_grads, m.params)
    assert set(errors) == set(m.params)
    assert max(errors.values()) < 1e-6, errors


def test_onehot_input_equals_lookup(rng):
    """docs/article.md §7: U times a one-hot vector is one column of U; the model never builds the vector."""
    m = RNNLM(V, embed=0, hidden=6, seed=2, dtype=np.float64)
    ids, _ = _data(rng)
    h = m.hidden_states(ids)
    layer = m.rnn.layers[0]
    U, W, b = layer.params["U"], layer.params["W"], layer.params["b"]
    onehot = np.eye(V)[ids]  # (T, B, V): only here, in the test
    s = np.zeros((3, 6))
    for t in range(ids.shape[0]):
        s = np.tanh(onehot[t] @ U.T + s @ W.T + b)  # 式2 written with the one-hot vector
        np.testing.assert_allclose(h[t], s, atol=1e-12)


def test_article_equations_by_hand(rng):
    """式2 and 式1 with softmax, and the cross-entropy, computed directly from the parameters."""
    m = RNNLM(V, embed=4, hidden=5, seed=3, dtype=np.float64)
    ids, targets = _data(rng)
    E = m.params["embedding.E"]
    U, W, b = (m.params[f"rnn.layers.0.{k}"] for k in "UWb")
    Vo, c = m.params["output.V"], m.params["output.c"]
    c[:] = rng.standard_normal(c.shape)  # starts at 0: a bias left out would go unnoticed
    s = np.zeros((3, 5))
    nll = 0.0
    for t in range(ids.shape[0]):
        s = np.tanh(E[ids[t]] @ U.T + s @ W.T + b)
        o = s @ Vo.T + c
        y = np.exp(o - o.max(1, keepdims=True))
        y /= y.sum(1, keepdims=True)
        nll -= np.log(y[np.arange(3), targets[t]]).sum()
    assert m.loss(ids, targets) == pytest.approx(nll / ids.size, rel=1e-12)


def test_tied_weights_share_one_array_and_add_gradients(rng):
    m = RNNLM(V, embed=5, hidden=5, seed=4, tie_weights=True, dtype=np.float64)
    assert m.output.params["V"] is m.params["embedding.E"]
    assert "output.V" not in m.params
    ids, targets = _data(rng)
    m.zero_grad()
    m.loss(ids, targets)
    m.backward()
    both = m.grads["embedding.E"].copy()
    # the same model untied, with equal weights: its two gradients must add up to the tied one
    u = RNNLM(V, embed=5, hidden=5, seed=4, dtype=np.float64)
    for k in u.params:
        u.params[k][...] = m.params.get(k, m.params["embedding.E"])
    u.zero_grad()
    u.loss(ids, targets)
    u.backward()
    np.testing.assert_allclose(both, u.grads["embedding.E"] + u.grads["output.V"], atol=1e-12)


def test_carried_state_equals_one_long_forward(rng):
    """Truncated BPTT's forward: two windows with the state carried = one window over both."""
    m = RNNLM(V, embed=4, hidden=6, layers=2, seed=5, dtype=np.float64)
    ids, targets = _data(rng, T=8)
    whole = m.token_log_probs(ids, targets)
    first = m.token_log_probs(ids[:3], targets[:3])
    second = m.token_log_probs(ids[3:], targets[3:], m.final_state)
    np.testing.assert_allclose(np.concatenate([first, second]), whole, atol=1e-12)


def test_token_log_probs_agree_with_full_distribution(rng):
    for kw in (dict(), dict(softmax="class", classes=4, word_class=frequency_classes(np.arange(V, 0, -1), 4))):
        m = RNNLM(V, embed=4, hidden=6, seed=6, dtype=np.float64, **kw)
        ids, targets = _data(rng)
        full = m.log_probs(ids)
        np.testing.assert_allclose(np.exp(full).sum(-1), 1.0, atol=1e-12)
        picked = np.take_along_axis(full, targets[..., None], -1)[..., 0]
        np.testing.assert_allclose(m.token_log_probs(ids, targets), picked, atol=1e-12)


def test_dropout_only_in_training_mode(rng):
    m = RNNLM(V, embed=4, hidden=6, dropout=0.5, seed=7, dtype=np.float64)
    ids, targets = _data(rng)
    m.eval()
    a, b = m.loss(ids, targets), m.loss(ids, targets)
    assert a == b
    m.train()
    assert m.loss(ids, targets) != m.loss(ids, targets)
    assert len(m.generators()) == 1  # one seeded generator feeds every dropout


def test_state_flatten_round_trip(rng):
    state = [rng.standard_normal((2, 3)), (rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))]
    leaves, structure = flatten_state(state)
    back = unflatten_state(leaves, structure)
    assert isinstance(back, list) and isinstance(back[1], tuple)
    np.testing.assert_array_equal(back[1][1], state[1][1])
    assert flatten_state(None) == ([], None)


def test_invalid_configurations():
    with pytest.raises(ValueError, match="embed == hidden"):
        RNNLM(V, embed=4, hidden=6, tie_weights=True)
    with pytest.raises(ValueError, match="unknown cell"):
        RNNLM(V, cell="bogus")
    with pytest.raises(ValueError, match="word_class"):
        RNNLM(V, softmax="class")
    with pytest.raises(ValueError, match="blocks of ids"):
        RNNLM(V, embed=6, hidden=6, softmax="class", tie_weights=True, word_class=np.arange(V) % 2)


def test_classes_are_blocks_of_ids_binned_by_frequency():
    counts = [50, 40, 30, 30, 20, 10, 5, 5, 1, 1, 1]
    wc = frequency_classes(counts, 4)
    assert (np.diff(wc) >= 0).all() and wc[0] == 0 and wc.max() == 3
    assert np.bincount(wc)[0] < np.bincount(wc)[-1]  # frequent words in small classes, rare ones share
    assert (frequency_classes(counts, 100) == np.arange(len(counts))).all()  # more classes than words


def test_tied_class_softmax_shares_e_and_v(rng):
    m = RNNLM(V, embed=6, hidden=6, softmax="class", classes=3, tie_weights=True,
              word_class=frequency_classes(np.arange(V, 0, -1), 3), seed=8, dtype=np.float64)
    assert m.output.params["V"] is m.params["embedding.E"] and "output.V" not in m.params
    assert (m.output.order == np.arange(V)).all()


@pytest.mark.parametrize("tie", [False, True])
def test_row_sparse_embedding_gradient_gives_the_dense_update(rng, tie):
    """zero_grad, clipping and SGD skip the embedding rows a window did not read: same result as dense."""
    from rnnkit.nn.optim import SGD, clip_scale

    kw = dict(embed=5, hidden=5, tie_weights=tie, seed=4, dtype=np.float64)
    sparse, dense = RNNLM(V, **kw), RNNLM(V, **kw)
    opt_s, opt_d = SGD(sparse.params, sparse.grads, lr=0.5), SGD(dense.params, dense.grads, lr=0.5)
    for _ in range(3):
        ids, targets = rng.integers(0, V // 2, (4, 3)), rng.integers(0, V, (4, 3))
        for m in (sparse, dense):
            m.zero_grad()
            m.loss(ids, targets)
            m.backward()
        rows = sparse.grad_rows()
        if tie:  # the output layer writes every row of the shared array
            assert "embedding.E" not in rows
        else:
            assert np.array_equal(rows["embedding.E"], np.unique(ids))
            outside = np.setdiff1d(np.arange(V), rows["embedding.E"])
            assert not sparse.grads["embedding.E"][outside].any()
        (_, s1), (_, s2) = clip_scale(sparse.grads, 0.1, rows), clip_scale(dense.grads, 0.1)
        assert s1 == pytest.approx(s2, rel=1e-12) and s1 < 1
        opt_s.step(grad_scale=s1, rows=rows)
        opt_d.step(grad_scale=s2)
    for k in dense.params:
        assert np.allclose(sparse.params[k], dense.params[k], rtol=1e-12, atol=1e-14), k
    sparse.zero_grad()
    assert not any(g.any() for g in sparse.grads.values()), "zero_grad left a gradient behind"
