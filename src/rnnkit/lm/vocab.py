"""The dictionary of docs/article.md §7: every token the model knows, numbered 0..V-1.

A token's number is the position of the 1 in its one-hot vector; the network
never builds that vector, it looks the number up (U times a one-hot vector is
one column of U).

Two tokens are always present:

- ``<unk>`` (id 0) stands for every word that is not in the dictionary: rare
  words cut by --min-count / --max-vocab, and words first seen at test time.
  A literal ``<unk>`` in the text (Penn Treebank has them) is the same token.
- ``<eos>`` (id 1) ends every line. It plays both of the article's boundary
  tokens at once, as in Penn Treebank and Mikolov's RNNLM: the end token e of
  one sentence is the start token s of the next, so a line scored on its own
  starts from the state reached after reading ``<eos>``.

The counts are kept with the mapping: they say how the dictionary was cut and
let a user see what the model was trained on.
"""

from rnnkit.errors import RnnkitError

UNK = "<unk>"
EOS = "<eos>"
SPECIALS = (UNK, EOS)


class Vocab:
    """Tokens in id order with their training counts.

    ``tokens[0] == "<unk>"`` and ``tokens[1] == "<eos>"``; the rest are sorted
    by falling count, ties by the token itself, so the same text always gives
    the same numbering.
    """

    def __init__(self, tokens, counts):
        tokens, counts = list(tokens), list(counts)
        bad = [t for t in tokens if not isinstance(t, str)][:1]
        if bad:
            raise ValueError(f"tokens must be strings, got {type(bad[0]).__name__} {bad[0]!r:.40}")
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            bad = next(c for c in counts if not (isinstance(c, int) and not isinstance(c, bool) and c >= 0))
            raise ValueError(f"counts must be non-negative integers, got {bad!r:.40}")
        if tokens[:2] != list(SPECIALS):
            raise ValueError(f"a vocabulary starts with {UNK} and {EOS}, got {tokens[:2]}")
        if len(tokens) != len(counts):
            raise ValueError(f"{len(tokens)} tokens but {len(counts)} counts")
        self.tokens = tokens
        self.counts = counts
        self.index = {tok: i for i, tok in enumerate(tokens)}
        if len(self.index) != len(tokens):
            raise ValueError("a vocabulary lists a token twice")

    unk_id = 0
    eos_id = 1

    def __len__(self):
        return len(self.tokens)

    def __contains__(self, token):
        return token in self.index

    def id(self, token):
        """The token's id, or <unk>'s id for a token outside the dictionary."""
        return self.index.get(token, self.unk_id)

    def encode(self, tokens):
        return [self.index.get(t, self.unk_id) for t in tokens]

    def decode(self, ids):
        return [self.tokens[i] for i in ids]

    @classmethod
    def build(cls, counts, min_count=1, max_vocab=None, words=None):
        """The dictionary of the tokens counted in ``counts`` (token -> count).

        Tokens seen fewer than ``min_count`` times are left out; ``max_vocab``
        caps the size, <unk> and <eos> included, keeping the most frequent.
        ``words`` fixes the dictionary instead (rnnkit train --vocab): exactly
        those words, kept even where ``counts`` never saw them (count 0), as
        PTB's vocabulary covers its test set. Every occurrence of a token left
        out is counted as <unk>.
        """
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        if max_vocab is not None and max_vocab < len(SPECIALS) + 1:
            raise ValueError(f"max_vocab must be at least {len(SPECIALS) + 1}, got {max_vocab}")
        if words is None:
            candidates = {t: c for t, c in counts.items() if c >= min_count}
        else:
            candidates = {t: counts.get(t, 0) for t in words}
        keep = sorted(((c, t) for t, c in candidates.items() if t not in SPECIALS), key=lambda ct: (-ct[0], ct[1]))
        if max_vocab is not None:
            keep = keep[: max_vocab - len(SPECIALS)]
        kept = {t for _, t in keep}
        unk_count = counts.get(UNK, 0) + sum(c for t, c in counts.items() if t not in SPECIALS and t not in kept)
        return cls([UNK, EOS] + [t for _, t in keep], [unk_count, counts.get(EOS, 0)] + [c for c, _ in keep])

    def to_json(self):
        return {"tokens": self.tokens, "counts": self.counts}

    @classmethod
    def from_json(cls, data, source="vocabulary"):
        try:
            return cls(data["tokens"], data["counts"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RnnkitError(f"{source}: not an rnnkit vocabulary ({exc})") from None
