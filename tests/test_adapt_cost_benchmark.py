"""benchmarks/adapt_cost.py must not rot: a tiny run on a fresh model and one on a trained model
directory, checking the shape of its output (no timing asserted)."""

import json
import os
import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "adapt_cost.py"
MODES = ["static", "cache", "dynamic-rms", "dynamic-sgd", "both"]


def _run(*args):
    env = dict(os.environ, PYTHONPATH=str(SCRIPT.parent.parent / "src"))
    r = subprocess.run([sys.executable, str(SCRIPT), "--rounds", "2", *args], capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def _check(records, tokens):
    head, *modes = records
    assert head["tokens"] == tokens and head["rounds"] == 2
    assert [m["mode"] for m in modes] == MODES
    for m in modes:
        assert len(m["seconds"]) == len(m["cpu_seconds"]) == len(m["load_before_after"]) == 2
        assert m["tokens_per_second"] > 0 and m["cost"] > 0 and m["best_seconds"] == min(m["seconds"])
        assert isinstance(m["perplexity"], float) and m["perplexity"] > 1
    assert modes[0]["cost"] == 1.0


def test_on_a_fresh_model():
    _check(_run("--vocab", "40", "--hidden", "8", "--tokens", "120"), 120)


def test_on_a_trained_model_and_its_refusals(trained_model):
    model_dir, _, valid = trained_model
    records = _run("--model", str(model_dir), "--text", str(valid))
    _check(records, records[0]["tokens"])
    r = subprocess.run([sys.executable, str(SCRIPT), "--model", str(model_dir)], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(SCRIPT.parent.parent / "src")))
    assert r.returncode == 2 and "--model and --text go together" in r.stderr
