"""The binary form of an N-gram model (``rnnkit ngram build-binary``): the same
numbers as the ARPA file it was built from, a standard safetensors file, and
one-line errors for damaged files."""

import json
import math
import time

import numpy as np
import pytest
from ngram_helpers import SMALL_CORPUS, cli_result, sentences, write_text

from rnnkit import ngram
from rnnkit.errors import RnnkitError
from rnnkit.ngram import binary

PROBES = sentences(SMALL_CORPUS + ["the zebra sat on a mat", "log log log", "dog"])


@pytest.fixture
def arpa(tmp_path):
    def make(order=3, open_vocabulary=True, name="m.arpa"):
        path = str(tmp_path / name)
        ngram.estimate(sentences(SMALL_CORPUS), order, open_vocabulary=open_vocabulary).write_arpa(path)
        return path

    return make


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("open_vocabulary", [False, True])
def test_binary_gives_the_arpa_files_numbers(tmp_path, arpa, order, open_vocabulary):
    path = arpa(order, open_vocabulary)
    text_model = ngram.NgramModel.load(path)
    out = str(tmp_path / "m.bin")
    text_model.write_binary(out)
    model = ngram.NgramModel.load(out)
    assert model.binary and not text_model.binary
    assert (model.order, model.vocab, model.tokenizer) == (text_model.order, text_model.vocab, text_model.tokenizer)
    assert model.open_vocabulary == open_vocabulary and model.estimation == text_model.estimation
    probes = PROBES if open_vocabulary else sentences(SMALL_CORPUS)
    ours, theirs = model.token_log10probs(probes), text_model.token_log10probs(probes)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)  # the same float64 values, not merely close
    assert model.evaluate(probes) == text_model.evaluate(probes)
    for prefix in ("the", "a cat", "zebra on the"):
        assert model.predict(prefix, 5) == text_model.predict(prefix, 5)
    # Written back as ARPA it is the same file, byte for byte.
    again = str(tmp_path / "again.arpa")
    model.write_arpa(again)
    with open(path, "rb") as f, open(again, "rb") as g:
        assert f.read() == g.read()


def test_binary_is_a_standard_safetensors_file(tmp_path, arpa):
    safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="safetensors is not installed")
    model = ngram.NgramModel.load(arpa(3))
    out = str(tmp_path / "m.bin")
    model.write_binary(out)
    arrays = safetensors_numpy.load_file(out)
    np.testing.assert_array_equal(arrays["o3.logprob"], model.tables[2].logprob)
    np.testing.assert_array_equal(arrays["o2.word"], model.tables[1].word)
    assert b"".join(w.encode() for w in model.vocab) == arrays["vocab.bytes"].tobytes()


def test_binary_needs_no_side_file_and_is_memory_mapped(tmp_path):
    model = ngram.estimate([list(line) for line in SMALL_CORPUS], 3, tokenizer="char")
    out = str(tmp_path / "c.bin")
    model.write_binary(out)
    loaded = ngram.NgramModel.load(out)
    assert loaded.tokenizer == "char" and loaded.estimation["discount"] == "modified-kn"
    assert not loaded.tables[2].logprob.flags.writeable  # a view of the mapped file, not a copy
    with pytest.raises(RnnkitError, match="not word"):
        ngram.NgramModel.load(out, tokenizer="word")


def test_write_binary_refuses_to_replace_a_file(tmp_path, arpa):
    model = ngram.NgramModel.load(arpa())
    out = tmp_path / "m.bin"
    out.write_text("keep me")
    with pytest.raises(RnnkitError, match="already exists"):
        model.write_binary(str(out))
    assert out.read_text() == "keep me"
    model.write_binary(str(out), force=True)
    assert ngram.NgramModel.load(str(out)).vocab == model.vocab


def test_damaged_binary_files_are_one_line_errors(tmp_path, arpa):
    model = ngram.NgramModel.load(arpa())
    good = tmp_path / "m.bin"
    model.write_binary(str(good))
    data = good.read_bytes()
    cases = {
        "truncated": data[: len(data) - 100],
        "header": data[:8] + b"{" + b"x" * (len(data) - 9),
        "foreign": _safetensors_bytes({"format": "something-else"}),
        "hash": data.replace(binary.hash_fingerprint().encode(), b"0" * 16),
    }
    messages = {}
    for name, content in cases.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(content)
        assert binary.is_binary(str(path))
        with pytest.raises(RnnkitError) as exc:
            ngram.NgramModel.load(str(path))
        messages[name] = str(exc.value)
        assert "\n" not in messages[name] and str(path) in messages[name]
    assert "truncated or damaged" in messages["truncated"]
    assert "unreadable header" in messages["header"]
    assert "not an rnnkit binary N-gram model" in messages["foreign"]
    assert "rebuild it" in messages["hash"]


def _safetensors_bytes(metadata):
    header = json.dumps({"__metadata__": metadata}).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header


def test_cli_build_binary_then_eval_and_predict(tmp_path, capsys, arpa):
    path = arpa()
    out = str(tmp_path / "m.bin")
    code, stdout, _ = cli_result(capsys, "ngram", "build-binary", path, out)
    assert code == 0 and stdout.startswith(f"wrote {out}: order 3;")
    code, _, stderr = cli_result(capsys, "ngram", "build-binary", path, out)
    assert code == 1 and "already exists (use --force" in stderr and stderr.count("\n") == 1
    code, stdout, _ = cli_result(capsys, "ngram", "build-binary", path, out, "--force", "--json")
    assert code == 0 and json.loads(stdout)["ngrams"] == ngram.NgramModel.load(path).counts()
    text = write_text(tmp_path / "t.txt", SMALL_CORPUS + ["the zebra sat"])
    results = []
    for model in (path, out):
        code, stdout, _ = cli_result(capsys, "ngram", "eval", model, text, "--json")
        results.append(json.loads(stdout))
        assert code == 0
    for key in ("logprob", "ppl", "ppl1", "perplexity", "perplexity_without_unk"):
        assert results[0][key] == results[1][key]
    predictions = [cli_result(capsys, "ngram", "predict", m, "the cat", "--json")[1] for m in (path, out)]
    assert predictions[0] == predictions[1] and json.loads(predictions[0])["predictions"]
    code, _, stderr = cli_result(capsys, "ngram", "build-binary", str(tmp_path / "none.arpa"), out, "--force")
    assert code == 1 and "no such file" in stderr


@pytest.mark.slow
def test_ptb_binary_loads_fast_and_agrees(ptb, ptb_model, tmp_path):
    model, path = ptb_model(5)
    text_model = ngram.NgramModel.load(path)
    out = str(tmp_path / "kn5.bin")
    text_model.write_binary(out)
    started = time.perf_counter()
    loaded = ngram.NgramModel.load(out)
    loaded.predict("the stock", 10)
    seconds = time.perf_counter() - started
    # 0.02-0.12 s measured at load 13 on two cores (the ARPA file: 26-33 s); generous, for busy machines.
    assert seconds < 2.0
    report = loaded.evaluate(ptb["test"])
    assert report == text_model.evaluate(ptb["test"])
    assert math.isclose(report.ppl, 141.19, abs_tol=0.005)  # lmplz's figure (test_evaluate.py)
