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


def sentence_log_probs(model, vocab, id_lists, batch=SCORE_BATCH):
    """Natural-log probabilities of every token and the final <eos> of each sentence.

    ``id_lists``: one int array per sentence (without <eos>). Returns one
    float64 array per sentence, of length len + 1. Sentences of similar length
    are run together, each from the start state; the padding after a short
    sentence cannot change its scores, because the network only looks back.
    """
    model.eval()
    eos = vocab.eos_id
    out = [None] * len(id_lists)
    for group in _groups([len(ids) for ids in id_lists], batch):
        steps = max(len(id_lists[i]) for i in group) + 1
        x = xp.full((steps, len(group)), eos, dtype=xp.int32)  # x[0] = <eos>: the start token
        y = xp.full((steps, len(group)), eos, dtype=xp.int32)
        for b, i in enumerate(group):
            ids = id_lists[i]
            x[1 : len(ids) + 1, b] = ids
            y[: len(ids), b] = ids  # and y[len(ids)] stays <eos>: the sentence's end
        logp = xp.empty((steps, len(group)), dtype=xp.float64)
        chunk, state = max(1, SCORE_ROWS // len(group)), None
        for t in range(0, steps, chunk):
            logp[t : t + chunk] = model.token_log_probs(x[t : t + chunk], y[t : t + chunk], state)
            state = model.final_state
        for b, i in enumerate(group):
            out[i] = logp[: len(id_lists[i]) + 1, b].copy()
    return out


def encode_all(lines, tokenizer, vocab):
    """(token lists, id arrays, OOV counts) of lines."""
    tokens, ids = zip(*(encode_sentence(line, tokenizer, vocab) for line in lines)) if lines else ((), ())
    oov = [sum(1 for w in t if w not in vocab) for t in tokens]
    return tokens, ids, oov


def score_lines(model, vocab, tokenizer, lines, per_word=False):
    """One SentenceScore per line: line, text, tokens (with <eos>), oov, logprob (log10), ppl,
    unk_targets and logprob_without_unk; ``per_word``: with the log10 probability of each
    token (<eos> last), and logprob their exact sum."""
    tokens, ids, oov = encode_all(lines, tokenizer, vocab)
    return [sentence_row(n + 1, text, toks, k, i, lp, vocab, per_word)
            for n, (text, toks, lp, k, i) in enumerate(zip(lines, tokens, sentence_log_probs(model, vocab, ids), oov, ids))]


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
