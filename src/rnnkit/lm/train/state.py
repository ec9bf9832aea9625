"""The checkpoint: everything a training run needs to go on as if it had never stopped.

One file, checkpoint.safetensors, written atomically after every epoch and
when a run is stopped: the weights, the best weights, the optimizer's
buffers, the hidden state carried between windows, the random generators of
dropout, and (as JSON metadata) the options, the vocabulary, the digests of
the corpus and validation files, and the run's state (``new_state``): the
position in the data, the schedule's fields and the metrics so far.

Like config.json for the model files, the metadata names a SHA-256
(``manifest``) of itself and of every array: a checkpoint edited by hand or
damaged on disk is refused with one line instead of resuming a run that never
was. Checkpoints written before the digest existed are read with shape checks.
"""

import hashlib
import json
import math
from dataclasses import asdict

from rnnkit import __version__
from rnnkit.errors import RnnkitError
from rnnkit.lm import io
from rnnkit.lm.model import flatten_state, unflatten_state
from rnnkit.lm.train.schedule import ScheduleState
from rnnkit.lm.vocab import Vocab

FORMAT = "rnnkit-checkpoint"


def new_state(lr):
    """The run's state before its first window (a dict: the checkpoint's JSON)."""
    return {
        "epoch": 0,          # epochs finished
        "window": 0,         # next window of the current epoch
        "lr": lr,
        "annealing": False,
        "best_loss": None,   # validation nats/token of the best model
        "best_epoch": None,
        "finished": None,    # the stop reason once training is over
        "epoch_nll": 0.0,    # training loss summed over the current epoch so far
        "epoch_tokens": 0,
        "epoch_seconds": 0.0,
        "metrics": [],
        "first_loss": None,  # the first epoch's validation loss: what divergence is measured against
        "divergences": 0,    # restarts from the last good weights in a row (lr halved each time)
    }


def schedule_state(state):
    """The schedule's part of the run's state."""
    return ScheduleState(**{k: state[k] for k in ScheduleState.__dataclass_fields__})


def set_schedule_state(state, schedule):
    state.update(asdict(schedule))


def save(path, *, model, best_params, optimizer, hidden, opts, vocab, digests, state):
    arrays = {f"model/{k}": v for k, v in model.params.items()}
    if best_params is not None:
        arrays.update({f"best/{k}": v for k, v in best_params.items()})
    opt_state = optimizer.state_dict()
    arrays.update({f"optim/{k}": v for k, v in opt_state["arrays"].items()})
    leaves, structure = flatten_state(hidden)
    arrays.update({f"hidden/{i}": a for i, a in enumerate(leaves)})
    meta = {
        "format": FORMAT,
        "rnnkit_version": __version__,
        "options": opts,
        "vocab": vocab.to_json(),
        "digests": digests,
        "state": state,
        "optimizer": {"lr": opt_state["lr"], "step_count": opt_state["step_count"]},
        "hidden": structure,
        "generators": [g.bit_generator.state for g in model.generators()],
    }
    text = json.dumps(meta)
    io.atomic_write(path, io.tensors_bytes(arrays, {"rnnkit": text, "sha256": manifest(text, arrays)}))


def manifest(text, arrays):
    """SHA-256 of the metadata text and of every array (name, dtype, shape, bytes), in name order."""
    h = hashlib.sha256(text.encode("utf-8"))
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"\0{name}\0{a.dtype.str}\0{a.shape}\0".encode("utf-8"))
        h.update(io.xp.ascontiguousarray(a).tobytes())
    return h.hexdigest()


_STATE_NUMBERS = {"epoch": int, "window": int, "lr": float, "epoch_nll": float, "epoch_tokens": int,
                  "epoch_seconds": float}


class Checkpoint:
    """A checkpoint file read back: ``options``, ``vocab``, ``digests``, ``state``; ``restore`` the rest."""

    def __init__(self, path):
        self.path = path
        self.arrays, meta = io.read_tensors(path)
        if "sha256" in meta and manifest(meta.get("rnnkit", ""), self.arrays) != meta["sha256"]:
            raise RnnkitError(f"{path}: does not match its SHA-256 (damaged, or modified after it was written)")
        io.check_finite(path, self.arrays)
        try:
            self.meta = json.loads(meta["rnnkit"])
            self.options = self.meta["options"]
            self.vocab = Vocab.from_json(self.meta["vocab"], path)
            self.digests, self.state = self.meta["digests"], self.meta["state"]
            _check_state(self.meta)
        except (KeyError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise RnnkitError(f"{path}: not an rnnkit training checkpoint, or a damaged one ({type(exc).__name__}: "
                              f"{str(exc)[:80]})") from None

    def _restore_failed(self, exc):
        return RnnkitError(f"{self.path}: the checkpoint's optimizer, hidden state or generators do not fit the "
                           f"model ({type(exc).__name__}: {str(exc)[:80]})")

    def _prefixed(self, prefix):
        return {k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)}

    def restore(self, model, optimizer):
        """Put the weights, optimizer buffers and generators back; returns (best params or None, hidden state)."""
        model_arrays = self._prefixed("model/")
        io.check_arrays(self.path, model.params, model_arrays)
        io.copy_into(model.params, model_arrays)
        best = self._prefixed("best/") or None
        if best is not None:
            io.check_arrays(self.path, model.params, best)
        try:
            optimizer.load_state_dict({**self.meta["optimizer"], "arrays": self._prefixed("optim/")})
            leaves = [self.arrays[f"hidden/{i}"] for i in range(sum(k.startswith("hidden/") for k in self.arrays))]
            hidden = unflatten_state(leaves, self.meta["hidden"])
            for g, st in zip(model.generators(), self.meta["generators"]):
                g.bit_generator.state = st
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise self._restore_failed(exc) from None
        return best, hidden


def _check_state(meta):
    """TypeError / ValueError unless the metadata has the shapes the trainer reads."""
    for key in ("options", "digests", "state", "optimizer"):
        if not isinstance(meta[key], dict):
            raise TypeError(f"{key} is not an object")
    state = meta["state"]
    for key, kind in _STATE_NUMBERS.items():
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            raise TypeError(f"state {key} is {value!r:.40}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"state {key} is {value!r:.40}")
    if not state["lr"] > 0:
        raise ValueError(f"state lr is {state['lr']!r}")
    if not isinstance(state["metrics"], list) or not all(isinstance(row, dict) for row in state["metrics"]):
        raise TypeError("state metrics is not a list of objects")
    for key in ("best_loss", "first_loss"):
        value = state.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TypeError(f"state {key} is {value!r:.40}")
    if not all(isinstance(meta["digests"].get(k), str) for k in ("corpus", "valid")):
        raise TypeError("digests lack corpus or valid")
