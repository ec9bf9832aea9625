"""Training: the schedule, the files it leaves, and resuming to exactly the same result."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnnkit.errors import RnnkitError, UsageError
from rnnkit.lm import io
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.train import Trainer, resolve_options, train

from lm_helpers import TINY, make_corpus, quiet_train, read_metrics


def checkpoint_arrays(out):
    arrays, meta = io.read_tensors(str(out / io.CHECKPOINT))
    return arrays, json.loads(meta["rnnkit"])


def test_training_learns_and_writes_its_files(corpus, tmp_path):
    out = tmp_path / "m"
    result = quiet_train(corpus, out, dict(TINY, epochs=4))
    assert result.status in ("epochs", "converged")
    assert {"config.json", "vocab.json", "weights.safetensors", "metrics.jsonl", "checkpoint.safetensors"} <= set(
        os.listdir(out))
    rows = read_metrics(out)
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    for r in rows:
        assert set(r) >= {"epoch", "train_ppl", "valid_ppl", "lr", "tokens_per_s", "seconds"}
    # The toy grammar has ~16 words; a trained model must be far better than uniform.
    assert rows[-1]["valid_ppl"] < rows[0]["valid_ppl"] and min(r["valid_ppl"] for r in rows) < 6
    lm = LanguageModel.load(str(out))
    assert lm.evaluate(str(corpus[1]))["perplexity"] == pytest.approx(result.best_valid_ppl, rel=1e-6)


def test_mikolov_schedule_halves_then_stops(corpus, tmp_path):
    out = tmp_path / "m"
    # min_improvement so demanding that no epoch counts as progress after the first
    result = quiet_train(corpus, out, dict(TINY, epochs=20, min_improvement=10.0))
    lrs = [r["lr"] for r in read_metrics(out)]
    assert lrs == [1.0, 1.0, 0.5]  # epoch 2 starts annealing, epoch 3 gains too little: stop
    assert result.status == "converged"


def test_anneal_from_halves_on_a_fixed_schedule(corpus, tmp_path):
    out = tmp_path / "m"
    # min_improvement 1.0: every improving epoch counts as progress, so only
    # --anneal-from can start the annealing (after epoch 2, whatever validation says)
    quiet_train(corpus, out, dict(TINY, epochs=4, min_improvement=1.0, anneal_from=2))
    lrs = [r["lr"] for r in read_metrics(out)]
    assert lrs[:3] == [1.0, 1.0, 0.5] and len(lrs) in (3, 4)
    assert lrs == [1.0, 1.0, 0.5, 0.25][:len(lrs)]


def test_worse_epoch_is_undone(corpus, tmp_path):
    out = tmp_path / "m"
    quiet_train(corpus, out, dict(TINY, epochs=6, lr=60.0, clip=0))  # too large a step: epochs get worse
    rows = read_metrics(out)
    assert any(not r["best"] for r in rows)
    arrays, meta = checkpoint_arrays(out)
    best = min(rows, key=lambda r: r["valid_ppl"])
    assert meta["state"]["best_epoch"] == best["epoch"]
    lm = LanguageModel.load(str(out))
    for k, v in lm.model.params.items():
        np.testing.assert_array_equal(arrays[f"best/{k}"], v)


def _interrupt_at(monkeypatch, window_count):
    """Make the training loop receive a real SIGINT after ``window_count`` windows."""
    calls = {"n": 0}
    original = Trainer._out_of_time

    def out_of_time(self):
        calls["n"] += 1
        if calls["n"] == window_count:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self)

    monkeypatch.setattr(Trainer, "_out_of_time", out_of_time)


@pytest.mark.parametrize("opts", [dict(), pytest.param(dict(dropout=0.3, optimizer="adam", lr=0.01, layers=2),
                                                  marks=pytest.mark.slow)])
def test_interrupt_and_resume_equals_uninterrupted(corpus, tmp_path, monkeypatch, opts):
    options = dict(TINY, epochs=3, **opts)
    straight = tmp_path / "straight"
    quiet_train(corpus, straight, options)

    stopped = tmp_path / "stopped"
    _interrupt_at(monkeypatch, 50)  # in the middle of epoch 1 (about 88 windows per epoch)
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN where pytest itself runs in the background
    result = quiet_train(corpus, stopped, options)
    monkeypatch.undo()
    assert result.status == "interrupted" and "option 'resume'" in result.message
    assert result.cli_message().endswith("continue with the same command and --resume")
    assert signal.getsignal(signal.SIGINT) is handler_before  # handler restored
    _, meta = checkpoint_arrays(stopped)
    assert meta["state"]["epoch"] == 0 and meta["state"]["window"] == 51  # stops after the step it arrived in

    result = quiet_train(corpus, stopped, {}, resume=True)
    assert result.status != "interrupted"
    a, _ = checkpoint_arrays(straight)
    b, _ = checkpoint_arrays(stopped)
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ra, rb = read_metrics(straight), read_metrics(stopped)
    assert [(r["train_ppl"], r["valid_ppl"], r["lr"]) for r in ra] == [(r["train_ppl"], r["valid_ppl"], r["lr"]) for r in rb]
    assert (straight / "weights.safetensors").read_bytes() == (stopped / "weights.safetensors").read_bytes()


@pytest.mark.slow
def test_resume_with_more_epochs_equals_longer_run(corpus, tmp_path):
    options = dict(TINY, epochs=4, min_improvement=1.0)
    quiet_train(corpus, tmp_path / "long", options)
    quiet_train(corpus, tmp_path / "short", dict(options, epochs=2))
    quiet_train(corpus, tmp_path / "short", dict(epochs=4), resume=True)
    a, _ = checkpoint_arrays(tmp_path / "long")
    b, _ = checkpoint_arrays(tmp_path / "short")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_resume_errors(corpus, tmp_path):
    out = tmp_path / "m"
    with pytest.raises(RnnkitError, match="no checkpoint"):
        quiet_train(corpus, out, {}, resume=True)
    quiet_train(corpus, out, dict(TINY, epochs=1))
    with pytest.raises(UsageError, match="option 'hidden' 32 differs"):
        quiet_train(corpus, out, dict(hidden=32), resume=True)
    with pytest.raises(UsageError, match="contradict"):
        quiet_train(corpus, out, {}, resume=True, force=True)
    changed = make_corpus(tmp_path / "other.txt", 300, seed=9)
    with pytest.raises(RnnkitError, match="not the corpus file"):
        quiet_train((changed, corpus[1]), out, {}, resume=True)
    result = quiet_train(corpus, out, {}, resume=True)
    assert "already finished" in result.message


def test_refuses_existing_directory_without_force(corpus, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(RnnkitError, match="use option 'force'"):
        quiet_train(corpus, out, TINY)
    assert os.listdir(out) == ["precious.txt"]
    quiet_train(corpus, out, dict(TINY, epochs=1), force=True)
    assert (out / "precious.txt").read_text() == "keep me"


def test_max_minutes_stops_and_keeps_best(corpus, tmp_path, monkeypatch):
    # The trainer's clock advances 1 ms a reading, so 0.001 minutes (60 ms) end inside
    # epoch 1 (about 88 windows, two readings each) however fast or loaded the machine is.
    import types
    from rnnkit.lm.train import trainer

    readings = iter(range(10**9))
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(monotonic=lambda: next(readings) / 1000))
    out = tmp_path / "m"
    result = quiet_train(corpus, out, dict(TINY, epochs=50), max_minutes=0.001)  # inside epoch 1
    assert result.status == "time" and "option 'max_minutes' 0.001" in result.message
    assert result.cli_message().startswith("stopped after --max-minutes 0.001 at epoch 1, window ")
    assert LanguageModel.load(str(out)).evaluate(str(corpus[1]))["perplexity"] == pytest.approx(
        result.best_valid_ppl, rel=1e-6)


@pytest.mark.parametrize("bad,match", [
    (dict(hidden=0), "option 'hidden' must be a positive integer"),
    (dict(lr=-1.0), "option 'lr' must be a positive number"),
    (dict(dropout=1.0), r"option 'dropout' must be in \[0, 1\)"),
    (dict(tokenizer="bpe"), "option 'tokenizer' 'bpe'"),
    (dict(activation="softsign"), "option 'activation' 'softsign'"),
    (dict(tie_weights=True, embed=8, hidden=16), "option 'tie_weights' needs option 'embed' equal to option 'hidden'"),
    (dict(tie_weights=True, embed=0), "needs an embedding layer"),
    (dict(clip=float("nan")), "option 'clip'"),
    (dict(anneal=1.0), "option 'anneal' must be above 1"),
    (dict(anneal_from=0), "option 'anneal_from' must be a positive epoch number"),
    (dict(max_vocab=2), "option 'max_vocab' must be at least 3"),
    (dict(hidden="16"), "option 'hidden' must be a positive integer, got '16'"),
    (dict(layers=True), "option 'layers' must be a positive integer, got True"),
    (dict(embed=-1), "option 'embed' must be 0 .no embedding layer. or positive"),
    (dict(classes=0), "option 'classes' must be a positive integer"),
    (dict(head=-1), r"option 'head' must be 0 \(no head\) or positive"),
    (dict(head=5, softmax="full"), "option 'head' is part of the class softmax"),
    (dict(min_improvement=0.999), "option 'min_improvement' must be at least 1.0"),
    (dict(lr=float("inf")), "option 'lr' must be a positive number"),
    (dict(seed=1.5), "option 'seed' must be an integer"),
    (dict(tie_weights="yes"), "option 'tie_weights' must be true or false"),
    (dict(form="sideways", task="cloze"), "option 'form' 'sideways': expected one of article, concat"),
    (dict(nonsense=1), "unknown training option.s.: nonsense"),
])
def test_nonsense_options(bad, match):
    """Library errors name the option, never a flag; the command line's wording names the flag."""
    with pytest.raises(UsageError, match=match) as caught:
        resolve_options(bad)
    err = caught.value
    assert "--" not in str(err)
    assert err.option in bad
    flag = "--" + err.option.replace("_", "-")
    assert err.cli_message() == str(err).replace(f"option '{err.option}'", flag) or flag in err.cli_message()
    if err.option != "nonsense":
        assert err.cli_message().startswith(flag) or "needs an embedding" in err.cli_message(), err.cli_message()


def test_every_option_is_checked_at_its_range_ends():
    """The table's ranges, both sides of every end: a value just inside passes, just outside fails."""
    from rnnkit.lm.train import OPTIONS

    ranged = [o for o in OPTIONS if o.low is not None or o.high is not None]
    assert {o.name for o in ranged} >= {"hidden", "dropout", "lr", "anneal", "min_improvement", "max_vocab"}
    for o in ranged:
        step = 1 if o.kind is int else 1e-9
        ends = [(o.low, o.low_open, -1)] if o.low is not None else []
        ends += [(o.high, o.high_open, +1)] if o.high is not None else []
        for end, is_open, outward in ends:
            inside = end - outward * step if is_open else end
            outside = end if is_open else end + outward * step
            o.check(o.kind(inside))
            with pytest.raises(UsageError, match=f"option '{o.name}'"):
                o.check(o.kind(outside))


def test_options_named_as_flags_on_the_command_line(corpus, tmp_path, capsys):
    from rnnkit.cli import main

    tr, va = (str(p) for p in corpus)
    for argv, line in [
        (["--hidden", "0"], "rnnkit train: error: --hidden must be a positive integer, got 0"),
        (["--tie-weights", "--embed", "8", "--hidden", "16"],
         "rnnkit train: error: --tie-weights needs --embed equal to --hidden, got 8 and 16"),
        (["--anneal-from", "0"], "rnnkit train: error: --anneal-from must be a positive epoch number, got 0"),
        (["--vocab", tr, "--min-count", "2"], "rnnkit train: error: --vocab fixes the dictionary; --min-count and "
                                               "--max-vocab cut one built from the corpus: give one or the other"),
    ]:
        assert main(["train", tr, "--valid", va, "--out", str(tmp_path / "m"), *argv]) == 2
        assert capsys.readouterr().err.strip() == line


def test_ctrl_c_from_the_command_line(tmp_path):
    """A real Ctrl-C to `rnnkit train`: exit code 130, one line, a checkpoint to resume from."""
    tr = make_corpus(tmp_path / "train.txt", 3000, seed=1)
    va = make_corpus(tmp_path / "valid.txt", 40, seed=2)
    out = tmp_path / "m"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.join(os.path.dirname(__file__), "..", "..", "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnkit.cli", "train", str(tr), "--valid", str(va), "--out", str(out),
         "--hidden", "16", "--epochs", "100", "--min-improvement", "1.0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not (out / io.CHECKPOINT).exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("interrupted by Ctrl-C at epoch") and "--resume" in last
    _, meta = checkpoint_arrays(out)
    assert meta["state"]["epoch"] >= 1


def test_resume_a_checkpoint_from_before_an_option_existed(corpus, tmp_path):
    """A checkpoint written before an option was added to rnnkit resumes with that option's default."""
    out = tmp_path / "m"
    quiet_train(corpus, out, dict(TINY, epochs=1))
    arrays, meta = checkpoint_arrays(out)
    del meta["options"]["task"]  # as written by rnnkit before --task existed
    meta["state"]["finished"] = None
    io.atomic_write(str(out / io.CHECKPOINT), io.tensors_bytes(arrays, {"rnnkit": json.dumps(meta)}))
    result = quiet_train(corpus, out, dict(epochs=2), resume=True)
    assert result.epochs == 2


def test_resume_after_annealing_began_keeps_the_halved_rate(corpus, tmp_path):
    options = dict(TINY, epochs=3, min_improvement=10.0)  # annealing from epoch 2 on
    quiet_train(corpus, tmp_path / "long", options)
    quiet_train(corpus, tmp_path / "short", dict(options, epochs=2))
    quiet_train(corpus, tmp_path / "short", dict(epochs=3), resume=True)
    assert [r["lr"] for r in read_metrics(tmp_path / "short")] == [r["lr"] for r in read_metrics(tmp_path / "long")]
    a, _ = checkpoint_arrays(tmp_path / "long")
    b, _ = checkpoint_arrays(tmp_path / "short")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_default_learning_rate_depends_on_optimizer_and_cell():
    assert resolve_options({})["lr"] == 5.0
    assert resolve_options({"cell": "lstm"})["lr"] == 20.0 == resolve_options({"cell": "gru"})["lr"]
    assert resolve_options({"cell": "lstm", "optimizer": "adam"})["lr"] == 0.002
    assert resolve_options({"cell": "gru", "lr": 1.0})["lr"] == 1.0


def test_fixed_vocabulary_from_a_word_list(corpus, tmp_path):
    train_words = set(corpus[0].read_text().split())
    listed = sorted(train_words)[:5] + ["zebra"]
    vocab_file = tmp_path / "words.txt"
    vocab_file.write_text("\n".join(listed) + "\n\n")
    out = tmp_path / "m"
    quiet_train(corpus, out, dict(TINY, epochs=1, vocab=str(vocab_file)))
    tokens = json.loads((out / "vocab.json").read_text())["tokens"]
    assert tokens[:2] == ["<unk>", "<eos>"] and sorted(tokens[2:]) == sorted(listed)
    with pytest.raises(UsageError, match="option 'vocab' fixes the dictionary"):
        resolve_options(dict(vocab=str(vocab_file), min_count=2))
    bad = tmp_path / "bad.txt"
    bad.write_text("good\ntwo words\n")
    with pytest.raises(RnnkitError, match=r"bad.txt: line 2: expected one token per line"):
        quiet_train(corpus, tmp_path / "m2", dict(TINY, epochs=1, vocab=str(bad)))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(RnnkitError, match="empty.txt: no tokens"):
        quiet_train(corpus, tmp_path / "m3", dict(TINY, epochs=1, vocab=str(empty)))


def test_valid_without_unk_judges_epochs_by_the_known_targets(corpus, tmp_path):
    valid = tmp_path / "valid-oov.txt"
    lines = corpus[1].read_text().splitlines()
    valid.write_text("\n".join(line + " zebra quokka" for line in lines) + "\n")
    out = tmp_path / "m"
    train(str(corpus[0]), str(valid), str(out), dict(TINY, epochs=3, valid_without_unk=True), quiet=True,
          log=lambda *_: None)
    rows = read_metrics(out)
    best = min(r["valid_ppl"] for r in rows)
    r = LanguageModel.load(str(out)).evaluate(str(valid))
    assert r["unk_tokens"] == 2 * len(lines)
    assert best == pytest.approx(r["perplexity_without_unk"], rel=1e-6)
    assert best != pytest.approx(r["perplexity"], rel=1e-2)
    with pytest.raises(UsageError, match="option 'valid_without_unk' is for option 'task' lm"):
        resolve_options(dict(task="cloze", valid_without_unk=True))


def test_progress_lines_when_there_is_no_terminal(corpus, tmp_path, monkeypatch):
    # Under pytest stderr is not a terminal, so the bar is off, as in `rnnkit train ... > log`.
    from rnnkit.lm.train import progress as train_module

    monkeypatch.setattr(train_module, "PROGRESS_SECONDS", 0)
    lines = []
    train(str(corpus[0]), str(corpus[1]), str(tmp_path / "p"), dict(TINY, epochs=1), log=lines.append)
    progress = [line for line in lines if line.startswith("epoch 1: window ")]
    assert progress, lines
    assert all("train ppl " in line and " tok/s" in line for line in progress)
    lines.clear()
    train(str(corpus[0]), str(corpus[1]), str(tmp_path / "q"), dict(TINY, epochs=1), quiet=True, log=lines.append)
    assert not [line for line in lines if line.startswith("epoch 1: window ")], "--quiet must silence them"
