"""Scoring sentences, and re-ranking the n-best lists of speech recognition and OCR.

Each line is one sentence, scored on its own from the start state (the state
after <eos>): log p(w_1 .. w_n <eos>) = Σ_t log o_t[w_{t+1}] over its tokens
and its end. Scores are log10 probabilities, the unit of SRILM, KenLM and
ARPA files, so they sit beside N-gram scores without conversion.

N-best lists (docs/article.md §1: a language model chooses among the candidates of a
recogniser). The file is UTF-8 text, one candidate per line, tab-separated:

    utt_id <TAB> candidate text [<TAB> acoustic score]

Candidates with the same utt_id form one list (they need not be adjacent).
The optional third field is the recogniser's own score for the candidate
(acoustic model or OCR), a log-probability-like number where higher is
better; give all candidates one or give none. Blank lines and lines starting
with ``#`` are skipped. The combined score is

    combined = lm_weight * log10 P_lm(candidate) + am_weight * acoustic score

and each list is printed best first.
"""

import math
from dataclasses import dataclass

from rnnkit.backend import xp
from rnnkit.errors import RnnkitError
from rnnkit.lm.data import encode_sentence
from rnnkit.lm.results import Candidate, NbestResult, SentenceScore

LOG10_E = 1.0 / math.log(10.0)
SCORE_BATCH = 64  # sentences per forward pass; a speed knob, results do not depend on it
# Memory that does not grow with line length: each forward call reads at most
# SCORE_ROWS positions (steps x sentences: the (positions x vocabulary) scores
# are the big array), the state carried from one call to the next; a group of
# sentences holds at most SCORE_GROUP_IDS padded ids, so a very long line is
# read on its own, not padded into 63 others' rows.
SCORE_ROWS = 512
SCORE_GROUP_IDS = 1 << 20


def _groups(lengths, batch):
    """Indices of the sentences, shortest first, in groups of at most ``batch`` and SCORE_GROUP_IDS padded ids."""
    group = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if group and (len(group) == batch or (len(group) + 1) * (lengths[i] + 1) > SCORE_GROUP_IDS):
            yield group
            group = []
        group.append(i)
    if group:
        yield group


def shared_prefixes(id_lists):
    """Which positions of the sentences repeat an earlier one's: (own, forks, copies).

    Position t of a sentence (its token t + 1, or its end, predicted from its
    first t tokens and the start state) depends on those t tokens only. Sorted
    (by their bytes: sentences that share a prefix are neighbours, and each
    shares its longest one, k tokens, with the one before it), a sentence takes
    its positions t < k from the one before (same prefix, same target); at
    t = k the two predict different tokens from the same distribution, which
    is read from the row of the sentence that computes it (a fork); positions
    after k are its own. A sentence equal to the one before is copied whole.

    own[i]: the first position sentence i computes itself (len + 1: none);
    forks: [(i, j, t)]: i's position t is read from j's row at t, for i's target;
    copies: [(i, p, k)], in an order where p is complete before i: i's first k positions are p's.
    Every distinct prefix is computed once; n-best candidates, which share much, and
    the first position of every sentence (the start state's distribution) gain most.
    """
    order = sorted(range(len(id_lists)), key=lambda i: id_lists[i].tobytes())
    own, forks, copies = [0] * len(id_lists), [], []
    path = []  # [(first position, the sentence that computes it)] along the previous sentence's prefixes
    prev = None
    for i in order:
        ids = id_lists[i]
        if prev is None:
            path.append((0, i))
            prev = i
            continue
        before = id_lists[prev]
        m = min(len(before), len(ids))
        differ = xp.flatnonzero(before[:m] != ids[:m])
        k = int(differ[0]) if differ.size else m
        while path[-1][0] > k:
            path.pop()
        if k == len(ids) == len(before):  # the same sentence again
            own[i] = len(ids) + 1
            copies.append((i, prev, len(ids) + 1))
            continue
        copies.append((i, prev, k))
        forks.append((i, path[-1][1], k))
        own[i] = k + 1
        path.append((k + 1, i))
        prev = i
    return own, forks, copies


def sentence_log_probs(model, vocab, id_lists, batch=SCORE_BATCH):
    """Natural-log probabilities of every token and the final <eos> of each sentence.

    ``id_lists``: one int array per sentence (without <eos>). Returns one
    float64 array per sentence, of length len + 1. Sentences of similar length
    are run together, each from the start state; the padding after a short
    sentence cannot change its scores, because the network only looks back.
    The output layer, the costly part, runs only where it is needed: not on the
    padding, and once for each distinct prefix (shared_prefixes), however many
    sentences of the call share it; the many sentences of a server's batch
    share more than the few of one request.
    """
    model.eval()
    eos = vocab.eos_id
    lengths = [len(ids) for ids in id_lists]
    own, forks, copies = shared_prefixes(id_lists)
    out = [xp.empty(n + 1, dtype=xp.float64) for n in lengths]
    forks_of = {}  # the sentence whose row is read -> [(position, target, sentence)]
    for i, j, t in forks:
        forks_of.setdefault(j, []).append((t, int(id_lists[i][t]) if t < lengths[i] else eos, i))
    forked = {}
    computing = [i for i in range(len(id_lists)) if own[i] <= lengths[i]]
    for group in _groups([lengths[i] for i in computing], batch):
        group = [computing[g] for g in group]
        B, steps = len(group), max(lengths[i] for i in group) + 1
        x = xp.full((steps, B), eos, dtype=xp.int32)  # x[0] = <eos>: the start token
        y = xp.full((steps, B), eos, dtype=xp.int32)
        for b, i in enumerate(group):
            ids = id_lists[i]
            x[1 : len(ids) + 1, b] = ids
            y[: len(ids), b] = ids  # and y[len(ids)] stays <eos>: the sentence's end
        first = xp.array([own[i] for i in group])[None, :]
        last = xp.array([lengths[i] for i in group])[None, :]
        logp = xp.zeros((steps, B), dtype=xp.float64)
        chunk, state = max(1, SCORE_ROWS // B), None
        for t0 in range(0, steps, chunk):
            t1 = min(steps, t0 + chunk)
            t = xp.arange(t0, t1)[:, None]
            rows = xp.flatnonzero((t >= first) & (t <= last))  # t * B + b, each sentence's own positions
            extra = [(b, t, target, i) for b, j in enumerate(group) for t, target, i in forks_of.get(j, ())
                     if t0 <= t < t1]
            where = xp.full((t1 - t0) * B, -1, dtype=xp.int64)
            where[rows] = xp.arange(rows.size)
            extra_rows = xp.array([where[(t - t0) * B + b] for b, t, _, _ in extra], dtype=xp.int64)
            extra_targets = xp.array([target for _, _, target, _ in extra], dtype=xp.int64)
            values = model.token_log_probs_at(x[t0:t1], rows, y[t0:t1].reshape(-1)[rows], state,
                                              (extra_rows, extra_targets) if extra else None)
            state = model.final_state
            if extra:
                values, extra_values = values
                forked.update(zip([i for _, _, _, i in extra], extra_values.tolist()))
            logp[t0:t1].reshape(-1)[rows] = values
        for b, i in enumerate(group):
            out[i][own[i]:] = logp[own[i] : lengths[i] + 1, b]
    for i, p, k in copies:  # in order: p is complete before i
        out[i][:k] = out[p][:k]
        if i in forked:
            out[i][k] = forked[i]
    return out


def encode_all(lines, tokenizer, vocab):
    """(token lists, id arrays, OOV counts) of lines."""
    tokens, ids = zip(*(encode_sentence(line, tokenizer, vocab) for line in lines)) if lines else ((), ())
    oov = [sum(1 for w in t if w not in vocab) for t in tokens]
    return tokens, ids, oov


@dataclass
class EncodedLines:
    """Lines cut by the tokenizer and looked up in the dictionary: the part of scoring that needs
    no model (``LanguageModel.encode``), so that a server does it outside its model thread.

    ``lines``, ``tokens`` (lists), ``ids`` (int32 arrays: what sentence_log_probs reads, alone
    or among other requests' sentences), ``oov`` (counts), ``vocab``. ``scores(log_probs)``
    makes the rows of ``score`` from sentence_log_probs's answer for ``ids``.
    """

    lines: list
    tokens: list
    ids: list
    oov: list
    vocab: object

    @classmethod
    def of(cls, lines, tokenizer, vocab):
        tokens, ids, oov = encode_all(lines, tokenizer, vocab)
        return cls(list(lines), list(tokens), list(ids), oov, vocab)

    def scores(self, log_probs, per_word=False):
        """One SentenceScore per line (see score_lines) from the natural-log probabilities of its tokens and end."""
        if len(log_probs) != len(self.ids):
            raise ValueError(f"{len(log_probs)} arrays of log-probabilities for {len(self.ids)} lines")
        return [sentence_row(n + 1, text, toks, k, i, lp, self.vocab, per_word)
                for n, (text, toks, lp, k, i) in enumerate(zip(self.lines, self.tokens, log_probs, self.oov, self.ids))]


def score_lines(model, vocab, tokenizer, lines, per_word=False):
    """One SentenceScore per line: line, text, tokens (with <eos>), oov, logprob (log10), ppl,
    unk_targets and logprob_without_unk; ``per_word``: with the log10 probability of each
    token (<eos> last), and logprob their exact sum."""
    encoded = EncodedLines.of(lines, tokenizer, vocab)
    return encoded.scores(sentence_log_probs(model, vocab, encoded.ids), per_word)


def sentence_row(number, text, tokens, oov, ids, logp, vocab, per_word=False):
    """The SentenceScore of line ``number`` from the natural-log probability of each of its
    tokens and its end (``logp``); ``ids``: its token ids (without <eos>)."""
    count = len(tokens) + 1
    unk = xp.append(ids == vocab.unk_id, False)  # the <eos> target is never <unk>
    if per_word:
        values = (logp * LOG10_E).tolist()
        log10p = math.fsum(values)
        known = math.fsum(v for v, u in zip(values, unk.tolist()) if not u)
    else:
        log10p = float(logp.sum()) * LOG10_E
        known = float(logp[~unk].sum()) * LOG10_E
    row = SentenceScore(line=number, text=text, tokens=count, oov=oov, logprob=log10p,
                        ppl=10.0 ** (-log10p / count), unk_targets=int(unk.sum()), logprob_without_unk=known)
    if per_word:
        row.per_word = [{"token": t, "log10prob": v, "unk": bool(u)}
                        for t, v, u in zip(list(tokens) + ["<eos>"], values, unk.tolist())]
    return row


# --- n-best lists ------------------------------------------------------------------


def read_nbest(lines, source):
    """[(utt_id, text, acoustic score or None)] from the lines of a tab-separated n-best file
    (rnnkit.lm.nbest reads the other formats too)."""
    from rnnkit.lm.nbest import read_nbest_list

    return read_nbest_list(lines, source, format="tsv").entries()


def rank_nbest(entries, lm_logprobs, lm_weight=1.0, am_weight=1.0):
    """Group candidates by utterance (in order of first appearance), best combined score first.

    ``lm_logprobs``: the log10 LM probability of each entry's text. Returns
    [NbestResult(utt_id, [Candidate(text, lm_logprob, am_score, combined, rank)])].
    """
    groups = {}
    for (utt, text, am), lm in zip(entries, lm_logprobs):
        combined = lm_weight * lm + (am_weight * am if am is not None else 0.0)
        groups.setdefault(utt, []).append(Candidate(text=text, lm_logprob=lm, am_score=am, combined=combined))
    ranked = []
    for utt, cands in groups.items():
        cands.sort(key=lambda c: -c.combined)  # stable: ties keep the file's order
        for r, c in enumerate(cands, 1):
            c.rank = r
        ranked.append(NbestResult(utt, cands))
    return ranked


def rescore_nbest(model, vocab, tokenizer, lines, source, lm_weight=1.0, am_weight=1.0):
    entries = read_nbest(lines, source)
    scores = [row.logprob for row in score_lines(model, vocab, tokenizer, [text for _, text, _ in entries])]
    return rank_nbest(entries, scores, lm_weight, am_weight)
