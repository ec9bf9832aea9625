"""The ARPA reader: any ARPA file (rnnkit's, KenLM's, SRILM's, gzip or plain).

Files are read as byte arrays. NumPy finds the fields of every line and
checks their number, packs each word's bytes into 8-byte keys looked up in
an open-addressing table, and parses the numbers with one ``np.fromstring``
per 4 MB piece (Python's float() only runs to name a bad number's line).
Every error names the file and the line.
"""

import gzip
import zlib
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.ngram.arpa_format import MAX_LOG10, SEPARATOR, SIDECAR_SUFFIX, read_sidecar
from rnnkit.ngram.lookup import OrderTable, ProbeTable, distinct, hash_columns, hash_step
from rnnkit.ngram.text import UNK


@dataclass
class ArpaContents:
    """What an ARPA file and its side file hold: the vocabulary (a word's id is
    its index), one OrderTable per order, the tokenizer, whether the
    vocabulary is open (None: as KenLM, open exactly when <unk> is listed),
    the estimation record, and the side file's path (None if there is none)."""

    vocab: list
    tables: list
    tokenizer: str
    open_vocabulary: bool
    estimation: dict
    sidecar: str


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
    np.logical_not(SEPARATOR[arr], out=padded[1:-1])
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
    return hash_step(x, lengths)


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
        self.probe = ProbeTable(_key_hash(keys, lengths))

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
        except (OSError, EOFError, zlib.error) as exc:  # zlib.error: a corrupt deflate stream
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
    """Refuse NaN, +inf, finite values beyond ±MAX_LOG10, and (for probabilities) anything
    above log10 1 = 0, naming the line."""
    bad = np.isnan(values) | (values == np.inf) | (np.isfinite(values) & (np.abs(values) > MAX_LOG10))
    if what == "log10 probability":
        bad |= values > 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        positive = what == "log10 probability" and values[i] > 0
        problem = ("is positive (a probability above 1)" if positive else
                   f"is beyond ±{MAX_LOG10:g}" if np.isfinite(values[i]) else "is not a usable number")
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
    """Read an ARPA back-off model and its rnnkit side file if present: an ArpaContents.

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
        meta = read_sidecar(sidecar, order)
        tokenizer = meta.get("tokenizer", "word")
        open_vocabulary = meta.get("unk")
        estimation = meta.get("estimation")
        if open_vocabulary and UNK not in vocab:
            raise RnnkitError(f"{sidecar}: says the vocabulary is open, but {path} has no {UNK} unigram")
    return ArpaContents(vocab, tables, tokenizer, open_vocabulary, estimation, sidecar if os.path.exists(sidecar) else None)


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
        tables.append(OrderTable(prefix=prefix, word=word, logprob=probs, bow=bows))
        previous = _ColumnLookup(cols) if 2 <= k < len(parsed) else None
    return tables


def _tuple_code(cols):
    """A small non-negative code per word tuple, equal only for equal tuples (for duplicate checks)."""
    h = hash_columns(cols)
    return distinct(h.view(np.int64))[2] if len(h) else np.zeros(0, dtype=np.int64)


class _ColumnLookup:
    """Exact lookup of word-id tuples among the entries of one order (used while loading)."""

    def __init__(self, cols):
        self.cols = cols
        self.hash = hash_columns(cols)
        self.probe = ProbeTable(self.hash)

    def find(self, cols):
        h = hash_columns(cols)

        def same(q, rows):
            ok = self.hash[rows] == h[q]
            for mine, theirs in zip(cols, self.cols):
                ok &= theirs[rows] == mine[q]
            return ok

        return self.probe.lookup(h, same)
