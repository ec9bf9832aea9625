"""The cloze (fill-in-the-blank) model: gradients, no leak of the answer, batches, blanks, training
(`rnnkit eval` and `rnnkit fill`: tests/commands/test_cli_fill.py)."""

import json
import os
import signal
from itertools import product

import numpy as np
import pytest

from rnnkit.lm import cloze
from rnnkit.lm.cloze import ClozeLM, ClozeModel, SentenceBatches, eval_batches, parse_blanks, pieces
from rnnkit.nn.class_softmax import frequency_classes
from rnnkit.lm.train import Trainer, train
from rnnkit.lm.vocab import Vocab
from rnnkit.nn import Dropout
from rnnkit.nn.gradcheck import check_gradients

from lm_helpers import TINY, cli

V = 11
EOS = 1


def _modules(m):
    yield m
    for child in m._children.values():
        yield from _modules(child)


def _freeze_dropout(m):
    for mod in _modules(m):
        if isinstance(mod, Dropout):
            mod.reuse_mask = True


def _lines(rng, T=5, B=3):
    """(T + 2, B) ids: <eos>, T tokens (never <eos>), <eos>."""
    ids = rng.integers(2, V, (T + 2, B)).astype(np.int32)
    ids[0] = ids[-1] = EOS
    return ids


# --- gradients ------------------------------------------------------------------

CASES = {
    "onehot-input": dict(embed=0, hidden=5),
    "embedding-relu": dict(embed=4, hidden=5, activation="relu"),
    "deep-article-dropout": dict(embed=4, hidden=4, layers=3, dropout=0.3, activation="sigmoid"),
    "class-softmax": dict(embed=4, hidden=5, softmax="class", classes=3),
    "lstm-2-layers": dict(embed=3, hidden=3, layers=2, cell="lstm", dropout=0.2),
    "gru-2-layers": dict(embed=3, hidden=3, layers=2, cell="gru"),
    "gru-onehot": dict(embed=0, hidden=3, cell="gru"),
    "concat-one-layer": dict(embed=3, hidden=4, form="concat"),
}


SLOW_CASES = {"deep-article-dropout", "lstm-2-layers", "gru-2-layers", "gru-onehot"}  # full suite only


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CASES else n for n in CASES])
def test_gradient_of_the_loss_wrt_every_parameter(name, rng):
    kw = dict(CASES[name])
    if kw.get("softmax") == "class":
        kw["word_class"] = frequency_classes(np.arange(V, 0, -1), kw["classes"])
    m = ClozeModel(V, seed=1, dtype=np.float64, **kw)
    _freeze_dropout(m)
    ids = _lines(rng)

    def loss_and_grads():
        m.zero_grad()
        loss = m.loss(ids, ids[1:-1])
        m.backward()
        return loss, m.grads

    errors = check_gradients(loss_and_grads, m.params)
    assert set(errors) == set(m.params)
    assert max(errors.values()) < 1e-6, errors


# --- the article's equations and the leak ------------------------------------------


def test_article_equations_by_hand(rng):
    """o_t = softmax(V s_{t-1} + V' s'_{t+1} + c), s and s' by 式2 in both directions."""
    m = ClozeModel(V, embed=4, hidden=5, seed=2, dtype=np.float64)
    ids = _lines(rng, T=6)
    E = m.params["embedding.E"]
    p = {d: [m.params[f"rnn.layers.0.{d}.{k}"] for k in "UWb"] for d in ("fw", "bw")}
    Vo, c = m.params["output.V"], m.params["output.c"]
    T, B = ids.shape
    s, sb = np.zeros((T, B, 5)), np.zeros((T, B, 5))
    prev = np.zeros((B, 5))
    for t in range(T):
        U, W, b = p["fw"]
        prev = s[t] = np.tanh(E[ids[t]] @ U.T + prev @ W.T + b)
    prev = np.zeros((B, 5))
    for t in range(T - 1, -1, -1):
        U, W, b = p["bw"]
        prev = sb[t] = np.tanh(E[ids[t]] @ U.T + prev @ W.T + b)
    logp = m.log_probs(ids)
    for t in range(1, T - 1):
        o = s[t - 1] @ Vo[:, :5].T + sb[t + 1] @ Vo[:, 5:].T + c
        want = o - np.log(np.exp(o).sum(1, keepdims=True))
        np.testing.assert_allclose(logp[t - 1], want, atol=1e-12)
    np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0, atol=1e-12)
    picked = np.take_along_axis(logp, ids[1:-1, :, None], -1)[..., 0]
    np.testing.assert_allclose(m.token_log_probs(ids, ids[1:-1]), picked, atol=1e-12)


def _answer_moves_prediction(m, ids):
    """For every position t: does replacing x_t by another token change log p(. | position t)?"""
    base = m.log_probs(ids)
    moved = []
    for t in range(1, ids.shape[0] - 1):
        x = ids.copy()
        x[t] = 2 + (x[t] - 2 + 1) % (V - 2)  # another ordinary token
        moved.append(float(np.abs(m.log_probs(x)[t - 1] - base[t - 1]).max()))
    return moved


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_naive_concat_stack_leaks_the_answer_ours_does_not(cell, rng):
    """The reason --form concat is refused for deep cloze stacks.

    In the concat form layer 2's forward state at t-1 reads layer 1's backward
    state at t-1, which has read x_t: the token to predict reaches its own
    prediction. In the article form it never does, at any depth.
    """
    ids = _lines(rng, T=6)
    naive = ClozeModel(V, embed=4, hidden=5, layers=2, cell=cell, form="concat", seed=3, dtype=np.float64,
                       allow_leak=True)
    assert min(_answer_moves_prediction(naive, ids)) > 1e-6

    for layers, form in ((1, "concat"), (1, "article"), (2, "article"), (3, "article")):
        ours = ClozeModel(V, embed=4, hidden=5, layers=layers, cell=cell, form=form, seed=3, dtype=np.float64)
        assert max(_answer_moves_prediction(ours, ids)) == 0.0, (layers, form)


def test_leak_is_refused():
    with pytest.raises(ValueError, match="leaks the blank"):
        ClozeModel(V, layers=2, form="concat")
    ClozeModel(V, layers=1, form="concat")  # one layer: the two forms are one network


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("form,leaks", [("concat", True), ("article", False)])
def test_gradient_from_o_t_to_x_t(cell, form, leaks, rng):
    """d o_t / d x_t through the two-layer stack, by BPTT: zero in the article form, not in the naive concat one.

    Float inputs stand for x_t's embedding, so every position has its own
    input vector; o_t reads s_{t-1} (forward half) and s'_{t+1} (backward half).
    """
    m = ClozeModel(V, embed=4, hidden=5, layers=2, cell=cell, form=form, seed=4, dtype=np.float64, allow_leak=True)
    x = rng.standard_normal((7, 2, 4))
    H = 5
    for t in range(1, x.shape[0] - 1):
        h = m.rnn.forward(x)
        dh = np.zeros_like(h)
        dh[t - 1, :, :H] = rng.standard_normal((2, H))
        dh[t + 1, :, H:] = rng.standard_normal((2, H))
        dx, _ = m.rnn.backward(dh)
        assert (np.abs(dx[t]).max() > 1e-8) == leaks, t
        assert np.abs(dx[t - 1]).max() > 0 and np.abs(dx[t + 1]).max() > 0


# --- lines, pieces, batches ----------------------------------------------------------


def test_pieces_and_batches_cover_every_token_once():
    stream = np.array([5, 6, 7, EOS, 8, EOS, 2, 3, 4, 5, 6, EOS], dtype=np.int32)
    got = [p.tolist() for p in pieces(stream, EOS, max_len=3)]
    assert got == [[5, 6, 7], [8], [2, 3, 4], [5, 6]]
    seen = []
    for x, y in eval_batches(stream, EOS, 3):
        assert (x[0] == EOS).all() and (x[-1] == EOS).all()
        np.testing.assert_array_equal(y, x[1:-1])
        seen.extend(y.T.tolist())
    assert sorted(seen) == sorted(got)


def test_sentence_batches_are_a_function_of_seed_and_epoch(rng):
    lines = [rng.integers(2, V, rng.integers(1, 6)) for _ in range(40)]
    stream = np.concatenate([np.append(l, EOS) for l in lines]).astype(np.int32)
    b = SentenceBatches(stream, EOS, batch=4, max_len=100, seed=7)
    assert b.tokens == sum(l.size for l in lines)
    epoch0 = [b.get(0, i) for i in range(len(b))]
    rows = sorted(tuple(col) for _, y in epoch0 for col in y.T.tolist())
    assert rows == sorted(tuple(l.tolist()) for l in lines)
    assert all(y.shape[1] <= 4 for _, y in epoch0)
    again = SentenceBatches(stream, EOS, batch=4, max_len=100, seed=7)
    for i in (3, 0, len(b) - 1):  # any order of access
        np.testing.assert_array_equal(again.get(0, i)[0], epoch0[i][0])
    assert any(not np.array_equal(b.get(1, i)[0], epoch0[i][0]) or b.get(1, i)[0].shape != epoch0[i][0].shape
               for i in range(len(b)))


# --- blanks ----------------------------------------------------------------------------


@pytest.mark.parametrize("text,tokenizer,tokens,positions", [
    ("我打算__一部新手机", "char", list("我打算") + ["__"] + list("一部新手机"), [3]),
    ("我打算____一部", "char", list("我打算") + ["__", "一", "部"], [3]),
    ("我打算__2__新手机", "char", list("我打算") + ["__", "__"] + list("新手机"), [3, 4]),
    ("the __ sat on the __", "word", ["the", "__", "sat", "on", "the", "__"], [1, 5]),
    ("__3__ sat", "word", ["__", "__", "__", "sat"], [0, 1, 2]),
    ("a __ __ b", "word", ["a", "__", "__", "b"], [1, 2]),
])
def test_parse_blanks(text, tokenizer, tokens, positions):
    assert parse_blanks(text, tokenizer) == (tokens, positions)


@pytest.mark.parametrize("text,tokenizer,match", [
    ("no blank here", "word", "no blank"),
    ("a _ b", "word", "no blank"),
    ("a __0__ b", "word", "at least one token"),
    ("un__able", "word", "unsupported blank"),
    ("a __9__ b", "word", "unsupported blank: 9 blank tokens"),
])
def test_bad_blanks(text, tokenizer, match):
    from rnnkit.errors import RnnkitError

    with pytest.raises(RnnkitError, match=match):
        parse_blanks(text, tokenizer)


def _toy_vocab():
    return Vocab(["<unk>", "<eos>"] + [f"w{i}" for i in range(V - 2)], [1] * V)


def test_one_blank_is_the_models_exact_distribution(rng):
    m = ClozeModel(V, embed=4, hidden=5, seed=5, dtype=np.float64)
    vocab = _toy_vocab()
    r = cloze.fill(m, vocab, "word", "w1 w2 __ w3", top=V)
    assert r["scoring"] == "exact"
    probs = dict((t[0], p) for t, p in r["predictions"])
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-12)
    ids = np.array([[EOS, 3, 4, 0, 5, EOS]], dtype=np.int32).T
    logp = m.log_probs(ids)[2, 0]
    for i, tok in enumerate(vocab.tokens):
        assert probs[tok] == pytest.approx(np.exp(logp[i]), rel=1e-12)


def test_two_blank_tokens_wide_beam_finds_the_best_pseudo_likelihood(rng):
    m = ClozeModel(V, embed=4, hidden=6, seed=6, dtype=np.float64)
    vocab = _toy_vocab()
    r = cloze.fill(m, vocab, "word", "w1 __ w2 __ w3", top=5, beam=V * V)
    assert r["scoring"] == "pseudo-likelihood"
    # brute force over every filling of the two blanks (<eos> is never a filling)
    base = np.array([EOS, 3, 0, 4, 0, 5, EOS], dtype=np.int32)
    allowed = [i for i in range(V) if i != EOS]
    fills = np.array(list(product(allowed, allowed)), dtype=np.int32)
    pll = cloze.pseudo_log_likelihood(m, base, [1, 3], fills)
    best = np.argsort(-pll, kind="stable")[:5]
    assert [tuple(t) for t, _ in r["predictions"]] == [tuple(vocab.tokens[i] for i in fills[j]) for j in best]
    np.testing.assert_allclose([p for _, p in r["predictions"]], np.exp(pll[best]), rtol=1e-10)
    # and pseudo-likelihood is what its name says: the product of the two conditionals
    x = base.copy()
    x[[2, 4]] = fills[best[0]]
    lp = m.log_probs(x[:, None])[:, 0]
    assert pll[best[0]] == pytest.approx(lp[1, x[2]] + lp[3, x[4]], rel=1e-12)


# --- training and files --------------------------------------------------------------


def test_cloze_training_writes_a_cloze_model(cloze_model):
    out, lm_out, _, va = cloze_model
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["task"] == "cloze" and cfg["model"]["form"] == "article" and cfg["model"]["max_len"] == 100
    lm = ClozeLM.load(str(out))
    r = lm.evaluate(str(va))
    assert r["tokens"] == sum(len(l.split()) for l in va.read_text().splitlines())  # <eos> is not predicted
    assert 0 < r["top1"] <= r["top5"] <= 1


def test_the_python_api_trains_a_cloze_model_and_returns_it(cloze_model, tmp_path):
    import rnnkit

    _, _, tr, va = cloze_model
    lm = rnnkit.LanguageModel.train(str(tr), str(va), str(tmp_path / "m"), **dict(TINY, task="cloze", epochs=1, bptt=None))
    assert isinstance(lm, rnnkit.ClozeLM)
    assert lm.evaluate(str(va))["tokens"] > 0


@pytest.mark.slow
def test_the_second_direction_sees_what_the_first_cannot(tmp_path):
    """Lines "x is x": from the left the first x is a guess among 8 words; from both sides it is certain."""
    import random

    from rnnkit.lm.api import LanguageModel

    rnd = random.Random(0)
    words = "red blue green black white pink grey gold".split()
    for name, n in (("train", 400), ("valid", 40)):
        (tmp_path / f"{name}.txt").write_text("".join(f"{w} is {w}\n" for w in rnd.choices(words, k=n)))
    tr, va = str(tmp_path / "train.txt"), str(tmp_path / "valid.txt")
    opts = dict(TINY, optimizer="adam", lr=0.02, epochs=6, bptt=None)
    quiet = dict(quiet=True, log=lambda *_: None)
    train(tr, va, str(tmp_path / "cloze"), dict(opts, task="cloze"), **quiet)
    train(tr, va, str(tmp_path / "lm"), opts, **quiet)
    both = ClozeLM.load(str(tmp_path / "cloze")).evaluate(va)
    left = LanguageModel.load(str(tmp_path / "lm")).evaluate(va)
    # left to right: 8 ** (1/4) = 1.68 at best (x, is, x, <eos>); both sides: 1 at best (x, is, x)
    assert left["perplexity"] > 1.6
    assert both["perplexity"] < 1.2 and both["top1"] > 0.95


@pytest.mark.parametrize("extra,match", [
    (["--layers", "2", "--form", "concat"], "leaks the blank"),
    (["--form", "concat"], None),  # one layer: the two forms are one network
    (["--tie-weights"], "tie-weights"),
    (["--task", "lm", "--form", "article"], "--form is for --task cloze"),
])
def test_training_options(corpus, tmp_path, capsys, extra, match):
    tr, va = corpus
    argv = ["train", tr, "--valid", va, "--out", tmp_path / "m", "--hidden", 8, "--batch", 4, "--epochs", 1,
            "--quiet"]
    if "--task" not in extra:
        argv += ["--task", "cloze"]
    code, _, err = cli(capsys, *argv, *extra)
    if match is None:
        assert code == 0
    else:
        assert code == 2 and len(err.strip().splitlines()) == 1 and match in err, err


def test_unknown_task(corpus, tmp_path):
    from rnnkit.errors import UsageError

    tr, va = corpus
    with pytest.raises(UsageError, match="option 'task' 'mlm'"):
        train(str(tr), str(va), str(tmp_path / "m"), dict(TINY, task="mlm"))


def _checkpoint(path):
    from rnnkit.lm import io

    arrays, _ = io.read_tensors(str(path / "checkpoint.safetensors"))
    return arrays


@pytest.mark.slow
def test_interrupt_and_resume_equals_uninterrupted(corpus, tmp_path, monkeypatch):
    tr, va = corpus
    options = dict(TINY, task="cloze", epochs=2, dropout=0.2, layers=2)
    quiet = dict(quiet=True, log=lambda *_: None)
    train(str(tr), str(va), str(tmp_path / "a"), options, **quiet)

    calls = {"n": 0}
    original = Trainer._out_of_time

    def out_of_time(self):
        calls["n"] += 1
        if calls["n"] == 30:  # inside epoch 1 (75 batches)
            os.kill(os.getpid(), signal.SIGINT)
        return original(self)

    monkeypatch.setattr(Trainer, "_out_of_time", out_of_time)
    result = train(str(tr), str(va), str(tmp_path / "b"), options, **quiet)
    monkeypatch.undo()
    assert result.status == "interrupted"
    train(str(tr), str(va), str(tmp_path / "b"), {"task": "cloze"}, resume=True, **quiet)
    a, b = _checkpoint(tmp_path / "a"), _checkpoint(tmp_path / "b")
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.slow
def test_a_blank_of_two_words_is_found_from_the_other_copy(tmp_path):
    """Lines "a b said a b" with fixed pairs (new york, dow jones, ...): "__2__ said dow jones" -> "dow jones"."""
    import random

    rnd = random.Random(1)
    pairs = [("new", "york"), ("dow", "jones"), ("wall", "street"), ("hong", "kong"), ("los", "angeles")]
    for name, n in (("train", 500), ("valid", 40)):
        lines = (f"{a} {b} said {a} {b}\n" for a, b in rnd.choices(pairs, k=n))
        (tmp_path / f"{name}.txt").write_text("".join(lines))
    out = str(tmp_path / "m")
    train(str(tmp_path / "train.txt"), str(tmp_path / "valid.txt"), out,
          dict(TINY, task="cloze", optimizer="adam", lr=0.02, epochs=5, bptt=None), quiet=True, log=lambda *_: None)
    lm = ClozeLM.load(out)
    for a, b in pairs:
        r = lm.fill(f"__2__ said {a} {b}", top=3, beam=3)
        assert r["predictions"][0][0] == [a, b]
        assert r["predictions"][0][1] > 0.5
        r = lm.fill(f"{a} __ said __ {b}", top=3, beam=3)
        assert r["predictions"][0][0] == [b, a]
