"""Perplexity: how surprised the model is by a text, per token.

    cross-entropy   H = -(1/N) Σ_t log p(w_t | w_<t)   (nats; divided by ln 2: bits)
    perplexity      PPL = e^H

The text is one stream with an <eos> after every line, read from the start
state (an <eos> in front), so every token is predicted once: PTB's test set
gives N = 82,430. The stream is read with batch 1, carrying the state through
the whole text, exactly as a user's sentences follow each other; the window
length only sets how many steps are computed per call.

Tokens outside the dictionary are read and predicted as <unk>. `rnnkit eval`
also gives the perplexity without the <unk> targets (KenLM's "excluding OOVs",
SRILM's ppl): with a large dictionary cut at --min-count 1, the model never saw
<unk> in training, and those few predictions would otherwise swamp the rest.
"""

import math

from rnnkit.backend import xp
from rnnkit.lm.data import with_start
from rnnkit.lm.vocab import Vocab

EVAL_WINDOW = 128  # steps per call; a speed knob only, the result does not depend on it


def stream_nll(model, ids, eos_id, window=EVAL_WINDOW, without_unk=False):
    """(total negative log-likelihood in nats, number of predicted tokens) of the stream ``ids``;
    ``without_unk``: over the targets other than <unk> only."""
    every, known = stream_sums(model, ids, eos_id, window)
    return known if without_unk else every


def stream_sums(model, ids, eos_id, window=EVAL_WINDOW):
    """((NLL in nats, tokens) over every target of the stream ``ids``, the same over the targets other than <unk>)."""
    was_training = model.training
    model.eval()
    stream = with_start(ids, eos_id)
    total, unk_total, state = 0.0, 0.0, None
    try:
        for start in range(0, stream.size - 1, window):
            x = stream[start : start + window]
            y = stream[start + 1 : start + 1 + window]
            x = x[: y.size]
            logp = model.token_log_probs(x[:, None], y[:, None], state)
            state = model.final_state
            total -= float(logp.sum(dtype=xp.float64))
            unk = y[:, None] == Vocab.unk_id
            if unk.any():
                unk_total -= float(logp[unk].sum(dtype=xp.float64))
    finally:
        model.train(was_training)
    n_unk = int((ids == Vocab.unk_id).sum())
    return (total, int(ids.size)), (total - unk_total, int(ids.size) - n_unk)


def summary(nll, tokens, oov=None):
    """The numbers `rnnkit eval` prints, from a total NLL in nats over ``tokens``."""
    nats = nll / tokens if tokens else float("nan")
    out = {
        "perplexity": math.exp(nats) if nats < 700 else float("inf"),
        "nats_per_token": nats,
        "bits_per_token": nats / math.log(2),
        "tokens": tokens,
    }
    if oov is not None:
        out["oov"] = oov
        out["oov_rate"] = oov / tokens if tokens else 0.0
    return out


def evaluate(model, encoded, eos_id):
    """The summary for an Encoded text (see data.encode_file)."""
    (nll, n), (known_nll, known_n) = stream_sums(model, encoded.ids, eos_id)
    out = summary(nll, n, encoded.oov)
    out["unk_tokens"] = n - known_n
    out["perplexity_without_unk"] = summary(known_nll, known_n)["perplexity"]
    return out


# --- token by token, and each line on its own -----------------------------------------


def stream_log_probs(model, ids, eos_id, window=EVAL_WINDOW):
    """ln p of every target of the stream ``ids`` (float64, one per id), the state
    carried through the whole text as ``evaluate`` reads it."""
    was_training = model.training
    model.eval()
    stream = with_start(ids, eos_id)
    out, state = [], None
    try:
        for start in range(0, stream.size - 1, window):
            x = stream[start : start + window]
            y = stream[start + 1 : start + 1 + window]
            x = x[: y.size]
            out.append(model.token_log_probs(x[:, None], y[:, None], state)[:, 0].astype(xp.float64))
            state = model.final_state
    finally:
        model.train(was_training)
    return xp.concatenate(out) if out else xp.zeros(0, dtype=xp.float64)


def line_log_probs(model, ids, vocab):
    """ln p of every target of the stream ``ids`` with every line read on its own from
    the start state (rnnlm's -independent; what ``rnnkit score`` sums per line)."""
    from rnnkit.lm.score import sentence_log_probs

    ends = xp.flatnonzero(ids == vocab.eos_id)
    starts = xp.concatenate([[0], ends[:-1] + 1])
    id_lists = [ids[s:e] for s, e in zip(starts.tolist(), ends.tolist())]
    logp = sentence_log_probs(model, vocab, id_lists)
    return xp.concatenate(logp) if logp else xp.zeros(0, dtype=xp.float64)


def summary_of_log_probs(logp, ids, oov):
    """The numbers of ``evaluate`` from the ln p of every target (``ids``: the targets),
    the sums taken exactly (math.fsum), so per-token values add up to them."""
    values = logp.tolist()
    unk = (ids == Vocab.unk_id).tolist()
    nll = -math.fsum(values)
    known = [v for v, u in zip(values, unk) if not u]
    out = summary(nll, len(values), oov)
    out["unk_tokens"] = len(values) - len(known)
    out["perplexity_without_unk"] = summary(-math.fsum(known), len(known))["perplexity"]
    return out


def evaluate_independent(model, encoded, vocab):
    """The summary for an Encoded text, each line scored from the start state (``eval --independent``)."""
    return summary_of_log_probs(line_log_probs(model, encoded.ids, vocab), encoded.ids, encoded.oov)
