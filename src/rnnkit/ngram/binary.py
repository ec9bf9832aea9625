"""The binary form of an N-gram model: a safetensors file, memory-mapped on load.

An ARPA file is text: every load parses every number and rebuilds every
lookup table (seconds for a PTB 5-gram). ``rnnkit ngram build-binary`` does
that once and stores the result as it lies in memory, as KenLM's
``build_binary`` does; loading maps the file and reads nothing until a query
touches it.

The file is a standard safetensors file (an 8-byte little-endian header
length, a JSON header naming each array's dtype, shape and byte range, then
the arrays back to back); any safetensors reader can list it, and loading it
never executes code. The arrays, per order k:

    o{k}.word      int32/int64  the id of the n-gram's last word (not stored at k = 1)
    o{k}.prefix    int32/int64  the entry of its first k-1 words at order k-1 (k >= 2)
    o{k}.logprob   float64      log10 p, as the ARPA file gives it
    o{k}.bow       float64      log10 b (not stored at the highest order)
    o{k}.slots     int32/int64  the probe table (lookup.ProbeTable), k >= 2

plus ``vocab.bytes`` (the words' UTF-8 bytes, back to back) and
``vocab.ends`` (where each word ends). The header's ``__metadata__`` holds
the side-file record (tokenizer, open vocabulary, estimation), the probe
tables' round counts and a fingerprint of the hash function: a file whose
tables were built with another hash is refused rather than misread.
"""

import json
import mmap
import os

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.ngram import arpa_format
from rnnkit.ngram.arpa_write import atomic_write
from rnnkit.ngram.lookup import OrderTable, ProbeTable, hash_step

FORMAT = "rnnkit-ngram-binary"
VERSION = 1
_ALIGN = 8  # the header is padded so that every 8-byte array starts 8-byte aligned
_DTYPES = {"F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 << 20


def hash_fingerprint():
    """A few hashes of the lookup's hash function: the stored probe tables are only valid under it."""
    return "%016x" % int(hash_step(np.full(3, 12345, dtype=np.uint64), np.arange(3))[2])


def is_binary(path):
    """True if the file starts like a safetensors file (a header length, then '{'); never raises."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= _MAX_HEADER


def _index_dtype(n):
    return np.int32 if n < 2**31 - 1 else np.int64


def model_arrays(model):
    """(name -> array, metadata) of a model: what write_binary stores."""
    model._index()
    arrays = {}
    encoded = [w.encode("utf-8") for w in model.vocab]
    arrays["vocab.bytes"] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    arrays["vocab.ends"] = np.cumsum([len(b) for b in encoded], dtype=np.int64)
    rounds = []
    for k, table in enumerate(model.tables, 1):
        index = _index_dtype(max(len(table), len(model.vocab)))
        if k > 1:
            arrays[f"o{k}.word"] = table.word.astype(index)
            arrays[f"o{k}.prefix"] = table.prefix.astype(_index_dtype(len(model.tables[k - 2]) + 2))
            arrays[f"o{k}.slots"] = table.probe.slots.astype(_index_dtype(len(table) + 1))
            rounds.append(table.probe.rounds)
        arrays[f"o{k}.logprob"] = np.asarray(table.logprob, dtype=np.float64)
        if k < model.order:
            arrays[f"o{k}.bow"] = np.asarray(table.bow, dtype=np.float64)
    metadata = {
        "format": FORMAT,
        "version": str(VERSION),
        "order": str(model.order),
        "hash": hash_fingerprint(),
        "probe_rounds": json.dumps(rounds),
        "model": json.dumps(model.metadata(), ensure_ascii=False),
    }
    return arrays, metadata


def _chunks(arrays, metadata):
    # 8-byte types first, so that every array starts at a multiple of its size
    # (safetensors readers sort the same way).
    names = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))
    header, offset = {"__metadata__": metadata}, 0
    for name in names:
        a = arrays[name]
        header[name] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % _ALIGN)
    yield len(text).to_bytes(8, "little") + text
    for name in names:
        yield np.ascontiguousarray(arrays[name]).view(np.uint8).data


def write_binary(model, path, force=False):
    """Write the model's binary form to ``path`` atomically (refused if it exists, unless force)."""
    if os.path.exists(path) and not force:
        raise RnnkitError(f"{path}: already exists (use {{force}} to replace it)", "force")
    if os.path.isdir(path):
        raise RnnkitError(f"{path}: is a directory")
    arrays, metadata = model_arrays(model)
    atomic_write(path, _chunks(arrays, metadata))


def _header(path, buffer):
    size = int.from_bytes(buffer[:8], "little") if len(buffer) >= 8 else -1
    if not 2 <= size <= min(_MAX_HEADER, len(buffer) - 8):
        raise RnnkitError(f"{path}: not an rnnkit binary N-gram file (no safetensors header)")
    try:
        header = json.loads(bytes(buffer[8 : 8 + size]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RnnkitError(f"{path}: damaged binary N-gram file (unreadable header)") from None
    meta = header.pop("__metadata__", None) if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RnnkitError(f"{path}: a safetensors file, but not an rnnkit binary N-gram model")
    return header, meta, 8 + size


def read_binary(path):
    """(vocab, tables, side-file record) of a binary model; the arrays are read-only memory maps.

    Every array is checked here, once, so that no query needs to (``_check``):
    dtypes, lengths, every index in range, every probability a number.
    """
    try:
        with open(path, "rb") as f:
            buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        raise RnnkitError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    header, meta, start = _header(path, buffer)
    if meta.get("version") != str(VERSION):
        raise RnnkitError(f"{path}: binary N-gram format version {str(meta.get('version'))[:20]}; "
                          f"this rnnkit reads {VERSION}")
    if meta.get("hash") != hash_fingerprint():
        raise RnnkitError(f"{path}: built with another hash function; rebuild it with rnnkit ngram build-binary")
    data = memoryview(buffer)[start:]
    arrays = {}
    for name, spec in header.items():
        try:
            dtype = np.dtype(_DTYPES[spec["dtype"]])
            lo, hi = (int(x) for x in spec["data_offsets"])
            shape = [int(x) for x in spec["shape"]]
        except (KeyError, TypeError, ValueError, OverflowError):  # OverflowError: int(Infinity)
            raise RnnkitError(f"{path}: damaged binary N-gram file (bad entry {name[:40]!r})") from None
        if len(shape) != 1 or shape[0] < 0:
            raise RnnkitError(f"{path}: damaged binary N-gram file ({name[:40]!r} is not a vector)")
        if not 0 <= lo <= hi <= len(data) or hi - lo != shape[0] * dtype.itemsize:
            raise RnnkitError(f"{path}: truncated or damaged binary N-gram file ({name[:40]!r} lies outside it)")
        arrays[name] = np.frombuffer(data[lo:hi], dtype=dtype)
    try:
        order, rounds, record = _metadata(meta)
        vocab = _vocab(arrays["vocab.bytes"], arrays["vocab.ends"])
        tables = []
        for k in range(1, order + 1):
            logprob = arrays[f"o{k}.logprob"]
            n = len(logprob)
            bow = arrays[f"o{k}.bow"] if k < order else np.zeros(n)
            if k == 1:
                table = OrderTable(np.full(n, -1, dtype=np.int64), np.arange(n, dtype=np.int64), logprob, bow)
            else:
                table = OrderTable(arrays[f"o{k}.prefix"], arrays[f"o{k}.word"], logprob, bow)
                table.probe = ProbeTable.from_slots(arrays[f"o{k}.slots"], rounds[k - 2])
            _check(k, table, len(vocab), len(tables[-1]) if tables else 0, order)
            tables.append(table)
    except KeyError as exc:
        raise RnnkitError(f"{path}: damaged binary N-gram file (no {str(exc)[:40]})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RnnkitError(f"{path}: damaged binary N-gram file ({str(exc)[:200]})") from None
    if len(vocab) != len(tables[0]):
        raise RnnkitError(f"{path}: damaged binary N-gram file ({len(vocab)} words, {len(tables[0])} unigrams)")
    arpa_format.check_record(record, path, order, "binary file's model record")
    return vocab, tables, record


def _metadata(meta):
    """(order, probe rounds per order from 2, the side-file record) from the header's metadata;
    ValueError or KeyError when it does not hold them."""
    order = meta["order"]
    if not isinstance(order, str) or not order.isdigit() or not 1 <= int(order) <= 64:
        raise ValueError(f"order {str(order)[:20]!r}")
    order = int(order)
    rounds, record = (_json(meta, key) for key in ("probe_rounds", "model"))
    if not isinstance(rounds, list) or len(rounds) != order - 1 or not all(
            type(r) is int and r >= 0 for r in rounds):
        raise ValueError(f"probe rounds {str(rounds)[:40]} for order {order}")
    return order, rounds, record


def _json(meta, key):
    value = meta[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} is no JSON text")
    try:
        return json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"{key} is no JSON text") from None


def _vocab(text, ends):
    if text.dtype != np.uint8 or ends.dtype.kind != "i":
        raise ValueError("the vocabulary's arrays have the wrong dtypes")
    if len(ends) and (ends[0] < 0 or (np.diff(ends) < 0).any() or ends[-1] != len(text)):
        raise ValueError("the vocabulary's word ends are out of order")
    text, starts = text.tobytes(), [0] + ends[:-1].tolist()
    return [text[s:e].decode("utf-8") for s, e in zip(starts, ends.tolist())]


def _check(k, table, n_vocab, n_below, order):
    """ValueError unless order k's arrays are what a query may rely on without checking:
    float64 numbers (log10 p in [-MAX_LOG10, 0] or -inf; log10 b in ±MAX_LOG10 or -inf), word ids in
    the vocabulary, prefixes entries of order k-1 (-2: an n-gram without a listed prefix,
    never reached), probe slots rows of this order (-1: free) with every row in one slot."""
    n = len(table.logprob)
    if table.logprob.dtype != np.float64 or table.bow.dtype != np.float64:
        raise ValueError(f"order {k}: probabilities are not float64")
    if len(table.bow) != n or len(table.word) != n or len(table.prefix) != n:
        raise ValueError(f"order {k}: arrays of different lengths")
    # as the ARPA reader: -inf is a zero probability; NaN, +inf and finite values beyond ±MAX_LOG10 are damage
    if not _within(table.logprob, 0.0):
        raise ValueError(f"order {k}: a log10 probability that is NaN, above 0 or beyond -{arpa_format.MAX_LOG10:g}")
    if k < order and not _within(table.bow, arpa_format.MAX_LOG10):
        raise ValueError(f"order {k}: a back-off weight that is NaN, +inf or beyond ±{arpa_format.MAX_LOG10:g}")
    if k == 1:
        return
    for name, a, lo, hi in (("word", table.word, 0, n_vocab), ("prefix", table.prefix, -2, n_below),
                            ("slots", table.probe.slots, -1, n)):
        if a.dtype.kind != "i":
            raise ValueError(f"order {k}: {name} is not an integer array")
        if len(a) and (a.min() < lo or a.max() >= hi):
            raise ValueError(f"order {k}: {name} out of range")
    # n occupied slots that between them name every row: each row once (a scatter, not a
    # boolean selection, which costs ten times as much on a PTB 5-gram's tables)
    slots = table.probe.slots
    seen = np.zeros(n + 1, dtype=bool)
    seen[slots + 1] = True  # a free slot (-1) marks seen[0]
    if np.count_nonzero(slots >= 0) != n or not seen[1:].all():
        raise ValueError(f"order {k}: the probe table does not hold each entry once")
    if table.probe.rounds > table.probe.size or (n and not table.probe.rounds):
        raise ValueError(f"order {k}: {table.probe.rounds} probe rounds for {table.probe.size} slots")


def _within(values, top):
    """Whether every value is -inf or a number in [-MAX_LOG10, top]: two reductions (NaN
    carries through max), and a second look at the finite ones only where -inf occurs."""
    if not len(values):
        return True
    low, high = values.min(), values.max()
    if not high <= top:  # NaN fails this too
        return False
    if low == -np.inf:
        finite = values[np.isfinite(values)]
        low = finite.min() if len(finite) else 0.0
    return bool(low >= -arpa_format.MAX_LOG10)
