"""Bad model directories and checkpoints, generated: each loads or gets one line of RnnkitError."""

import json
import os
import shutil
import struct
import tempfile

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rnnkit.lm import io  # noqa: E402
from rnnkit.lm.api import LanguageModel  # noqa: E402

from fuzz_helpers import SETTINGS, loads_or_one_line_error  # noqa: E402

FUZZ = settings(**SETTINGS, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# JSON values of every kind, small and odd: numbers at the edges, strings that look like names, nesting.
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.sampled_from([0, 1, -1, 10**12]),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                    st.sampled_from(["word", "lm", "cloze", "rnn", "lstm", "class", "full", "<unk>", "<eos>",
                                     io.WEIGHTS, io.VOCAB]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                           max_leaves=12)


@pytest.fixture(scope="module")
def model_files(tiny_model):
    return {name: (tiny_model / name).read_bytes() for name in (io.CONFIG, io.VOCAB, io.WEIGHTS)}


def _load(files, verify=True):
    d = tempfile.mkdtemp(prefix="fuzz-model-")
    try:
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        return loads_or_one_line_error(lambda: LanguageModel.load(d, verify=verify))
    finally:
        shutil.rmtree(d)


def _with_hashes(files, config):
    """config.json naming the hashes of ``files``' weights and vocabulary (so the change gets past them)."""
    config = dict(config)
    config["files"] = {io.WEIGHTS: io.sha256(files[io.WEIGHTS]), io.VOCAB: io.sha256(files[io.VOCAB])}
    return dict(files, **{io.CONFIG: json.dumps(config).encode()})


PATHS = [("model", "hidden"), ("model", "vocab_size"), ("model", "layers"), ("model", "embed"), ("model", "cell"),
         ("model", "classes"), ("model", "head"), ("model", "softmax"), ("model", "tie_weights"), ("model", "dropout"),
         ("model",), ("tokenizer",), ("task",), ("format_version",), ("files",), ("vocab_size",), ("training",)]


@FUZZ
@given(path=st.sampled_from(PATHS), value=json_values)
def test_config_fields(model_files, path, value):
    config = json.loads(model_files[io.CONFIG])
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    files = dict(model_files, **{io.CONFIG: json.dumps(config).encode()})
    _load(files)
    if path != ("files",):
        _load(_with_hashes(model_files, config), verify=False)


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_config_bytes(model_files, data):
    _load(dict(model_files, **{io.CONFIG: data}))


@FUZZ
@given(tokens=json_values, counts=json_values, whole=st.booleans(), other=json_values)
def test_vocab(model_files, tokens, counts, whole, other):
    vocab = other if whole else {"tokens": tokens, "counts": counts}
    files = dict(model_files, **{io.VOCAB: json.dumps(vocab).encode()})
    _load(_with_hashes(files, json.loads(model_files[io.CONFIG])))


@FUZZ
@given(header=json_values, claimed=st.one_of(st.none(), st.integers(0, 2**64 - 1)), tail=st.binary(max_size=200),
       keep_arrays=st.booleans())
def test_safetensors_header(model_files, header, claimed, tail, keep_arrays):
    real = model_files[io.WEIGHTS]
    (n,) = struct.unpack("<Q", real[:8])
    if keep_arrays and isinstance(header, dict):
        header = {**json.loads(real[8 : 8 + n]), **header}  # real entries with odd ones mixed in
    text = json.dumps(header).encode()
    length = len(text) if claimed is None else claimed
    data = struct.pack("<Q", length) + text + (real[8 + n :] if keep_arrays else tail)
    files = dict(model_files, **{io.WEIGHTS: data})
    _load(_with_hashes(files, json.loads(model_files[io.CONFIG])))


@FUZZ
@given(cut=st.integers(0, 4000), flip=st.integers(0, 4000), byte=st.integers(0, 255))
def test_safetensors_damaged(model_files, cut, flip, byte):
    data = bytearray(model_files[io.WEIGHTS])
    if flip < len(data):
        data[flip] = byte
    data = bytes(data[: max(cut, 0)] if cut < len(data) else data)
    files = dict(model_files, **{io.WEIGHTS: data})
    _load(_with_hashes(files, json.loads(model_files[io.CONFIG])))


CHECKPOINT_KEYS = ["state", "options", "vocab", "digests", "optimizer", "hidden", "generators", "format"]


@FUZZ
@given(key=st.sampled_from(CHECKPOINT_KEYS), sub=st.one_of(st.none(), st.text(max_size=10),
                                                              st.sampled_from(["epoch", "window", "lr", "metrics",
                                                                               "best_loss", "finished", "hidden",
                                                                               "step_count", "tokens"])),
       value=json_values, keep_digest=st.booleans())
def test_checkpoint_metadata(tiny_model, key, sub, value, keep_digest):
    from rnnkit.lm.train.state import Checkpoint, manifest
    from rnnkit.lm.train.trainer import build_model

    arrays, meta = io.read_tensors(str(tiny_model / io.CHECKPOINT))
    inner = json.loads(meta["rnnkit"])
    if sub is not None and isinstance(inner.get(key), dict):
        inner[key][sub] = value
    else:
        inner[key] = value
    text = json.dumps(inner)
    # with the old digest (a hand edit: refused), or a fresh one (as if rnnkit had written it: the shape checks)
    new_meta = {"rnnkit": text, "sha256": meta["sha256"] if keep_digest else manifest(text, arrays)}
    d = tempfile.mkdtemp(prefix="fuzz-ckpt-")
    try:
        path = os.path.join(d, io.CHECKPOINT)
        with open(path, "wb") as f:
            f.write(io.tensors_bytes(arrays, new_meta))

        def load_and_restore():
            ck = Checkpoint(path)
            from rnnkit.lm.train.options import DEFAULTS
            from rnnkit.nn.optim import make_optimizer

            opts = {**DEFAULTS, **ck.options}
            model = build_model(ck.vocab, opts)
            optimizer = make_optimizer(opts["optimizer"], model.params, model.grads, ck.state["lr"])
            return ck.restore(model, optimizer)

        loads_or_one_line_error(load_and_restore)
    finally:
        shutil.rmtree(d)
