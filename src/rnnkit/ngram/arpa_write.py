"""The ARPA writer: a model's n-grams as ARPA text, written atomically (gzip for .gz).

Writing renders the numbers digit by digit and copies the words' bytes into
place, all in NumPy: no Python loop per line. Numbers get PRECISION decimals,
as ``%.6f`` would print them; log10 p(<s>) = -inf is written as -99, as
SRILM and KenLM do. Each file goes to a temporary file in the same directory
and is renamed into place, so a failure never leaves half a file.
"""

import gzip
import json
import os
import tempfile

import numpy as np

from rnnkit.durable import sync_dir
from rnnkit.errors import RnnkitError
from rnnkit.ngram.arpa_format import LOG10_ZERO, PRECISION, SEPARATOR, SIDECAR_SUFFIX


def write_arpa(model, path, force=False):
    """Write a model's ARPA file and its side file ``path + '.json'``; refuse to
    replace either unless force is true."""
    sidecar = path + SIDECAR_SUFFIX
    if not force:
        for target in (path, sidecar):
            if os.path.exists(target):
                raise RnnkitError(f"{target}: already exists (use {{force}} to replace it)", "force")
    atomic_write(path, arpa_chunks(model), compress=path.endswith(".gz"))
    text = json.dumps(model.metadata(), indent=2, ensure_ascii=False) + "\n"
    atomic_write(sidecar, [text.encode("utf-8")])


def arpa_chunks(model, lines_per_chunk=200_000):
    """The ARPA text of a model, as byte chunks of up to lines_per_chunk lines."""
    header = "\\data\\\n" + "".join(f"ngram {k}={len(t)}\n" for k, t in enumerate(model.tables, 1)) + "\n"
    yield header.encode("ascii")
    encoded = [w.encode("utf-8") for w in model.vocab]
    vocab_len = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    vocab_start = np.zeros(len(encoded), dtype=np.int64)
    np.cumsum(vocab_len[:-1], out=vocab_start[1:])
    vocab_bytes = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    if (vocab_len == 0).any() or SEPARATOR[vocab_bytes].any():
        raise RnnkitError("a vocabulary word is empty or contains whitespace; an ARPA file cannot hold it")
    words = None
    for k, table in enumerate(model.tables, 1):
        yield f"\\{k}-grams:\n".encode("ascii")
        words = model.ngram_ids(1) if k == 1 else np.column_stack([words[table.prefix], table.word])
        # p(<s>) = 0 is written as -99, as SRILM and KenLM do.
        logprob = np.maximum(table.logprob, LOG10_ZERO)
        highest = k == len(model.tables)
        for lo in range(0, len(table), lines_per_chunk):
            hi = min(lo + lines_per_chunk, len(table))
            bow = None if highest else table.bow[lo:hi]
            yield render_lines(logprob[lo:hi], words[lo:hi], bow, vocab_bytes, vocab_start, vocab_len)
        yield b"\n"
    yield b"\\end\\\n"


def atomic_write(path, chunks, compress=False):
    """Write byte chunks to path via a temporary file in the same directory, fsync, os.replace
    and an fsync of the directory: after a crash the old file or the new one, whole."""
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
            raw.flush()
            os.fsync(raw.fileno())  # the bytes are on disk before the name points at them
        # mkstemp makes the file 0600; ARPA files are shared like model files: the umask decides
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        raise RnnkitError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _remove_quietly(tmp)
        raise
    sync_dir(directory)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _span_bytes(starts, lengths):
    """For the bytes of spans laid end to end: their offsets in the source, the span
    each belongs to, and their position inside it."""
    begins = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=begins[1:])
    owner = np.repeat(np.arange(len(lengths)), lengths)
    position = np.arange(len(owner), dtype=np.int64) - begins[owner]
    return starts[owner] + position, owner, position


def format_fixed(values, decimals=PRECISION):
    """Right-aligned ASCII digits of values with fixed decimals: a (count, width) uint8
    matrix and the length of each number (its text is the last `length` bytes of its row)."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise RnnkitError("cannot write a non-finite number to an ARPA file")
    if len(values) and np.abs(values).max() >= 1e12:  # beyond what the int64 digits below hold
        raise RnnkitError(f"cannot write {values[np.argmax(np.abs(values))]:g} to an ARPA file (a log10 value "
                          "beyond ±1e12: a damaged model)")
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


def render_lines(logprob, words, bow, vocab_bytes, vocab_start, vocab_len):
    """ARPA lines ``logprob<TAB>w1 w2 .. wk[<TAB>bow]`` as bytes, built in NumPy."""
    count, k = words.shape
    if count == 0:
        return b""
    prob_text, prob_len = format_fixed(logprob)
    word_len = vocab_len[words]
    line_len = prob_len + 1 + word_len.sum(axis=1) + (k - 1) + 1
    if bow is not None:
        bow_text, bow_len = format_fixed(bow)
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

