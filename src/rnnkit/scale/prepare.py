"""`rnnkit prepare`: tokenise corpora once into a DATA_DIR of memory-mappable id shards.

The corpus is never held whole. The files are cut into chunks of about
``chunk_bytes`` at line ends, and read twice:

1. counting: every chunk's token counts, merged (memory: the distinct tokens);
2. encoding: every chunk's ids in the dictionary built from those counts,
   written as one shard (memory: one chunk per worker).

Chunks are independent, so both passes run on ``workers`` processes
(multiprocessing, spawned: no state is inherited but the dictionary handed
over). The result is exactly the in-memory path's: the same dictionary
(rnnkit.lm.vocab.Vocab.build over the same counts) and the same ids
(rnnkit.lm.data.build_vocab_and_encode on the files' lines, file after file).
The file format is described in rnnkit.lm.prepared, which reads it.
"""

import hashlib
import os
from array import array
from collections import Counter

from rnnkit import __version__
from rnnkit.backend import xp
from rnnkit.errors import OptionError, RnnkitError
from rnnkit.lm import io
from rnnkit.lm.data import read_word_list
from rnnkit.lm.prepared import FORMAT, FORMAT_VERSION, MANIFEST, Prepared, id_dtype, is_prepared
from rnnkit.lm.tokenize import get_tokenizer, lines_of
from rnnkit.lm.vocab import EOS, Vocab

CHUNK_BYTES = 32 << 20  # per worker in memory at once: the text, its lines and its ids (~10x this at most)
MEMORY_PER_CHUNK_BYTE = 10  # that ~10x, for the check made before any worker starts


def plan_chunks(paths, chunk_bytes=CHUNK_BYTES):
    """[(path, start, stop)]: byte ranges that cover the files, each ending just after a b"\\n".

    A cut after a newline byte never splits a UTF-8 character or a \\r\\n pair,
    so the chunks' lines are the file's lines.
    """
    chunks = []
    for path in paths:
        size = os.path.getsize(path)
        start = 0
        with open(path, "rb") as f:
            while start < size:
                stop = start + chunk_bytes
                if stop < size:
                    f.seek(stop)
                    f.readline()  # on to the end of the line the cut fell into
                    stop = f.tell()
                stop = min(stop, size)
                chunks.append((path, start, stop))
                start = stop
    return chunks


def _chunk_lines(chunk):
    path, start, stop = chunk
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(stop - start)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        with open(path, "rb") as f:
            before = f.read(start).count(b"\n") if start < (64 << 20) else _count_newlines(f, start)
        line_no = before + data.count(b"\n", 0, exc.start) + 1
        raise RnnkitError(f"{path}: line {line_no}: invalid UTF-8 at byte offset {start + exc.start}") from None
    if start == 0 and text.startswith("\ufeff"):
        text = text[1:]
    return lines_of(text)  # the in-memory reader's rule: chunks end at b"\n", so both cut alike


def _count_newlines(f, stop):
    n, pos = 0, 0
    while pos < stop:
        block = f.read(min(1 << 22, stop - pos))
        n += block.count(b"\n")
        pos += len(block)
    return n


def count_chunk(args):
    """Pass 1 on one chunk: (token counts, non-blank lines)."""
    chunk, tokenizer = args
    cut = get_tokenizer(tokenizer)
    counts, lines = Counter(), 0
    for line in _chunk_lines(chunk):
        tokens = cut(line)
        if tokens:
            counts.update(tokens)
            lines += 1
    counts[EOS] += lines
    return counts, lines


_VOCAB = None  # the worker's dictionary (token -> id), set once by _init_encoder


def _init_encoder(tokens):
    global _VOCAB
    _VOCAB = {t: i for i, t in enumerate(tokens)}


def encode_chunk(args):
    """Pass 2 on one chunk: write its ids to ``shard_path``; (tokens, lines, oov, sha256)."""
    chunk, tokenizer, dtype, shard_path = args
    cut, index, unk = get_tokenizer(tokenizer), _VOCAB, Vocab.unk_id
    ids, lines, oov = array("I"), 0, 0
    eos = index[EOS]
    for line in _chunk_lines(chunk):
        tokens = cut(line)
        if not tokens:
            continue
        for tok in tokens:
            i = index.get(tok)
            if i is None:
                i, oov = unk, oov + 1
            ids.append(i)
        ids.append(eos)
        lines += 1
    data = xp.frombuffer(ids, dtype=xp.uint32).astype(xp.dtype(dtype).newbyteorder("<")).tobytes()
    io.atomic_write(shard_path, data)
    return len(ids), lines, oov, hashlib.sha256(data).hexdigest()


def _fixed_vocab(path):
    """--vocab: a word list (one token per line), or the exact dictionary of a DATA_DIR or model directory."""
    if os.path.isdir(path):
        vocab_path = os.path.join(path, io.VOCAB)
        if not os.path.exists(vocab_path):
            raise RnnkitError(f"{path}: a directory without {io.VOCAB}: expected a DATA_DIR, a model directory "
                              "or a word list file")
        return Vocab.from_json(io.read_json(vocab_path), vocab_path), None
    return None, read_word_list(path)


def _check_inputs(corpora, out, force):
    if not corpora:
        raise RnnkitError("no corpus given")
    for path in corpora:
        if not os.path.exists(path):
            raise RnnkitError(f"{path}: no such file")
        if os.path.isdir(path):
            raise RnnkitError(f"{path}: is a directory, expected a text file")
    if os.path.exists(out) and not os.path.isdir(out):
        raise RnnkitError(f"{out}: exists and is not a directory")
    if os.path.isdir(out) and os.listdir(out) and not force:
        raise RnnkitError(f"{out}: exists and is not empty; use {{force}} to prepare into it", "force")


def _check_memory(workers, chunk_bytes, chunks):
    """The number of processes to start (never more than there are chunks), refused with the
    figure when their chunks cannot all be in memory at once (--workers 1000, --chunk-mb 100000)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise OptionError(f"{{workers}} must be a positive whole number, got {workers!r:.20}", "workers")
    workers = min(workers, max(1, len(chunks)))
    largest = max((stop - start for _, start, stop in chunks), default=0)
    need = workers * largest * MEMORY_PER_CHUNK_BYTE
    from rnnkit.lm.train.trainer import available_memory

    have = available_memory()
    if have is not None and need > have:
        raise OptionError(f"{workers} worker(s) each holding a chunk of {largest / 2**20:,.0f} MiB need about "
                          f"{need / 2**30:,.1f} GiB; {have / 2**30:,.1f} GiB of memory is available: fewer "
                          "{workers} or smaller chunks", "workers")
    return workers


class _Pool:
    """``map`` over the chunks: in this process for one worker, else on spawned processes."""

    def __init__(self, workers, tokens=None):
        self.workers, self.tokens, self.pool = workers, tokens, None

    def __enter__(self):
        if self.workers > 1:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            init = (_init_encoder, (self.tokens,)) if self.tokens is not None else (None, ())
            self.pool = ctx.Pool(self.workers, initializer=init[0], initargs=init[1])
        elif self.tokens is not None:
            _init_encoder(self.tokens)
        return self

    def imap(self, fn, items):
        return self.pool.imap(fn, items) if self.pool is not None else map(fn, items)

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.terminate() if exc[0] is not None else self.pool.close()
            self.pool.join()
        return False


def prepare(corpora, out, tokenizer="word", vocab=None, min_count=1, max_vocab=None, workers=1,
            chunk_bytes=CHUNK_BYTES, force=False, log=None):
    """Tokenise ``corpora`` (text files, read in order) into DATA_DIR ``out``; returns its manifest (a dict).

    ``vocab``: a word list file or a directory with a vocab.json (that exact
    dictionary); otherwise the dictionary is cut from the corpora's counts by
    ``min_count`` / ``max_vocab`` as `rnnkit train` cuts it.
    """
    corpora = list(corpora)
    get_tokenizer(tokenizer)
    _check_inputs(corpora, out, force)
    if vocab is not None and (min_count != 1 or max_vocab is not None):
        raise OptionError("{vocab} fixes the dictionary; {min_count} and {max_vocab} cut one built from the "
                          "corpus: give one or the other", "vocab", "min_count", "max_vocab")
    exact, words = _fixed_vocab(vocab) if vocab is not None else (None, None)
    chunks = plan_chunks(corpora, chunk_bytes)
    workers = _check_memory(workers, chunk_bytes, chunks)
    say = log or (lambda msg: None)
    if exact is None:
        counts, lines = Counter(), 0
        with _Pool(workers) as pool:
            for c, n in pool.imap(count_chunk, [(chunk, tokenizer) for chunk in chunks]):
                counts.update(c)
                lines += n
        if lines == 0:
            raise RnnkitError(f"{', '.join(corpora)}: no text (empty, or only blank lines)")
        exact = Vocab.build(dict(counts), min_count=min_count, max_vocab=max_vocab, words=words)
        del counts
        say(f"counted {len(chunks)} chunk(s): vocabulary {len(exact):,}")
    os.makedirs(out, exist_ok=True)
    if os.path.exists(os.path.join(out, MANIFEST)):
        os.remove(os.path.join(out, MANIFEST))  # from here on the directory is incomplete until the new one
    dtype = id_dtype(len(exact))
    jobs = [(chunk, tokenizer, dtype, os.path.join(out, f"ids-{i:05d}.bin")) for i, chunk in enumerate(chunks)]
    shards, total, lines, oov = [], 0, 0, 0
    with _Pool(workers, exact.tokens) as pool:
        for (_, _, _, path), (n, n_lines, n_oov, digest) in zip(jobs, pool.imap(encode_chunk, jobs)):
            shards.append({"file": os.path.basename(path), "tokens": n, "sha256": digest})
            total, lines, oov = total + n, lines + n_lines, oov + n_oov
    if lines == 0:
        raise RnnkitError(f"{', '.join(corpora)}: no text (empty, or only blank lines)")
    vocab_bytes = io.json_bytes(exact.to_json())
    io.atomic_write(os.path.join(out, io.VOCAB), vocab_bytes)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "rnnkit_version": __version__,
        "tokenizer": tokenizer, "dtype": dtype, "vocab_size": len(exact), "vocab_sha256": io.sha256(vocab_bytes),
        "tokens": total, "lines": lines, "oov": oov,
        "sources": [{"path": p, "bytes": os.path.getsize(p)} for p in corpora],
        "options": {"min_count": min_count, "max_vocab": max_vocab, "vocab": vocab},
        "shards": shards,
    }
    io.atomic_write(os.path.join(out, MANIFEST), io.json_bytes(manifest))  # last: the directory is complete
    say(f"wrote {out}: {total:,} tokens in {len(shards)} shard(s) of {dtype}, {lines:,} lines, {oov:,} OOV")
    return manifest


__all__ = ["prepare", "plan_chunks", "Prepared", "is_prepared", "CHUNK_BYTES"]
