"""Fill in the blank (docs/article.md §3, §4): a deep bidirectional model that never sees the token it predicts.

"我的手机坏了，我打算____一部新手机。": only the words after the blank make
"买" likely. The cloze model reads a line in both directions and predicts
every token t from the forward state just before it and the backward state
just after it:

    s_t   = f(U x_t + W s_{t-1})          forward direction   (式2)
    s'_t  = f(U' x_t + W' s'_{t+1})       backward direction
    o_t   = softmax(V s_{t-1} + V' s'_{t+1} + c)

s_{t-1} has read x_0 .. x_{t-1} and s'_{t+1} has read x_{t+1} .. x_{n+1}, so x_t
itself reaches o_t by no path. A line w_1 .. w_n is read as
``<eos> w_1 .. w_n <eos>``: the two ``<eos>`` mark its edges (they are context,
never predicted), and every w_t is predicted once. Lines longer than
``max_len`` tokens are cut into pieces of ``max_len``, each read on its own.

Deep stacks and the leak
------------------------
With several layers (docs/article.md §4) each direction of layer i must read only the
same direction of layer i-1: the article's deep form (``form="article"``).
The other deep form of the engine (``form="concat"``, PyTorch's), where each
direction reads both directions below, would leak the answer: layer 2's
forward state at t-1 reads layer 1's backward state at t-1, which has already
read x_t. No shift of the inputs repairs this: any forward state that reads a
backward state s'_j of the layer below (j <= t-1) has read x_t. So a cloze
stack deeper than one layer refuses ``form="concat"`` with a one-line error;
with one layer the two forms are the same network and both are accepted. The
two directions then meet only in the output layer, [V V'] [s_{t-1}; s'_{t+1}].
tests/lm/test_cloze.py shows the leak on a model built with
``allow_leak=True`` (changing x_t changes o_t) and its absence in ours.

Filling a blank of several tokens
---------------------------------
One blank token: the model's own distribution at that position, exact. For k
blank tokens (``__3__``, or several ``__`` marks) the joint probability of a
filling is not one output of the model. Candidates are found by beam search
over the blank positions, left to right and right to left, the positions not
yet filled holding a placeholder (``<unk>`` first, then the best filling of
the previous round), and every candidate is then scored by its
pseudo-likelihood (Besag 1975), the product over the blank positions of each
token's probability given all the other tokens, the other blank tokens of
the candidate included: one forward pass scores a whole batch of candidates.
With k = 1 the score is the exact probability.
"""

import json
import os
import re

import numpy

from rnnkit.backend import as_dtype, rng as make_rng, xp
from rnnkit.errors import OptionError, RnnkitError
from rnnkit.lm import io
from rnnkit.lm.data import ID_DTYPE
from rnnkit.lm.model import LanguageNetwork
from rnnkit.lm.predict import check_top
from rnnkit.lm.results import ClozeEvaluation, FillResult, Filling
from rnnkit.lm.tokenize import get_tokenizer
from rnnkit.nn.stack import FORMS

TASK = "cloze"
DEFAULT_FORM = "article"
# --bptt for --task cloze: the longest piece read as one sequence. PTB's
# longest line has 82 words, so its lines are never cut.
DEFAULT_MAX_LEN = 100
MAX_BLANK_TOKENS = 8
# The widest beam (and so the most fillings) searched for a blank of several
# tokens: the search holds beam x vocabulary scores at a time.
MAX_BEAM = 1000
EVAL_ROWS = 2048  # predicted tokens per evaluation call: a memory knob, not a result knob

LEAK_REASON = (
    "leaks the blank in a cloze stack deeper than one layer: layer 2's forward state at t-1 "
    "reads layer 1's backward state at t-1, which has read x_t"
)


class ClozeModel(LanguageNetwork):
    """ids (T, B) = <eos> w_1 .. w_n <eos> per column -> log p(w_t | every other token), t = 1..n.

    Parameters: ``embedding.E`` (absent with embed=0), the stack's
    ``rnn.layers.<i>.fw.*`` / ``.bw.*``, and the output layer's: ``output.V``
    (vocab x 2H: [V V'], V reading s_{t-1}, V' reading s'_{t+1}) and
    ``output.c`` with the full softmax, or the class softmax's Vc, bc, V, c.
    """

    def __init__(self, vocab_size, embed=200, hidden=200, layers=1, cell="rnn", activation="tanh", init="xavier",
                 dropout=0.0, form=DEFAULT_FORM, softmax="full", classes=None, head=0, max_len=DEFAULT_MAX_LEN,
                 word_class=None, seed=None, dtype=None, allow_leak=False):
        super().__init__()
        self._check(cell, softmax, word_class, head)
        if form not in FORMS:
            raise ValueError(f"unknown deep form {form!r}; expected one of {', '.join(FORMS)}")
        if form == "concat" and layers > 1 and not allow_leak:
            raise ValueError(f"form 'concat' {LEAK_REASON}; use form 'article'")
        if max_len < 1:
            raise ValueError(f"max_len must be positive, got {max_len}")
        dtype = as_dtype(dtype)
        self.cfg = dict(vocab_size=vocab_size, embed=embed, hidden=hidden, layers=layers, cell=cell,
                        activation=activation, init=init, dropout=dropout, form=form, softmax=softmax,
                        classes=classes, **self._head_entry(head), max_len=max_len)
        rng = make_rng(seed)
        self.hidden_size = hidden
        self.max_len = max_len
        # the output layer reads [s_{t-1}; s'_{t+1}]: 2 x hidden
        self._build_parts(rng, dtype, word_class, bidirectional=True, form=form)
        self._add_output_and_dropouts(rng)  # final_state stays None: nothing is carried between batches

    # --- forward and backward ------------------------------------------------

    def context(self, ids, state=None):
        """[s_{t-1}; s'_{t+1}] of the top layer for t = 1..T-2: (T-2, B, 2H)."""
        if state is not None:
            raise ValueError("a cloze model reads every sequence from zero states; state must be None")
        if ids.ndim != 2 or ids.shape[0] < 3:
            raise ValueError(f"ids: expected (T, B) with T >= 3 (<eos>, at least one token, <eos>), got {ids.shape}")
        x = ids
        if self.embedding is not None:
            x = self.drop_in.forward(self.embedding.forward(ids))
        h = self.rnn.forward(x)  # (T, B, 2H): [s_t; s'_t]
        H = self.hidden_size
        # o_t reads s_{t-1} (forward half, one step back) and s'_{t+1} (backward half, one step ahead)
        z = xp.concatenate([h[:-2, :, :H], h[2:, :, H:]], axis=-1)
        self._T = ids.shape[0]
        return self.drop_out.forward(z)

    def _flat(self, z):
        n, B, H2 = z.shape
        self._shape = (n, B, H2)
        return z.reshape(n * B, H2)

    def loss(self, ids, targets, state=None):
        """Mean cross-entropy (nats per token) of ``targets`` (T-2, B), normally ids[1:-1]."""
        z = self.context(ids, state)
        if targets.shape != z.shape[:2]:
            raise ValueError(f"targets: expected shape {z.shape[:2]} (ids without the two <eos>), got {targets.shape}")
        return self.output.loss(self._flat(z), targets.reshape(-1))

    def backward(self):
        """BPTT through both directions of every layer: accumulates every parameter's gradient."""
        n, B, H2 = self._shape
        H = H2 // 2
        dz = self.drop_out.backward(self.output.backward_loss().reshape(n, B, H2))
        dh = xp.zeros((self._T, B, H2), dtype=dz.dtype)
        dh[:-2, :, :H] = dz[..., :H]  # V s_{t-1}
        dh[2:, :, H:] = dz[..., H:]   # V' s'_{t+1}
        dx, _ = self.rnn.backward(dh)
        if self.embedding is not None:
            self.embedding.backward(self.drop_in.backward(dx))

    def log_probs(self, ids, state=None):
        """log p(w_t | all other tokens) over the vocabulary: (T-2, B, vocab)."""
        z = self.context(ids, state)
        n, B, _ = z.shape
        return self.output.log_probs(self._flat(z)).reshape(n, B, self.vocab_size)

    def token_log_probs(self, ids, targets, state=None):
        """log p(targets_t | all other tokens): (T-2, B)."""
        z = self.context(ids, state)
        n, B, _ = z.shape
        return self.output.token_log_probs(self._flat(z), targets.reshape(-1)).reshape(n, B)


# --- lines, pieces and batches ------------------------------------------------


def pieces(ids, eos_id, max_len):
    """The lines of an id stream (one <eos> after each) as arrays, lines longer than max_len cut into pieces."""
    ids = numpy.asarray(ids)
    ends = numpy.flatnonzero(ids == eos_id)
    out, start = [], 0
    for end in ends:
        line = ids[start:end]
        start = end + 1
        for a in range(0, line.size, max_len):
            out.append(line[a : a + max_len])
    if start < ids.size:  # a stream without a final <eos>
        line = ids[start:]
        out.extend(line[a : a + max_len] for a in range(0, line.size, max_len))
    return [p for p in out if p.size]


def by_length(seqs):
    """{length: (count, length) int32 array} of equal-length sequences: batches need no padding."""
    groups = {}
    for s in seqs:
        groups.setdefault(s.size, []).append(s)
    return {n: numpy.stack(g).astype(ID_DTYPE) for n, g in sorted(groups.items())}


def with_edges(rows, eos_id):
    """(count, n) token rows -> (n + 2, count) time-major ids with an <eos> at both edges."""
    count = rows.shape[0]
    edge = numpy.full((1, count), eos_id, dtype=ID_DTYPE)
    return numpy.ascontiguousarray(numpy.concatenate([edge, rows.T.astype(ID_DTYPE), edge]))


class SentenceBatches:
    """Training batches for the cloze model: sentences (pieces) of equal length, shuffled per epoch.

    ``get(epoch, index)`` -> (x (n+2, b), y (n, b)). The plan of an epoch is a
    function of (seed, epoch) only, so a resumed run sees the same batches.
    """

    def __init__(self, ids, eos_id, batch, max_len, seed):
        self.eos_id, self.batch, self.seed = eos_id, batch, seed
        self.groups = by_length(pieces(ids, eos_id, max_len))
        if not self.groups:
            raise RnnkitError("the corpus has no tokens to predict")
        self.tokens = int(sum(g.size for g in self.groups.values()))
        self.count = int(sum(-(-g.shape[0] // batch) for g in self.groups.values()))
        self._plan_epoch, self._plan = None, None

    def __len__(self):
        return self.count

    def _make_plan(self, epoch):
        rng = numpy.random.default_rng([int(self.seed), int(epoch)])
        chunks = []
        for n, rows in self.groups.items():
            order = rng.permutation(rows.shape[0])
            chunks.extend((n, order[a : a + self.batch]) for a in range(0, order.size, self.batch))
        return [chunks[i] for i in rng.permutation(len(chunks))]

    def get(self, epoch, index):
        if self._plan_epoch != epoch:
            self._plan, self._plan_epoch = self._make_plan(epoch), epoch
        n, rows = self._plan[index]
        x = with_edges(self.groups[n][rows], self.eos_id)
        return x, x[1:-1]


def eval_batches(ids, eos_id, max_len, rows=EVAL_ROWS):
    """(x, y) batches covering every token of the stream once, in length groups."""
    for n, group in by_length(pieces(ids, eos_id, max_len)).items():
        per = max(1, rows // n)
        for a in range(0, group.shape[0], per):
            x = with_edges(group[a : a + per], eos_id)
            yield x, x[1:-1]


# --- evaluation ------------------------------------------------------------------


def cloze_nll(model, ids, eos_id):
    """(total NLL in nats, tokens) of filling every token of the stream from both sides of its line."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for x, y in eval_batches(ids, eos_id, model.max_len):
            total -= float(model.token_log_probs(x, y).sum(dtype=xp.float64))
            count += y.size
    finally:
        model.train(was_training)
    return total, count


def cloze_stats(model, ids, eos_id, ks=(1, 5)):
    """{"nll", "tokens", "top1", "top5"}: NLL and how often the answer is among the k most likely tokens."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    hits = {k: 0 for k in ks}
    try:
        for x, y in eval_batches(ids, eos_id, model.max_len):
            logp = model.log_probs(x)  # (n, b, V)
            target = numpy.take_along_axis(logp, y[..., None].astype(numpy.intp), -1)
            total -= float(target.sum(dtype=xp.float64))
            # the rank of the answer: how many tokens the model finds more likely (ties count for the answer)
            above = (logp > target).sum(-1)
            for k in ks:
                hits[k] += int((above < k).sum())
            count += y.size
    finally:
        model.train(was_training)
    return {"nll": total, "tokens": count, **{f"top{k}": hits[k] for k in ks}}


def evaluate(model, encoded, eos_id):
    """`rnnkit eval` on a cloze model: cloze perplexity, bits/nats per token, top-1 / top-5 accuracy."""
    from rnnkit.lm.evaluate import summary

    stats = cloze_stats(model, encoded.ids, eos_id)
    n = stats["tokens"]
    out = summary(stats["nll"], n)
    out.update(top1=stats["top1"] / n if n else 0.0, top5=stats["top5"] / n if n else 0.0)
    # OOV over the predicted tokens (the <eos> of every line is context, not a prediction)
    oov = encoded.oov
    out.update(oov=oov, oov_rate=oov / n if n else 0.0, lines=encoded.lines)
    return out


# --- files ---------------------------------------------------------------------------


def model_task(model_dir):
    """The task config.json names ("lm" when it names none), or None when MODEL_DIR is not readable as a model."""
    try:
        with open(os.path.join(model_dir, io.CONFIG), encoding="utf-8") as f:
            cfg = json.load(f)
        return cfg.get("task", "lm") if isinstance(cfg, dict) else None
    except (OSError, ValueError):
        return None


class ClozeLM:
    """A trained cloze model with its dictionary and tokenizer (what `rnnkit fill` and `eval` load).

    ``fill(text)`` -> FillResult, ``evaluate(path)`` -> ClozeEvaluation (rnnkit.lm.results).
    """

    def __init__(self, model, vocab, tokenizer, config=None):
        self.model, self.vocab, self.tokenizer = model, vocab, tokenizer
        self.config = config or {"task": TASK, "tokenizer": tokenizer, "model": model.config()}
        self.model.eval()

    @classmethod
    def load(cls, model_dir, verify=True):
        """Read MODEL_DIR like LanguageModel.load (``verify=False`` too)."""
        from rnnkit.lm.task import get_task

        config, vocab, tokenizer, model = get_task(TASK).load(model_dir, verify)
        return cls(model, vocab, tokenizer, config)

    def evaluate(self, path):
        """`rnnkit eval` on a cloze model: cloze perplexity and top-1/top-5 accuracy of a text file."""
        from rnnkit.lm.data import encode_file

        r = evaluate(self.model, encode_file(path, self.tokenizer, self.vocab), self.vocab.eos_id)
        return ClozeEvaluation(file=str(path), **r)

    def fill(self, text, top=10, beam=None):
        """The ``top`` most likely fillings of the blank(s) in ``text`` (``__``: one token, ``__N__``: N):
        a FillResult. ``beam``: the search's width for several blank tokens (default max(top, 10))."""
        return fill(self.model, self.vocab, self.tokenizer, text, top, beam)


# --- the blank ---------------------------------------------------------------------

# "__N__" is a blank of N tokens; any other run of two or more underscores is one token.
BLANK = re.compile(r"__(\d+)__|_{2,}")
BLANK_HELP = "mark the blank with __ (one token) or __N__ (N tokens, e.g. __2__)"


def parse_blanks(text, tokenizer):
    """(tokens, blank positions): the text's tokens with "__" at each blank token."""
    matches = list(BLANK.finditer(text))
    if not matches:
        raise RnnkitError(f"no blank in the text: {BLANK_HELP}")
    cut = get_tokenizer(tokenizer)
    tokens, positions, last = [], [], 0
    for m in matches:
        # the size is checked before anything is built for it (__999999999__ is refused, not allocated)
        digits = m.group(1)
        size = 1 if digits is None else (int(digits) if len(digits) <= 6 else None)
        if size is None or len(positions) + size > MAX_BLANK_TOKENS:
            total = "over a million" if size is None else len(positions) + size
            raise RnnkitError(f"unsupported blank: {total} blank tokens; at most {MAX_BLANK_TOKENS} are filled at once")
        if size < 1:
            raise RnnkitError(f"{m.group(0)}: a blank needs at least one token ({BLANK_HELP})")
        if tokenizer == "word":
            before, after = text[m.start() - 1 : m.start()], text[m.end() : m.end() + 1]
            if (before and not before.isspace()) or (after and not after.isspace()):
                raise RnnkitError(
                    f"unsupported blank {text[max(0, m.start() - 8) : m.end() + 8].strip()!r}: a word model fills "
                    "whole words; put spaces around the blank"
                )
        tokens.extend(cut(text[last : m.start()]))
        for _ in range(size):
            positions.append(len(tokens))
            tokens.append("__")
        last = m.end()
    tokens.extend(cut(text[last:]))
    if len(positions) > MAX_BLANK_TOKENS:
        raise RnnkitError(f"unsupported blank: {len(positions)} blank tokens; at most {MAX_BLANK_TOKENS} are filled at once")
    return tokens, positions


def _sequences(base, positions, fills):
    """(T, N) ids: the line ``base`` (with its <eos> edges) once per row of ``fills`` (N, k)."""
    x = numpy.repeat(base[:, None], fills.shape[0], axis=1)
    x[numpy.asarray(positions) + 1] = fills.T
    return x


def _chunks(n, length):
    """Slices of at most EVAL_ROWS predicted tokens: rows of a (length, N) batch per call."""
    step = max(1, EVAL_ROWS // max(1, length))
    return [slice(a, a + step) for a in range(0, n, step)]


def pseudo_log_likelihood(model, base, positions, fills):
    """Σ over the blank positions of log p(token | every other token), per row of ``fills``: (N,)."""
    x = _sequences(base, positions, fills)
    rows = numpy.asarray(positions)
    out = numpy.empty(fills.shape[0])
    for sl in _chunks(fills.shape[0], x.shape[0]):
        z = model.context(x[:, sl])[rows]  # only the blank positions' [s_{t-1}; s'_{t+1}]: (k, N, 2H)
        k, n, h2 = z.shape
        logp = model.output.token_log_probs(xp.ascontiguousarray(z).reshape(k * n, h2), fills[sl].T.reshape(-1))
        out[sl] = logp.reshape(k, n).sum(axis=0, dtype=numpy.float64)
    return out


def _log_probs_at(model, base, positions, fills, p):
    """log p(. | every other token) at token position ``p``, per row of ``fills``: (N, vocab), float64."""
    x = _sequences(base, positions, fills)
    parts = []
    for sl in _chunks(fills.shape[0], x.shape[0]):
        z = model.context(x[:, sl])[p]
        parts.append(model.output.log_probs(xp.ascontiguousarray(z)).astype(numpy.float64))
    return numpy.concatenate(parts)


def _top(logp, m):
    """Indices of the m largest entries of each row, (N, m)."""
    m = min(m, logp.shape[1])
    return numpy.argpartition(-logp, m - 1, axis=1)[:, :m]


def _beam(model, base, positions, order, start, beam, banned):
    """Fill ``order`` (blank positions) one after another, keeping the ``beam`` best partial fillings.

    ``start`` (k,) are the placeholders of the positions not filled yet.
    Returns the fillings found, (beam, k).
    """
    index = {p: j for j, p in enumerate(positions)}
    fills = start[None, :].copy()
    scores = numpy.zeros(1)
    for p in order:
        logp = _log_probs_at(model, base, positions, fills, p)
        logp[:, banned] = -numpy.inf
        flat = (scores[:, None] + logp).ravel()
        keep = min(beam, int(numpy.isfinite(flat).sum()))
        best = numpy.argpartition(-flat, keep - 1)[:keep]
        best = best[numpy.argsort(-flat[best], kind="stable")]
        rows, tokens = numpy.divmod(best, logp.shape[1])
        fills = fills[rows].copy()
        fills[:, index[p]] = tokens
        scores = flat[best]
    return fills


def _spans(positions):
    """Runs of consecutive blank positions: [[3, 4], [9]] for positions [3, 4, 9]."""
    spans = [[positions[0]]]
    for p in positions[1:]:
        if p == spans[-1][-1] + 1:
            spans[-1].append(p)
        else:
            spans.append([p])
    return spans


def _collapsed(model, base, span, m, banned):
    """The m tokens most likely where the span would be were it one token long (seeds for the search)."""
    first, last = span[0] + 1, span[-1] + 1  # rows of base
    x = numpy.concatenate([base[: first + 1], base[last + 1 :]])
    logp = model.log_probs(x[:, None])[span[0], 0].astype(numpy.float64)
    logp[banned] = -numpy.inf
    return _top(logp[None], m)[0]


def search(model, base, positions, beam, banned, placeholder, per_position=10, sweeps=4):
    """{filling (tuple of ids): pseudo-log-likelihood} of every filling the search scored.

    Seeds: beam search left to right and right to left (the positions not yet
    filled hold ``placeholder``), and each span's one-token fillings placed at
    each of its positions. Then local search: every seed, and from then on
    every filling of the ``beam`` best, gets at each blank position the
    ``per_position`` tokens most likely there given all its other tokens;
    repeated until the best ``beam`` no longer change (at most ``sweeps`` times).
    """
    k = len(positions)
    blank = numpy.full(k, placeholder, dtype=ID_DTYPE)
    seeds = [blank[None]]
    for order in (positions, positions[::-1]):
        seeds.append(_beam(model, base, positions, order, blank, beam, banned))
    for span in _spans(positions):
        for token in _collapsed(model, base, span, per_position, banned):
            for p in span:
                row = blank.copy()
                row[positions.index(p)] = token
                seeds.append(row[None])
    scored = {}

    def score(rows):
        rows = numpy.unique(rows.astype(ID_DTYPE), axis=0)
        rows = rows[[tuple(r) not in scored for r in rows.tolist()]]
        if rows.size:
            for r, v in zip(rows.tolist(), pseudo_log_likelihood(model, base, positions, rows)):
                scored[tuple(r)] = float(v)

    def best():
        keys = sorted(scored, key=lambda r: -scored[r])[:beam]
        return numpy.array(keys, dtype=ID_DTYPE)

    pool = numpy.unique(numpy.concatenate(seeds), axis=0)
    score(pool)  # the first sweep moves from every seed, the later ones from the best fillings
    for _ in range(sweeps):
        moves = []
        for j, p in enumerate(positions):
            logp = _log_probs_at(model, base, positions, pool, p)
            logp[:, banned] = -numpy.inf
            top = _top(logp, per_position)
            rows = numpy.repeat(pool, top.shape[1], axis=0)
            rows[:, j] = top.ravel()
            moves.append(rows)
        score(numpy.concatenate(moves))
        new = best()
        if set(map(tuple, new.tolist())) == set(map(tuple, pool.tolist())):
            break
        pool = new
    return scored


def fill(model, vocab, tokenizer, text, top=10, beam=None):
    """The ``top`` most likely fillings of the blank(s) in ``text``.

    Returns a FillResult (tokens, positions, unknown, scoring, predictions: [Filling(tokens, text, probability)]).
    """
    check_top(top)
    if beam is not None:
        check_top(beam, "beam")
    tokens, positions = parse_blanks(text, tokenizer)
    if len(positions) > 1:
        # the search holds (beam x vocabulary) scores: its width is checked before it starts
        for name, value in (("top", top), ("beam", beam)):
            if value is not None and value > MAX_BEAM:
                raise OptionError(f"{{{name}}} {value} is more than {MAX_BEAM}, the widest search for a blank of "
                                  "several tokens", name)
    context = [t for t in tokens if t != "__"]
    unknown = [t for t in context if t not in vocab]
    if context and len(unknown) == len(context):
        shown = " ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise RnnkitError(f"every token around the blank is unknown to the model ({shown}): nothing to fill from")
    model.eval()
    ids = [vocab.eos_id] + [vocab.unk_id if t == "__" else vocab.id(t) for t in tokens] + [vocab.eos_id]
    base = numpy.array(ids, dtype=ID_DTYPE)
    if len(positions) == 1:
        # one token: the model's own distribution at that position, exact
        logp = model.log_probs(base[:, None])[positions[0], 0].astype(numpy.float64)
        k = min(top, logp.size)
        idx = numpy.argpartition(-logp, k - 1)[:k]
        idx = idx[numpy.argsort(-logp[idx], kind="stable")]
        preds = [[vocab.tokens[i]] for i in idx], [float(numpy.exp(logp[i])) for i in idx]
        scoring = "exact"
    else:
        beam = beam or max(top, 10)
        # <eos> never stands inside a line: not a filling
        scored = search(model, base, positions, beam, [vocab.eos_id], vocab.unk_id)
        ranked = sorted(scored, key=lambda r: -scored[r])[:top]
        preds = [[vocab.tokens[i] for i in r] for r in ranked], [float(numpy.exp(scored[r])) for r in ranked]
        scoring = "pseudo-likelihood"
    fillings = [Filling(t, join_tokens(t, tokenizer), p) for t, p in zip(*preds)]
    return FillResult(text, tokens, positions, unknown, scoring, fillings)


def join_tokens(tokens, tokenizer):
    return " ".join(tokens) if tokenizer == "word" else "".join(tokens)
