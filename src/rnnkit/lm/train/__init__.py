"""Training a language model: truncated BPTT over parallel streams, SGD, annealing.

One step (docs/article.md §5): forward over a window of ``bptt`` steps in
``batch`` parallel streams, the cross-entropy against the next tokens, BPTT
back through the window, the gradients clipped to a global norm (§6: the
threshold against exploding gradients), and the update. The last state of a
window is the first state of the next (the gradient stops there: truncated
BPTT). A cloze model reads whole lines instead (rnnkit.lm.task).

The parts, one job each:

    options.py    the table of options (names, types, defaults, ranges, help) and their checks
    schedule.py   the learning rate: validation history in, decision out (Mikolov's annealing)
    state.py      the checkpoint: everything a run needs to go on as if never stopped
    progress.py   how far an epoch has got: bar, a line every five minutes, or quiet
    log.py        where the lines go: the caller and MODEL_DIR/train.log (a closed stdout stops nothing)
    trainer.py    the loop that ties them together, and ``train``

The best model on validation is what MODEL_DIR holds. After every epoch, and
when stopped (Ctrl-C, SIGTERM, --max-minutes), the checkpoint is written.
"""

from rnnkit.lm.train.options import (
    AUTO_CLASS_VOCAB, DEFAULT_LR, DEFAULTS, GATED_SGD_LR, OPTIONS, Option, resolve_options, settle_softmax,
)
from rnnkit.lm.train.schedule import Decision, Schedule, ScheduleState
from rnnkit.lm.train.trainer import Result, Trainer, build_model, model_config, train, train_step

__all__ = [
    "AUTO_CLASS_VOCAB", "DEFAULT_LR", "DEFAULTS", "GATED_SGD_LR", "OPTIONS", "Option", "resolve_options",
    "settle_softmax", "Decision", "Schedule", "ScheduleState", "Result", "Trainer", "build_model", "model_config",
    "train", "train_step",
]
