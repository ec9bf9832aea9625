"""rnnkit prepare: the same dictionary and ids as the in-memory path, memory that does not grow with the corpus,
and rnnkit train reading a DATA_DIR wherever it reads a text file."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rnnkit.errors import RnnkitError
from rnnkit.lm.data import build_vocab_and_encode
from rnnkit.lm.prepared import Prepared
from rnnkit.scale.prepare import plan_chunks, prepare


def zipf_text(path, lines, vocab=400, seed=0, extra=""):
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(vocab)] + ["<unk>", "é字", "x"])
    p = 1.0 / np.arange(1, len(words) + 1)
    p /= p.sum()
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(extra)
        for i in range(lines):
            n = int(rng.integers(0, 12))
            end = "\r\n" if i % 7 == 0 else "\n"
            f.write(" ".join(rng.choice(words, n, p=p)) + end)
    return str(path)


@pytest.mark.parametrize("workers", [1, 2])
def test_same_vocab_and_ids_as_in_memory(tmp_path, workers):
    path = zipf_text(tmp_path / "c.txt", 2000, extra="\ufeffw1 w2\n\n   \nw3\u2028w4 \x0c w5\r\n")
    chunks = plan_chunks([path], 3000)
    assert len(chunks) > 5 and chunks[0][1] == 0 and chunks[-1][2] == os.path.getsize(path)
    m = prepare([path], str(tmp_path / "d"), min_count=2, workers=workers, chunk_bytes=3000)
    data = Prepared(str(tmp_path / "d"))
    data.verify()
    vocab, enc = build_vocab_and_encode(path, "word", min_count=2)
    assert data.vocab.tokens == vocab.tokens and data.vocab.counts == vocab.counts
    assert np.array_equal(data.ids.array(), enc.ids)
    assert (m["tokens"], m["lines"], m["oov"]) == (enc.tokens, enc.lines, enc.oov) and enc.oov > 0
    assert m["dtype"] == "uint16" and len(m["shards"]) == len(chunks)
    # windows across shard boundaries read the right ids
    assert np.array_equal(data.ids.take(2990, 9100), enc.ids[2990:9100])


def test_several_files_max_vocab_and_word_list(tmp_path):
    a, b = zipf_text(tmp_path / "a.txt", 300, seed=1), zipf_text(tmp_path / "b.txt", 200, seed=2)
    both = tmp_path / "ab.txt"
    both.write_bytes(open(a, "rb").read() + open(b, "rb").read())
    prepare([a, b], str(tmp_path / "d"), max_vocab=50, chunk_bytes=500)
    vocab, enc = build_vocab_and_encode(str(both), "word", max_vocab=50)
    data = Prepared(str(tmp_path / "d"))
    assert data.vocab.tokens == vocab.tokens and np.array_equal(data.ids.array(), enc.ids)
    words = tmp_path / "words.txt"
    words.write_text("w3\nw1\nnever\n")
    prepare([a], str(tmp_path / "w"), vocab=str(words))
    vocab, enc = build_vocab_and_encode(a, "word", words=["w3", "w1", "never"])
    data = Prepared(str(tmp_path / "w"))
    assert data.vocab.tokens == vocab.tokens and np.array_equal(data.ids.array(), enc.ids)


def test_validation_text_in_the_training_dictionary(tmp_path):
    tr, va = zipf_text(tmp_path / "t.txt", 300, seed=1), zipf_text(tmp_path / "v.txt", 50, seed=2)
    prepare([tr], str(tmp_path / "d"), min_count=3)
    prepare([va], str(tmp_path / "v"), vocab=str(tmp_path / "d"))
    train_vocab = Prepared(str(tmp_path / "d")).vocab
    from rnnkit.lm.data import encode_file

    assert np.array_equal(Prepared(str(tmp_path / "v")).ids.array(), encode_file(va, "word", train_vocab).ids)


def test_one_line_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok line\n" * 500 + b"bad \xff here\n")
    with pytest.raises(RnnkitError, match=r"bad.txt: line 501: invalid UTF-8"):
        prepare([str(bad)], str(tmp_path / "d"), chunk_bytes=700, workers=1)
    with pytest.raises(RnnkitError, match="no such file"):
        prepare([str(tmp_path / "missing.txt")], str(tmp_path / "d"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(RnnkitError, match="no text"):
        prepare([str(empty)], str(tmp_path / "e"))
    good = zipf_text(tmp_path / "g.txt", 100)
    prepare([good], str(tmp_path / "g"))
    with pytest.raises(RnnkitError, match="not empty"):
        prepare([good], str(tmp_path / "g"))
    shard = tmp_path / "g" / "ids-00000.bin"
    shard.write_bytes(shard.read_bytes()[:-2])
    with pytest.raises(RnnkitError, match="truncated or damaged"):
        Prepared(str(tmp_path / "g"))


def test_train_reads_a_data_dir_as_it_reads_text(tmp_path):
    from rnnkit.lm.io import read_tensors
    from rnnkit.lm.train import train

    tr, va = zipf_text(tmp_path / "t.txt", 400, vocab=60, seed=1), zipf_text(tmp_path / "v.txt", 60, vocab=60, seed=2)
    prepare([tr], str(tmp_path / "d"), chunk_bytes=800)
    prepare([va], str(tmp_path / "v"), vocab=str(tmp_path / "d"))
    opts = dict(hidden=12, epochs=2, batch=4, bptt=5, cell="gru")
    train(tr, va, str(tmp_path / "m_text"), opts, quiet=True, log=lambda m: None)
    train(str(tmp_path / "d"), str(tmp_path / "v"), str(tmp_path / "m_data"), opts, quiet=True, log=lambda m: None)
    a, _ = read_tensors(str(tmp_path / "m_text" / "weights.safetensors"))
    b, _ = read_tensors(str(tmp_path / "m_data" / "weights.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(RnnkitError, match="belong to rnnkit prepare"):
        train(str(tmp_path / "d"), va, str(tmp_path / "m2"), dict(opts, min_count=2), quiet=True, log=lambda m: None)


def test_cli(tmp_path):
    tr = zipf_text(tmp_path / "t.txt", 100)
    cmd = [sys.executable, "-m", "rnnkit.cli", "prepare", tr, "--out", str(tmp_path / "d"), "--workers", "2",
           "--chunk-mb", "0.001"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "tokens/s" in r.stdout and json.loads((tmp_path / "d" / "manifest.json").read_text())["tokens"] > 0
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "--force" in r.stderr


PEAK = textwrap.dedent("""
    import resource, sys
    from rnnkit.scale.prepare import prepare
    import rnnkit.lm.prepared, rnnkit.lm.data, rnnkit.lm.vocab  # everything imported before the baseline
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    m = prepare([sys.argv[1]], sys.argv[2], chunk_bytes=int(sys.argv[3]), workers=1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(base, peak, m["tokens"])
""")


@pytest.mark.slow
def test_memory_does_not_grow_with_the_corpus(tmp_path):
    """A 24 MB corpus prepared by a process allowed 8 MB over its start: the ids equal the in-memory path's."""
    rng = np.random.default_rng(3)
    block = " ".join(f"w{i}" for i in rng.integers(0, 5000, 200_000)).encode()
    lines = block.replace(b" w7 ", b"\nw7 ") + b"\n"
    path = tmp_path / "big.txt"
    with open(path, "wb") as f:
        while f.tell() < 24 << 20:
            f.write(lines)
    corpus_kb = os.path.getsize(path) // 1024
    out = subprocess.run([sys.executable, "-c", PEAK, str(path), str(tmp_path / "d"), str(1 << 20)],
                         capture_output=True, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    base_kb, peak_kb, tokens = map(int, out.stdout.split())
    allowance_kb = 8 << 10
    assert corpus_kb > 2 * allowance_kb
    assert peak_kb - base_kb < allowance_kb, f"prepare grew by {peak_kb - base_kb} kB on a {corpus_kb} kB corpus"
    vocab, enc = build_vocab_and_encode(str(path), "word")
    data = Prepared(str(tmp_path / "d"))
    assert tokens == enc.tokens and data.vocab.tokens == vocab.tokens
    assert np.array_equal(data.ids.array(), enc.ids)


def test_the_prepare_benchmark_runs(tmp_path):
    # benchmarks/prepare_scale.py at a tiny size: what the 200M-token run will print, and its refusals
    script = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "prepare_scale.py")
    cmd = [sys.executable, script, "--tokens", "2e4", "--workers", "1", "--dir", str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1 and "zipf-0.02M.txt is not there: add --generate" in r.stderr
    r = subprocess.run(cmd + ["--generate", "--out", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)
    assert row["tokens"] == 20_000 + row["lines"] and row["tokens_per_s"] > 0 and row["peak_rss_mb"] > 0
    assert json.load(open(tmp_path / "r.json"))["rows"] == [row]
    assert sorted(os.listdir(tmp_path)) == ["r.json", "zipf-0.02M.txt"]  # the DATA_DIR removed
    r = subprocess.run(cmd[:3] + ["2e15"] + cmd[4:] + ["--generate"], capture_output=True, text=True)
    assert r.returncode == 1 and "GiB free; this run needs about" in r.stderr and not r.stdout
