"""Finding n-grams: 64-bit hashes chained word by word, an open-addressing table
built and probed in NumPy, and the per-order table of a model's n-grams.

No Python dictionary of tuples and no Python loop per n-gram: every n-gram
gets a hash chained the same way as its trie index (hash of the prefix, then
the last word); a hash match is confirmed against the entry's prefix index
and last word, so a lookup is exact.
"""

from dataclasses import dataclass

import numpy as np

_HASH_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_HASH_M1 = np.uint64(0xBF58476D1CE4E5B9)
_HASH_M2 = np.uint64(0x94D049BB133111EB)


def hash_step(prefix_hash, word_ids):
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


class ProbeTable:
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

    @classmethod
    def from_slots(cls, slots, rounds):
        """A table as built before (a binary model file's): its slot array and its number of rounds."""
        table = cls.__new__(cls)
        table.size, table.slots, table.rounds = len(slots), slots, rounds
        if table.size & (table.size - 1) or table.size < 16:
            raise ValueError(f"a probe table of {table.size} slots (expected a power of two, at least 16)")
        return table

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
class OrderTable:
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
    probe: ProbeTable = None

    def __len__(self):
        return len(self.word)

    def find(self, hashes, prefix_entries, words):
        """Entry index of each (prefix entry, word) pair with the given hashes, -1 where not listed."""
        if len(hashes) == 0 or len(self.word) == 0:
            return np.full(len(hashes), -1, dtype=np.int64)

        def same(q, e):
            ok = (self.prefix[e] == prefix_entries[q]) & (self.word[e] == words[q])
            if self.hash is not None:  # a quick first test; prefix and word alone are exact
                ok &= self.hash[e] == hashes[q]
            return ok

        return self.probe.lookup(hashes, same)


def distinct(keys):
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


def hash_columns(cols):
    """The chained hash of each row of word-id columns (w_1, .., w_k)."""
    h = np.zeros(len(cols[0]), dtype=np.uint64)
    for c in cols:
        h = hash_step(h, c)
    return h
