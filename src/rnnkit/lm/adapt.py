"""Adapting to the text at test time: dynamic evaluation and a neural cache.

A trained model scores a text token by token. Both methods here let it learn
from the part of the text it has already scored, without a training run and
without changing the model on disk (the weights in memory are restored when
the evaluation ends).

Dynamic evaluation (Mikolov 2012, the rnnlm toolkit's ``-dynamic``; Krause,
Kahembwe, Murray and Renals 2018, "Dynamic Evaluation of Neural Sequence
Models"). The text is cut into segments s_i of ``bptt`` tokens; each is scored
with the current weights θ and then one gradient step on its loss L(s_i) moves
them, carrying the recurrent state on as in plain evaluation:

    sgd:  θ ← θ - η ∇L(s_i) + λ (θ_0 - θ)
    rms:  θ ← θ - η ∇L(s_i) / (√MS + ε) + min(1, λ √MS / mean(√MS)) ⊙ (θ_0 - θ)

θ_0 are the trained weights: decaying towards them (Krause et al.'s "global
prior") makes the model forget old text. MS is each weight's mean squared
gradient. Krause et al. measure it over the training data; here it is the
running mean over the segments scored so far, so evaluation needs no other
text. Such an early mean is noisy, and a weight whose gradient was zero until
now (the embedding of a word not seen yet) would take a step of η √k on its
first use in the k-th segment. So ε is not a tiny constant but the mean √MS of
the weight's array: a new weight steps like a typical one of its kind.

Neural cache (Grave, Joulin and Usunier 2017, "Improving Neural Language
Models with a Continuous Cache"). The last N pairs (h_i, x_{i+1}) of a state of
the last layer and the token that followed it are kept; the next token's
probability mixes the model's with one over the words that followed states
like the current one:

    p_cache(w | h_t) = Σ_{i=t-N}^{t-1} 1[x_{i+1} = w] exp(θ h_t · h_i) / Σ_{i=t-N}^{t-1} exp(θ h_t · h_i)
    p(w | h_t) = (1 - λ) p_model(w | h_t) + λ p_cache(w | h_t)

Before the first state is kept (the text's first token) p = p_model.

Neither adds a backward pass: dynamic evaluation steps with the model's own
gradient, the one rnnkit's gradient checks verify, and the cache needs none.
Its probabilities are float64; each mixed distribution sums to 1 over the
vocabulary (``Adapter.distributions``).
"""

import math
import time
from dataclasses import asdict, dataclass

from rnnkit.backend import xp
from rnnkit.errors import OptionError
from rnnkit.lm.data import with_start
from rnnkit.lm.evaluate import EVAL_WINDOW, summary
from rnnkit.lm.vocab import Vocab
from rnnkit.parallel import shared_products

FORMS = ("sgd", "rms")
STATS_DENSE, STATS_EVERY = 20, 100  # segments whose gradient feeds MS: the first 20, then every 100th
DECAY_EVERY = 10  # segments between applications of the decay


# Sizes a user types, capped before anything is built for them. A segment of dynamic
# evaluation is one BPTT window: its activations and its (segment x vocabulary) output are
# held for the gradient step, so --dynamic-bptt 10**8 asked for the whole text's at once.
# The cache keeps N states (N x hidden, float64) and scores each window against all of them
# (window x (N + window)); with no cap, --cache 10**12 kept every state of the text and the
# time grew with its square.
MAX_SEGMENT = 1000
MAX_CACHE = 10_000


@dataclass(frozen=True)
class DynamicEval:
    """Dynamic evaluation's settings: step size ``lr`` (η), ``decay`` (λ) towards the
    trained weights, ``form`` "rms" (Krause et al.) or "sgd" (Mikolov), and the
    segment length ``bptt`` in tokens (one step per segment)."""

    lr: float = 3e-4  # the best on PTB validation text for a 1x200 GRU (docs/results.md); tune for others
    decay: float = 0.0
    form: str = "rms"
    bptt: int = 20

    def __post_init__(self):
        if self.form not in FORMS:
            raise OptionError(f"{{dynamic_form}} (dynamic evaluation's form) {self.form!r}: expected one of "
                              f"{', '.join(FORMS)}", "dynamic_form")
        _check_number("dynamic_lr", "dynamic evaluation's learning rate", self.lr, 0.0, None)
        _check_number("dynamic_decay", "dynamic evaluation's decay", self.decay, 0.0, 1.0)
        if isinstance(self.bptt, bool) or not isinstance(self.bptt, int) or not 1 <= self.bptt <= MAX_SEGMENT:
            raise OptionError(f"{{dynamic_bptt}} (dynamic evaluation's segment length) must be a whole number in "
                              f"1..{MAX_SEGMENT:,}, got {self.bptt!r:.40}", "dynamic_bptt")


@dataclass(frozen=True)
class NeuralCache:
    """The neural cache's settings: ``size`` (N) states kept, ``theta`` (θ) the
    sharpness of the match, ``lam`` (λ) the cache's weight in the mixture."""

    size: int = 2000  # θ and λ: the best on PTB validation text for a 1x200 GRU (docs/results.md)
    theta: float = 0.7
    lam: float = 0.15

    def __post_init__(self):
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 1 <= self.size <= MAX_CACHE:
            raise OptionError(f"{{cache}} (the neural cache's size) must be a whole number in 1..{MAX_CACHE:,}, "
                              f"got {self.size!r:.40}", "cache")
        _check_number("cache_theta", "the neural cache's theta", self.theta, 0.0, None)
        _check_number("cache_lambda", "the neural cache's lambda", self.lam, 0.0, 1.0)


def _check_number(option, what, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low \
            or (high is not None and value > high):
        where = f"in [{low:g}, {high:g}]" if high is not None else f"at least {low:g}"
        raise OptionError(f"{{{option}}} ({what}) must be a number {where}, got {value!r}", option)


# --- the cache ---------------------------------------------------------------------


class CacheMemory:
    """The last ``size`` pairs (h_i, x_{i+1}) of a stream: keys (M, H) and values (M,).

    weights(h (T, H)) -> (T, M + T) float64: row t is the p_cache weight of every
    key, the kept ones and the segment's own states before t, zero elsewhere.
    """

    def __init__(self, cache):
        self.cache = cache
        self.keys = None
        self.values = xp.zeros(0, dtype=xp.int64)

    def _all(self, h, targets):
        h = h.astype(xp.float64)  # the scores in float64, the same however the stream is cut into blocks
        keys = h if self.keys is None else xp.concatenate([self.keys, h])
        return keys, xp.concatenate([self.values, targets.astype(xp.int64)])

    def weights(self, h, keys):
        """Row t: softmax of θ h_t · h_i over the N keys before segment position t (all zero if none)."""
        e, total = self._match(h, keys)
        return e / xp.where(total > 0, total, 1.0)[:, None]

    def _match(self, h, keys):
        """(exp(θ h_t · h_i - a_t) over the keys allowed to row t, zero elsewhere (T, M + T); its row sums)."""
        T, M = h.shape[0], keys.shape[0] - h.shape[0]
        scores = (self.cache.theta * h.astype(xp.float64)) @ keys.T  # θ on the small side of the product
        # Row t may use keys M+t-N .. M+t-1. Only two triangles of the (T, M + T) array are
        # barred: the segment's own states from t on (in the last T columns) and, once the
        # memory is full, its t oldest keys (in the first T columns); the columns between are
        # allowed to every row, so the mask is built for these 2T columns only.
        edge = xp.unique(xp.concatenate([xp.arange(min(T, M + T)), xp.arange(M, M + T)]))
        now = M + xp.arange(T)[:, None]  # the key index of h_t itself: keys strictly before it count
        barred = (edge[None, :] >= now) | (edge[None, :] < now - self.cache.size)
        block = scores[:, edge]
        block[barred] = -xp.inf
        scores[:, edge] = block
        top = scores.max(axis=1, keepdims=True)
        top[~xp.isfinite(top)] = 0.0
        scores -= top
        e = xp.exp(scores, out=scores)
        return e, e.sum(axis=1)

    def target_probs(self, h, targets):
        """(p_cache(target_t | h_t) (T,), whether row t had any key (T,) bool), the memory unchanged."""
        keys, values = self._all(h, targets)
        e, total = self._match(h, keys)
        rows, cols = xp.nonzero(values[None, :] == targets[:, None].astype(xp.int64))  # the keys followed by y_t
        p = xp.bincount(rows, weights=e[rows, cols], minlength=h.shape[0])
        return p / xp.where(total > 0, total, 1.0), total > 0

    def distributions(self, h, targets, vocab_size):
        """(p_cache over the whole vocabulary (T, vocab) float64, whether row t had any key)."""
        keys, values = self._all(h, targets)
        w = self.weights(h, keys)
        out = xp.zeros((h.shape[0], vocab_size), dtype=xp.float64)
        for t in range(h.shape[0]):
            out[t] = xp.bincount(values, weights=w[t], minlength=vocab_size)
        return out, w.sum(axis=1) > 0

    def remember(self, h, targets):
        keys, values = self._all(h, targets)
        self.keys, self.values = keys[-self.cache.size:].copy(), values[-self.cache.size:].copy()


def mix_log_probs(logp_model, p_cache, has_cache, lam):
    """log((1 - λ) p_model + λ p_cache) per token, float64; p_model alone where the cache is empty."""
    logp_model = logp_model.astype(xp.float64)
    if lam == 0.0:
        return logp_model
    with xp.errstate(divide="ignore"):
        mixed = xp.logaddexp(math.log1p(-lam) + logp_model if lam < 1.0 else -xp.inf, math.log(lam) + xp.log(p_cache))
    return xp.where(has_cache, mixed, logp_model)


# --- scoring while adapting ------------------------------------------------------------


class Adapter:
    """A model that adapts to the text it scores, then goes back to its trained weights.

        with Adapter(model, DynamicEval(), NeuralCache()) as a:
            logp, state = a.step(x, y, state)      # score a segment, then learn from it
            logp, state = a.score(x, y, state)     # score only (an n-best candidate)

    x, y: the segment's input and target ids (T,); logp: log p(y_t) (T,) float64,
    the cache mixed in. ``dynamic`` and ``cache`` may each be None. With ``dynamic``,
    BLAS is held to one thread until it is closed.
    """

    def __init__(self, model, dynamic=None, cache=None):
        self.model, self.dynamic, self.cache = model, dynamic, cache
        self.memory = CacheMemory(cache) if cache is not None else None
        self._was_training = model.training
        model.eval()
        self._names = list(model.params)  # every array once, a tied one included
        self._trained = None
        self._sharing = None
        self.steps = 0
        if dynamic is not None:
            self._trained = [model.params[k].copy() for k in self._names]
            self._tmp = [xp.empty_like(p) for p in self._trained]
            if dynamic.form == "rms":
                self._ms = [xp.zeros_like(p) for p in self._trained]
                self._scale = [xp.empty_like(p) for p in self._trained]
                self._samples, self._decay_rates = 0, None
            # The output layer's V: its gradient is never stored but stepped piece by piece (_step_output)
            V = model.output.params["V"]
            self._out = next(i for i, k in enumerate(self._names) if model.params[k] is V)
            embedding = getattr(model, "embedding", None)
            self._tied = embedding is not None and embedding.params["E"] is V
            model.zero_grad()
            # A segment's products have its few rows, which BLAS's own threads do not speed up;
            # the output layer's are cut over the cores by rnnkit's threads instead (nn/_fast.py).
            # BLAS is held to one thread for the whole evaluation: switching its threads around
            # each product cost more than the threads saved (docs/adapt.md, "What it costs").
            self._sharing = shared_products()
            self._sharing.__enter__()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Put the trained weights back (in place: every holder of the arrays sees them)."""
        if self._trained is not None:
            for k, p0 in zip(self._names, self._trained):
                self.model.params[k][...] = p0
            self.model.zero_grad()
            self._trained = None
        if self._sharing is not None:
            self._sharing.__exit__(None, None, None)
            self._sharing = None
        self.model.train(self._was_training)

    # --- per segment ---------------------------------------------------------------

    def score(self, x, y, state=None):
        """(log p(y_t) (T,), the final state): the current weights and cache, nothing learnt."""
        logp, state, h = self._forward(x, y, state)
        return self._mixed(logp, h, y), state

    def step(self, x, y, state=None):
        """score, then learn from the segment: one dynamic step, and its states into the cache."""
        logp, state, h = self.model_step(x, y, state)
        return self.mix_and_remember(logp, h, y), state

    def model_step(self, x, y, state=None):
        """(the model's own log p(y_t) (T,), the final state, the states h (T, H)) of a
        segment, scored with the current weights, which then learn from it."""
        if self.dynamic is None:
            return self._forward(x, y, state)
        self.model.loss(x[:, None], y[:, None], state)
        out = (-self.model.last_token_nll()[:, 0], self.model.final_state, self.model.last_states[:, 0])
        self._learn(x)
        return out

    def mix_and_remember(self, logp, h, y):
        """The cache's half of ``step``: log p mixed, then the segment's states kept."""
        out = self._mixed(logp, h, y)
        if self.memory is not None:
            self.memory.remember(h, y)
        return out

    def learn(self, x, y, state=None):
        """step without the scores: what an n-best list learns from its chosen candidate."""
        return self.step(x, y, state)[1]

    def distributions(self, x, y, state=None):
        """The whole next-token distribution at every step (T, vocab) float64, the cache
        mixed in as ``score`` does (``y`` only feeds the cache's own earlier steps)."""
        h = self.model.hidden_states(x[:, None], state)[:, 0]
        p = xp.exp(self.model.output.log_probs(h).astype(xp.float64))
        if self.memory is None or self.cache.lam == 0.0:
            return p
        pc, has = self.memory.distributions(h, y, p.shape[1])
        lam = self.cache.lam
        return xp.where(has[:, None], (1.0 - lam) * p + lam * pc, p)

    def _forward(self, x, y, state):
        h = self.model.hidden_states(x[:, None], state)[:, 0]
        state = self.model.final_state
        return self.model.output.token_log_probs(h, y).astype(xp.float64), state, h

    def _mixed(self, logp, h, y):
        if self.memory is None:
            return logp.astype(xp.float64)
        p_cache, has = self.memory.target_probs(h, y)
        return mix_log_probs(logp, p_cache, has, self.cache.lam)

    def _learn(self, x):
        """One step of the form chosen on the gradient of the last loss (inputs ``x``), then the decay.

        The step θ ← θ - η ∇L (sgd) or θ ← θ - η ∇L / (√MS + ε) (rms) is taken where the
        gradient is made. V, the largest array and the one with a dense gradient, is stepped
        rows by rows as backward's pieces of ∇V come out (``_step_output``, beside BPTT): one
        pass over V per segment, where storing ∇V and stepping from it took four (∇V added
        into grads, scaled, added to V, zeroed). The other arrays are stepped from grads, in
        the rows their gradient was written in only (an embedding's: the segment's inputs),
        and only those rows are zeroed again. The rms form's MS needs the whole gradient: on
        the segments that measure it (every one of the first STATS_DENSE, then every
        STATS_EVERY-th) ∇V is stored like the rest. The decay is applied every DECAY_EVERY
        segments at the compound rate 1 - (1 - rate)^DECAY_EVERY of as many single steps.
        """
        d = self.dynamic
        self.steps += 1
        measuring = d.form == "rms" and (self.steps <= STATS_DENSE or self.steps % STATS_EVERY == 0)
        if measuring:
            self.model.backward()
            self._measure([self.model.grads[k] for k in self._names])
        else:
            self.model.backward(weight_sink=self._step_output)
        written = self._written(x, output_stored=measuring)
        for i, k in enumerate(self._names):
            if k in written:
                p, g, rows = self.model.params[k], self.model.grads[k], written[k]
                if rows is None:
                    p += self._change(i, g)
                else:
                    p[rows] += self._change(i, g[rows], rows)
        self.model.zero_grad(written)
        if d.decay and self.steps % DECAY_EVERY == 0:
            params = [self.model.params[k] for k in self._names]
            for p, p0, rate, tmp in zip(params, self._trained, self._rates(), self._tmp):
                xp.subtract(p0, p, out=tmp)
                tmp *= rate
                p += tmp  # the global prior: back towards the trained weights

    def _written(self, x, output_stored):
        """{name: the rows its gradient may be non-zero in, None for every row} of the arrays
        whose gradient is in grads: all but V when ∇V went to ``_step_output``. Tied, V is the
        embedding too, and grads then holds the embedding's part only, in the rows of ``x``."""
        sparse = self.model.grad_rows()  # an untied embedding, the class softmax's V and c
        written = {k: sparse.get(k) for k in self._names}
        if not output_stored:
            out = self._names[self._out]
            if self._tied:
                written[out] = xp.unique(x)
            else:
                del written[out]
        return written

    def _step_output(self, lo, hi, d, x):
        """The step of rows lo:hi of V from those rows of its gradient d^T x, as backward makes them."""
        self.model.output.params["V"][lo:hi] += self._change(self._out, d.T @ x, slice(lo, hi))

    def _change(self, i, g, rows=slice(None)):
        """The step's change of weight array i in ``rows``, made of their gradient g in place:
        -η g (sgd) or -η g / (√MS + ε) (rms, the divisor kept by ``_measure``)."""
        if self.dynamic.form == "rms":
            g *= self._scale[i][rows]
        else:
            g *= -self.dynamic.lr
        return g

    def _measure(self, grads):
        """Add the gradient to the running mean MS of g² and recompute the divisors -η / (√MS + ε)."""
        self._samples += 1
        for g, ms, scale, tmp in zip(grads, self._ms, self._scale, self._tmp):
            xp.multiply(g, g, out=tmp)
            tmp -= ms
            tmp /= self._samples
            ms += tmp
            rms = xp.sqrt(ms, out=tmp)
            rms += max(float(rms.mean()), xp.finfo(rms.dtype).tiny)  # ε: the array's mean √MS
            xp.divide(-self.dynamic.lr, rms, out=scale)
        self._decay_rates = None

    def _rates(self):
        """The decay per weight array over DECAY_EVERY segments: a number (sgd) or an array (rms)."""
        d, n = self.dynamic, DECAY_EVERY
        if d.form == "sgd":
            return [1.0 - (1.0 - d.decay) ** n] * len(self._names)
        if self._decay_rates is None:
            rms = [xp.sqrt(ms) for ms in self._ms]
            mean_rms = sum(float(r.sum()) for r in rms) / sum(r.size for r in rms)
            rates = []
            for r in rms:
                r *= d.decay / max(mean_rms, 1e-30)
                xp.minimum(r, 1.0, out=r)
                with xp.errstate(divide="ignore"):  # log1p(-1) = -inf: a rate of 1 stays 1
                    rates.append(-xp.expm1(n * xp.log1p(-r)))  # 1 - (1 - r)^n
            self._decay_rates = rates
        return self._decay_rates


# --- a whole text ------------------------------------------------------------------------


def stream_log_probs(model, ids, eos_id, dynamic=None, cache=None, keep_states=False):
    """log p of every token of the stream ``ids`` (float64 (len(ids),)), read from the start
    state as evaluate.stream_sums reads it, adapting as it goes. With ``keep_states`` also the
    last layer's states (len(ids), H) and the model's own log p before the cache."""
    stream = with_start(ids, eos_id)
    n = int(ids.size)
    window = dynamic.bptt if dynamic is not None else EVAL_WINDOW
    out = xp.empty(n, dtype=xp.float64)
    states = model_logp = None
    with Adapter(model, dynamic, cache) as a:
        state = None
        for start in range(0, n, window):
            y = stream[start + 1 : start + 1 + window]
            x = stream[start : start + y.size]
            logp, state, h = a.model_step(x, y, state)
            if keep_states:
                if states is None:
                    states = xp.empty((n, h.shape[1]), dtype=h.dtype)
                    model_logp = xp.empty(n, dtype=xp.float64)
                states[start : start + y.size] = h
                model_logp[start : start + y.size] = logp
            logp = a.mix_and_remember(logp, h, y)
            out[start : start + y.size] = logp
    return (out, states, model_logp) if keep_states else out


def cache_target_probs(states, targets, cache, block=EVAL_WINDOW):
    """p_cache(target_t) and whether the cache had a key, for every token of a stream whose
    states are known: the cache's half of ``stream_log_probs``, for tuning θ and λ cheaply."""
    memory = CacheMemory(cache)
    p = xp.empty(targets.size, dtype=xp.float64)
    has = xp.empty(targets.size, dtype=bool)
    for lo in range(0, targets.size, block):
        h, y = states[lo : lo + block], targets[lo : lo + block]
        p[lo : lo + y.size], has[lo : lo + y.size] = memory.target_probs(h, y)
        memory.remember(h, y)
    return p, has


def report(logp, ids, seconds=None, oov=None):
    """evaluate.evaluate's numbers from per-token log p: perplexity with and without <unk> targets."""
    nll = -float(logp.sum())
    known = ids != Vocab.unk_id
    out = summary(nll, int(ids.size), oov)
    out["unk_tokens"] = int(ids.size - known.sum())
    out["perplexity_without_unk"] = summary(-float(logp[known].sum()), int(known.sum()))["perplexity"]
    if seconds is not None:
        out["seconds"] = seconds
        out["tokens_per_second"] = ids.size / seconds if seconds > 0 else float("inf")
    return out


def evaluate_adaptive(model, encoded, eos_id, dynamic=None, cache=None):
    """evaluate.evaluate with dynamic evaluation and/or the cache, plus the settings and the speed."""
    t0 = time.perf_counter()
    logp = stream_log_probs(model, encoded.ids, eos_id, dynamic, cache)
    out = report(logp, encoded.ids, time.perf_counter() - t0, encoded.oov)
    out["dynamic"] = asdict(dynamic) if dynamic is not None else None
    out["cache"] = asdict(cache) if cache is not None else None
    return out


# --- choosing the settings on validation text ----------------------------------------------------

THETAS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5)
# The cache's sizes tried, up to the one given: on PTB the best was 500-1000 states, not
# Grave et al.'s 2000 (docs/results.md), and a smaller cache is also a cheaper one.
CACHE_SIZES = (100, 250, 500, 1000, 2000, 5000, 10_000)
LAMBDAS = tuple(i / 100 for i in range(0, 61, 2))
DECAYS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1)


def _perplexity(log_probs):
    """exp of the mean negative log-probability; inf where a trial diverged (a step size too
    large for this model drives the scores to overflow or NaN): a setting to reject, not an error."""
    mean_nll = -float(log_probs.mean())
    return math.exp(mean_nll) if mean_nll < 700.0 else math.inf  # NaN fails the test too


def tune(model, ids, eos_id, dynamic=None, cache=None, log=None):
    """The settings with the lowest perplexity on ``ids`` (validation text, never the test text).

    ``dynamic`` and ``cache`` are the starting points and say what to tune (None: not used);
    their form and segment length are kept, and the cache's size is the largest it may be. The
    learning rate is searched on a log scale (steps of 3, then of √3) around the starting one,
    then the decay over DECAYS; then, for the cache, its size over CACHE_SIZES up to the one
    given, θ over THETAS and λ over LAMBDAS, on the states of the chosen dynamic evaluation
    (the cache does not change them, so one more pass serves every size, θ and λ).
    Returns (dynamic, cache, {"perplexity": on ids, "trials": [(settings, perplexity)]}).
    """
    say = log or (lambda *_: None)
    trials = []

    def ppl(d):
        value = _perplexity(stream_log_probs(model, ids, eos_id, d))
        trials.append(({"dynamic": asdict(d)}, value))
        say(f"  dynamic {d.form} lr {d.lr:g} decay {d.decay:g}: perplexity {value:.2f}")
        return value

    best_ppl = _perplexity(stream_log_probs(model, ids, eos_id))
    say(f"  static: perplexity {best_ppl:.2f}")
    if dynamic is not None:
        best_ppl, dynamic = _search_lr(dynamic, ppl)
        for decay in DECAYS:
            if decay != dynamic.decay:
                candidate = DynamicEval(dynamic.lr, decay, dynamic.form, dynamic.bptt)
                value = ppl(candidate)
                if value < best_ppl:
                    best_ppl, dynamic = value, candidate
    if cache is not None:
        _, states, model_logp = stream_log_probs(model, ids, eos_id, dynamic, keep_states=True)
        best = (best_ppl, None)
        for size in [n for n in CACHE_SIZES if n < cache.size] + [cache.size]:
            at_size = (math.inf, NeuralCache(size, cache.theta, 0.0))
            for theta in THETAS:
                p, has = cache_target_probs(states, ids, NeuralCache(size, theta, 0.0))
                for lam in LAMBDAS:
                    value = _perplexity(mix_log_probs(model_logp, p, has, lam))
                    if value < at_size[0]:
                        at_size = (value, NeuralCache(size, theta, lam))
            trials.append(({"cache": asdict(at_size[1])}, at_size[0]))
            say(f"  cache size {size} theta {at_size[1].theta:g} lambda {at_size[1].lam:g}: "
                f"perplexity {at_size[0]:.2f}")
            if at_size[0] < best[0]:
                best = at_size
        best_ppl, cache = best[0], best[1] or NeuralCache(cache.size, cache.theta, 0.0)
    return dynamic, cache, {"perplexity": best_ppl, "trials": trials}


def _search_lr(dynamic, ppl):
    """(perplexity, settings) at the best learning rate: a walk on a log scale from dynamic.lr."""
    def at(lr):
        return DynamicEval(lr, dynamic.decay, dynamic.form, dynamic.bptt)

    seen = {}

    def value_at(d):
        key = round(math.log(d.lr), 6) if d.lr > 0 else None
        if key not in seen:
            seen[key] = ppl(d)
        return seen[key]

    best = (value_at(dynamic), dynamic)
    for _ in range(20):  # a start that diverges says nothing of the direction: step down until one does not
        if math.isfinite(best[0]):
            break
        smaller = at(best[1].lr / 10.0)
        best = (value_at(smaller), smaller)
    for factor in (3.0, math.sqrt(3.0)):
        for direction in (factor, 1.0 / factor):
            while True:
                candidate = at(best[1].lr * direction)
                value = value_at(candidate)
                if value >= best[0]:
                    break
                best = (value, candidate)
    return best
