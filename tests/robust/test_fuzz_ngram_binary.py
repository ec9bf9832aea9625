"""Bad binary N-gram files (rnnkit ngram build-binary), generated: each loads and answers every
query, or gets one line of RnnkitError, within the memory and time budgets of the other readers.

The inputs start from a good file and damage one thing: the safetensors header (its JSON, an
array's dtype, shape or byte range, the metadata), an array's values (indexes out of range, NaN
and infinite probabilities), an array replaced whole by one of another length or dtype with a
consistent header, or the raw bytes.
"""

import functools
import json
import os
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_helpers import SETTINGS, ngram_file_loads_or_one_line_error  # noqa: E402

FUZZ = settings(**SETTINGS, suppress_health_check=[HealthCheck.too_slow])

TEXT = ["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog", "the dog saw the cat"] * 3


@functools.lru_cache(maxsize=None)
def good_file():
    """The bytes of a good order-3 binary model (built once)."""
    from rnnkit.ngram import NgramModel

    with tempfile.TemporaryDirectory(prefix="fuzz-bin-") as d:
        corpus = os.path.join(d, "train.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(TEXT) + "\n")
        path = os.path.join(d, "m.bin")
        NgramModel.train(corpus, order=3).write_binary(path)
        with open(path, "rb") as f:
            return f.read()


def split(data):
    """(header dict, the bytes after it) of a safetensors file."""
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def join(header, body):
    text = json.dumps(header, ensure_ascii=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text + body


def array_names():
    return sorted(k for k in split(good_file())[0] if k != "__metadata__")


# Values of every JSON kind, and numbers at the edges.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.sampled_from([0, 1, -1, 2, 3, 4, 16, 2**31, 2**63, -(2**63), 10**30])
    | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
INTS = st.sampled_from([-(2**31), -(2**62), -3, -2, -1, 0, 1, 2, 5, 12, 13, 15, 16, 17, 31, 2**31 - 1, 2**40])
FLOATS = st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.5, 0.0, -0.3, -99.0, 1e308, -1e308])
DTYPES = ["F64", "I64", "I32", "U8"]


@st.composite
def damaged_header(draw):
    header, body = split(good_file())
    meta = header["__metadata__"]
    what = draw(st.sampled_from(["dtype", "shape", "offsets", "drop", "meta", "meta json", "meta drop"]))
    if what.startswith("meta"):
        key = draw(st.sampled_from(sorted(meta)))
        if what == "meta":
            meta[key] = draw(JSON_VALUES)
        elif what == "meta json":  # the fields that hold JSON text: any JSON there
            meta[key] = json.dumps(draw(JSON_VALUES))
        else:
            del meta[key]
    else:
        name = draw(st.sampled_from(array_names()))
        if what == "dtype":
            header[name]["dtype"] = draw(st.sampled_from(DTYPES + ["F32", "BOOL", ""]) | JSON_VALUES)
        elif what == "shape":
            header[name]["shape"] = draw(st.lists(INTS, max_size=3) | JSON_VALUES)
        elif what == "offsets":
            header[name]["data_offsets"] = draw(st.lists(INTS | st.integers(0, len(body)), min_size=2, max_size=2)
                                                | JSON_VALUES)
        else:
            del header[name]
    return join(header, body)


@st.composite
def damaged_values(draw):
    """An array's values changed where they lie (the header still describes it)."""
    header, body = split(good_file())
    body = bytearray(body)
    name = draw(st.sampled_from(array_names()))
    spec = header[name]
    lo, hi = spec["data_offsets"]
    a = np.frombuffer(bytes(body[lo:hi]), dtype={"F64": np.float64, "I64": np.int64, "I32": np.int32,
                                                 "U8": np.uint8}[spec["dtype"]]).copy()
    if len(a) == 0:
        return bytes(join(header, bytes(body)))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(a) - 1))
        if a.dtype.kind == "f":
            a[i] = draw(FLOATS)
        elif a.dtype == np.uint8:
            a[i] = draw(st.integers(0, 255))
        else:
            info = np.iinfo(a.dtype)
            a[i] = min(max(draw(INTS), info.min), info.max)
    body[lo:hi] = a.tobytes()
    return join(header, bytes(body))


@st.composite
def replaced_array(draw):
    """An array replaced by another of any length and dtype, with a header that describes it."""
    header, body = split(good_file())
    name = draw(st.sampled_from(array_names()))
    dtype = draw(st.sampled_from(DTYPES))
    values = draw(st.lists(INTS, max_size=40))
    a = np.array([min(max(v, -(2**31)), 2**31 - 1) for v in values]).astype(
        {"F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}[dtype])
    header[name] = {"dtype": dtype, "shape": [len(a)], "data_offsets": [len(body), len(body) + a.nbytes]}
    return join(header, body + a.tobytes())


@st.composite
def damaged_bytes(draw):
    data = bytearray(good_file())
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= draw(st.integers(1, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[: cut if draw(st.booleans()) else len(data)])


def _load_and_ask(data, count=True):
    """Write ``data``, load it as an N-gram model and ask it everything a command does."""
    from rnnkit.ngram import NgramModel

    result = ngram_file_loads_or_one_line_error(data, "m.bin")
    if count:  # --hypothesis-show-statistics: how many inputs loaded and answered, how many were refused
        hypothesis.event("loaded and answered" if isinstance(result, NgramModel) else "refused")
    return result


def test_the_good_file_loads_and_answers():
    from rnnkit.ngram import NgramModel

    model = _load_and_ask(good_file(), count=False)
    assert isinstance(model, NgramModel) and model.binary and model.order == 3


@FUZZ
@given(data=damaged_header())
def test_damaged_header(data):
    _load_and_ask(data)


@FUZZ
@given(data=damaged_values())
def test_damaged_values(data):
    _load_and_ask(data)


@FUZZ
@given(data=replaced_array())
def test_arrays_of_the_wrong_length_or_dtype(data):
    _load_and_ask(data)


@FUZZ
@given(data=damaged_bytes())
def test_damaged_bytes(data):
    _load_and_ask(data)


def _with(name, index, value):
    """The good file with ``name``[``index``] set to ``value`` in place."""
    header, body = split(good_file())
    lo, hi = header[name]["data_offsets"]
    dtype = {"F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}[header[name]["dtype"]]
    a = np.frombuffer(body[lo:hi], dtype=dtype).copy()
    a[index] = value
    return join(header, body[:lo] + a.tobytes() + body[hi:])


def _twice(name):
    """The good file with one row of probe table ``name`` in two slots (and another row in none)."""
    header, body = split(good_file())
    lo, hi = header[name]["data_offsets"]
    slots = np.frombuffer(body[lo:hi], dtype=np.int32 if header[name]["dtype"] == "I32" else np.int64)
    first, second = np.flatnonzero(slots >= 0)[:2]
    return _with(name, second, slots[first])


def _with_meta(key, value):
    header, body = split(good_file())
    header["__metadata__"][key] = value
    return join(header, body)


# What the fuzzing found (each got past the loader before, and failed in a query or answered NaN).
FOUND = {
    "NaN probability": (lambda: _with("o2.logprob", 0, np.nan), "NaN, above 0"),
    "huge back-off weight": (lambda: _with("o1.bow", 3, 1e308), "back-off weight"),
    "word id past the vocabulary": (lambda: _with("o3.word", 1, 10**6), "word out of range"),
    "prefix past the order below": (lambda: _with("o2.prefix", 0, 10**6), "prefix out of range"),
    "slot past the table": (lambda: _with("o2.slots", 0, 10**6), "slots out of range"),
    "row in two slots": (lambda: _twice("o3.slots"), "probe table"),
    "probe rounds of no int": (lambda: _with_meta("probe_rounds", json.dumps([1.5, 2])), "probe rounds"),
    "record that is a list": (lambda: _with_meta("model", "[1, 2]"), "not an rnnkit N-gram"),
    "order zero": (lambda: _with_meta("order", "0"), "order"),
}


@pytest.mark.parametrize("what", sorted(FOUND))
def test_what_fuzzing_found_is_refused_at_load(what):
    from rnnkit.errors import RnnkitError

    make, words = FOUND[what]
    result = _load_and_ask(make(), count=False)
    assert isinstance(result, RnnkitError) and words in str(result), (what, result)
