"""N-gram language models: interpolated Kneser-Ney estimation, ARPA files, queries.

The baseline the article argues against (docs/article.md §1): an N-gram model
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
No Python dictionary of tuples and no Python loop per n-gram:

- counting: token ids form one flat stream; the n-grams of order k are packed
  into one int64 each as ``index of (w_1..w_{k-1}) at order k-1 * |V| + w_k``,
  and one argsort makes them distinct, sorted n-gram indexes: a trie built one
  order at a time, whose indexes are the prefixes of the next order;
- querying: every n-gram also gets a 64-bit hash chained the same way (hash
  of the prefix, then the last word); a hash match is confirmed against the
  entry's prefix index and last word, so a lookup is exact;
- ARPA text: files are read and written as byte arrays. Reading, NumPy
  finds the fields of every line and checks their number, packs each word's
  bytes into 8-byte keys looked up in an open-addressing table, and parses
  the numbers with one ``np.fromstring`` per 4 MB piece (Python's float()
  only runs to name a bad number's line). Writing renders the numbers digit
  by digit and copies the words' bytes into place the same way.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from itertools import chain, repeat

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


def read_text_lines(path):
    """read_lines, with an unreadable file (permissions, a device error) as a one-line error too."""
    try:
        return read_lines(path)
    except OSError as exc:
        raise RnnkitError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_sentences(path, tokenizer="word"):
    """Sentences of a UTF-8 text file, one per non-empty line (see sentences_from_lines)."""
    sentences, _ = sentences_from_lines(read_text_lines(path), tokenizer, source=path)
    return sentences


def _sentence_stream(word_ids, lengths, bos, eos):
    """One stream ``<s> w.. </s> <s> ...`` of ids, the depth of each position in its
    sentence (0 at <s>), the sentence start positions, and the mask of word positions."""
    spans = lengths + 2
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(spans[:-1], out=starts[1:])
    total = int(spans.sum())
    stream = np.empty(total, dtype=np.int64)
    is_word = np.ones(total, dtype=bool)
    is_word[starts] = False
    is_word[starts + lengths + 1] = False
    stream[starts] = bos
    stream[starts + lengths + 1] = eos
    stream[is_word] = word_ids
    depth = np.arange(total, dtype=np.int64) - np.repeat(starts, spans)
    return stream, depth, starts, is_word


# ---------------------------------------------------------------------------
# Hashing n-grams for lookup


_HASH_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_HASH_M1 = np.uint64(0xBF58476D1CE4E5B9)
_HASH_M2 = np.uint64(0x94D049BB133111EB)


def _hash_step(prefix_hash, word_ids):
    """Hash of an n-gram from the hash of its first n-1 words and its last word id.

    The splitmix64 finaliser is a bijection, so two n-grams with the same
    prefix never collide; others collide with chance 2**-64, and even then
    every lookup confirms its hit against the entry's prefix and word.
    """
    x = prefix_hash + (np.asarray(word_ids).astype(np.uint64) + np.uint64(1)) * _HASH_GOLDEN
    x ^= x >> np.uint64(30)
    x *= _HASH_M1
    x ^= x >> np.uint64(27)
    x *= _HASH_M2
    x ^= x >> np.uint64(31)
    return x


class _ProbeTable:
    """Row lookup by 64-bit hash: open addressing with linear probing, built and probed in NumPy.

    Equal hashes are allowed: every candidate row is confirmed by a caller's
    ``same(queries, rows)`` test, and probing goes on past a row that fails it,
    so a lookup is exact whatever the hashes do.
    """

    def __init__(self, hashes):
        self.size = 1 << max(4, int(np.ceil(np.log2(2 * len(hashes) + 1))))  # load factor <= 1/2
        self.slots = np.full(self.size, -1, dtype=np.int64)
        home = self._home(hashes)
        # Insert in rounds: in round r each waiting row tries slot home + r; of
        # several rows writing one free slot, the one that reads back wins.
        # A row placed in round r thus has r occupied slots before it, so a
        # lookup may stop at the first free slot.
        waiting = np.arange(len(hashes), dtype=np.int64)
        self.rounds = 0
        while len(waiting):
            want = (home[waiting] + self.rounds) & (self.size - 1)
            free = np.flatnonzero(self.slots[want] < 0)
            self.slots[want[free]] = waiting[free]
            won = free[self.slots[want[free]] == waiting[free]]
            placed = np.zeros(len(waiting), dtype=bool)
            placed[won] = True
            waiting = waiting[~placed]
            self.rounds += 1

    def _home(self, hashes):
        return (hashes >> np.uint64(64 - max(1, self.size.bit_length() - 1))).astype(np.int64) & (self.size - 1)

    def lookup(self, hashes, same):
        """Row of each query hash for which same(query indexes, rows) holds, -1 where none does."""
        rows = np.full(len(hashes), -1, dtype=np.int64)
        active = np.arange(len(hashes), dtype=np.int64)
        home = self._home(hashes)
        for r in range(self.rounds):
            if not len(active):
                break
            candidate = self.slots[(home[active] + r) & (self.size - 1)]
            occupied = candidate >= 0
            if r == 0 and occupied.all():  # the usual first round: no free slot to skip
                match = same(active, candidate)
            else:
                match = occupied.copy()
                match[occupied] = same(active[occupied], candidate[occupied])
            rows[active[match]] = candidate[match]
            active = active[occupied & ~match]
        return rows


@dataclass
class _OrderTable:
    """The n-grams of one order, in their natural order (trie order or file order).

    prefix[e] is the entry index of w_1..w_{k-1} at order k-1 (-1 at order 1;
    -2 when an ARPA file lacks the prefix, which leaves the entry unreachable,
    since a lookup only extends a context that was found); word[e] is the id
    of w_k. At order 1 the entry index is the word id.
    """

    prefix: np.ndarray
    word: np.ndarray
    logprob: np.ndarray
    bow: np.ndarray
    hash: np.ndarray = None
    probe: _ProbeTable = None

    def __len__(self):
        return len(self.word)

    def find(self, hashes, prefix_entries, words):
        """Entry index of each (prefix entry, word) pair with the given hashes, -1 where not listed."""
        if len(hashes) == 0 or len(self.word) == 0:
            return np.full(len(hashes), -1, dtype=np.int64)

        def same(q, e):
            return (self.hash[e] == hashes[q]) & (self.prefix[e] == prefix_entries[q]) & (self.word[e] == words[q])

        return self.probe.lookup(hashes, same)


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
    ``estimation`` (discounts and counts when estimated here, or as recorded in
    the side file; None otherwise), ``source`` (the file it was read from).
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
        if self.bos_id < 0 or self.eos_id < 0:
            where = f"{source}: " if source else ""
            raise RnnkitError(f"{where}the model has no {BOS if self.bos_id < 0 else EOS} unigram")
        if open_vocabulary is None:
            open_vocabulary = self.unk_id >= 0
        if open_vocabulary and self.unk_id < 0:
            raise RnnkitError(f"an open-vocabulary model needs {UNK} among its unigrams")
        self.open_vocabulary = bool(open_vocabulary)
        self.estimation = estimation
        self.source = source
        self.sidecar = None  # the side file it was read with, if any
        self._unigram_hash = None  # the lookup index is built on the first query

    @classmethod
    def load(cls, path):
        """Read an ARPA file (plain or gzip) and its side file ``path + '.json'`` if present."""
        return read_arpa(path)

    # -- the lookup index ----------------------------------------------------

    def _index(self):
        """Hash every entry (chained through its prefix) and build the probe tables."""
        if self._unigram_hash is not None:
            return
        unigram_hash = _hash_step(np.zeros(len(self.vocab), dtype=np.uint64), np.arange(len(self.vocab)))
        hashes = unigram_hash
        for k in range(2, self.order + 1):
            table = self.tables[k - 1]
            reachable = table.prefix >= 0
            h = np.zeros(len(table), dtype=np.uint64)
            # Unreachable entries keep hash 0; their prefix -2 never matches a lookup.
            h[reachable] = _hash_step(hashes[table.prefix[reachable]], table.word[reachable])
            table.hash = h
            table.probe = _ProbeTable(h)
            hashes = h
        self._unigram_hash = unigram_hash

    # -- scoring -------------------------------------------------------------

    def encode(self, tokens):
        """Word ids of tokens; an OOV becomes <unk> (open vocabulary) or -1 (closed)."""
        missing = self.unk_id if self.open_vocabulary else -1
        get = self.word_index.get
        return [get(w, missing) for w in tokens]

    def _stream(self, sentences):
        """Id stream of the sentences with <s> and </s>, depths, sentence starts and lengths, OOV mask."""
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        flat = np.fromiter(
            map(self.word_index.get, chain.from_iterable(sentences), repeat(-1)),
            dtype=np.int64,
            count=int(lengths.sum()),
        )
        oov = flat < 0
        if self.open_vocabulary:
            flat[oov] = self.unk_id
        ids, depth, starts, is_word = _sentence_stream(flat, lengths, self.bos_id, self.eos_id)
        oov_stream = np.zeros(len(ids), dtype=bool)
        oov_stream[is_word] = oov
        return ids, depth, starts, lengths, oov_stream

    def _score_ids(self, ids, depth):
        """log10 p(ids[i] | history) at every position; NaN where it has none.

        ids < 0 are skipped OOVs: no probability, and no n-gram reaches across them.
        """
        self._index()
        n = len(ids)
        valid = ids >= 0
        entries = [np.where(valid, ids, -1)]  # order 1: the entry index is the word id
        hashes = [self._unigram_hash[np.where(valid, ids, 0)]]
        for k in range(2, self.order + 1):
            prev = entries[-1]
            entry = np.full(n, -1, dtype=np.int64)
            h = np.zeros(n, dtype=np.uint64)
            # The k-gram ending at i is only looked up if its context, the
            # (k-1)-gram ending at i-1, was found (as KenLM and SRILM do).
            cand = np.flatnonzero((prev[:-1] >= 0) & (depth[1:] >= k - 1) & valid[1:]) + 1
            if len(cand):
                hk = _hash_step(hashes[-1][cand - 1], ids[cand])
                entry[cand] = self.tables[k - 1].find(hk, prev[cand - 1], ids[cand])
                h[cand] = hk
            entries.append(entry)
            hashes.append(h)

        # The longest listed n-gram ending at i gives the probability ...
        logp = np.full(n, np.nan)
        longest = np.zeros(n, dtype=np.int64)
        for k in range(1, self.order + 1):
            e = entries[k - 1]
            found = e >= 0
            logp[found] = self.tables[k - 1].logprob[e[found]]
            longest[found] = k
        # ... times the back-off weights of the longer contexts that were found.
        for j in range(1, self.order):
            ctx = np.full(n, -1, dtype=np.int64)
            ctx[1:] = entries[j - 1][:-1]
            use = (ctx >= 0) & (longest <= j) & (longest > 0)
            logp[use] += self.tables[j - 1].bow[ctx[use]]
        return logp

    def token_log10probs(self, sentences):
        """Per-token log10 probabilities of token lists (without <s> and </s>).

        Returns one float64 array per sentence with len(sentence) + 1 values:
        p(w_1 | <s>), ..., p(w_n | ...), p(</s> | ...). A word outside a closed
        vocabulary has no probability: NaN (SRILM skips it; so should mixing
        code). In an open vocabulary it is scored as <unk>.
        """
        if not sentences:
            return []
        ids, depth, starts, lengths, _ = self._stream(sentences)
        logp = self._score_ids(ids, depth)
        return [logp[s + 1 : s + 2 + n] for s, n in zip(starts.tolist(), lengths.tolist())]

    def evaluate(self, sentences):
        """Perplexity of token lists, as SRILM's ``ngram -ppl`` computes it."""
        policy = "scored-as-unk" if self.open_vocabulary else "skipped"
        if not sentences:
            return PerplexityReport(0, 0, 0, policy, 0, 0.0, math.nan, math.nan)
        ids, depth, _, _, oov = self._stream(sentences)
        scores = self._score_ids(ids, depth)[depth > 0]
        zero = np.isneginf(scores)
        scored = ~np.isnan(scores) & ~zero
        oovs = int(oov.sum())
        zeroprobs = int(zero.sum())
        logprob = float(scores[scored].sum())
        n_sent = len(sentences)
        n_words = len(scores) - n_sent
        denom = n_words - (0 if self.open_vocabulary else oovs) - zeroprobs + n_sent
        ppl = 10.0 ** (-logprob / denom) if denom > 0 else math.nan
        ppl1 = 10.0 ** (-logprob / (denom - n_sent)) if denom - n_sent > 0 else math.nan
        return PerplexityReport(n_sent, n_words, oovs, policy, zeroprobs, logprob, ppl, ppl1)

    # -- the next word -------------------------------------------------------

    def log10prob(self, context, word):
        """log10 p(word | context); context is a token list, optionally starting with <s>."""
        wid = self.word_index.get(word, self.unk_id if self.open_vocabulary else -1)
        if wid < 0:
            raise RnnkitError(f"{word!r} is not in the model's vocabulary")
        return float(self.next_log10probs(context)[wid])

    def _context_entries(self, context):
        """(entry, hash) of the j-grams that end the context and are listed, j = 1, 2, ..."""
        self._index()
        context = list(context)
        if BOS in context:
            # Nothing reaches back across a sentence start.
            context = context[len(context) - 1 - context[::-1].index(BOS) :]
        ids = self.encode(context)
        ids = ids[len(ids) - (self.order - 1) :] if self.order > 1 else []
        found = []
        for j in range(1, len(ids) + 1):
            gram = ids[len(ids) - j :]
            if min(gram) < 0:
                break
            entry, h = gram[0], self._unigram_hash[gram[0] : gram[0] + 1]
            for k in range(2, j + 1):
                word = np.array(gram[k - 1 : k])
                h = _hash_step(h, word)
                entry = int(self.tables[k - 1].find(h, np.array([entry]), word)[0])
                if entry < 0:
                    break
            if entry < 0:
                break
            found.append((entry, h[0]))
        return found

    def next_log10probs(self, context):
        """log10 p(w | context) for every word id w (-inf for <s>, which is never predicted).

        ``context`` is a token list; start it with ``<s>`` for the start of a
        sentence. Only its last order-1 tokens matter.
        """
        vocab_ids = np.arange(len(self.vocab), dtype=np.int64)
        logp = np.asarray(self.tables[0].logprob, dtype=np.float64).copy()
        for j, (entry, h) in enumerate(self._context_entries(context), start=1):
            table = self.tables[j]  # order j + 1
            hk = _hash_step(np.full(len(vocab_ids), h, dtype=np.uint64), vocab_ids)
            found = table.find(hk, np.full(len(vocab_ids), entry, dtype=np.int64), vocab_ids)
            # p(w | h) is the listed value, or b(h) p(w | h') when h w is not listed.
            backed_off = logp + self.tables[j - 1].bow[entry]
            logp = np.where(found >= 0, table.logprob[np.maximum(found, 0)], backed_off)
        logp[self.bos_id] = -np.inf
        return logp

    def top_k(self, context, k=10):
        """The k most probable next words after context: [(word, probability), ...], best first."""
        logp = self.next_log10probs(context)
        k = max(0, min(int(k), len(logp) - 1))
        if k == 0:
            return []
        best = np.argpartition(-logp, k - 1)[:k]
        best = best[np.lexsort((best, -logp[best]))]
        return [(self.vocab[i], float(10.0 ** logp[i])) for i in best]

    # -- inspection ----------------------------------------------------------

    def ngram_ids(self, k):
        """Word ids of the order-k entries as a (count, k) array, in the table's order."""
        cols = np.arange(len(self.vocab), dtype=np.int64)[:, None]
        for j in range(2, k + 1):
            t = self.tables[j - 1]
            if (t.prefix < 0).any():
                raise RnnkitError(f"some {j}-grams of this model have no listed prefix")
            cols = np.column_stack([cols[t.prefix], t.word])
        return cols

    def counts(self):
        """Number of listed n-grams per order."""
        return [len(t) for t in self.tables]

    def check_compatible(self, tokenizer=None):
        """Raise RnnkitError if the model was built with a different tokenizer."""
        if tokenizer is not None and tokenizer != self.tokenizer:
            where = f" ({self.source})" if self.source else ""
            raise RnnkitError(
                f"the N-gram model{where} was built with --tokenizer {self.tokenizer}, not {tokenizer}; "
                "both models must cut text the same way"
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
        """Write the ARPA file (gzip if it ends in .gz) and its side file atomically.

        Each goes to a temporary file in the same directory and is renamed into
        place, so a failure never leaves half a file. Refuses to replace an
        existing file unless force is true.
        """
        sidecar = path + SIDECAR_SUFFIX
        if not force:
            for target in (path, sidecar):
                if os.path.exists(target):
                    raise RnnkitError(f"{target}: already exists (use --force to replace it)")
        _atomic_write(path, self._arpa_chunks(), compress=path.endswith(".gz"))
        text = json.dumps(self.metadata(), indent=2, ensure_ascii=False) + "\n"
        _atomic_write(sidecar, [text.encode("utf-8")])

    def _arpa_chunks(self, lines_per_chunk=200_000):
        header = "\\data\\\n" + "".join(f"ngram {k}={len(t)}\n" for k, t in enumerate(self.tables, 1)) + "\n"
        yield header.encode("ascii")
        encoded = [w.encode("utf-8") for w in self.vocab]
        vocab_len = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        vocab_start = np.zeros(len(encoded), dtype=np.int64)
        np.cumsum(vocab_len[:-1], out=vocab_start[1:])
        vocab_bytes = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        if (vocab_len == 0).any() or _SEPARATOR[vocab_bytes].any():
            raise RnnkitError("a vocabulary word is empty or contains whitespace; an ARPA file cannot hold it")
        words = None
        for k, table in enumerate(self.tables, 1):
            yield f"\\{k}-grams:\n".encode("ascii")
            words = self.ngram_ids(1) if k == 1 else np.column_stack([words[table.prefix], table.word])
            # p(<s>) = 0 is written as -99, as SRILM and KenLM do.
            logprob = np.maximum(table.logprob, LOG10_ZERO)
            highest = k == len(self.tables)
            for lo in range(0, len(table), lines_per_chunk):
                hi = min(lo + lines_per_chunk, len(table))
                bow = None if highest else table.bow[lo:hi]
                yield _render_lines(logprob[lo:hi], words[lo:hi], bow, vocab_bytes, vocab_start, vocab_len)
            yield b"\n"
        yield b"\\end\\\n"


def _atomic_write(path, chunks, compress=False):
    """Write byte chunks to path via a temporary file in the same directory and os.replace."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise RnnkitError(f"{path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
    except OSError as exc:
        raise RnnkitError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as raw:
            out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) if compress else raw
            for chunk in chunks:
                out.write(chunk)
            if compress:
                out.close()
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        raise RnnkitError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


# ---------------------------------------------------------------------------
# Bytes: ARPA text in and out without a Python loop per line

# ASCII whitespace separates fields (KenLM splits on ASCII only, so a word may
# contain, say, a non-breaking space).
_SEPARATOR = np.zeros(256, dtype=bool)
_SEPARATOR[[9, 10, 11, 12, 13, 32]] = True
_WORD_KEY_BYTES = 24  # words up to this many bytes are keyed exactly by three uint64
_SPARE_BYTES = 32  # zero bytes after a chunk, so every 8-byte read stays inside it


def _byte_masks(n_words):
    """masks[L, j]: the uint64 that keeps the bytes of word j (bytes 8j..8j+7) lying below length L."""
    lengths = np.arange(8 * n_words + 1)[:, None]
    keep = np.clip(lengths - 8 * np.arange(n_words)[None, :], 0, 8).astype(np.uint64)
    full = keep == 8
    masks = (np.uint64(1) << (np.uint64(8) * np.where(full, np.uint64(0), keep))) - np.uint64(1)
    masks[full] = np.uint64(0xFFFFFFFFFFFFFFFF)
    return masks


_KEY_MASKS = _byte_masks(_WORD_KEY_BYTES // 8)


def _field_spans(arr):
    """Start and end (exclusive) offsets of the whitespace-separated fields of a byte array."""
    padded = np.zeros(len(arr) + 2, dtype=bool)
    np.logical_not(_SEPARATOR[arr], out=padded[1:-1])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[0::2], edges[1::2]


def _uint64_at(buffer):
    """A read-only view that reads the 8 bytes at every byte offset as a little-endian uint64."""
    return np.ndarray(shape=(len(buffer) - 7,), dtype="<u8", buffer=buffer, strides=(1,))


def _packed_fields(at, starts, lengths, n_words, masks):
    """The first 8 * n_words bytes of each field as n_words uint64, zero past its end."""
    clipped = np.minimum(lengths, 8 * n_words)
    packed = np.empty((len(starts), n_words), dtype=np.uint64)
    for j in range(n_words):
        packed[:, j] = at[starts + 8 * j] & masks[clipped, j]
    return packed


def _numbers_in_text(arr, starts, ends, is_number):
    """float64 of the number fields of a chunk, in order, from one NumPy text parse
    with the other fields blanked out; None if NumPy cannot read them all (the
    caller then goes field by field to name the bad line)."""
    blank = np.zeros(len(arr) + 1, dtype=np.int8)
    blank[starts[~is_number]] = 1
    blank[ends[~is_number]] = -1
    text = arr.copy()
    text[np.cumsum(blank[:-1], dtype=np.int8).view(bool)] = 32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            values = np.fromstring(text.tobytes(), dtype=np.float64, sep=" ")
        except (ValueError, DeprecationWarning):
            return None
    return values if len(values) == int(is_number.sum()) else None


_KEY_MIX = [np.uint64(m) for m in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)]


def _key_hash(keys, lengths):
    """One 64-bit hash of a word's packed bytes and its length."""
    x = lengths.astype(np.uint64)
    for j in range(keys.shape[1]):
        x = x ^ (keys[:, j] * _KEY_MIX[j])
    return _hash_step(x, lengths)


class _WordIds:
    """Word bytes -> vocabulary id, through a probe table.

    Words of at most 24 bytes are compared exactly by their bytes packed into
    three uint64 and their length; longer (rare) words go through a dictionary.
    """

    def __init__(self, raw_words):
        lengths = np.fromiter(map(len, raw_words), dtype=np.int64, count=len(raw_words))
        self.long_words = {raw_words[i]: i for i in np.flatnonzero(lengths > _WORD_KEY_BYTES).tolist()}
        buffer = b"".join(raw_words) + bytes(_SPARE_BYTES)
        starts = np.zeros(len(raw_words), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        keys = _packed_fields(_uint64_at(buffer), starts, lengths, _WORD_KEY_BYTES // 8, _KEY_MASKS)
        self.key_columns = [np.ascontiguousarray(keys[:, j]) for j in range(keys.shape[1])]
        self.lengths = lengths
        self.probe = _ProbeTable(_key_hash(keys, lengths))

    def lookup(self, at, starts, ends):
        """Vocabulary id of each word field; -1 for a word that is not in the vocabulary."""
        lengths = ends - starts
        keys = _packed_fields(at, starts, lengths, _WORD_KEY_BYTES // 8, _KEY_MASKS)

        def same(q, ids):
            ok = self.lengths[ids] == lengths[q]
            for j, column in enumerate(self.key_columns):
                ok &= column[ids] == keys[q, j]
            return ok

        ids = self.probe.lookup(_key_hash(keys, lengths), same)
        for i in np.flatnonzero(lengths > _WORD_KEY_BYTES).tolist():
            ids[i] = self.long_words.get(at.base[starts[i] : ends[i]], -1)  # at.base: the chunk's bytes
        return ids


def _span_bytes(starts, lengths):
    """For the bytes of spans laid end to end: their offsets in the source, the span
    each belongs to, and their position inside it."""
    begins = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=begins[1:])
    owner = np.repeat(np.arange(len(lengths)), lengths)
    position = np.arange(len(owner), dtype=np.int64) - begins[owner]
    return starts[owner] + position, owner, position


def _format_fixed(values, decimals=_PRECISION):
    """Right-aligned ASCII digits of values with fixed decimals: a (count, width) uint8
    matrix and the length of each number (its text is the last `length` bytes of its row)."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise RnnkitError("cannot write a non-finite number to an ARPA file")
    scaled = np.rint(np.abs(values) * 10.0**decimals).astype(np.int64)
    negative = (values < 0) & (scaled > 0)
    whole, frac = np.divmod(scaled, 10**decimals)
    n_whole = np.ones(len(values), dtype=np.int64)
    rest = whole // 10
    while (rest > 0).any():
        n_whole += rest > 0
        rest //= 10
    width = 1 + int(n_whole.max(initial=1)) + 1 + decimals
    text = np.zeros((len(values), width), dtype=np.uint8)
    for j in range(decimals):
        text[:, width - 1 - j] = 48 + frac // 10**j % 10
    text[:, width - 1 - decimals] = 46
    rest = whole.copy()
    for j in range(int(n_whole.max(initial=1))):
        text[:, width - 2 - decimals - j] = 48 + rest % 10
        rest //= 10
    rows = np.flatnonzero(negative)
    text[rows, width - 2 - decimals - n_whole[rows]] = 45
    return text, n_whole + 1 + decimals + negative


def _put_right_aligned(out, dest, text, lengths):
    """Copy the last lengths[i] bytes of text row i to out[dest[i]:]."""
    width = text.shape[1]
    columns = np.arange(width)
    skip = (width - lengths)[:, None]
    mask = columns >= skip
    out[(dest[:, None] + columns - skip)[mask]] = text[mask]


def _copy_spans(out, dest, source, starts, lengths):
    """out[dest[i] : dest[i] + lengths[i]] = source[starts[i] : starts[i] + lengths[i]] for all i."""
    where, owner, position = _span_bytes(starts, lengths)
    out[dest[owner] + position] = source[where]


def _render_lines(logprob, words, bow, vocab_bytes, vocab_start, vocab_len):
    """ARPA lines ``logprob<TAB>w1 w2 .. wk[<TAB>bow]`` as bytes, built in NumPy."""
    count, k = words.shape
    if count == 0:
        return b""
    prob_text, prob_len = _format_fixed(logprob)
    word_len = vocab_len[words]
    line_len = prob_len + 1 + word_len.sum(axis=1) + (k - 1) + 1
    if bow is not None:
        bow_text, bow_len = _format_fixed(bow)
        line_len += 1 + bow_len
    line_start = np.zeros(count, dtype=np.int64)
    np.cumsum(line_len[:-1], out=line_start[1:])
    out = np.empty(int(line_len.sum()), dtype=np.uint8)
    _put_right_aligned(out, line_start, prob_text, prob_len)
    cursor = line_start + prob_len
    out[cursor] = 9
    cursor += 1
    for j in range(k):
        _copy_spans(out, cursor, vocab_bytes, vocab_start[words[:, j]], word_len[:, j])
        cursor += word_len[:, j]
        out[cursor] = 32 if j < k - 1 else 9
        cursor += 1
    if bow is not None:
        _put_right_aligned(out, cursor, bow_text, bow_len)
        cursor += bow_len
        out[cursor] = 10
    else:
        out[cursor - 1] = 10  # the tab after the last word becomes the line end
    return out.tobytes()


# ---------------------------------------------------------------------------
# Estimation


def _discount_of(adjusted, discounts):
    """D(a) for every adjusted count a: 0 for a = 0, D_1, D_2, or D_3+ for a >= 3."""
    table = np.array([0.0, discounts[0], discounts[1], discounts[2]])
    return table[np.minimum(adjusted, 3)]


def kn_discounts(adjusted, method="modified-kn"):
    """Discounts (D_1, D_2, D_3+) from the count-of-counts of adjusted counts.

    Returns (discounts, [n_1, n_2, n_3, n_4], fell_back). Plain KN returns the
    same D three times. See the module docstring for the formulas.
    """
    if method not in DISCOUNT_METHODS:
        raise UsageError(f"unknown discount method {method!r}; expected one of {', '.join(DISCOUNT_METHODS)}")
    adjusted = np.asarray(adjusted)
    n = np.bincount(np.minimum(adjusted[adjusted > 0], 5), minlength=6)[1:5].astype(np.float64)
    n1, n2, n3, n4 = n
    count_of_counts = [int(x) for x in n]
    if method == "kn":
        if n1 > 0 and n2 > 0:
            d = n1 / (n1 + 2 * n2)
            return (d, d, d), count_of_counts, False
        return FALLBACK_DISCOUNTS["kn"], count_of_counts, True
    if min(n) > 0:
        y = n1 / (n1 + 2 * n2)
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        if all(0 < d_r <= r for r, d_r in enumerate(d, 1)):
            return d, count_of_counts, False
    return FALLBACK_DISCOUNTS["modified-kn"], count_of_counts, True


@dataclass
class NgramCounts:
    """Counted n-grams as a trie: per order k (list index k-1), arrays over its n-grams,
    sorted by (prefix, word). At order 1 the n-gram index is the word id."""

    vocab: list
    bos: int
    prefix: list = field(default_factory=list)  # index at order k-1 of w_1..w_{k-1}
    word: list = field(default_factory=list)  # id of w_k
    suffix: list = field(default_factory=list)  # index at order k-1 of w_2..w_k
    count: list = field(default_factory=list)  # raw count
    starts_with_bos: list = field(default_factory=list)


def _distinct(keys):
    """np.unique(keys, return_index, return_inverse, return_counts) with a plain argsort
    (any occurrence will do as the representative, so no stable sort is needed)."""
    order = np.argsort(keys)
    sorted_keys = keys[order]
    new = np.empty(len(keys), dtype=bool)
    new[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    group_start = np.flatnonzero(new)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    counts = np.diff(np.append(group_start, len(keys)))
    return sorted_keys[group_start], order[group_start], inverse, counts


def count_ngrams(sentences, order, open_vocabulary=False):
    """Count every n-gram of orders 1..order in each ``<s> sentence </s>``, vectorised.

    The n-grams of order k are packed as ``index of their prefix * |V| + last
    word`` into int64 and made distinct with one argsort; the resulting
    indexes are the prefixes of order k+1. Returns an NgramCounts trie.
    """
    if order < 1:
        raise UsageError(f"--order must be at least 1, not {order}")
    index = {UNK: 0} if open_vocabulary else {}
    for special in (BOS, EOS):
        index[special] = len(index)
    # Words get ids in order of first appearance, as KenLM numbers them.
    for w in dict.fromkeys(chain.from_iterable(sentences)):
        index.setdefault(w, len(index))
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    flat = np.fromiter(map(index.__getitem__, chain.from_iterable(sentences)), dtype=np.int64, count=int(lengths.sum()))
    vocab = list(index)
    n_vocab = len(vocab)
    bos = index[BOS]
    stream, depth, _, _ = _sentence_stream(flat, lengths, bos, index[EOS])
    del flat

    counts = NgramCounts(vocab=vocab, bos=bos)
    counts.prefix.append(np.full(n_vocab, -1, dtype=np.int64))
    counts.word.append(np.arange(n_vocab, dtype=np.int64))
    counts.suffix.append(np.full(n_vocab, -1, dtype=np.int64))
    counts.count.append(np.bincount(stream, minlength=n_vocab).astype(np.int64))
    counts.starts_with_bos.append(np.arange(n_vocab) == bos)
    entry_at = stream  # index of the (k-1)-gram ending at each position (-1: none)
    for k in range(2, order + 1):
        positions = np.flatnonzero(depth >= k - 1)
        if len(positions) == 0:
            raise UsageError(f"--order {order} is longer than any sentence with its <s> and </s>")
        keys = entry_at[positions - 1] * n_vocab + stream[positions]
        distinct, occurrence, inverse, n = _distinct(keys)
        at = positions[occurrence]
        counts.prefix.append(distinct // n_vocab)
        counts.word.append(distinct % n_vocab)
        counts.suffix.append(entry_at[at])  # the (k-1)-gram ending at the same place is w_2..w_k
        counts.count.append(n)
        counts.starts_with_bos.append(depth[at] == k - 1)
        entry_at = np.full(len(stream), -1, dtype=np.int64)
        entry_at[positions] = inverse
    return counts


def adjusted_counts(counts):
    """Kneser-Ney adjusted counts per order (see the module docstring).

    The highest order keeps raw counts; a lower-order n-gram gets the number
    of distinct words before it, except one that starts with <s>, which keeps
    its raw count. The unigram <s> gets 0: it is never predicted.
    """
    order = len(counts.count)
    adjusted = []
    for k in range(1, order + 1):
        raw = counts.count[k - 1]
        if k == order:
            a = raw.copy()
        else:
            left_extensions = np.bincount(counts.suffix[k], minlength=len(raw))
            a = np.where(counts.starts_with_bos[k - 1], raw, left_extensions)
        if k == 1:
            a[counts.bos] = 0
        adjusted.append(a.astype(np.int64))
    return adjusted


def estimate(sentences, order, discount="modified-kn", open_vocabulary=False, tokenizer="word"):
    """Estimate an interpolated (modified) Kneser-Ney model from token lists.

    discount: "modified-kn" (three discounts per order) or "kn" (one).
    Returns an NgramModel whose ``estimation`` records, per order, the number
    of n-grams, the count-of-counts, the discounts and whether the fallback
    discounts were used.
    """
    if discount not in DISCOUNT_METHODS:
        raise UsageError(f"unknown --discount {discount!r}; expected one of {', '.join(DISCOUNT_METHODS)}")
    if order < 1:
        raise UsageError(f"--order must be at least 1, not {order}")
    if not any(sentences):
        raise RnnkitError("the corpus has no words")
    counts = count_ngrams(sentences, order, open_vocabulary)
    adjusted = adjusted_counts(counts)
    bos = counts.bos
    predictable = len(counts.vocab) - 1  # every word but <s>

    discounts, records = [], []
    for k in range(1, order + 1):
        d, count_of_counts, fell_back = kn_discounts(adjusted[k - 1], discount)
        discounts.append(d)
        records.append(
            {
                "order": k,
                "ngrams": int(len(counts.count[k - 1])),
                "count_of_counts": count_of_counts,
                "discounts": [float(x) for x in (d if discount == "modified-kn" else d[:1])],
                "fallback": fell_back,
            }
        )

    # Unigrams: discounted adjusted counts plus the freed mass spread uniformly.
    a = adjusted[0].astype(np.float64)
    d = _discount_of(adjusted[0], discounts[0])
    total = a.sum()
    prob = (a - d) / total + (d.sum() / total) / predictable
    prob[bos] = 0.0
    probs, bows = [prob], []
    for k in range(2, order + 1):
        prefix = counts.prefix[k - 1]
        n_contexts = len(counts.count[k - 2])
        a = adjusted[k - 1].astype(np.float64)
        d = _discount_of(adjusted[k - 1], discounts[k - 1])
        total = np.bincount(prefix, weights=a, minlength=n_contexts)
        freed = np.bincount(prefix, weights=d, minlength=n_contexts)
        # gamma(h) is the freed mass; a context that nothing follows keeps b = 1.
        has_next = total > 0
        gamma = np.ones(n_contexts)
        gamma[has_next] = freed[has_next] / total[has_next]
        probs.append((a - d) / total[prefix] + gamma[prefix] * probs[-1][counts.suffix[k - 1]])
        bows.append(np.log10(gamma))  # the back-off weights of order k-1
    bows.append(np.zeros(len(counts.count[-1])))  # the highest order has none
    with np.errstate(divide="ignore"):
        logprobs = [np.log10(p) for p in probs]
    tables = [
        _OrderTable(prefix=counts.prefix[k], word=counts.word[k], logprob=logprobs[k], bow=bows[k])
        for k in range(order)
    ]
    estimation = {
        "discount": discount,
        "sentences": len(sentences),
        "tokens": int(counts.count[0].sum() - counts.count[0][bos]),  # words and </s>
        "orders": records,
    }
    return NgramModel(counts.vocab, tables, tokenizer, open_vocabulary, estimation)


def train_file(corpus, order, discount="modified-kn", open_vocabulary=False, tokenizer="word"):
    """Read, tokenise and estimate: all of ``rnnkit ngram train`` but the writing."""
    if order < 1:
        raise UsageError(f"--order must be at least 1, not {order}")
    if discount not in DISCOUNT_METHODS:
        raise UsageError(f"unknown --discount {discount!r}; expected one of {', '.join(DISCOUNT_METHODS)}")
    get_tokenizer(tokenizer)  # a bad name fails before the corpus is read
    sentences, _ = sentences_from_lines(read_text_lines(corpus), tokenizer, source=corpus)
    if not sentences:
        raise RnnkitError(f"{corpus}: no words (the file is empty or blank)")
    model = estimate(sentences, order, discount, open_vocabulary, tokenizer)
    model.estimation["corpus"] = os.path.abspath(corpus) if corpus != "-" else "<stdin>"
    return model


# ---------------------------------------------------------------------------
# Reading ARPA files


_HEADER_COUNT = re.compile(rb"^ngram[ \t]+(\d+)[ \t]*=[ \t]*(\d+)$")
_SECTION = re.compile(rb"^\\(\d+)-grams:$")
_CHUNK_BYTES = 4 << 20


def _read_bytes(path):
    if not os.path.exists(path):
        raise RnnkitError(f"{path}: no such file")
    if os.path.isdir(path):
        raise RnnkitError(f"{path}: is a directory, expected an ARPA file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise RnnkitError(f"{path}: cannot read ({exc.strerror})") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise RnnkitError(f"{path}: damaged gzip file ({exc})") from None
    return data


class _Lines:
    """Walks the lines of a byte buffer, keeping count of line numbers."""

    def __init__(self, data, path):
        self.data = data
        self.path = path
        self.pos = 0
        self.line_no = 1  # the number of the line that starts at pos

    def error(self, line_no, message):
        return RnnkitError(f"{self.path}: line {line_no}: {message}")

    def next_line(self):
        """(number, stripped bytes) of the next line, or (number, None) at the end."""
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
        """(bytes, number of its first line) up to the next line that starts with a backslash."""
        start = self.pos
        # The line before ended with a newline, so searching from start - 1 also
        # finds a backslash line right at start (an empty body).
        end = self.data.find(b"\n\\", max(start - 1, 0))
        body_end = len(self.data) if end < 0 else end + 1
        body = self.data[start:body_end]
        first_line = self.line_no
        self.line_no += body.count(b"\n")
        self.pos = body_end
        return body, first_line


def _show(raw, limit=60):
    text = raw.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _check_numbers(values, raw, line_numbers, what, lines):
    """Refuse NaN, +inf, and (for probabilities) anything above log10 1 = 0, naming the line."""
    bad = np.isnan(values) | (values == np.inf)
    if what == "log10 probability":
        bad |= values > 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        positive = what == "log10 probability" and values[i] > 0
        problem = "is positive (a probability above 1)" if positive else "is not a usable number"
        raise lines.error(int(line_numbers[i]), f"{what} {_show(raw(i))} {problem}")
    return values


def _numbers_one_by_one(chunk, starts, ends, line_numbers, what, lines):
    values = np.empty(len(starts))
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
        try:
            values[i] = float(chunk[s:e])
        except ValueError:
            raise lines.error(int(line_numbers[i]), f"bad {what} {_show(chunk[s:e])}") from None
    return values


def _parse_section(body, first_line, k, highest, word_ids, lines):
    """The entries of one ``\\k-grams:`` section.

    Returns line numbers, log10 probabilities, back-off weights (0 where
    absent) and either the word-id columns (k arrays) or, for the unigrams
    (word_ids None), the raw bytes of each word.

    Works on ~4 MB pieces: NumPy finds every field and counts the fields of
    every line, so a bad line is found and named without a loop over lines.
    """
    parts = {"lines": [], "prob": [], "bow": [], "words": [[] for _ in range(k)], "raw": []}
    spare = bytes(_SPARE_BYTES)
    start = 0
    line_base = first_line
    while start < len(body):
        end = min(len(body), start + _CHUNK_BYTES)
        if end < len(body):
            cut = body.rfind(b"\n", start, end)
            end = cut + 1 if cut >= start else (body.find(b"\n", end) + 1 or len(body))
        chunk = body[start:end]
        start = end
        if not chunk.endswith(b"\n"):
            chunk += b"\n"
        arr = np.frombuffer(chunk, dtype=np.uint8)
        at = _uint64_at(chunk + spare)
        starts, ends = _field_spans(arr)
        line_starts = np.flatnonzero(arr == 10) + 1
        line_starts[1:] = line_starts[:-1]
        line_starts[0] = 0
        first_field = np.searchsorted(starts, line_starts)
        per_line = np.diff(np.append(first_field, len(starts)))
        allowed = (per_line == 0) | (per_line == k + 1) | (per_line == k + 2)
        if not allowed.all():
            i = int(np.flatnonzero(~allowed)[0])
            raise lines.error(
                line_base + i,
                f"a {k}-gram line needs a log10 probability, {k} word{'s' if k > 1 else ''} "
                f"and an optional back-off weight; found {per_line[i]} fields",
            )
        nonblank = np.flatnonzero(per_line)
        line_numbers = line_base + nonblank
        line_base += len(line_starts)
        f0 = first_field[nonblank]
        parts["lines"].append(line_numbers)
        with_bow = per_line[nonblank] == k + 2
        is_number = np.zeros(len(starts), dtype=bool)
        is_number[f0] = True
        is_number[f0[with_bow] + k + 1] = True
        values = _numbers_in_text(arr, starts, ends, is_number)
        # The numbers come line by line: the probability, then the back-off weight if any.
        prob_at = np.cumsum(1 + with_bow) - (1 + with_bow)
        if values is None:
            values = np.empty(int(is_number.sum()))
            values[prob_at] = _numbers_one_by_one(chunk, starts[f0], ends[f0], line_numbers, "log10 probability", lines)
            fb = f0[with_bow] + k + 1
            bow_lines = line_numbers[with_bow]
            values[prob_at[with_bow] + 1] = _numbers_one_by_one(
                chunk, starts[fb], ends[fb], bow_lines, "back-off weight", lines
            )
        probs = values[prob_at]
        parts["prob"].append(
            _check_numbers(probs, lambda i: chunk[starts[f0[i]] : ends[f0[i]]], line_numbers, "log10 probability", lines)
        )
        bow = np.zeros(len(f0))
        if not highest:  # a back-off weight on the highest order means nothing: ignored
            fb = f0[with_bow] + k + 1
            bow[with_bow] = _check_numbers(
                values[prob_at[with_bow] + 1],
                lambda i: chunk[starts[fb[i]] : ends[fb[i]]],
                line_numbers[with_bow],
                "back-off weight",
                lines,
            )
        parts["bow"].append(bow)
        word_fields = (f0[:, None] + 1 + np.arange(k)).reshape(-1)
        ws, we = starts[word_fields], ends[word_fields]
        if word_ids is None:
            parts["raw"].extend(chunk[s:e] for s, e in zip(ws.tolist(), we.tolist()))
            continue
        ids = word_ids.lookup(at, ws, we)
        if (ids < 0).any():
            i = int(np.flatnonzero(ids < 0)[0])
            raw = chunk[ws[i] : we[i]]
            raise lines.error(int(line_numbers[i // k]), f"word {_show(raw)} is not listed in \\1-grams:")
        ids = ids.reshape(-1, k)
        for j in range(k):
            parts["words"][j].append(ids[:, j])

    def cat(chunks, dtype):
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=dtype)

    line_numbers = cat(parts["lines"], np.int64)
    probs = cat(parts["prob"], np.float64)
    bows = cat(parts["bow"], np.float64)
    if word_ids is None:
        return line_numbers, probs, bows, parts["raw"]
    return line_numbers, probs, bows, [cat(c, np.int64) for c in parts["words"]]


def read_arpa(path):
    """Read an ARPA back-off model (and its rnnkit side file if present) into an NgramModel.

    Accepts what KenLM and SRILM write: text before ``\\data\\`` is ignored,
    back-off weights may be omitted, fields are separated by spaces or tabs,
    the file may be gzip-compressed. Errors name the file and the line.
    """
    data = _read_bytes(path)
    lines = _Lines(data, path)
    while True:  # anything before \data\ is a comment
        number, line = lines.next_line()
        if line is None:
            raise RnnkitError(f"{path}: not an ARPA file (no \\data\\ line)")
        if line == b"\\data\\":
            data_line = number
            break
    counts = {}
    while True:
        number, line = lines.next_nonblank()
        if line is None:
            raise lines.error(number, "the file ends inside the \\data\\ header")
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
    missing = sorted(set(range(1, order + 1)) - set(counts))
    if missing:
        raise lines.error(data_line, f"the \\data\\ header has no count for order {missing[0]}")

    vocab, word_ids, parsed = None, None, []
    for k in range(1, order + 1):
        if k > 1:
            section_no, section_line = lines.next_nonblank()
        if section_line is None:
            raise lines.error(section_no, f"the file ends before \\{k}-grams: (truncated?)")
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
            raw = words
            vocab, by_bytes = [], {}
            for i, (w, n) in enumerate(zip(raw, line_numbers.tolist())):
                first = by_bytes.setdefault(w, i)
                if first != i:
                    raise lines.error(n, f"duplicate unigram {_show(w)} (first on line {line_numbers[first]})")
                try:
                    vocab.append(w.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise lines.error(n, f"invalid UTF-8 in word {_show(w)} at byte {exc.start}") from None
            word_ids = _WordIds(raw)
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
    model = NgramModel(vocab, tables, tokenizer, open_vocabulary, estimation, source=path)
    model.sidecar = sidecar if os.path.exists(sidecar) else None
    return model


def _tables_from_columns(parsed, path):
    """Order tables from parsed sections: link each n-gram to the entry of its prefix."""
    tables = []
    n_vocab = len(parsed[0][1])
    previous = None
    for k, (line_numbers, probs, bows, cols) in enumerate(parsed, 1):
        word = cols[-1]
        if k == 1:
            prefix = np.full(len(probs), -1, dtype=np.int64)
        elif k == 2:
            prefix = cols[0].copy()  # a unigram's entry index is its word id
        else:
            found = previous.find(cols[:-1])
            prefix = np.where(found >= 0, found, -2)
        if k > 1:
            # Duplicates: the same prefix entry and word, or the same words when the prefix is missing.
            if (prefix < 0).any():
                prefix_key = np.where(prefix >= 0, prefix, -1 - _tuple_code(cols[:-1]))
            else:
                prefix_key = prefix
            key = prefix_key * (n_vocab + 1) + word
            order = np.argsort(key)
            dup = np.flatnonzero(key[order][1:] == key[order][:-1])
            if len(dup):
                first, second = line_numbers[order[dup[0]]], line_numbers[order[dup[0] + 1]]
                raise RnnkitError(f"{path}: line {second}: duplicate {k}-gram (first on line {first})")
        tables.append(_OrderTable(prefix=prefix, word=word, logprob=probs, bow=bows))
        previous = _ColumnLookup(cols) if 2 <= k < len(parsed) else None
    return tables


def _tuple_code(cols):
    """A small non-negative code per word tuple, equal only for equal tuples (for duplicate checks)."""
    h = np.zeros(len(cols[0]), dtype=np.uint64)
    for c in cols:
        h = _hash_step(h, c)
    return _distinct(h.view(np.int64))[2] if len(h) else np.zeros(0, dtype=np.int64)


class _ColumnLookup:
    """Exact lookup of word-id tuples among the entries of one order (used while loading)."""

    def __init__(self, cols):
        self.cols = cols
        self.hash = self._hash(cols)
        self.probe = _ProbeTable(self.hash)

    @staticmethod
    def _hash(cols):
        h = np.zeros(len(cols[0]), dtype=np.uint64)
        for c in cols:
            h = _hash_step(h, c)
        return h

    def find(self, cols):
        h = self._hash(cols)

        def same(q, rows):
            ok = self.hash[rows] == h[q]
            for mine, theirs in zip(cols, self.cols):
                ok &= theirs[rows] == mine[q]
            return ok

        return self.probe.lookup(h, same)


def _read_sidecar(sidecar, order):
    try:
        with open(sidecar, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RnnkitError(f"{sidecar}: unreadable side file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        raise RnnkitError(f"{sidecar}: not an rnnkit N-gram side file")
    if meta.get("order", order) != order:
        raise RnnkitError(f"{sidecar}: says order {meta.get('order')}, but the ARPA file has order {order}")
    if meta.get("tokenizer", "word") not in TOKENIZERS:
        raise RnnkitError(f"{sidecar}: unknown tokenizer {meta.get('tokenizer')!r}")
    if not isinstance(meta.get("unk", False), bool):
        raise RnnkitError(f"{sidecar}: 'unk' must be true or false")
    return meta
