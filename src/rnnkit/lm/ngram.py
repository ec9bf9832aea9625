"""N-gram language models: interpolated Kneser-Ney estimation, ARPA files, queries.

The baseline the article argues against (SEED.md section 1): an N-gram model
predicts a word from the N-1 words before it and nothing else. rnnkit builds
one the way KenLM's ``lmplz`` and SRILM's ``ngram-count -kndiscount
-interpolate`` do, writes it as a standard ARPA file, and reads any ARPA file
(KenLM's and SRILM's included) to score text, predict the next word, or mix
with the RNN.

Sentences
---------
Every sentence w_1 .. w_n is scored as ``<s> w_1 .. w_n </s>``: ``<s>`` is
context only (never predicted; its unigram probability is written as log10 =
-99 as both tools do), ``</s>`` is predicted like a word. A line that already
starts with ``<s>`` or ends with ``</s>`` keeps them (SRILM does the same);
anywhere else they are an error. ``<unk>``:

- closed vocabulary (default, as SRILM without ``-unk``): the vocabulary is
  the training words. A literal ``<unk>`` token in the corpus (the Penn
  Treebank has them) is an ordinary word. When scoring, a word outside the
  vocabulary is an OOV: it gets no probability, is left out of the perplexity
  and cuts the history (SRILM's ``ngram -ppl``).
- open vocabulary (``--unk``, what KenLM always does and SRILM's ``-unk``):
  ``<unk>`` is in the model and receives a share of the probability mass (see
  the uniform term below); words outside the vocabulary are scored as
  ``<unk>`` and counted in the perplexity.

Counting (adjusted counts)
--------------------------
Let c(w_1..w_k) be how often an n-gram occurs. Kneser-Ney's insight: a
lower-order distribution is only used when the longer context failed, so it
should ask "how many different words precede w?" rather than "how often does
w occur?". The adjusted count is

    a(w_1..w_k) = c(w_1..w_k)                for k = N (the highest order)
                = c(w_1..w_k)                if w_1 = <s> (nothing can precede it)
                = N1+(. w_1..w_k)            otherwise: the number of distinct
                                             words v with c(v w_1..w_k) > 0.

Discounts (Chen and Goodman 1998)
---------------------------------
For each order k, let n_r be the number of k-grams whose adjusted count is
exactly r (the count-of-counts). With Y = n_1 / (n_1 + 2 n_2):

    modified KN (three discounts):  D_1  = 1 - 2 Y n_2 / n_1   (which equals Y)
                                    D_2  = 2 - 3 Y n_3 / n_2
                                    D_3+ = 3 - 4 Y n_4 / n_3
    plain KN (one discount):        D    = Y

These are the leaving-one-out estimates of the best discounts. When the
corpus is too small for them (some n_r is zero, or a discount falls outside
(0, r]), the estimate is meaningless; we then use lmplz's
``--discount_fallback`` values 0.5, 1.0, 1.5 (plain KN: 0.75, the textbook
absolute discount) and say so in the ``estimation`` record.

Interpolation
-------------
For a context h = w_1..w_{k-1} and its shortened context h' = w_2..w_{k-1},
with D(a) the discount for a count a (D_1, D_2 or D_3+) and all sums over the
words x that follow h:

    p(w | h)  = (a(h w) - D(a(h w))) / sum_x a(h x)  +  gamma(h) p(w | h')
    gamma(h)  = (D_1 N_1(h .) + D_2 N_2(h .) + D_3+ N_3+(h .)) / sum_x a(h x)

where N_r(h .) counts the words that follow h with adjusted count r (3+ for
"3 or more"). gamma(h) is exactly the mass the discounts removed, so p(. | h)
sums to 1 whenever p(. | h') does. The recursion ends at the unigrams, which
are interpolated with the uniform distribution over the |V| predictable words
(the vocabulary without ``<s>``; with ``<unk>`` in an open vocabulary):

    p(w) = (a(w) - D(a(w))) / sum_x a(x)  +  gamma() / |V|

This uniform term is the only probability an unseen ``<unk>`` ever gets.

ARPA representation (back-off form)
-----------------------------------
An ARPA file lists, for every n-gram seen in training, log10 p(w | h) with the
interpolated value above, and for every n-gram that is a context the back-off
weight log10 b(h). A query for an n-gram that is not listed backs off:

    p(w | h) = p(w | h)               if h w is listed
             = b(h) p(w | h')         otherwise (b(h) = 1 if h is not listed)

For an interpolated model b(h) = gamma(h) reproduces the formula above
exactly, because an unseen h w has a(h w) = 0. Queries follow KenLM and SRILM:
an n-gram is only looked up if its context was found, so the matched history
only grows one word at a time.

Perplexity (as SRILM's ``ngram -ppl`` reports it)
--------------------------------------------------
logprob is the sum of log10 p over every scored token, ``</s>`` included.
With W words, S sentences, O skipped OOVs and Z zero probabilities:

    ppl  = 10 ** (-logprob / (W - O - Z + S))    every token and every </s>
    ppl1 = 10 ** (-logprob / (W - O - Z))        same logprob, </s> not counted

Python API (what ``rnnkit eval --mix`` and ``rnnkit score`` call)
-----------------------------------------------------------------
::

    from rnnkit.lm.ngram import NgramModel, estimate, sentences_from_lines

    lm = NgramModel.load("kn5.arpa")       # any ARPA file; reads kn5.arpa.json if there
    lm.order, lm.vocab, lm.tokenizer, lm.open_vocabulary
    sents, _ = sentences_from_lines(lines, lm.tokenizer)      # token lists
    per_token = lm.token_log10probs(sents)  # one array per sentence: len(s) + 1
                                            # values, the last one is p(</s>);
                                            # NaN for a skipped OOV (closed vocab)
    report = lm.evaluate(sents)             # PerplexityReport: ppl, ppl1, oovs...
    lm.next_log10probs(["<s>", "the"])      # log10 p(w | context) for every vocab id
    lm.top_k(["<s>", "the"], 10)            # [(word, probability), ...]

    model = estimate(sents, order=5)        # modified KN; discount="kn" for plain
    model.write_arpa("kn5.arpa")            # atomically, with kn5.arpa.json

The side file ``FILE.arpa.json`` records what ARPA cannot (tokenizer, open or
closed vocabulary, discounts); without it a file is read as KenLM would: the
``word`` tokenizer, and an open vocabulary exactly when ``<unk>`` is listed.

Implementation
--------------
Counting never touches a Python dictionary of tuples. Token ids form one flat
stream; the n-grams of order k are packed into one int64 each as
``index of (w_1..w_{k-1}) at order k-1 * |V| + w_k``, and ``np.unique`` turns
them into sorted n-gram indexes: a trie built one order at a time. For
queries every n-gram also gets a 64-bit hash chained the same way (hash of
the prefix, then the last word); a hash match is confirmed against the
entry's prefix index and last word, so a lookup is exact.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from rnnkit.errors import RnnkitError, UsageError
from rnnkit.lm.tokenize import TOKENIZERS, get_tokenizer, read_lines

BOS = "<s>"
EOS = "</s>"
UNK = "<unk>"
DISCOUNT_METHODS = ("modified-kn", "kn")
# What SRILM and KenLM write as the log10 probability of <s>, which is never predicted.
LOG10_ZERO = -99.0
# lmplz --discount_fallback's defaults for D_1, D_2, D_3+; 0.75 is the textbook
# absolute discount for plain KN.
FALLBACK_DISCOUNTS = {"modified-kn": (0.5, 1.0, 1.5), "kn": (0.75, 0.75, 0.75)}
SIDECAR_SUFFIX = ".json"
SIDECAR_FORMAT = "rnnkit-ngram"
_PRECISION = 6  # decimals written to ARPA files: log10 values to 5e-7


# ---------------------------------------------------------------------------
# Reading sentences


def sentences_from_lines(lines, tokenizer="word", source="<text>"):
    """Token lists of the non-empty lines, and the 1-based line number of each.

    A leading ``<s>`` and a trailing ``</s>`` are dropped (they are implied);
    either token anywhere else is an error naming the line.
    """
    cut = get_tokenizer(tokenizer)
    sentences, line_numbers = [], []
    for number, line in enumerate(lines, 1):
        tokens = cut(line)
        if not tokens:
            continue
        if tokens[0] == BOS:
            tokens = tokens[1:]
        if tokens and tokens[-1] == EOS:
            tokens = tokens[:-1]
        if not tokens:
            continue
        if BOS in tokens or EOS in tokens:
            raise RnnkitError(f"{source}: line {number}: {BOS} may only begin a sentence and {EOS} only end one")
        sentences.append(tokens)
        line_numbers.append(number)
    return sentences, line_numbers


def read_sentences(path, tokenizer="word"):
    """Sentences of a UTF-8 text file, one per non-empty line (see sentences_from_lines)."""
    sentences, _ = sentences_from_lines(read_lines(path), tokenizer, source=path)
    return sentences


# ---------------------------------------------------------------------------
# Hashing n-grams for lookup


_HASH_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_HASH_M1 = np.uint64(0xBF58476D1CE4E5B9)
_HASH_M2 = np.uint64(0x94D049BB133111EB)
_SALTS = [np.uint64(s) for s in (0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89)]


def _hash_step(prefix_hash, word_ids):
    """Hash of an n-gram from the hash of its first n-1 words and its last word id.

    The splitmix64 finaliser is a bijection, so two n-grams with the same
    prefix never collide; different prefixes collide with chance 2**-64,
    and the table builder re-salts if it ever happens.
    """
    x = prefix_hash + (word_ids.astype(np.uint64) + np.uint64(1)) * _HASH_GOLDEN
    x ^= x >> np.uint64(30)
    x *= _HASH_M1
    x ^= x >> np.uint64(27)
    x *= _HASH_M2
    x ^= x >> np.uint64(31)
    return x


@dataclass
class _OrderTable:
    """The n-grams of one order, in their natural order (trie order or file order).

    prefix[e] is the entry index of w_1..w_{k-1} at order k-1 (-1 at order 1,
    -2 when an ARPA file lacks the prefix, which makes the entry unreachable as
    in KenLM and SRILM); word[e] is the id of w_k. For order 1, entry = word id.
    """

    prefix: np.ndarray
    word: np.ndarray
    logprob: np.ndarray
    bow: np.ndarray
    sorted_hash: np.ndarray = None
    sorted_entry: np.ndarray = None

    def __len__(self):
        return len(self.word)

    def find(self, hashes, prefix_entries, words):
        """Entry index of each (prefix entry, word) pair, or -1 where not listed."""
        if len(hashes) == 0 or len(self.word) == 0:
            return np.full(len(hashes), -1, dtype=np.int64)
        pos = np.searchsorted(self.sorted_hash, hashes)
        pos[pos == len(self.sorted_hash)] = 0
        entry = self.sorted_entry[pos]
        hit = (self.sorted_hash[pos] == hashes) & (self.prefix[entry] == prefix_entries) & (self.word[entry] == words)
        return np.where(hit, entry, -1)


# ---------------------------------------------------------------------------
# The query model


@dataclass
class PerplexityReport:
    """What SRILM's ``ngram -ppl`` prints, as numbers (see the module docstring)."""

    sentences: int
    words: int
    oovs: int
    oov_policy: str  # "skipped" (closed vocabulary) or "scored-as-unk" (open)
    zeroprobs: int
    logprob: float
    ppl: float
    ppl1: float

    @property
    def tokens_scored(self):
        skipped = self.oovs if self.oov_policy == "skipped" else 0
        return self.words - skipped - self.zeroprobs + self.sentences

    def as_dict(self):
        def finite(x):
            return x if math.isfinite(x) else None

        return {
            "sentences": self.sentences,
            "words": self.words,
            "oovs": self.oovs,
            "oov_policy": self.oov_policy,
            "zeroprobs": self.zeroprobs,
            "tokens_scored": self.tokens_scored,
            "logprob": self.logprob,
            "ppl": finite(self.ppl),
            "ppl1": finite(self.ppl1),
        }


class NgramModel:
    """A back-off N-gram model: estimated here or read from any ARPA file.

    Attributes: ``order``, ``vocab`` (list of words; a word's id is its index),
    ``word_index`` (word -> id), ``tokenizer``, ``open_vocabulary``,
    ``estimation`` (discounts and counts when estimated or recorded in the side
    file; None otherwise). See the module docstring for the methods.
    """

    def __init__(self, vocab, tables, tokenizer="word", open_vocabulary=None, estimation=None, source=None):
        self.vocab = list(vocab)
        self.word_index = {w: i for i, w in enumerate(self.vocab)}
        if len(self.word_index) != len(self.vocab):
            raise RnnkitError("duplicate words in the vocabulary")
        self.tables = tables
        self.order = len(tables)
        self.tokenizer = tokenizer
        self.unk_id = self.word_index.get(UNK, -1)
        self.bos_id = self.word_index.get(BOS, -1)
        self.eos_id = self.word_index.get(EOS, -1)
        if open_vocabulary is None:
            open_vocabulary = self.unk_id >= 0
        if open_vocabulary and self.unk_id < 0:
            raise RnnkitError(f"an open-vocabulary model needs {UNK} among its unigrams")
        self.open_vocabulary = bool(open_vocabulary)
        self.estimation = estimation
        self.source = source
        self._build_hash_index()

    # -- construction helpers ------------------------------------------------

    def _build_hash_index(self):
        """Hash every entry and sort the hashes; re-salt in the (2**-64) case of a collision."""
        for salt in _SALTS:
            hashes = [_hash_step(np.full(len(self.vocab), salt, dtype=np.uint64), np.arange(len(self.vocab)))]
            collided = False
            for k in range(2, self.order + 1):
                table = self.tables[k - 1]
                reachable = table.prefix >= 0
                h = np.zeros(len(table), dtype=np.uint64)
                h[reachable] = _hash_step(hashes[-1][table.prefix[reachable]], table.word[reachable])
                # Unreachable entries (prefix missing from the file) keep hash 0 and never match.
                order = np.argsort(h, kind="stable")
                sorted_h = h[order]
                live = reachable[order]
                dup = (sorted_h[1:] == sorted_h[:-1]) & live[1:] & live[:-1]
                if dup.any():
                    first = order[:-1][dup]
                    second = order[1:][dup]
                    same = (table.prefix[first] == table.prefix[second]) & (table.word[first] == table.word[second])
                    if same.any():
                        raise RnnkitError(f"duplicate {k}-gram in the model")
                    collided = True
                    break
                table.sorted_hash = sorted_h
                table.sorted_entry = order.astype(np.int64)
                hashes.append(h)
            if not collided:
                self._unigram_hash = hashes[0]
                self._salt = salt
                return
        raise RnnkitError("could not build a collision-free hash index (this should never happen)")

    # -- loading -------------------------------------------------------------

    @classmethod
    def load(cls, path):
        """Read an ARPA file (plain or .gz) and its side file ``path + '.json'`` if present."""
        return read_arpa(path)

    # -- queries -------------------------------------------------------------

    def encode(self, tokens):
        """Word ids of tokens; an OOV becomes <unk> (open vocabulary) or -1 (closed)."""
        missing = self.unk_id if self.open_vocabulary else -1
        get = self.word_index.get
        return [get(w, missing) for w in tokens]

    def _stream(self, sentences):
        """One id stream ``<s> w.. </s> <s> ...``, sentence depth of each position, OOV mask."""
        lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        get = self.word_index.get
        flat = np.fromiter((get(w, -1) for s in sentences for w in s), dtype=np.int64, count=int(lengths.sum()))
        oov = flat < 0
        if self.open_vocabulary:
            flat[oov] = self.unk_id
        spans = lengths + 2
        starts = np.zeros(len(sentences), dtype=np.int64)
        np.cumsum(spans[:-1], out=starts[1:])
        total = int(spans.sum())
        ids = np.empty(total, dtype=np.int64)
        word_mask = np.ones(total, dtype=bool)
        word_mask[starts] = False
        word_mask[starts + lengths + 1] = False
        ids[starts] = self.bos_id
        ids[starts + lengths + 1] = self.eos_id
        ids[word_mask] = flat
        oov_stream = np.zeros(total, dtype=bool)
        oov_stream[word_mask] = oov
        depth = np.arange(total, dtype=np.int64) - np.repeat(starts, spans)
        return ids, depth, oov_stream, starts, lengths

    def _score_ids(self, ids, depth):
        """log10 p(ids[i] | history) for every position (NaN where it cannot be scored).

        ids < 0 are skipped OOVs: no probability, and no n-gram reaches across them.
        """
        n = len(ids)
        valid = ids >= 0
        entries = [np.where(valid, ids, -1)]  # order 1: entry index = word id
        hashes = [self._unigram_hash[np.where(valid, ids, 0)]]
        for k in range(2, self.order + 1):
            prev = entries[-1]
            entry = np.full(n, -1, dtype=np.int64)
            h = np.zeros(n, dtype=np.uint64)
            # The k-gram ending at i is only looked up if its context (the
            # (k-1)-gram ending at i-1) was found: KenLM's and SRILM's rule.
            cand = np.flatnonzero((prev[:-1] >= 0) & (depth[1:] >= k - 1) & valid[1:]) + 1
            if len(cand):
                hk = _hash_step(hashes[-1][cand - 1], ids[cand])
                entry[cand] = self.tables[k - 1].find(hk, prev[cand - 1], ids[cand])
                h[cand] = hk
            entries.append(entry)
            hashes.append(h)

        logp = np.full(n, np.nan)
        longest = np.zeros(n, dtype=np.int64)
        for k in range(1, self.order + 1):
            e = entries[k - 1]
            found = e >= 0
            logp[found] = self.tables[k - 1].logprob[e[found]]
            longest[found] = k
        # Back-off weights of the contexts longer than the n-gram that matched.
        for j in range(1, self.order):
            ctx = np.full(n, -1, dtype=np.int64)
            ctx[1:] = entries[j - 1][:-1]
            use = (ctx >= 0) & (longest <= j) & (longest > 0)
            logp[use] += self.tables[j - 1].bow[ctx[use]]
        return logp

    def token_log10probs(self, sentences):
        """Per-token log10 probabilities of token lists (no <s>/</s> in them).

        Returns one float64 array per sentence with len(sentence) + 1 values:
        p(w_1 | <s>), ..., p(w_n | ...), p(</s> | ...). A word outside a closed
        vocabulary has no probability: NaN (SRILM skips it; mixing code should
        skip that token too). In an open vocabulary it is scored as <unk>.
        """
        if not sentences:
            return []
        ids, depth, _, starts, lengths = self._stream(sentences)
        logp = self._score_ids(ids, depth)
        return [logp[s + 1 : s + 2 + n] for s, n in zip(starts.tolist(), lengths.tolist())]

    def evaluate(self, sentences):
        """Perplexity of token lists, as SRILM's ``ngram -ppl`` computes it."""
        if not sentences:
            return PerplexityReport(0, 0, 0, self._oov_policy(), 0, 0.0, math.nan, math.nan)
        ids, depth, oov, _, _ = self._stream(sentences)
        if not self.open_vocabulary:
            ids = np.where(oov, -1, ids)
        logp = self._score_ids(ids, depth)
        predicted = depth > 0
        scores = logp[predicted]
        oovs = int(oov.sum())
        zero = np.isneginf(scores)
        zeroprobs = int(zero.sum())
        scored = ~np.isnan(scores) & ~zero
        logprob = float(scores[scored].sum())
        n_sent = len(sentences)
        n_words = int(predicted.sum()) - n_sent
        skipped = 0 if self.open_vocabulary else oovs
        denom = n_words - skipped - zeroprobs + n_sent
        denom1 = denom - n_sent
        ppl = 10.0 ** (-logprob / denom) if denom > 0 else math.nan
        ppl1 = 10.0 ** (-logprob / denom1) if denom1 > 0 else math.nan
        return PerplexityReport(n_sent, n_words, oovs, self._oov_policy(), zeroprobs, logprob, ppl, ppl1)

    def _oov_policy(self):
        return "scored-as-unk" if self.open_vocabulary else "skipped"

    def log10prob(self, context, word):
        """log10 p(word | context); context is a token list, optionally starting with <s>."""
        return float(self.next_log10probs(context)[self._word_id(word)])

    def _word_id(self, word):
        wid = self.word_index.get(word, self.unk_id if self.open_vocabulary else -1)
        if wid < 0:
            raise RnnkitError(f"{word!r} is not in the model's vocabulary")
        return wid

    def _context_entries(self, context):
        """Entry index and hash of the longest usable context suffixes, shortest first."""
        context = list(context)
        if BOS in context:
            # Nothing reaches back across a sentence start.
            context = context[len(context) - 1 - context[::-1].index(BOS) :]
        ids = self.encode(context)
        # Only the last order-1 tokens matter.
        ids = ids[len(ids) - (self.order - 1) :] if self.order > 1 else []
        found = []  # found[j-1] = (entry, hash) of the j-gram ending the context
        for j in range(1, len(ids) + 1):
            gram = ids[len(ids) - j :]
            if min(gram) < 0:
                break
            entry, h = self._find_ngram(gram)
            if entry < 0:
                break
            found.append((entry, h))
        return found

    def _find_ngram(self, ids):
        """(entry, hash) of a listed n-gram given as word ids, following its prefixes; (-1, 0) if absent."""
        entry = ids[0]
        if entry < 0 or entry >= len(self.vocab):
            return -1, 0
        h = self._unigram_hash[entry]
        for k in range(2, len(ids) + 1):
            hk = _hash_step(np.array([h], dtype=np.uint64), np.array([ids[k - 1]]))
            e = self.tables[k - 1].find(hk, np.array([entry]), np.array([ids[k - 1]]))[0]
            if e < 0:
                return -1, 0
            entry, h = int(e), hk[0]
        return int(entry), h

    def next_log10probs(self, context):
        """log10 p(w | context) for every word id w (-inf for <s>, which is never predicted).

        ``context`` is a token list; start it with ``<s>`` for the start of a
        sentence. Only its last order-1 tokens are used.
        """
        vocab_ids = np.arange(len(self.vocab), dtype=np.int64)
        logp = self.tables[0].logprob.astype(np.float64).copy()
        for j, (entry, h) in enumerate(self._context_entries(context), start=1):
            if j >= self.order:
                break
            table = self.tables[j]  # order j + 1
            hk = _hash_step(np.full(len(vocab_ids), h, dtype=np.uint64), vocab_ids)
            found = table.find(hk, np.full(len(vocab_ids), entry, dtype=np.int64), vocab_ids)
            # p(w | h) = listed value, or b(h) p(w | h') when h w is not listed.
            logp = np.where(found >= 0, table.logprob[np.maximum(found, 0)], logp + self.tables[j - 1].bow[entry])
        if self.bos_id >= 0:
            logp[self.bos_id] = -np.inf
        return logp

    def top_k(self, context, k=10):
        """The k most probable next words after context: [(word, probability), ...]."""
        logp = self.next_log10probs(context)
        k = max(0, min(int(k), len(logp) - (1 if self.bos_id >= 0 else 0)))
        best = np.argpartition(-logp, k - 1)[:k] if k else np.array([], dtype=np.int64)
        best = best[np.argsort(-logp[best], kind="stable")]
        return [(self.vocab[i], float(10.0 ** logp[i])) for i in best]

    def ngram_ids(self, k):
        """Word ids of the order-k entries, as a (count, k) array in the table's order."""
        cols = [np.arange(len(self.vocab), dtype=np.int64)[:, None]]
        for j in range(2, k + 1):
            t = self.tables[j - 1]
            prefix = np.maximum(t.prefix, 0)
            cols.append(np.column_stack([cols[-1][prefix], t.word]))
        return cols[k - 1]

    def counts(self):
        """Number of listed n-grams per order."""
        return [len(t) for t in self.tables]

    def check_compatible(self, tokenizer=None):
        """Raise RnnkitError if the model was built with a different tokenizer."""
        if tokenizer is not None and tokenizer != self.tokenizer:
            where = f" ({self.source})" if self.source else ""
            raise RnnkitError(
                f"the N-gram model{where} was built with --tokenizer {self.tokenizer}, not {tokenizer}; "
                "the two models must cut text the same way"
            )

    # -- writing -------------------------------------------------------------

    def metadata(self):
        """The side-file record: what ARPA cannot hold."""
        meta = {
            "format": SIDECAR_FORMAT,
            "version": 1,
            "order": self.order,
            "tokenizer": self.tokenizer,
            "unk": self.open_vocabulary,
            "sentence_end": EOS,
        }
        if self.estimation:
            meta["estimation"] = self.estimation
        return meta

    def write_arpa(self, path, force=False):
        """Write the ARPA file and its side file atomically (temp file, then rename).

        Refuses to replace an existing file unless force is true.
        """
        if os.path.exists(path) and not force:
            raise RnnkitError(f"{path}: already exists (use --force to replace it)")
        sidecar = path + SIDECAR_SUFFIX
        _atomic_write(path, self._arpa_chunks(), compress=path.endswith(".gz"))
        _atomic_write(sidecar, [json.dumps(self.metadata(), indent=2, ensure_ascii=False) + "\n"])

    def _arpa_chunks(self, lines_per_chunk=200_000):
        for t in self.tables[1:]:
            if (t.prefix < 0).any():
                raise RnnkitError("this model lacks some n-gram prefixes and cannot be written as ARPA")
        yield "\\data\\\n" + "".join(f"ngram {k}={len(t)}\n" for k, t in enumerate(self.tables, 1)) + "\n"
        texts = None
        fmt = f"{{:.{_PRECISION}f}}"
        for k, table in enumerate(self.tables, 1):
            yield f"\\{k}-grams:\n"
            if k == 1:
                texts = self.vocab
            else:
                vocab = self.vocab
                texts = [texts[p] + " " + vocab[w] for p, w in zip(table.prefix.tolist(), table.word.tolist())]
            logprob = np.maximum(table.logprob, LOG10_ZERO)  # -inf (p(<s>) = 0) is written as -99
            highest = k == len(self.tables)
            for lo in range(0, len(texts), lines_per_chunk):
                hi = min(lo + lines_per_chunk, len(texts))
                probs = [fmt.format(x) for x in logprob[lo:hi].tolist()]
                if highest:
                    yield "\n".join([p + "\t" + t for p, t in zip(probs, texts[lo:hi])]) + "\n"
                else:
                    bows = ["0" if x == 0 else fmt.format(x) for x in table.bow[lo:hi].tolist()]
                    yield "\n".join([p + "\t" + t + "\t" + b for p, t, b in zip(probs, texts[lo:hi], bows)]) + "\n"
            yield "\n"
        yield "\\end\\\n"


def _atomic_write(path, chunks, compress=False):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise RnnkitError(f"{path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as raw:
            out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) if compress else raw
            for chunk in chunks:
                out.write(chunk.encode("utf-8"))
            if compress:
                out.close()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------------
# Estimation


def _discount_of(adjusted, discounts):
    """D(a) for every adjusted count a: 0 for a = 0, D_1, D_2, or D_3+ for a >= 3."""
    table = np.array([0.0, discounts[0], discounts[1], discounts[2]])
    return table[np.minimum(adjusted, 3)]


def kn_discounts(adjusted, method="modified-kn"):
    """Discounts (D_1, D_2, D_3+) from the count-of-counts of adjusted counts.

    Returns (discounts, count_of_counts [n_1..n_4], fell_back). Plain KN
    returns the same D three times.
    """
    if method not in DISCOUNT_METHODS:
        raise UsageError(f"unknown discount method {method!r}; expected one of {', '.join(DISCOUNT_METHODS)}")
    adjusted = np.asarray(adjusted)
    n = np.bincount(np.minimum(adjusted[adjusted > 0], 5), minlength=6)[1:5].astype(np.float64)
    n1, n2, n3, n4 = n
    coc = [int(x) for x in n]
    if method == "kn":
        if n1 > 0 and n2 > 0:
            d = n1 / (n1 + 2 * n2)
            return (d, d, d), coc, False
        return FALLBACK_DISCOUNTS["kn"], coc, True
    if min(n) > 0:
        y = n1 / (n1 + 2 * n2)
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        if all(0 < d_r <= r for r, d_r in enumerate(d, 1)):
            return d, coc, False
    return FALLBACK_DISCOUNTS["modified-kn"], coc, True


@dataclass
class _Counted:
    """The trie of counted n-grams: per order, arrays in (prefix, word) order."""

    vocab: list
    bos: int
    prefix: list = field(default_factory=list)  # order k: index at order k-1 of w_1..w_{k-1}
    word: list = field(default_factory=list)
    suffix: list = field(default_factory=list)  # order k: index at order k-1 of w_2..w_k
    count: list = field(default_factory=list)  # raw counts
    starts_with_bos: list = field(default_factory=list)


def count_ngrams(sentences, order, open_vocabulary=False):
    """Count every n-gram of orders 1..order in ``<s> sentence </s>``, vectorised.

    The n-grams of order k are packed as ``index of their prefix * |V| + last
    word`` into int64 and made unique with NumPy; the resulting indexes are the
    prefixes of order k+1. Returns a _Counted trie.
    """
    if order < 1:
        raise UsageError(f"--order must be at least 1, not {order}")
    index = {}
    if open_vocabulary:
        index[UNK] = 0
    index[BOS] = len(index)
    index[EOS] = len(index)
    bos, eos = index[BOS], index[EOS]
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    setdefault = index.setdefault
    # len(index) is evaluated before setdefault inserts, so a new word gets the next id.
    flat = np.fromiter(
        (setdefault(w, len(index)) for s in sentences for w in s), dtype=np.int64, count=int(lengths.sum())
    )
    vocab = list(index)
    n_vocab = len(vocab)
    spans = lengths + 2
    starts = np.zeros(len(sentences), dtype=np.int64)
    np.cumsum(spans[:-1], out=starts[1:])
    total = int(spans.sum())
    stream = np.empty(total, dtype=np.int64)
    word_mask = np.ones(total, dtype=bool)
    word_mask[starts] = False
    word_mask[starts + lengths + 1] = False
    stream[starts] = bos
    stream[starts + lengths + 1] = eos
    stream[word_mask] = flat
    del flat, word_mask
    depth = np.arange(total, dtype=np.int64) - np.repeat(starts, spans)

    counted = _Counted(vocab=vocab, bos=bos)
    # Order 1: the entry index is the word id itself, so every vocabulary word
    # (an unseen <unk> included) has an entry.
    counted.prefix.append(np.full(n_vocab, -1, dtype=np.int64))
    counted.word.append(np.arange(n_vocab, dtype=np.int64))
    counted.suffix.append(np.full(n_vocab, -1, dtype=np.int64))
    counted.count.append(np.bincount(stream, minlength=n_vocab).astype(np.int64))
    counted.starts_with_bos.append(np.arange(n_vocab) == bos)
    entry_at = stream  # entry index of the (k-1)-gram ending at each position
    for k in range(2, order + 1):
        positions = np.flatnonzero(depth >= k - 1)
        if len(positions) == 0:
            raise UsageError(f"--order {order} is longer than any sentence plus <s> and </s>")
        keys = entry_at[positions - 1] * n_vocab + stream[positions]
        uniq, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
        first_pos = positions[first]
        counted.prefix.append(uniq // n_vocab)
        counted.word.append(uniq % n_vocab)
        # The (k-1)-gram ending at the same position is w_2..w_k.
        counted.suffix.append(entry_at[first_pos])
        counted.count.append(counts.astype(np.int64))
        counted.starts_with_bos.append(depth[first_pos] == k - 1)
        next_entry = np.full(total, -1, dtype=np.int64)
        next_entry[positions] = inverse.reshape(-1)
        entry_at = next_entry
    return counted


def adjusted_counts(counted):
    """Kneser-Ney adjusted counts per order (see the module docstring).

    The highest order keeps raw counts; a lower-order n-gram gets the number
    of distinct words before it, except one that starts with <s>, which keeps
    its raw count. The unigram <s> gets 0: it is never predicted.
    """
    order = len(counted.count)
    adjusted = []
    for k in range(1, order + 1):
        raw = counted.count[k - 1]
        if k == order:
            a = raw.copy()
        else:
            left_extensions = np.bincount(counted.suffix[k], minlength=len(raw))
            a = np.where(counted.starts_with_bos[k - 1], raw, left_extensions)
        if k == 1:
            a[counted.bos] = 0
        adjusted.append(a.astype(np.int64))
    return adjusted


def estimate(sentences, order, discount="modified-kn", open_vocabulary=False, tokenizer="word"):
    """Estimate an interpolated (modified) Kneser-Ney model from token lists.

    discount: "modified-kn" (three discounts per order) or "kn" (one).
    Returns an NgramModel whose ``estimation`` records discounts, the
    count-of-counts and whether a fallback discount was used.
    """
    if discount not in DISCOUNT_METHODS:
        raise UsageError(f"unknown --discount {discount!r}; expected one of {', '.join(DISCOUNT_METHODS)}")
    if order < 1:
        raise UsageError(f"--order must be at least 1, not {order}")
    if not sentences:
        raise RnnkitError("the corpus has no words")
    counted = count_ngrams(sentences, order, open_vocabulary)
    adjusted = adjusted_counts(counted)
    vocab = counted.vocab
    n_vocab = len(vocab)
    bos = counted.bos
    predictable = n_vocab - 1  # every word but <s>

    discounts, records = [], []
    for k in range(1, order + 1):
        a = adjusted[k - 1]
        if k == 1:
            a = np.delete(a, bos)
        d, coc, fell_back = kn_discounts(a, discount)
        discounts.append(d)
        records.append(
            {
                "order": k,
                "ngrams": int(len(counted.count[k - 1])),
                "count_of_counts": coc,
                "discounts": [float(x) for x in d] if discount == "modified-kn" else [float(d[0])],
                "fallback": fell_back,
            }
        )

    bows = []
    # Unigrams: discounted adjusted counts plus the freed mass spread uniformly.
    a = adjusted[0].astype(np.float64)
    d = _discount_of(adjusted[0], discounts[0])
    total = a.sum()
    if total <= 0:
        raise RnnkitError("the corpus has no words")
    gamma = d.sum() / total
    prob = (a - d) / total + gamma / predictable
    prob[bos] = 0.0
    probs = [prob]
    for k in range(2, order + 1):
        prefix = counted.prefix[k - 1]
        n_context = len(counted.count[k - 2])
        a = adjusted[k - 1].astype(np.float64)
        d = _discount_of(adjusted[k - 1], discounts[k - 1])
        total = np.bincount(prefix, weights=a, minlength=n_context)
        freed = np.bincount(prefix, weights=d, minlength=n_context)
        # gamma(h): the discounted mass; a context with no continuations keeps b = 1.
        has_next = total > 0
        gamma = np.ones(n_context)
        gamma[has_next] = freed[has_next] / total[has_next]
        prob = (a - d) / total[prefix] + gamma[prefix] * probs[-1][counted.suffix[k - 1]]
        probs.append(prob)
        bows.append(np.log10(gamma))  # the back-off weights of order k-1
    bows.append(np.zeros(len(counted.count[-1])))  # the highest order has none
    with np.errstate(divide="ignore"):
        logprobs = [np.log10(p) for p in probs]
    tables = [
        _OrderTable(prefix=counted.prefix[k], word=counted.word[k], logprob=logprobs[k], bow=bows[k])
        for k in range(order)
    ]
    estimation = {
        "discount": discount,
        "sentences": len(sentences),
        "tokens": int(sum(len(s) for s in sentences)) + len(sentences),
        "orders": records,
    }
    return NgramModel(vocab, tables, tokenizer=tokenizer, open_vocabulary=open_vocabulary, estimation=estimation)


def train_file(corpus, order, discount="modified-kn", open_vocabulary=False, tokenizer="word"):
    """Read, tokenise and estimate: the whole of ``rnnkit ngram train`` but the writing."""
    if order < 1:
        raise UsageError(f"--order must be at least 1, not {order}")
    get_tokenizer(tokenizer)  # a bad name fails before the corpus is read
    sentences, _ = sentences_from_lines(read_lines(corpus), tokenizer, source=corpus)
    if not sentences:
        raise RnnkitError(f"{corpus}: no words (the file is empty or blank)")
    model = estimate(sentences, order, discount, open_vocabulary, tokenizer)
    model.estimation["corpus"] = os.path.abspath(corpus) if corpus != "-" else "<stdin>"
    return model


# ---------------------------------------------------------------------------
# Reading ARPA files


class _ArpaError(RnnkitError):
    pass


_HEADER_COUNT = re.compile(rb"^ngram[ \t]+(\d+)[ \t]*=[ \t]*(\d+)[ \t]*$")
_SECTION = re.compile(rb"^\\(\d+)-grams:$")
# ASCII whitespace that separates fields inside an ARPA line (KenLM splits on
# ASCII only, so a word may contain a non-breaking space).
_FIELD_SPACE = np.zeros(256, dtype=bool)
_FIELD_SPACE[[ord(" "), ord("\t"), ord("\r"), 0x0B, 0x0C]] = True
_CHUNK_BYTES = 4 << 20


def _read_bytes(path):
    if not os.path.exists(path):
        raise RnnkitError(f"{path}: no such file")
    if os.path.isdir(path):
        raise RnnkitError(f"{path}: is a directory, expected an ARPA file")
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise RnnkitError(f"{path}: damaged gzip file ({exc})") from None
    return data


class _Lines:
    """Walks the lines of a byte buffer, keeping the line number."""

    def __init__(self, data, path):
        self.data = data
        self.path = path
        self.pos = 0
        self.line_no = 1  # number of the line starting at pos

    def error(self, line_no, message):
        return _ArpaError(f"{self.path}: line {line_no}: {message}")

    def next_line(self):
        """(line_no, stripped line bytes) of the next line, or (line_no, None) at the end."""
        if self.pos >= len(self.data):
            return self.line_no, None
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            end = len(self.data)
        line = self.data[self.pos : end].strip()
        number = self.line_no
        self.pos = end + 1
        self.line_no += 1
        return number, line

    def next_nonblank(self):
        while True:
            number, line = self.next_line()
            if line is None or line:
                return number, line

    def section_body(self):
        """Bytes up to the next line that starts with a backslash; advances past them."""
        start = self.pos
        # The header line before the body ended with a newline, so searching
        # from start - 1 also finds a backslash line right at start (empty body).
        end = self.data.find(b"\n\\", max(start - 1, 0))
        body_end = len(self.data) if end < 0 else end + 1
        body = self.data[start:body_end]
        first_line = self.line_no
        self.line_no += body.count(b"\n")
        self.pos = body_end
        return body, first_line


def _decode_word(raw, lines, line_no):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise lines.error(line_no, f"invalid UTF-8 in word at byte {exc.start}") from None


def _parse_floats(strings, what, line_numbers, lines):
    """float64 values of an object array of bytes; a bad one is an error naming its line."""
    try:
        values = strings.astype(np.float64)
    except (ValueError, TypeError):
        for s, number in zip(strings.tolist(), line_numbers.tolist()):
            try:
                float(s)
            except ValueError:
                raise lines.error(number, f"bad {what} {s.decode('utf-8', 'replace')!r}") from None
        raise
    bad = np.isnan(values)
    if what == "log10 probability":
        bad |= values > 0
    else:
        bad |= values == np.inf
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        problem = "is not a number" if np.isnan(values[i]) else "is out of range"
        if what == "log10 probability" and values[i] > 0:
            problem = "is positive (a probability above 1)"
        raise lines.error(int(line_numbers[i]), f"{what} {strings[i].decode('utf-8', 'replace')} {problem}")
    return values


def _parse_section(body, first_line, k, highest, word_ids, lines):
    """Fields of one ``\\k-grams:`` section: line numbers, log10 probs, back-offs, word columns.

    Works on ~4 MB pieces of the section at a time: NumPy finds where each
    field starts and counts the fields of every line, so a line with the wrong
    number of fields is found and named without a Python loop over lines.
    """
    out_lines, out_prob, out_bow, out_words = [], [], [], [[] for _ in range(k)]
    raw_unigrams = []
    start = 0
    line_base = first_line
    while start < len(body):
        end = min(len(body), start + _CHUNK_BYTES)
        if end < len(body):
            cut = body.rfind(b"\n", start, end)
            end = cut + 1 if cut >= start else body.find(b"\n", end) + 1 or len(body)
        chunk = body[start:end]
        start = end
        arr = np.frombuffer(chunk, dtype=np.uint8)
        newline = arr == 10
        is_field = ~(newline | _FIELD_SPACE[arr])
        field_start = is_field.copy()
        field_start[1:] &= ~is_field[:-1]
        line_of_byte = np.cumsum(newline, dtype=np.int64)
        n_lines = int(newline.sum()) + (0 if chunk.endswith(b"\n") else 1)
        fields_per_line = np.bincount(line_of_byte[field_start], minlength=n_lines)
        allowed = (fields_per_line == 0) | (fields_per_line == k + 1) | (fields_per_line == k + 2)
        if not allowed.all():
            i = int(np.flatnonzero(~allowed)[0])
            raise lines.error(
                line_base + i,
                f"a {k}-gram line needs a log10 probability, {k} word{'s' if k > 1 else ''} "
                f"and an optional back-off weight; found {fields_per_line[i]} fields",
            )
        fields = chunk.split()
        offsets = np.cumsum(fields_per_line) - fields_per_line
        nonblank = np.flatnonzero(fields_per_line > 0)
        line_numbers = line_base + nonblank
        off = offsets[nonblank]
        with_bow = fields_per_line[nonblank] == k + 2
        items = np.empty(len(fields), dtype=object)
        items[:] = fields
        del fields
        out_lines.append(line_numbers)
        out_prob.append(_parse_floats(items[off], "log10 probability", line_numbers, lines))
        bow = np.zeros(len(off))
        if with_bow.any() and not highest:
            bow[with_bow] = _parse_floats(
                items[off[with_bow] + k + 1], "back-off weight", line_numbers[with_bow], lines
            )
        out_bow.append(bow)
        for j in range(k):
            column = items[off + 1 + j].tolist()
            if word_ids is None:
                raw_unigrams.extend(column)
            else:
                ids = np.fromiter(map(word_ids.get, column, repeat(-1)), dtype=np.int64, count=len(column))
                if (ids < 0).any():
                    i = int(np.flatnonzero(ids < 0)[0])
                    word = column[i].decode("utf-8", "replace")
                    raise lines.error(int(line_numbers[i]), f"word {word!r} is not listed in \\1-grams:")
                out_words[j].append(ids)
        line_base += int(newline.sum())
    cat = lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)  # noqa: E731
    line_numbers = cat(out_lines, np.int64)
    probs = cat(out_prob, np.float64)
    bows = cat(out_bow, np.float64)
    if word_ids is None:
        return line_numbers, probs, bows, raw_unigrams
    return line_numbers, probs, bows, [cat(c, np.int64) for c in out_words]


def read_arpa(path):
    """Read an ARPA back-off model (and its rnnkit side file if present) into an NgramModel.

    Accepts what KenLM and SRILM write: text before ``\\data\\`` is ignored,
    back-off weights may be omitted, fields are separated by spaces or tabs,
    the file may be gzip-compressed. Errors name the file and the line.
    """
    data = _read_bytes(path)
    lines = _Lines(data, path)
    # Find \data\ : anything before it is a comment.
    while True:
        number, line = lines.next_line()
        if line is None:
            raise _ArpaError(f"{path}: not an ARPA file (no \\data\\ line)")
        if line == b"\\data\\":
            data_line = number
            break
    counts = {}
    while True:
        number, line = lines.next_nonblank()
        if line is None:
            raise lines.error(number, "file ends inside the \\data\\ header")
        if line.startswith(b"\\"):
            section_no, section_line = number, line
            break
        m = _HEADER_COUNT.match(line)
        if not m:
            raise lines.error(number, f"expected 'ngram N=COUNT' in the \\data\\ header, found {_show(line)}")
        k, c = int(m.group(1)), int(m.group(2))
        if k < 1 or k in counts:
            raise lines.error(number, f"{'repeated' if k in counts else 'bad'} order {k} in the \\data\\ header")
        counts[k] = c
    if not counts:
        raise lines.error(data_line, "the \\data\\ header lists no n-gram counts")
    order = max(counts)
    if sorted(counts) != list(range(1, order + 1)):
        missing = sorted(set(range(1, order + 1)) - set(counts))
        raise lines.error(data_line, f"the \\data\\ header has no count for order {missing[0]}")

    vocab, word_ids, unigram_raw = None, None, None
    parsed = []
    for k in range(1, order + 1):
        if k > 1:
            section_no, section_line = lines.next_nonblank()
        if section_line is None:
            raise lines.error(section_no, f"file ends before \\{k}-grams: (truncated?)")
        m = _SECTION.match(section_line)
        if not m or int(m.group(1)) != k:
            raise lines.error(section_no, f"expected \\{k}-grams:, found {_show(section_line)}")
        body, first_line = lines.section_body()
        line_numbers, probs, bows, words = _parse_section(body, first_line, k, k == order, word_ids, lines)
        if len(probs) != counts[k]:
            raise lines.error(
                section_no,
                f"\\{k}-grams: has {len(probs)} entries but the \\data\\ header (line {data_line}) says {counts[k]}",
            )
        if k == 1:
            unigram_raw = words
            vocab = [_decode_word(w, lines, int(n)) for w, n in zip(words, line_numbers)]
            word_ids = {}
            for i, (w, n) in enumerate(zip(unigram_raw, line_numbers.tolist())):
                if word_ids.setdefault(w, i) != i:
                    raise lines.error(n, f"duplicate unigram {vocab[i]!r} (first on line {line_numbers[word_ids[w]]})")
            words = [np.arange(len(vocab), dtype=np.int64)]
        parsed.append((line_numbers, probs, bows, words))
    number, line = lines.next_nonblank()
    if line != b"\\end\\":
        found = "the end of the file" if line is None else _show(line)
        raise lines.error(number, f"expected \\end\\, found {found} (truncated or miscounted file?)")

    tables = _tables_from_columns(parsed, path)
    tokenizer, open_vocabulary, estimation = "word", None, None
    sidecar = path + SIDECAR_SUFFIX
    if os.path.exists(sidecar):
        meta = _read_sidecar(sidecar, order)
        tokenizer = meta.get("tokenizer", "word")
        open_vocabulary = meta.get("unk")
        estimation = meta.get("estimation")
    if open_vocabulary and UNK not in vocab:
        raise RnnkitError(f"{sidecar}: says the vocabulary is open, but {path} has no {UNK} unigram")
    return NgramModel(vocab, tables, tokenizer, open_vocabulary, estimation, source=path)


def _show(line, limit=60):
    text = line.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _tables_from_columns(parsed, path):
    """Order tables from parsed sections: link each n-gram to its prefix entry."""
    tables = []
    prev_cols = None
    prev_lookup = None
    for k, (line_numbers, probs, bows, cols) in enumerate(parsed, 1):
        if k == 1:
            prefix = np.full(len(probs), -1, dtype=np.int64)
            word = cols[0]
            lookup = {}
        else:
            word = cols[-1]
            prefix = _find_prefixes(cols[:-1], prev_cols, prev_lookup)
            # Duplicate n-grams: same prefix entry and same word (prefix known) or same words.
            reachable = prefix >= 0
            key = prefix[reachable] * (len(parsed[0][1]) + 1) + word[reachable]
            order = np.argsort(key, kind="stable")
            dup = np.flatnonzero(key[order][1:] == key[order][:-1])
            if len(dup):
                rows = np.flatnonzero(reachable)[order]
                first, second = int(line_numbers[rows[dup[0]]]), int(line_numbers[rows[dup[0] + 1]])
                raise _ArpaError(f"{path}: line {second}: duplicate {k}-gram (first on line {first})")
        tables.append(_OrderTable(prefix=prefix, word=word, logprob=probs, bow=bows))
        prev_cols = cols
        prev_lookup = _ColumnLookup(cols) if k < len(parsed) else None
    return tables


class _ColumnLookup:
    """Exact lookup of word-id tuples among the entries of one order (used while loading)."""

    def __init__(self, cols):
        self.cols = cols
        h = np.zeros(len(cols[0]), dtype=np.uint64)
        for c in cols:
            h = _hash_step(h, c)
        self.order = np.argsort(h, kind="stable")
        self.sorted_hash = h[self.order]

    def find(self, cols):
        h = np.zeros(len(cols[0]), dtype=np.uint64)
        for c in cols:
            h = _hash_step(h, c)
        if len(self.sorted_hash) == 0:
            return np.full(len(h), -1, dtype=np.int64)
        pos = np.searchsorted(self.sorted_hash, h)
        pos[pos == len(self.sorted_hash)] = 0
        entry = self.order[pos]
        hit = self.sorted_hash[pos] == h
        for mine, theirs in zip(cols, self.cols):
            hit &= theirs[entry] == mine
        # Equal hashes with different words would leave a later duplicate unfound;
        # scan forward over runs of equal hashes (rare: a 2**-64 event).
        result = np.where(hit, entry, -1)
        miss = np.flatnonzero(~hit & (self.sorted_hash[pos] == h))
        for i in miss.tolist():
            p = int(pos[i]) + 1
            while p < len(self.sorted_hash) and self.sorted_hash[p] == h[i]:
                e = int(self.order[p])
                if all(int(t[e]) == int(m[i]) for m, t in zip(cols, self.cols)):
                    result[i] = e
                    break
                p += 1
        return result


def _find_prefixes(prefix_cols, prev_cols, prev_lookup):
    if len(prefix_cols) == 1:
        # Order 2: the prefix is a unigram, whose entry index is its word id.
        return prefix_cols[0].copy()
    found = prev_lookup.find(prefix_cols)
    return np.where(found >= 0, found, -2)


def _read_sidecar(sidecar, order):
    try:
        with open(sidecar, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RnnkitError(f"{sidecar}: unreadable side file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        raise RnnkitError(f"{sidecar}: not an rnnkit N-gram side file")
    if meta.get("order") not in (None, order):
        raise RnnkitError(f"{sidecar}: says order {meta.get('order')}, but the ARPA file has order {order}")
    if meta.get("tokenizer", "word") not in TOKENIZERS:
        raise RnnkitError(f"{sidecar}: unknown tokenizer {meta.get('tokenizer')!r}")
    if not isinstance(meta.get("unk", False), bool):
        raise RnnkitError(f"{sidecar}: 'unk' must be true or false")
    return meta
