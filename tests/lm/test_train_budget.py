"""--max-minutes: training stops in time to judge the unfinished epoch, and keeps it when it is the best."""

import json
import types

import pytest

from rnnkit.lm import io
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.task import get_task
from rnnkit.lm.train import Trainer
from rnnkit.lm.train import trainer as trainer_module

from lm_helpers import TINY, quiet_train, read_metrics


class Clock:
    """The trainer's clock: 1 ms a reading, plus what ``advance`` adds, so that --max-minutes ends
    after a known number of windows (about 88 an epoch, two readings each) however loaded the machine is."""

    def __init__(self, monkeypatch):
        self.now = 0.0
        monkeypatch.setattr(trainer_module, "time", types.SimpleNamespace(monotonic=self.monotonic))

    def monotonic(self):
        self.now += 0.001
        return self.now

    def advance(self, seconds):
        self.now += seconds


# Ends 58 windows or so into epoch 3: two epochs of 88 windows at two readings each, and a few
# readings for each validation.
BUDGET_MINUTES = (2 * 88 * 2 + 120) / 60_000


def test_the_unfinished_epoch_is_kept_when_it_validates_better(corpus, tmp_path, monkeypatch):
    out = tmp_path / "m"
    # about 88 windows an epoch, two readings each, and two for a validation: ends in epoch 3
    Clock(monkeypatch)
    result = quiet_train(corpus, out, dict(TINY, epochs=50), max_minutes=BUDGET_MINUTES)
    monkeypatch.undo()
    rows = read_metrics(out)
    assert result.status == "time" and len(rows) == 2
    assert result.best_valid_ppl < min(r["valid_ppl"] for r in rows)  # still learning: the last windows helped
    assert "better than epoch 2's" in result.message and "of the unfinished epoch's weights (epoch 2." in result.message
    config = json.loads((out / "config.json").read_text())["training"]
    assert 2 < config["best_epoch"] < 3
    assert LanguageModel.load(str(out)).evaluate(str(corpus[1]))["perplexity"] == pytest.approx(
        result.best_valid_ppl, rel=1e-6)
    # the checkpoint keeps the uninterrupted run's state: resuming goes on from the stop
    _, meta = io.read_tensors(str(out / io.CHECKPOINT))
    st = json.loads(meta["rnnkit"])["state"]
    assert st["epoch"] == 2 and st["window"] > 0 and st["best_epoch"] == 2


class WorseAtTheEnd(Trainer):
    def _validate(self):
        loss = super()._validate()
        return loss + 1.0 if 0 < self.state["window"] < self.windows else loss  # the unfinished epoch: worse


def test_a_worse_unfinished_epoch_leaves_the_best_completed_one(corpus, tmp_path, monkeypatch):
    out = tmp_path / "m"
    Clock(monkeypatch)
    result = quiet_train(corpus, out, dict(TINY, epochs=50), max_minutes=BUDGET_MINUTES, make_trainer=WorseAtTheEnd)
    monkeypatch.undo()
    best = min(r["valid_ppl"] for r in read_metrics(out))
    assert result.best_valid_ppl == pytest.approx(best, rel=1e-12)
    assert f"best valid ppl {best:.2f} (epoch 2)" in result.message
    assert json.loads((out / "config.json").read_text())["training"]["best_epoch"] == 2


def test_the_minutes_leave_room_to_judge_the_unfinished_epoch(corpus, tmp_path, monkeypatch):
    """Training stops one validation's time early, so that judging the unfinished epoch ends inside the
    budget. Each validation takes 50 ms of the clock here."""
    clock, ends = Clock(monkeypatch), []
    task = type(get_task("lm"))
    measure = task.validation_loss

    def slow_validation(*args, **kw):
        clock.advance(0.05)
        return measure(*args, **kw)

    monkeypatch.setattr(task, "validation_loss", slow_validation)

    class SlowValidation(Trainer):
        def _stop_mid_epoch(self, reason, stop):
            result = super()._stop_mid_epoch(reason, stop)
            ends.append((clock.now - self._t0, self.state["epoch"], self.state["window"]))
            return result

    minutes = 0.7 / 60
    quiet_train(corpus, tmp_path / "m", dict(TINY, epochs=50), max_minutes=minutes, make_trainer=SlowValidation)
    monkeypatch.undo()
    (end, epoch, window), = ends
    assert epoch >= 1 and window > 0  # stopped inside an epoch after the first
    assert minutes * 60 - 0.02 < end <= minutes * 60 + 0.01  # a few readings of the stop's own bookkeeping
