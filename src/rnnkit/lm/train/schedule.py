"""The learning-rate schedule: validation history in, decision out. No files, no clock, no model.

Mikolov's RNNLM: the learning rate stays constant while every epoch improves
the validation cross-entropy by at least the factor ``min_improvement``
(1.003: 0.3%); from the first epoch that does not, it is divided by
``anneal`` after every epoch; when another epoch then falls short, training
stops ("converged"). ``anneal_from`` N starts the annealing after epoch N
whatever validation says (Zaremba et al.'s schedule: their small PTB model
anneals from epoch 4, the medium one from 6). An epoch that is not better
than the best so far is undone by the trainer (``improved`` False: the best
weights are put back).

    schedule = Schedule(lr=5.0, anneal=2.0)
    st = schedule.start()
    d = schedule.step(st, valid_loss)   # after each epoch
    d.improved, d.stop, d.state.lr      # keep/undo the epoch, converged?, lr of the next epoch
    schedule.decide([3.1, 2.9, 2.95])   # the same, from a whole history at once
"""

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ScheduleState:
    """Where the schedule stands after ``epoch`` epochs (the checkpoint stores these fields)."""

    epoch: int = 0          # epochs judged so far
    lr: float = None        # the learning rate of the next epoch
    annealing: bool = False
    best_loss: float = None  # validation nats per token of the best epoch
    best_epoch: int = None


@dataclass(frozen=True)
class Decision:
    """The schedule's verdict on one epoch.

    ``lr_used``: the rate the epoch ran with; ``improved``: it is the best so
    far (keep its weights, else put the best back); ``stop``: "converged" or
    None; ``state``: the schedule after it (``state.lr``: the next epoch's rate).
    """

    state: ScheduleState
    lr_used: float
    improved: bool
    stop: str = None


@dataclass(frozen=True)
class Schedule:
    lr: float
    anneal: float = 2.0
    anneal_from: int = None
    min_improvement: float = 1.003

    @classmethod
    def from_options(cls, opts):
        return cls(opts["lr"], opts["anneal"], opts["anneal_from"], opts["min_improvement"])

    def start(self):
        return ScheduleState(lr=self.lr)

    def step(self, state, loss):
        """The decision after an epoch that ran at ``state.lr`` and reached validation ``loss``."""
        previous_best = state.best_loss
        improved = previous_best is None or loss < previous_best
        epoch = state.epoch + 1
        best_loss, best_epoch = (loss, epoch) if improved else (state.best_loss, state.best_epoch)
        annealing, stop = state.annealing, None
        if previous_best is not None and loss * self.min_improvement > previous_best:
            # short of the required gain: the first time annealing starts, the second time it ends
            if annealing:
                stop = "converged"
            annealing = True
        if self.anneal_from and epoch >= self.anneal_from:
            annealing = True
        lr = state.lr / self.anneal if annealing and stop is None else state.lr
        new = replace(state, epoch=epoch, lr=lr, annealing=annealing, best_loss=best_loss, best_epoch=best_epoch)
        return Decision(new, state.lr, improved, stop)

    def decide(self, history, state=None):
        """The decision on the last of ``history`` (validation losses, one per epoch, oldest first).

        A history that has already stopped raises ValueError: nothing follows "converged".
        """
        if not history:
            raise ValueError("history: expected at least one validation loss")
        state = self.start() if state is None else state
        decision = None
        for loss in history:
            if decision is not None and decision.stop:
                raise ValueError(f"history: training stopped ({decision.stop}) after epoch {decision.state.epoch}")
            decision = self.step(state, loss)
            state = decision.state
        return decision
