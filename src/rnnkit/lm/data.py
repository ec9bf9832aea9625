"""From text files to token-id arrays, and from arrays to training batches.

The corpus is held as one int32 array (PTB's 929,589 training tokens take
3.7 MB), never as Python lists of strings: files are cut line by line and each
token goes straight into the array.

Sentence boundaries follow docs/article.md §7 with PTB's convention: every line gets an
``<eos>`` at its end, and that ``<eos>`` is the start token of the next line.
The training pairs are then the stream shifted by one: input ids[t], label
ids[t+1] ("s 我 昨天 上学 迟到 了" -> "我 昨天 上学 迟到 了 e").
"""

from array import array

from rnnkit.backend import xp
from rnnkit.errors import RnnkitError
from rnnkit.lm.tokenize import get_tokenizer, read_lines
from rnnkit.lm.vocab import EOS, Vocab

ID_DTYPE = xp.int32


class Encoded:
    """A text as ids: ``ids`` (int32, an <eos> after every line), with ``tokens``
    (= len(ids)), ``lines`` and ``oov`` (tokens outside the dictionary, not
    counting a literal <unk>, which is a dictionary word)."""

    def __init__(self, ids, lines, oov):
        self.ids, self.lines, self.oov = ids, lines, oov

    @property
    def tokens(self):
        return int(self.ids.size)

    @property
    def oov_rate(self):
        return self.oov / self.tokens if self.tokens else 0.0


def _cut_into_types(lines, tokenizer):
    """One pass over the text: (ids into ``types``, the distinct tokens, their counts).

    The ids here are provisional (order of first appearance); the dictionary
    decides the final numbering, which is then one array lookup away. Cutting
    the text once matters for jieba, which is the slow part of reading Chinese.
    """
    cut = get_tokenizer(tokenizer)
    types, counts, ids = {EOS: 0}, [0], array("i")
    n_lines = 0
    for line in lines:
        tokens = cut(line)
        if not tokens:
            continue  # blank lines separate nothing that <eos> does not already
        for tok in tokens:
            i = types.get(tok)
            if i is None:
                i = types[tok] = len(counts)
                counts.append(0)
            counts[i] += 1
            ids.append(i)
        ids.append(0)  # <eos>
        counts[0] += 1
        n_lines += 1
    return xp.frombuffer(ids, dtype=xp.int32).astype(ID_DTYPE), list(types), counts, n_lines


def _map_types(vocab, types, counts, prov_ids, n_lines):
    table = xp.array([vocab.id(t) for t in types], dtype=ID_DTYPE)
    oov = sum(c for t, c in zip(types, counts) if t not in vocab)
    return Encoded(table[prov_ids], n_lines, oov)


def _no_text(source):
    return RnnkitError(f"{source}: no text (the file is empty or holds only blank lines)")


def read_word_list(path):
    """The tokens of a word-list file (rnnkit train --vocab): one per line, blank lines skipped."""
    words = []
    for n, line in enumerate(read_lines(path), 1):
        token = line.strip()
        if not token:
            continue
        if len(token.split()) > 1:
            raise RnnkitError(f"{path}: line {n}: expected one token per line, got {token!r}")
        words.append(token)
    if not words:
        raise RnnkitError(f"{path}: no tokens (a word list holds one token per line)")
    return words


def build_vocab_and_encode(path, tokenizer, min_count=1, max_vocab=None, words=None):
    """Read a training corpus: (its Vocab, its Encoded ids); ``words``: a fixed word list (Vocab.build)."""
    prov_ids, types, counts, n_lines = _cut_into_types(read_lines(path), tokenizer)
    if n_lines == 0:
        raise _no_text(path)
    vocab = Vocab.build(dict(zip(types, counts)), min_count=min_count, max_vocab=max_vocab, words=words)
    return vocab, _map_types(vocab, types, counts, prov_ids, n_lines)


def encode_file(path, tokenizer, vocab):
    """A text file as ids in an existing dictionary (validation and test text)."""
    enc = encode_lines(read_lines(path), tokenizer, vocab)
    if enc.lines == 0:
        raise _no_text(path)
    return enc


def encode_lines(lines, tokenizer, vocab):
    """Lines of text (already read) as one Encoded stream."""
    prov_ids, types, counts, n_lines = _cut_into_types(lines, tokenizer)
    return _map_types(vocab, types, counts, prov_ids, n_lines)


def encode_sentence(text, tokenizer, vocab):
    """One line's ids, without the <eos> (prefixes for predict and generate)."""
    tokens = get_tokenizer(tokenizer)(text)
    return tokens, xp.array(vocab.encode(tokens), dtype=ID_DTYPE)


# --- batches -----------------------------------------------------------------


def streams(ids, batch):
    """Cut the corpus into ``batch`` parallel streams: a (L, batch) time-major array.

    Stream b is the b-th contiguous piece of the text, so within a stream the
    words follow each other as written and the hidden state can be carried from
    one window to the next. The last len(ids) % batch tokens are left out.
    """
    length = ids.size // batch
    if length < 2:
        raise RnnkitError(
            f"the corpus has {ids.size} tokens: too few for {{batch}} {batch} (each stream needs at least 2)", "batch"
        )
    return xp.ascontiguousarray(ids[: length * batch].reshape(batch, length).T)


class MappedStreams:
    """The (L, batch) stream array of ``streams`` for ids that stay on disk (rnnkit.lm.prepared.TokenFile).

    Only ``shape`` and row slices ``[a:b]`` are offered, which is what ``window``
    uses; a slice reads the ``batch`` pieces of the file it needs and nothing more.
    """

    def __init__(self, ids, batch, lo=0, hi=None):
        self.ids, self.batch = ids, batch
        self.length = ids.size // batch
        if self.length < 2:
            streams(xp.zeros(ids.size, dtype=ID_DTYPE), batch)  # the same error as in memory
        self.lo, self.hi = lo, batch if hi is None else hi
        self.shape = (self.length, self.hi - self.lo)

    def columns(self, lo, hi):
        """Streams lo..hi only (a data-parallel worker's share)."""
        return MappedStreams(self.ids, self.batch, self.lo + lo, self.lo + hi)

    def __getitem__(self, rows):
        start, stop, _ = rows.indices(self.length)
        L = self.length
        cols = [self.ids.take(b * L + start, b * L + stop) for b in range(self.lo, self.hi)]
        return xp.ascontiguousarray(xp.stack(cols, axis=1))


def num_windows(length, bptt):
    """How many truncated-BPTT windows cover a stream of ``length`` tokens."""
    return -(-(length - 1) // bptt)


def window(stream_array, index, bptt):
    """Window ``index``: inputs x (T, B) and labels y (T, B), y[t] = x[t+1] in the stream.

    The last window of an epoch may be shorter than ``bptt``.
    """
    start = index * bptt
    T = min(bptt, stream_array.shape[0] - 1 - start)
    return stream_array[start : start + T], stream_array[start + 1 : start + 1 + T]


def with_start(ids, eos_id):
    """The ids with an <eos> in front: the start context, so that every token,
    the first one included, is predicted (PTB test: 82,430 predictions)."""
    return xp.concatenate([xp.array([eos_id], dtype=ID_DTYPE), ids.astype(ID_DTYPE, copy=False)])
