"""`rnnkit eval` and `rnnkit score` with --dynamic, --cache and --tune (rnnkit.lm.adapt)."""

import hashlib
import math
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


def _json_lines(capsys):
    return [json.loads(x) for x in capsys.readouterr().out.splitlines()]


def test_eval_per_word_under_dynamic_and_cache_adds_up_to_the_summary(trained_model, topic, capsys):
    from rnnkit.lm.adapt import DynamicEval, NeuralCache
    from rnnkit.lm.api import LanguageModel

    model_dir = str(trained_model[0])
    flags = ["--dynamic", "--dynamic-lr", "0.01", "--cache", "50", "--cache-theta", "1", "--cache-lambda", "0.3"]
    assert main(["eval", model_dir, topic, "--per-word", "--json", *flags]) == 0
    *lines, summary = _json_lines(capsys)
    values = [w["log10prob"] for line in lines for w in line["per_word"]]
    assert len(values) == summary["tokens"] and math.fsum(values) == summary["logprob"]
    assert summary["dynamic"]["lr"] == 0.01 and summary["cache"]["size"] == 50
    assert main(["eval", model_dir, topic, "--json", *flags]) == 0  # the same model without --per-word
    assert _json(capsys)["perplexity"] == pytest.approx(summary["perplexity"], rel=1e-9)
    lm = LanguageModel.load(model_dir)
    words, _ = lm.word_scores(topic, dynamic=DynamicEval(lr=0.01), cache=NeuralCache(50, 1.0, 0.3))
    assert values == pytest.approx([v for w in words for v in w.log10probs], rel=1e-12)
    assert main(["eval", model_dir, topic, "--per-word", *flags]) == 0  # text: token lines, then the summary
    out = capsys.readouterr().out
    assert out.startswith("the\t") and "adapting: dynamic evaluation" in out


def test_eval_per_word_with_two_mixes_and_adaptation(mix_models, tmp_path, capsys):
    d = mix_models
    kn2 = tmp_path / "kn2.arpa"
    assert main(["ngram", "train", str(d / "train.txt"), "--order", "2", "--out", str(kn2)]) == 0
    capsys.readouterr()
    base = ["eval", str(d / "rnn"), str(d / "valid.txt"), "--mix", str(d / "kn3.arpa"), "--mix", str(kn2), "--json",
            "--dynamic", "--cache", "10"]
    assert main(base + ["--per-word", "--lambda", "0.4"]) == 0
    *lines, summary = _json_lines(capsys)
    values = [w["log10prob"] for line in lines for w in line["per_word"]]
    assert math.fsum(values) == summary["logprob"] and summary["weights"] == pytest.approx([0.4, 0.3, 0.3])
    assert 10 ** (-summary["logprob"] / summary["tokens"]) == pytest.approx(summary["mix_perplexity"], rel=1e-9)
    assert main(base + ["--tune", str(d / "valid.txt")]) == 0  # settings, then all three weights (EM)
    r = _json(capsys)
    assert len(r["weights"]) == 3 and sum(r["weights"]) == pytest.approx(1.0) and r["valid_perplexity"] > 0


def test_score_per_word_and_every_nbest_format_under_adaptation(trained_model, tmp_path, capsys):
    model_dir = str(trained_model[0])
    lines = tmp_path / "lines.txt"
    lines.write_text(TOPIC[: len(TOPIC) // 3], encoding="utf-8")
    assert main(["score", model_dir, str(lines), "--json", "--per-word", "--dynamic", "--dynamic-lr", "0.01"]) == 0
    rows = _json_lines(capsys)
    for row in rows:
        assert math.fsum(w["log10prob"] for w in row["per_word"]) == row["logprob"]
    assert rows[-1]["logprob"] > rows[0]["logprob"] + 0.5
    assert main(["score", model_dir, str(lines), "--per-word", "--cache", "30"]) == 0  # text, and the totals
    captured = capsys.readouterr()
    assert "\tthe\t" in captured.out and "lines," in captured.err
    kaldi = tmp_path / "text"
    kaldi.write_text("".join(f"u{i}-1 the red cat sat under the rug\nu{i}-2 the red cat sat on the mat\n"
                             for i in range(4)))
    costs = tmp_path / "ac"
    costs.write_text("".join(f"u{i}-1 7.0\nu{i}-2 7.5\n" for i in range(4)))
    assert main(["score", model_dir, str(kaldi), "--nbest", "--format", "kaldi", "--acoustic-costs", str(costs),
                 "--dynamic", "--dynamic-lr", "0.01"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 8 and out[0].startswith("u0-1 ")  # Kaldi's 'uttid-N cost', in the file's order
    first, again = float(out[0].split()[1]), float(out[6].split()[1])
    assert again < first - 0.5  # u3's copy of the first candidate costs less: learnt from u0..u2
    rnnlm = tmp_path / "rnnlm.txt"
    rnnlm.write_text("".join(f"u{i} the red cat sat under the rug\nu{i} the red cat sat on the mat\n" for i in range(3)))
    assert main(["score", model_dir, str(rnnlm), "--nbest", "--cache", "30", "--best"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("u0 the red cat")


def test_per_word_still_refuses_independent_with_adaptation(trained_model, topic, capsys):
    assert main(["eval", str(trained_model[0]), topic, "--per-word", "--independent", "--dynamic"]) == 2
    assert "--independent" in capsys.readouterr().err
