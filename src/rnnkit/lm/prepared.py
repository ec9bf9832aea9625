"""A corpus prepared by `rnnkit prepare`, read without loading it: DATA_DIR.

DATA_DIR holds

    manifest.json     format, tokenizer, counts, the id dtype, and every shard with its
                      token count and SHA-256 (written last: its presence means complete)
    vocab.json        the dictionary, as in a model directory
    ids-00000.bin ... the token ids, flat little-endian uint16 (vocabularies up to 65,536
                      words) or uint32, an <eos> after every line, shard after shard

The shards are opened with numpy.memmap: a window of training reads the pages
it touches and nothing else, so a corpus larger than memory trains as a small
one does. The writing side is rnnkit.scale.prepare.
"""

import os
import stat

from rnnkit.backend import xp
from rnnkit.errors import RnnkitError
from rnnkit.lm import io
from rnnkit.lm.tokenize import TOKENIZERS
from rnnkit.lm.vocab import Vocab

MANIFEST = "manifest.json"
FORMAT = "rnnkit-prepared"
FORMAT_VERSION = 1
DTYPES = ("uint16", "uint32")


def id_dtype(vocab_size):
    """The narrowest dtype of DTYPES that holds ids 0 .. vocab_size-1."""
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def is_prepared(path):
    """True for a directory that `rnnkit prepare` wrote (it has a manifest.json)."""
    return os.path.isdir(path) and os.path.exists(os.path.join(path, MANIFEST))


class TokenFile:
    """The ids of DATA_DIR as one sequence over memory-mapped shards.

    ``size`` tokens; ``take(start, stop)`` copies ids[start:stop] into an
    int32 array (the engine's id dtype), reading only those pages.
    """

    def __init__(self, shards):
        self.shards = [s for s in shards if s.size]
        self.starts = [0]
        for s in self.shards:
            self.starts.append(self.starts[-1] + int(s.size))
        self.size = self.starts[-1]

    def take(self, start, stop):
        out = xp.empty(stop - start, dtype=xp.int32)
        pos = start
        i = int(xp.searchsorted(self.starts, start, side="right")) - 1
        while pos < stop:
            lo = pos - self.starts[i]
            n = min(stop - pos, int(self.shards[i].size) - lo)
            out[pos - start : pos - start + n] = self.shards[i][lo : lo + n]
            pos += n
            i += 1
        return out

    def array(self):
        """Every id in memory (int32): for what needs the whole text (cloze lines, validation)."""
        return self.take(0, self.size)


class Prepared:
    """DATA_DIR, checked: ``manifest``, ``vocab``, ``ids`` (a TokenFile), ``lines``, ``oov``, ``digest``.

    A tampered manifest or shard is refused here, in one line: every field of the
    manifest has its kind, every shard is a regular file inside DATA_DIR of the size
    the manifest gives, and every id is one of the dictionary's (read once, shard by
    shard, so that no window of training meets one that is not).
    """

    def __init__(self, path):
        self.path = path
        manifest_path = os.path.join(path, MANIFEST)
        raw = io.read_regular_file(manifest_path)
        self.digest = io.sha256(raw)  # the shards' SHA-256s are in it: it names the whole content
        m = io.read_json(manifest_path, raw)
        if not isinstance(m, dict) or m.get("format") != FORMAT:
            raise RnnkitError(f"{manifest_path}: not a manifest of rnnkit prepare")
        if m.get("format_version") != FORMAT_VERSION:
            raise RnnkitError(f"{manifest_path}: format version {str(m.get('format_version'))[:20]}, this rnnkit "
                              f"reads {FORMAT_VERSION}")
        try:
            dtype, shards, self.tokenizer = m["dtype"], m["shards"], m["tokenizer"]
            self.lines, self.oov = _count(m, "lines"), _count(m, "oov")
            if not isinstance(shards, list) or not all(isinstance(s, dict) for s in shards):
                raise TypeError("shards is not a list of objects")
            for shard in shards:
                shard["tokens"] = _count(shard, "tokens")
        except (KeyError, TypeError, ValueError) as exc:
            raise RnnkitError(f"{manifest_path}: incomplete or damaged manifest ({str(exc)[:80]})") from None
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise RnnkitError(f"{manifest_path}: id dtype {str(dtype)[:20]!r}, expected one of {', '.join(DTYPES)}")
        if not isinstance(self.tokenizer, str) or self.tokenizer not in TOKENIZERS:
            raise RnnkitError(f"{manifest_path}: unknown tokenizer {str(self.tokenizer)[:20]!r}")
        self.manifest = m
        vocab_path = os.path.join(path, io.VOCAB)
        vocab_raw = io._read_bytes(vocab_path)
        if io.sha256(vocab_raw) != m.get("vocab_sha256"):
            raise RnnkitError(f"{vocab_path}: not the vocabulary the manifest names (its SHA-256 differs)")
        self.vocab = Vocab.from_json(io.read_json(vocab_path, vocab_raw), vocab_path)
        width = xp.dtype(dtype).itemsize
        root = os.path.realpath(path)
        maps = []
        for shard in shards:
            name = shard.get("file")
            if not isinstance(name, str) or os.path.basename(name) != name or name in ("", ".", "..") \
                    or "\0" in name:
                raise RnnkitError(f"{manifest_path}: shard {str(name)[:80]!r} is no file name inside the directory")
            file = os.path.join(path, name)
            if os.path.dirname(os.path.realpath(file)) != root:  # a link that leads out
                raise RnnkitError(f"{manifest_path}: shard {name[:80]!r} is outside the directory")
            if not os.path.lexists(file):
                raise RnnkitError(f"{file}: missing (named in {MANIFEST})")
            size = _regular_size(file)
            if size != shard["tokens"] * width:
                raise RnnkitError(f"{file}: {size} bytes, the manifest says {shard['tokens']} "
                                  f"{dtype} ids ({shard['tokens'] * width} bytes): truncated or damaged")
            if shard["tokens"]:
                ids = xp.memmap(file, dtype=xp.dtype(dtype).newbyteorder("<"), mode="r")
                if int(ids.max()) >= len(self.vocab):
                    raise RnnkitError(f"{file}: holds id {int(ids.max())}, beyond the {len(self.vocab):,} words of "
                                      f"{io.VOCAB}: damaged")
                maps.append(ids)
        self.ids = TokenFile(maps)
        if self.ids.size != m.get("tokens"):
            raise RnnkitError(f"{manifest_path}: the shards hold {self.ids.size} tokens, the manifest says "
                              f"{str(m.get('tokens'))[:30]}")
        if self.ids.size == 0:
            raise RnnkitError(f"{path}: no text (prepared from empty corpora)")

    def verify(self):
        """Check every shard's SHA-256 against the manifest (reads all of them, in pieces)."""
        import hashlib

        for shard in self.manifest["shards"]:
            file = os.path.join(self.path, shard["file"])
            h = hashlib.sha256()
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
            if h.hexdigest() != shard["sha256"]:
                raise RnnkitError(f"{file}: SHA-256 differs from the manifest's: damaged")

    @property
    def tokens(self):
        return self.ids.size


def _count(d, key):
    """A count the manifest holds: a non-negative whole number (ValueError, TypeError, KeyError otherwise)."""
    value = d[key]
    if type(value) is not int or value < 0:
        raise ValueError(f"{key} {str(value)[:30]} is not a count")
    return value


def _regular_size(file):
    """The size of a shard, which must be a regular file (not a directory, a device or a FIFO)."""
    try:
        info = os.stat(file)
    except OSError as exc:
        raise RnnkitError(f"{file}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise RnnkitError(f"{file}: not a regular file")
    return info.st_size
