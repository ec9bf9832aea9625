"""Tampered DATA_DIRs of `rnnkit prepare`, generated: each opens (and every id it gives is one of
its dictionary's) or gets one line of RnnkitError, within the budgets of the other readers.

The inputs start from a good DATA_DIR of a few shards and change one thing: a value of
manifest.json (every JSON kind), a shard's entry in it (its file name, token count, hash),
a shard's ids, its length, or the file itself (a directory, a link out of the directory).
"""

import functools
import json
import os
import shutil
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_helpers import SETTINGS, loads_or_one_line_error  # noqa: E402

FUZZ = settings(**SETTINGS, suppress_health_check=[HealthCheck.too_slow])

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.sampled_from([0, 1, -1, 3, 2**31, 2**64, 10**30, 0.5])
    | st.floats(allow_nan=False) | st.sampled_from(["", "uint16", "uint32", "float64", "word", "char", "x" * 300,
                                                  "ids-00000.bin", "../outside.bin", "/dev/zero", ".", "sub"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["file", "tokens", "sha256", "x"]),
                                                                 inner, max_size=3),
    max_leaves=6,
)


@functools.lru_cache(maxsize=None)
def good_dir():
    """A good DATA_DIR of a few shards, made once: {file name: bytes}."""
    from rnnkit.scale.prepare import prepare

    with tempfile.TemporaryDirectory(prefix="fuzz-prep-") as d:
        corpus = os.path.join(d, "train.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("the cat sat on the mat\na dog ran\n" * 40)
        prepare([corpus], os.path.join(d, "data"), chunk_bytes=600)
        return {n: open(os.path.join(d, "data", n), "rb").read() for n in os.listdir(os.path.join(d, "data"))}


def _manifest():
    return json.loads(good_dir()["manifest.json"])


@st.composite
def tampered(draw):
    """(manifest dict, {shard name: bytes or a kind of non-file}) of a tampered DATA_DIR."""
    m = _manifest()
    files = {n: b for n, b in good_dir().items() if n.startswith("ids-")}
    what = draw(st.sampled_from(["value", "drop", "shard entry", "shard list", "ids", "length", "file kind"]))
    if what == "value":
        m[draw(st.sampled_from(sorted(m)))] = draw(JSON_VALUES)
    elif what == "drop":
        del m[draw(st.sampled_from(sorted(m)))]
    elif what == "shard entry":
        entry = m["shards"][draw(st.integers(0, len(m["shards"]) - 1))]
        entry[draw(st.sampled_from(["file", "tokens", "sha256"]))] = draw(JSON_VALUES)
    elif what == "shard list":
        m["shards"] = draw(st.lists(JSON_VALUES, max_size=3) | JSON_VALUES)
    else:
        name = draw(st.sampled_from(sorted(files)))
        ids = np.frombuffer(files[name], dtype="<u2").copy()
        if what == "ids":
            for _ in range(draw(st.integers(1, 3))):
                ids[draw(st.integers(0, len(ids) - 1))] = draw(st.sampled_from([0, 1, 2, 10, 11, 12, 100, 65535]))
            files[name] = ids.tobytes()
        elif what == "length":  # the manifest's counts follow, so only the ids can tell
            n = draw(st.integers(0, 2 * len(ids)))
            ids = np.resize(ids, n)
            files[name] = ids.tobytes()
            for entry in m["shards"]:
                if entry["file"] == name:
                    m["tokens"] += n - entry["tokens"]
                    entry["tokens"] = n
        else:
            files[name] = draw(st.sampled_from(["directory", "link out", "link to /dev/zero", "missing"]))
    return m, files


def _open(m, files):
    from rnnkit.lm.prepared import Prepared

    d = tempfile.mkdtemp(prefix="fuzz-prep-")
    try:
        data = os.path.join(d, "data")
        os.mkdir(data)
        with open(os.path.join(d, "outside.bin"), "wb") as f:
            f.write(b"\0\0" * 64)
        with open(os.path.join(data, "vocab.json"), "wb") as f:
            f.write(good_dir()["vocab.json"])
        with open(os.path.join(data, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(m, f)
        for name, content in files.items():
            path = os.path.join(data, name)
            if content == "directory":
                os.mkdir(path)
            elif content == "link out":
                os.symlink(os.path.join(d, "outside.bin"), path)
            elif content == "link to /dev/zero":
                os.symlink("/dev/zero", path)
            elif content != "missing":
                with open(path, "wb") as f:
                    f.write(content)

        def use():
            p = Prepared(data)
            ids = p.ids.array()
            assert ids.size == p.tokens and (ids.size == 0 or 0 <= ids.min() and ids.max() < len(p.vocab))
            p.ids.take(0, min(5, p.tokens))
            return p

        result = loads_or_one_line_error(use)
        hypothesis.event("opened" if isinstance(result, Prepared) else "refused")
        return result
    finally:
        shutil.rmtree(d)


def test_the_good_data_dir_opens():
    from rnnkit.lm.prepared import Prepared

    m = _manifest()
    assert len(m["shards"]) >= 2
    files = {n: b for n, b in good_dir().items() if n.startswith("ids-")}
    d = tempfile.mkdtemp(prefix="fuzz-prep-")
    try:
        for name, data in good_dir().items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        assert Prepared(d).tokens == m["tokens"] == sum(len(b) // 2 for b in files.values())
    finally:
        shutil.rmtree(d)


@FUZZ
@given(case=tampered())
def test_tampered_data_dir(case):
    _open(*case)
