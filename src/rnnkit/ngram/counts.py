"""Counting: every n-gram of orders 1..N in a corpus, and Kneser-Ney's adjusted counts.

Token ids form one flat stream ``<s> w.. </s> <s> ...``; the n-grams of order
k are packed into one int64 each as ``index of (w_1..w_{k-1}) at order k-1 *
|V| + w_k``, and one argsort makes them distinct, sorted n-gram indexes: a
trie built one order at a time, whose indexes are the prefixes of the next
order. No Python dictionary of tuples and no Python loop per n-gram.

Adjusted counts
---------------
Let c(w_1..w_k) be how often an n-gram occurs. Kneser-Ney's insight: a
lower-order distribution is only used when the longer context failed, so it
should ask "how many different words precede w?" rather than "how often does
w occur?". The adjusted count is

    a(w_1..w_k) = c(w_1..w_k)                for k = N (the highest order)
                = c(w_1..w_k)                if w_1 = <s> (nothing can precede it)
                = N1+(. w_1..w_k)            otherwise: the number of distinct
                                             words v with c(v w_1..w_k) > 0.
"""

from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from rnnkit.errors import OptionError
from rnnkit.ngram.lookup import distinct
from rnnkit.ngram.text import BOS, EOS, UNK, sentence_stream


def check_order(order):
    """Refuse an order below 1 (a model needs at least the unigrams)."""
    if order < 1:
        raise OptionError(f"{{order}} must be at least 1, not {order}", "order")


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


def count_ngrams(sentences, order, open_vocabulary=False):
    """Count every n-gram of orders 1..order in each ``<s> sentence </s>``, vectorised.

    The n-grams of order k are packed as ``index of their prefix * |V| + last
    word`` into int64 and made distinct with one argsort; the resulting
    indexes are the prefixes of order k+1. Returns an NgramCounts trie.
    """
    check_order(order)
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
    stream, depth, _, _ = sentence_stream(flat, lengths, bos, index[EOS])
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
            raise OptionError(f"{{order}} {order} is longer than any sentence with its <s> and </s>", "order")
        keys = entry_at[positions - 1] * n_vocab + stream[positions]
        unique_keys, occurrence, inverse, n = distinct(keys)
        at = positions[occurrence]
        counts.prefix.append(unique_keys // n_vocab)
        counts.word.append(unique_keys % n_vocab)
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

