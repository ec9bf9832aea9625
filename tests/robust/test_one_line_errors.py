"""Bad input that used to end in a traceback (or hang, or fill the memory) gets one line of rnnkit error."""

import gzip
import json
import os
import shutil

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


ARPA = ("\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-99\t<s>\t-0.3\n-0.5\t</s>\n{the}\tthe\t{bow}\n"
        "-0.6\tcat\n\n\\2-grams:\n-0.2\t<s> the\n-0.1\tthe cat\n\n\\end\\\n")


@pytest.mark.parametrize("the, bow, ok", [("-0.4", "-0.2", True), ("-1e308", "-0.2", False),
                                          ("-0.4", "1e300", False), ("-inf", "-0.2", True)])
def test_arpa_log10_values_beyond_1e100_refused(tmp_path, capsys, the, bow, ok):
    """-1e308 loaded, then scoring it ended in OverflowError (fsum, 10 ** x) or NaN."""
    path = tmp_path / "m.arpa"
    path.write_text(ARPA.format(the=the, bow=bow))
    argv = ["ngram", "eval", str(path), str(path.with_suffix(".txt"))]
    path.with_suffix(".txt").write_text("the cat\ncat the the\n")
    if ok:
        assert main(argv) == 0, capsys.readouterr().err
    else:
        assert "is beyond ±1e+100" in one_line_error(capsys, argv, 1)


def test_damaged_training_record_of_an_ngram_model_is_one_line(tmp_path):
    from rnnkit.ngram import NgramModel

    path = tmp_path / "m.arpa"
    path.write_text(ARPA.format(the="-0.4", bow="-0.2"))
    for estimation in ("orders", {"orders": 3}, {"orders": [], "discount": 1}, {"orders": [1], "discount": "kn",
                                                                               "sentences": 1, "tokens": 2}):
        record = {"format": "rnnkit-ngram", "version": 1, "order": 2, "tokenizer": "word", "unk": False,
                  "estimation": estimation}
        (tmp_path / "m.arpa.json").write_text(json.dumps(record))
        with pytest.raises(RnnkitError, match="training record is damaged"):
            NgramModel.load(str(path)).training_summary()


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
    with pytest.raises(RnnkitError, match=r"names no SHA-256.*\(verify=False accepts it\)"):
        LanguageModel.load(str(model_copy))
    assert LanguageModel.load(str(model_copy), verify=False).vocab


# Each command that reads a model directory, as a user types it (MODEL and TEXT filled in).
READS_A_MODEL = {
    "eval": ["eval", "MODEL", "TEXT"],
    "score": ["score", "MODEL", "TEXT"],
    "predict": ["predict", "MODEL", "the"],
    "generate": ["generate", "MODEL", "--max-tokens", "3", "--seed", "1"],
    "gradflow": ["gradflow", "--model", "MODEL", "--text", "TEXT", "--steps", "5", "--batch", "2", "--warmup", "2",
                 "--json"],
}


@pytest.mark.parametrize("command", sorted(READS_A_MODEL))
def test_no_verify_on_the_command_line(command, model_copy, corpus, capsys):
    """A config.json without "files" is refused naming --no-verify, and read with it."""
    _set_config(model_copy, lambda cfg: cfg.pop("files"))
    argv = [{"MODEL": str(model_copy), "TEXT": str(corpus[1])}.get(a, a) for a in READS_A_MODEL[command]]
    err = one_line_error(capsys, argv, 1)
    assert "names no SHA-256" in err and "(--no-verify accepts it)" in err
    assert main(argv + ["--no-verify"]) == 0, capsys.readouterr().err


def test_no_verify_on_fill(cloze_model, tmp_path, capsys):
    model = tmp_path / "cloze"
    shutil.copytree(cloze_model[0], model)
    _set_config(model, lambda cfg: cfg.pop("files"))
    err = one_line_error(capsys, ["fill", str(model), "the __ sat"], 1)
    assert "--no-verify accepts it" in err
    assert main(["fill", str(model), "the __ sat", "--no-verify"]) == 0


def test_no_verify_on_serve(model_copy, capsys, monkeypatch):
    from rnnkit.commands import serve

    # no HTTP here (nor FastAPI needed): the models are loaded before the app is made and the socket bound
    monkeypatch.setattr(serve, "_imports", lambda: (None, lambda *args, **kw: None))
    _set_config(model_copy, lambda cfg: cfg.pop("files"))
    err = one_line_error(capsys, ["serve", str(model_copy), "--port", "0"], 1)
    assert "--no-verify accepts it" in err

    def loaded(host, port, **options):
        raise RnnkitError("loaded")

    monkeypatch.setattr(serve, "_bind", loaded)
    err = one_line_error(capsys, ["serve", str(model_copy), "--port", "0", "--no-verify"], 1)
    assert err.endswith("error: loaded\n")


def test_no_verify_still_checks_the_hashes_config_json_names(model_copy, corpus, capsys):
    weights = model_copy / io.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    err = one_line_error(capsys, ["eval", str(model_copy), str(corpus[1]), "--no-verify"], 1)
    assert "does not match config.json" in err


def test_every_command_that_reads_a_model_directory_offers_no_verify():
    """One option, on every command with a MODEL_DIR whose weights it loads (plot reads only
    config.json's figures and metrics.jsonl, never the weights)."""
    import argparse

    from rnnkit.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    # train's --out MODEL_DIR is written, not read (--resume reads the checkpoint, with its own manifest)
    reading = {name for name, p in commands.items()
               if any(a.metavar == "MODEL_DIR" and a.dest != "out" for a in p._actions)}
    assert reading >= set(READS_A_MODEL) | {"fill", "serve"}
    for name in sorted(reading - {"plot"}):
        flags = {s for a in commands[name]._actions for s in a.option_strings}
        assert "--no-verify" in flags, name
        assert commands[name].get_default("verify") is True, name


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


def test_train_on_a_data_dir_with_a_tampered_shard_is_one_line(corpus, tmp_path, capsys):
    """An id beyond the dictionary in a shard of the right size went on to an IndexError in training."""
    from rnnkit.scale.prepare import prepare

    manifest = prepare([str(corpus[0])], str(tmp_path / "data"))
    shard = tmp_path / "data" / manifest["shards"][0]["file"]
    ids = np.frombuffer(shard.read_bytes(), dtype="<u2").copy()
    ids[5] = 60000
    shard.write_bytes(ids.tobytes())
    err = one_line_error(capsys, ["train", str(tmp_path / "data"), "--valid", str(corpus[1]), "--out",
                                  str(tmp_path / "m"), "--epochs", "1", "--quiet"], 1)
    assert "holds id 60000, beyond the" in err
