"""Bad input that used to end in a traceback (or hang, or fill the memory) gets one line of rnnkit error."""

import gzip
import json
import os

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.errors import OptionError, RnnkitError
from rnnkit.lm import io
from rnnkit.lm.api import LanguageModel

from robust_helpers import TINY, quiet


def one_line_error(capsys, argv, code=None):
    got = main(argv)
    err = capsys.readouterr().err
    assert got != 0 and (code is None or got == code), err
    assert err.count("\n") == 1 and "Traceback" not in err and "error:" in err, err
    return err


def test_seed_minus_one(corpus, tmp_path, capsys):
    err = one_line_error(capsys, ["train", str(corpus[0]), "--valid", str(corpus[1]), "--out", str(tmp_path / "m"),
                                  "--seed", "-1"], 2)
    assert "--seed" in err and not (tmp_path / "m").exists()


def test_hidden_100000_refused_with_the_figure_before_allocating(corpus, tmp_path, capsys, monkeypatch):
    from rnnkit.lm.train import trainer

    monkeypatch.setattr(trainer, "available_memory", lambda: 8 * 2**30)
    err = one_line_error(capsys, ["train", str(corpus[0]), "--valid", str(corpus[1]), "--out", str(tmp_path / "m"),
                                  "--hidden", "100000"])
    assert "GiB" in err and "--hidden" in err and "8.0 GiB" in err


def test_classes_more_than_the_vocabulary(corpus, tmp_path, capsys):
    err = one_line_error(capsys, ["train", str(corpus[0]), "--valid", str(corpus[1]), "--out", str(tmp_path / "m"),
                                  "--softmax", "class", "--classes", "100000"], 2)
    assert "--classes" in err


def test_generate_with_a_tiny_temperature_is_greedy(tiny_model, capsys):
    assert main(["generate", str(tiny_model), "--prefix", "the", "--temperature", "1e-310", "--max-tokens", "5",
                 "--seed", "1"]) == 0
    tiny = capsys.readouterr().out
    assert main(["generate", str(tiny_model), "--prefix", "the", "--temperature", "0", "--max-tokens", "5"]) == 0
    assert tiny == capsys.readouterr().out


def test_predict_top_must_be_positive(tiny_model):
    lm = LanguageModel.load(str(tiny_model))
    for top in (-1, 0):
        with pytest.raises(OptionError, match="option 'top'"):
            lm.predict("the", top=top)
    assert len(lm.predict("the", top=3)) == 3


def test_score_on_an_empty_file(tiny_model, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "no text" in one_line_error(capsys, ["score", str(tiny_model), str(empty)])


def test_corrupt_deflate_stream_in_arpa_gz(tmp_path, capsys):
    good = gzip.compress(b"\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\t<unk>\n\n\\end\\\n" * 50)
    bad = bytearray(good)
    for i in range(20, len(bad) - 10, 7):
        bad[i] ^= 0x5A
    path = tmp_path / "bad.arpa.gz"
    path.write_bytes(bytes(bad))
    from rnnkit.ngram import NgramModel

    with pytest.raises(RnnkitError, match="damaged gzip"):
        NgramModel.load(str(path))


def _set_config(model_dir, change):
    cfg = json.loads((model_dir / io.CONFIG).read_text())
    change(cfg)
    (model_dir / io.CONFIG).write_text(json.dumps(cfg))


@pytest.mark.parametrize("files", [["weights.safetensors", "vocab.json"], "x", {"weights.safetensors": 1}])
def test_config_files_of_the_wrong_shape(model_copy, files):
    _set_config(model_copy, lambda cfg: cfg.update(files=files))
    with pytest.raises(RnnkitError, match='"files" must map'):
        LanguageModel.load(str(model_copy))


def test_config_nested_thousands_deep(model_copy):
    (model_copy / io.CONFIG).write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(RnnkitError, match="nested too deeply"):
        LanguageModel.load(str(model_copy))


def test_config_without_files_refused_unless_asked(model_copy):
    _set_config(model_copy, lambda cfg: cfg.pop("files"))
    with pytest.raises(RnnkitError, match="names no SHA-256"):
        LanguageModel.load(str(model_copy))
    assert LanguageModel.load(str(model_copy), verify=False).vocab


def test_config_sizes_beyond_the_weights_refused_before_building(model_copy):
    _set_config(model_copy, lambda cfg: (cfg.pop("files"), cfg["model"].update(hidden=10**9)))
    with pytest.raises(RnnkitError, match="at least"):
        LanguageModel.load(str(model_copy), verify=False)


@pytest.mark.parametrize("target", ["directory", "/dev/zero", "/dev/urandom"])
def test_weights_that_are_no_regular_file(model_copy, target):
    weights = model_copy / io.WEIGHTS
    weights.unlink()
    if target == "directory":
        weights.mkdir()
    elif os.path.exists(target):
        weights.symlink_to(target)
    else:
        pytest.skip(f"{target} does not exist here")
    with pytest.raises(RnnkitError, match="expected a file"):
        LanguageModel.load(str(model_copy))


@pytest.mark.parametrize("tokens", [["<unk>", "<eos>", 5], ["<unk>", "<eos>", None], ["<unk>", "<eos>", ["a"]]])
def test_vocabulary_entries_that_are_not_strings(model_copy, tokens):
    vocab = {"tokens": tokens, "counts": [1] * len(tokens)}
    data = io.json_bytes(vocab)
    (model_copy / io.VOCAB).write_bytes(data)
    _set_config(model_copy, lambda cfg: cfg["files"].update({io.VOCAB: io.sha256(data)}))
    with pytest.raises(RnnkitError, match="not an rnnkit vocabulary"):
        LanguageModel.load(str(model_copy))


TAMPER = {
    "epoch a string": lambda m: m["state"].update(epoch="3"),
    "window negative": lambda m: m["state"].update(window=-5),
    "lr zero": lambda m: m["state"].update(lr=0),
    "state a list": lambda m: m.update(state=[1, 2]),
    "hidden structure": lambda m: m.update(hidden={"nonsense": True}),
    "generators": lambda m: m.update(generators=[{"bit_generator": "nope"}]),
    "options damaged": lambda m: m["options"].update(hidden="big"),
    "vocab tokens": lambda m: m["vocab"].update(tokens=[1, 2, 3]),
}


@pytest.mark.parametrize("with_digest", [True, False])
@pytest.mark.parametrize("what", sorted(TAMPER))
def test_tampered_checkpoint_metadata(corpus, tmp_path, what, with_digest, capsys):
    """Edited metadata: refused by the SHA-256 manifest; without one (an older checkpoint), by the shape checks."""
    from rnnkit.lm.train import train

    out = tmp_path / "m"
    train(str(corpus[0]), str(corpus[1]), str(out), dict(TINY, epochs=1, dropout=0.1), quiet=True, log=quiet)
    arrays, meta = io.read_tensors(str(out / io.CHECKPOINT))
    inner = json.loads(meta["rnnkit"])
    TAMPER[what](inner)
    new_meta = {"rnnkit": json.dumps(inner)}
    if with_digest:
        new_meta["sha256"] = meta["sha256"]
    (out / io.CHECKPOINT).write_bytes(io.tensors_bytes(arrays, new_meta))
    err = one_line_error(capsys, ["train", str(corpus[0]), "--valid", str(corpus[1]), "--out", str(out), "--resume",
                                  "--epochs", "2", "--quiet"])
    assert str(out / io.CHECKPOINT) in err
    if with_digest:
        assert "SHA-256" in err


def test_train_into_an_unwritable_place_is_one_line(corpus, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = one_line_error(capsys, ["train", str(corpus[0]), "--valid", str(corpus[1]), "--out",
                                  str(blocker / "sub" / "m"), "--epochs", "1"])
    assert "cannot" in err or "not a directory" in err.lower()
