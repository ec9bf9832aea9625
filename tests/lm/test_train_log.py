"""Training's lines: train.log in MODEL_DIR, --log-interval, a closed stdout, --max-minutes' report, a quiet API."""

import json
import os
import subprocess
import sys

import pytest

from rnnkit.lm.api import LanguageModel
from rnnkit.lm.train import train
from rnnkit.lm.train.log import LOG_FILE

from lm_helpers import TINY, read_metrics


def test_train_log_holds_every_line_and_the_result(corpus, tmp_path):
    out, lines = tmp_path / "m", []
    result = train(str(corpus[0]), str(corpus[1]), str(out), dict(TINY, epochs=2), quiet=True, log=lines.append)
    logged = (out / LOG_FILE).read_text(encoding="utf-8").splitlines()
    assert logged[:len(lines)] == lines and len(lines) >= 4  # corpus, model, two epochs
    assert logged[-1] == result.cli_message()


def test_log_interval_prints_every_n_windows(corpus, tmp_path):
    out, lines = tmp_path / "m", []
    train(str(corpus[0]), str(corpus[1]), str(out), dict(TINY, epochs=1, log_interval=10), quiet=True,
          log=lines.append)
    windows = [line for line in lines if ": window " in line]
    assert windows and all(line.startswith("epoch 1: window ") for line in windows)
    numbers = [int(line.split("window ")[1].split("/")[0]) for line in windows]
    total = int(windows[0].split("/")[1].split(",")[0])
    assert numbers == list(range(10, total + 1, 10))
    assert "train ppl" in windows[0] and "tok/s" in windows[0]
    assert sum(": window " in line for line in (out / LOG_FILE).read_text().splitlines()) == len(windows)


def test_a_closed_stdout_does_not_stop_training(corpus, tmp_path):
    """`rnnkit train ... | head -1`: the reader goes away; training finishes every epoch and logs to train.log."""
    out = tmp_path / "m"
    # Unbuffered, as a longer run's output reaches the same point once its 8 KiB buffer fills.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(
        [os.path.join(os.path.dirname(__file__), "..", "..", "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnkit.cli", "train", str(corpus[0]), "--valid", str(corpus[1]), "--out", str(out),
         "--hidden", "16", "--embed", "8", "--batch", "4", "--bptt", "6", "--lr", "1", "--epochs", "4",
         "--min-improvement", "1.0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = proc.stdout.readline()  # as head -1 does: one line, then the pipe is closed
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, stderr
    assert first.startswith(b"corpus ")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert [r["epoch"] for r in read_metrics(out)] == [1, 2, 3, 4]
    log = (out / LOG_FILE).read_text(encoding="utf-8")
    assert "standard output was closed" in log
    assert "epoch   4" in log and log.splitlines()[-1].startswith("done: --epochs 4 reached")


def test_max_minutes_reports_the_best_completed_epoch(corpus, tmp_path):
    out = tmp_path / "m"
    tr, va = str(corpus[0]), str(corpus[1])
    train(tr, va, str(out), dict(TINY, epochs=1), quiet=True, log=None)
    result = train(tr, va, str(out), dict(TINY, epochs=50), resume=True, max_minutes=1e-9, quiet=True, log=None)
    assert result.status == "time"
    best = read_metrics(out)[0]["valid_ppl"]
    assert result.best_valid_ppl == pytest.approx(best, rel=1e-12)
    assert f"best valid ppl {best:.2f} (epoch 1)" in result.message
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["best_epoch"] == 1 and config["training"]["valid_ppl"] == pytest.approx(best)
    assert LanguageModel.load(str(out)).evaluate(va)["perplexity"] == pytest.approx(best, rel=1e-6)


def test_max_minutes_before_any_epoch_says_so(corpus, tmp_path):
    out = tmp_path / "m"
    result = train(str(corpus[0]), str(corpus[1]), str(out), dict(TINY, epochs=50), max_minutes=1e-9, quiet=True,
                   log=None)
    assert "no epoch completed" in result.message
    assert LanguageModel.load(str(out)).evaluate(str(corpus[1]))["perplexity"] == pytest.approx(
        result.best_valid_ppl, rel=1e-6)


def test_the_api_trains_quietly(corpus, tmp_path, capfd):
    lm = LanguageModel.train(str(corpus[0]), valid=str(corpus[1]), out=str(tmp_path / "m"), **dict(TINY, epochs=1))
    lm.perplexity("the cat sat on the mat")
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert "epoch   1" in (tmp_path / "m" / LOG_FILE).read_text()


def test_the_api_prints_when_not_quiet(corpus, tmp_path, capfd):
    LanguageModel.train(str(corpus[0]), valid=str(corpus[1]), out=str(tmp_path / "m"), quiet=False,
                        **dict(TINY, epochs=1))
    assert "epoch   1" in capfd.readouterr().out
