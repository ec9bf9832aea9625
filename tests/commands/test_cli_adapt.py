"""`rnnkit eval` and `rnnkit score` with --dynamic, --cache and --tune (rnnkit.lm.adapt)."""

import hashlib
import json

import pytest

from rnnkit.cli import main

TOPIC = "the red cat sat under the rug\n" * 30


def _hashes(model_dir):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(model_dir.iterdir()) if p.is_file()}


def _json(capsys):
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def topic(tmp_path):
    path = tmp_path / "topic.txt"
    path.write_text(TOPIC, encoding="utf-8")
    return str(path)


def test_eval_adapting_lowers_perplexity_and_leaves_the_model_files_as_they_were(trained_model, topic, capsys):
    model_dir = trained_model[0]
    before = _hashes(model_dir)
    assert main(["eval", str(model_dir), topic, "--json"]) == 0
    static = _json(capsys)["perplexity"]
    for flags in (["--dynamic", "--dynamic-lr", "0.01"], ["--dynamic", "--dynamic-form", "sgd", "--dynamic-lr", "0.3"],
                  ["--cache", "50", "--cache-theta", "1", "--cache-lambda", "0.3"],
                  ["--dynamic", "--dynamic-lr", "0.01", "--cache", "50"]):
        assert main(["eval", str(model_dir), topic, "--json", *flags]) == 0
        r = _json(capsys)
        assert r["perplexity"] < 0.9 * static, flags
        assert r["tokens_per_second"] > 0 and ("--dynamic" in flags) == (r["dynamic"] is not None)
    assert _hashes(model_dir) == before
    assert main(["eval", str(model_dir), topic]) == 0  # the text form names the settings
    assert "perplexity" in capsys.readouterr().out


def test_eval_tune_reads_the_test_text_only_after_choosing(trained_model, tmp_path, capsys):
    """The test FILE does not exist: tuning on the validation text still finishes, then FILE fails."""
    model_dir, _, valid = trained_model
    missing = tmp_path / "not-there.txt"
    code = main(["eval", str(model_dir), str(missing), "--dynamic", "--cache", "20", "--tune", str(valid)])
    err = capsys.readouterr().err
    assert code == 1 and "not-there.txt" in err and "no such file" in err
    assert "static: perplexity" in err and "dynamic rms" in err and "cache size 20" in err  # tuned first


def test_eval_with_mix_and_tune(mix_models, capsys):
    d = mix_models
    assert main(["eval", str(d / "rnn"), str(d / "valid.txt"), "--mix", str(d / "kn3.arpa"), "--json",
                 "--dynamic", "--cache", "10", "--tune", str(d / "valid.txt")]) == 0
    r = _json(capsys)
    assert r["tuned_on"] == str(d / "valid.txt") and 0.0 <= r["lambda"] <= 1.0
    assert r["mix_perplexity"] <= min(r["rnn_perplexity"], r["ngram_perplexity"]) * 1.0001
    assert r["dynamic"] is not None and r["cache"]["size"] == 10


def test_score_lines_and_nbest_adapt_in_file_order(trained_model, tmp_path, capsys):
    model_dir = trained_model[0]
    lines = tmp_path / "lines.txt"
    lines.write_text(TOPIC[: len(TOPIC) // 3], encoding="utf-8")
    assert main(["score", str(model_dir), str(lines), "--json", "--dynamic", "--dynamic-lr", "0.01"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rows[-1]["logprob"] > rows[0]["logprob"] + 0.5
    nbest = tmp_path / "nbest.tsv"
    nbest.write_text("".join(f"u{i}\tthe red cat sat under the rug\nu{i}\tthe red cat sat on the mat\n" for i in range(6)))
    assert main(["score", str(model_dir), str(nbest), "--nbest", "--json", "--cache", "30",
                 "--cache-theta", "1", "--cache-lambda", "0.3"]) == 0
    utts = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    first = [c["lm_logprob"] for c in utts[0]["candidates"]]
    last = [c["lm_logprob"] for c in utts[-1]["candidates"]]
    assert max(last) > max(first) + 0.3


@pytest.mark.parametrize("flags, words", [
    (["--dynamic-lr", "0.1"], "--dynamic"),
    (["--cache-theta", "0.1"], "--cache"),
    (["--dynamic", "--dynamic-lr", "-1"], "--dynamic-lr"),
    (["--cache", "0"], "--cache"),
    (["--tune", "valid.txt"], "--tune"),
])
def test_bad_adaptation_flags_are_one_line_usage_errors(trained_model, topic, capsys, flags, words):
    assert main(["eval", str(trained_model[0]), topic, *flags]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
