"""Dynamic evaluation and the neural cache (rnnkit.lm.adapt): the step each takes, that they
help on a text that repeats itself, that the model is left as it was, and that the cache's
mixed distributions are distributions."""

import hashlib
import math

import numpy as np
import pytest

from rnnkit.errors import RnnkitError
from rnnkit.lm import adapt
from rnnkit.lm.adapt import Adapter, DynamicEval, NeuralCache
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.data import encode_file
from rnnkit.lm.model import RNNLM
from rnnkit.nn.class_softmax import frequency_classes
from rnnkit.nn.gradcheck import numerical_gradient

V = 9

SHAPES = {
    "gru-full-tied": dict(embed=4, hidden=4, cell="gru", tie_weights=True),
    "lstm-class": dict(embed=3, hidden=4, cell="lstm", layers=2, softmax="class", classes=3),
    "gru-class-head-tied": dict(embed=4, hidden=4, cell="gru", tie_weights=True, softmax="class", classes=2, head=3),
    "rnn-onehot": dict(embed=0, hidden=5),
}


def _model(name, seed=1):
    kw = dict(SHAPES[name])
    if kw.get("softmax") == "class":
        kw["word_class"] = frequency_classes(np.arange(V, 0, -1), kw["classes"], head=kw.get("head", 0))
    return RNNLM(V, seed=seed, dtype=np.float64, **kw)


def _checked_gradient(model, x, y):
    """The segment loss's gradient from the model's backward, checked against central differences."""
    def loss():
        return model.loss(x[:, None], y[:, None])

    model.zero_grad()
    loss()
    model.backward()
    analytic = {k: g.copy() for k, g in model.grads.items()}
    model.zero_grad()
    numeric = {k: numerical_gradient(loss, p) for k, p in model.params.items()}
    for k in numeric:
        scale = max(np.abs(numeric[k]).max(), 1e-12)
        assert np.abs(analytic[k] - numeric[k]).max() / scale < 1e-6, k
    return analytic


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("form", ["sgd", "rms"])
@pytest.mark.parametrize("cut", [False, True])
def test_the_first_step_is_the_formula_on_a_finite_difference_checked_gradient(name, form, cut, rng, monkeypatch):
    if cut:  # the output layer's products cut in blocks of 4 rows of V, over two threads (nn/_fast.py)
        from rnnkit.nn import _fast

        monkeypatch.setattr(_fast, "ROWS_PER_PIECE", 4)
        monkeypatch.setenv("RNNKIT_NUM_THREADS", "2")
    model = _model(name)
    x, y = rng.integers(0, V, 6).astype(np.int32), rng.integers(0, V, 6).astype(np.int32)
    before = {k: p.copy() for k, p in model.params.items()}
    g = _checked_gradient(model, x, y)
    lr = 0.7
    with Adapter(model, DynamicEval(lr=lr, form=form, bptt=6)) as a:
        logp, _ = a.step(x, y)
        after = {k: p.copy() for k, p in model.params.items()}
    for k in before:
        if form == "sgd":
            want = before[k] - lr * g[k]
        else:  # MS = g² after one segment; ε = the array's mean √MS
            rms = np.abs(g[k])
            want = before[k] - lr * g[k] / (rms + rms.mean()) if rms.mean() > 0 else before[k]
        np.testing.assert_allclose(after[k], want, rtol=0, atol=1e-8, err_msg=k)
        np.testing.assert_array_equal(model.params[k], before[k])  # back to the trained weights
    # the segment was scored before the step, with the trained weights
    np.testing.assert_allclose(-logp.sum() / y.size, model.loss(x[:, None], y[:, None]), rtol=1e-12)


def _reference_stream(model, ids, eos, lr, decay, bptt, form="sgd"):
    """Dynamic evaluation written out: the model's whole gradient stored, then each formula
    applied to every weight, the decay every segment compounded per adapt.DECAY_EVERY as the
    adapter applies it; for rms, MS the running mean of g² over the segments the adapter
    measures (the first adapt.STATS_DENSE, then every adapt.STATS_EVERY-th)."""
    stream = np.concatenate([[eos], ids]).astype(np.int32)
    trained = {k: p.copy() for k, p in model.params.items()}
    ms = {k: np.zeros_like(p) for k, p in model.params.items()}
    total, state, steps, samples = 0.0, None, 0, 0
    for start in range(0, ids.size, bptt):
        y = stream[start + 1 : start + 1 + bptt]
        x = stream[start : start + y.size]
        model.zero_grad()
        total += model.loss(x[:, None], y[:, None], state) * y.size
        state = model.final_state
        model.backward()
        steps += 1
        g = model.grads
        if form == "rms" and (steps <= adapt.STATS_DENSE or steps % adapt.STATS_EVERY == 0):
            samples += 1
            for k in ms:
                ms[k] += (g[k] ** 2 - ms[k]) / samples
        for k, p in model.params.items():
            if form == "sgd":
                p -= lr * g[k]
            else:
                rms = np.sqrt(ms[k])
                p -= lr * g[k] / (rms + max(rms.mean(), np.finfo(rms.dtype).tiny))
        if steps % adapt.DECAY_EVERY == 0:
            if form == "sgd":
                rates = {k: decay for k in ms}
            else:
                mean_rms = sum(np.sqrt(m).sum() for m in ms.values()) / sum(m.size for m in ms.values())
                rates = {k: np.minimum(decay * np.sqrt(m) / mean_rms, 1.0) for k, m in ms.items()}
            for k, p in model.params.items():
                p += (1 - (1 - rates[k]) ** adapt.DECAY_EVERY) * (trained[k] - p)
    for k, p in model.params.items():
        p[...] = trained[k]
    model.zero_grad()
    return total


def test_sgd_with_decay_over_many_segments_matches_a_written_out_loop(rng):
    model = _model("gru-full-tied")
    model.eval()
    ids = rng.integers(0, V, 130).astype(np.int32)
    want = _reference_stream(model, ids, 0, lr=0.3, decay=0.05, bptt=5)
    got = -adapt.stream_log_probs(model, ids, 0, DynamicEval(lr=0.3, decay=0.05, form="sgd", bptt=5)).sum()
    assert got == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("form", ["sgd", "rms"])
def test_every_shape_and_form_over_many_segments_matches_the_written_out_loop(name, form, rng):
    """Past the segments that measure MS (V stepped inside backward, only the written rows of
    the rest), and past the 100th segment (measured again), the decay on: the written-out loop."""
    model = _model(name)
    model.eval()
    ids = rng.integers(0, V, 212).astype(np.int32)
    lr = 0.3 if form == "sgd" else 0.02
    want = _reference_stream(model, ids, 0, lr=lr, decay=0.05, bptt=2, form=form)
    got = -adapt.stream_log_probs(model, ids, 0, DynamicEval(lr=lr, decay=0.05, form=form, bptt=2)).sum()
    assert got == pytest.approx(want, rel=1e-10)


def _hashes(model_dir):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(model_dir.iterdir()) if p.is_file()}


@pytest.fixture
def topic(tmp_path):
    """A text that keeps to one topic: a sentence the toy corpus holds, said over and over."""
    path = tmp_path / "topic.txt"
    path.write_text("the red cat sat under the rug\n" * 40, encoding="utf-8")
    return path


def test_adapting_lowers_perplexity_on_a_repeated_topic_and_leaves_the_model_as_it_was(trained_model, topic):
    model_dir, _, _ = trained_model
    files = _hashes(model_dir)
    lm = LanguageModel.load(str(model_dir))
    weights = {k: p.copy() for k, p in lm.model.params.items()}
    enc = encode_file(str(topic), lm.tokenizer, lm.vocab)
    eos = lm.vocab.eos_id
    static = lm.evaluate(str(topic))["perplexity"]
    runs = {
        "sgd": dict(dynamic=DynamicEval(lr=0.3, form="sgd")),
        "rms": dict(dynamic=DynamicEval(lr=0.01, decay=0.02)),
        "cache": dict(cache=NeuralCache(size=50, theta=1.0, lam=0.3)),
        "both": dict(dynamic=DynamicEval(lr=0.01), cache=NeuralCache(size=50, theta=1.0, lam=0.3)),
    }
    for name, kw in runs.items():
        r = adapt.evaluate_adaptive(lm.model, enc, eos, **kw)
        assert r["perplexity"] < 0.9 * static, (name, r["perplexity"], static)
        assert r["tokens"] == enc.tokens and r["tokens_per_second"] > 0
    # nothing learnt stays: the weights in memory and the files on disk are the trained ones
    for k, p in lm.model.params.items():
        np.testing.assert_array_equal(p, weights[k])
    assert lm.evaluate(str(topic))["perplexity"] == static
    assert _hashes(model_dir) == files


def test_without_dynamic_or_cache_it_is_plain_evaluation(trained_model, topic):
    model_dir, _, valid = trained_model
    lm = LanguageModel.load(str(model_dir))
    enc = encode_file(str(valid), lm.tokenizer, lm.vocab)
    r = adapt.evaluate_adaptive(lm.model, enc, lm.vocab.eos_id)
    plain = lm.evaluate(str(valid))
    assert r["perplexity"] == pytest.approx(plain["perplexity"], rel=1e-9)
    assert r["perplexity_without_unk"] == pytest.approx(plain["perplexity_without_unk"], rel=1e-9)


@pytest.mark.parametrize("name", SHAPES)
def test_every_mixed_distribution_sums_to_one_and_holds_the_scores(name, rng):
    model = _model(name, seed=4)
    cache = NeuralCache(size=7, theta=0.8, lam=0.35)
    with Adapter(model, DynamicEval(lr=0.2, form="sgd", bptt=5), cache) as a:
        state = None
        for _ in range(4):  # the cache fills and overflows (7 < 20 states) while the weights move
            x, y = rng.integers(0, V, 5).astype(np.int32), rng.integers(0, V, 5).astype(np.int32)
            p = a.distributions(x, y, state)
            assert p.dtype == np.float64 and p.shape == (5, V)
            np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
            assert (p >= 0).all()
            logp, state_scored = a.score(x, y, state)
            np.testing.assert_allclose(logp, np.log(p[np.arange(5), y]), rtol=0, atol=1e-10)
            _, state = a.step(x, y, state)
    assert len(a.memory.values) == 7


@pytest.mark.parametrize("size, block", [(3, 4), (5, 2), (2, 7), (8, 3), (4, 4)])
def test_the_cache_is_the_formula(rng, size, block):
    """p_cache(w | h_t) = Σ 1[x_{i+1} = w] exp(θ h_t·h_i) / Σ exp(θ h_t·h_i) over the N states before t,
    the stream cut into blocks shorter and longer than N (the memory carries over)."""
    cache = NeuralCache(size=size, theta=0.5, lam=0.2)
    h = rng.standard_normal((14, 4))
    y = rng.integers(0, 5, 14)
    p, has = adapt.cache_target_probs(h, y, cache, block=block)
    assert not has[0] and has[1:].all()
    for t in range(1, 14):
        keys = range(max(0, t - size), t)
        w = np.array([math.exp(0.5 * h[t] @ h[i]) for i in keys])
        want = sum(wi for wi, i in zip(w, keys) if y[i] == y[t]) / w.sum()
        assert p[t] == pytest.approx(want, rel=1e-12, abs=1e-300)


def test_the_cache_on_kept_states_equals_the_cache_while_scoring(trained_model, topic):
    """What tuning does (the cache run after the model, on its states) is what evaluation does."""
    model_dir, _, _ = trained_model
    lm = LanguageModel.load(str(model_dir))
    ids = encode_file(str(topic), lm.tokenizer, lm.vocab).ids
    cache = NeuralCache(size=30, theta=0.7, lam=0.25)
    dynamic = DynamicEval(lr=0.01)
    together = adapt.stream_log_probs(lm.model, ids, lm.vocab.eos_id, dynamic, cache)
    _, states, model_logp = adapt.stream_log_probs(lm.model, ids, lm.vocab.eos_id, dynamic, keep_states=True)
    p, has = adapt.cache_target_probs(states, ids, cache)
    np.testing.assert_allclose(adapt.mix_log_probs(model_logp, p, has, cache.lam), together, rtol=1e-9)


@pytest.mark.parametrize("bad", [dict(lr=-1.0), dict(lr=float("nan")), dict(decay=1.5), dict(form="adam"),
                                 dict(bptt=0)])
def test_bad_dynamic_settings_are_one_line_errors(bad):
    with pytest.raises(RnnkitError, match="dynamic evaluation"):
        DynamicEval(**bad)


@pytest.mark.parametrize("bad", [dict(size=0), dict(theta=-1.0), dict(lam=2.0), dict(size=2.5)])
def test_bad_cache_settings_are_one_line_errors(bad):
    with pytest.raises(RnnkitError, match="neural cache"):
        NeuralCache(**bad)


def test_tuning_finds_settings_at_least_as_good_as_its_start(trained_model, topic):
    model_dir, _, _ = trained_model
    lm = LanguageModel.load(str(model_dir))
    ids = encode_file(str(topic), lm.tokenizer, lm.vocab).ids
    eos = lm.vocab.eos_id
    start_d, start_c = DynamicEval(lr=1e-4, bptt=10), NeuralCache(size=20, theta=0.02, lam=0.0)
    dynamic, cache, report = adapt.tune(lm.model, ids, eos, start_d, start_c)
    start = math.exp(-adapt.stream_log_probs(lm.model, ids, eos, start_d, start_c).mean())
    tuned = math.exp(-adapt.stream_log_probs(lm.model, ids, eos, dynamic, cache).mean())
    assert tuned == pytest.approx(report["perplexity"], rel=1e-9)
    assert tuned < 0.9 * start
    assert dynamic.lr > 1e-4 and dynamic.bptt == 10 and cache.size == 20
    # the cache alone: λ moves off 0 and θ off its start
    none, cache, report = adapt.tune(lm.model, ids, eos, None, start_c)
    static = math.exp(-adapt.stream_log_probs(lm.model, ids, eos).mean())
    assert none is None and cache.lam > 0 and cache.theta > 0.02 and report["perplexity"] < 0.9 * static


def test_dynamic_evaluation_holds_blas_to_one_thread_until_closed(rng):
    from threadpoolctl import ThreadpoolController

    def blas_threads():
        return [lib.num_threads for lib in ThreadpoolController().select(user_api="blas").lib_controllers]

    if not blas_threads():
        pytest.skip("no BLAS that threadpoolctl can find")
    model = _model(next(iter(SHAPES)))
    x, y = rng.integers(0, V, 6).astype(np.int32), rng.integers(0, V, 6).astype(np.int32)
    with ThreadpoolController().limit(limits=2, user_api="blas"):
        outside = blas_threads()
        seen = []
        with Adapter(model, DynamicEval(bptt=6)) as a:
            a.step(x, y)
            seen.append(blas_threads())
        assert seen == [[1] * len(outside)] and blas_threads() == outside
        with Adapter(model, None, NeuralCache(10)) as a:  # the cache alone keeps BLAS's threads
            a.step(x, y)
            assert blas_threads() == outside


def test_tuning_chooses_the_cache_size_up_to_the_one_given(trained_model, topic):
    model_dir, _, _ = trained_model
    lm = LanguageModel.load(str(model_dir))
    ids = encode_file(str(topic), lm.tokenizer, lm.vocab).ids
    eos = lm.vocab.eos_id
    _, cache, report = adapt.tune(lm.model, ids, eos, None, NeuralCache(size=300))
    tried = {t[0]["cache"]["size"]: t[1] for t in report["trials"]}
    assert sorted(tried) == [100, 250, 300]  # CACHE_SIZES below 300, then 300 itself
    assert cache.size == min(tried, key=tried.get) and report["perplexity"] == min(tried.values())
    again = math.exp(-adapt.stream_log_probs(lm.model, ids, eos, None, cache).mean())
    assert again == pytest.approx(report["perplexity"], rel=1e-9)


def test_tuning_rejects_a_step_size_that_diverges_instead_of_failing(trained_model, topic):
    # A PTB Elman model went from perplexity 171 to an OverflowError at the search's second step
    # (lr 9e-4): a diverging trial must count as infinitely bad, and the search go on from the start.
    model_dir, _, _ = trained_model
    lm = LanguageModel.load(str(model_dir))
    ids = encode_file(str(topic), lm.tokenizer, lm.vocab).ids
    eos = lm.vocab.eos_id
    huge = DynamicEval(lr=1e6, form="sgd", bptt=10)
    assert not math.isfinite(adapt._perplexity(adapt.stream_log_probs(lm.model, ids, eos, huge)))
    dynamic, _, report = adapt.tune(lm.model, ids, eos, huge, None)
    assert dynamic.lr < 1e6 and math.isfinite(report["perplexity"])
