"""The training loop: windows, epochs, validation, and the files of MODEL_DIR.

The parts it uses each have a module of their own: the options
(options.py), the learning-rate schedule (schedule.py), the checkpoint
(state.py), progress reporting (progress.py), and what depends on the task,
next word or cloze (rnnkit.lm.task).
"""

import json
import math
import os
import signal
import time

from rnnkit import __version__
from rnnkit.errors import OptionError, OptionText, RnnkitError, WriteError
from rnnkit.lm import io
from rnnkit.lm.data import build_vocab_and_encode, encode_file, read_word_list
from rnnkit.lm.lock import DirLock
from rnnkit.lm.prepared import Prepared, is_prepared
from rnnkit.lm.task import get_task
from rnnkit.lm.train import state as checkpoint
from rnnkit.lm.train.log import RunLog
from rnnkit.lm.train.options import (
    DEFAULTS, OPTIONS, check_known, memory_estimate, resolve_options, settle_softmax,
)
from rnnkit.lm.train.presets import fit_choices
from rnnkit.lm.train.progress import Progress
from rnnkit.lm.train.schedule import Schedule
from rnnkit.nn.optim import clip_scale, make_optimizer

# The options that may differ on --resume: how far to go, and how often to
# print. Nothing in the schedule depends on them, so stopping at epoch 5 and
# resuming to 8 is the same run as going to 8 at once.
RESUME_FREE = ("epochs", "log_interval")

# Divergence (Mikolov's RNNLM): a non-finite loss or gradient, or a validation
# loss above DIVERGE_FACTOR times the reference (the first epoch's validation
# loss; before it, log V: what a model that knows nothing scores) sends the
# run back to its last good weights with half the learning rate. After
# MAX_DIVERGENCES such restarts in a row it stops, keeping the best model.
DIVERGE_FACTOR = 2.0
MAX_DIVERGENCES = 5
# Windows a preset's recipe trains on to measure its speed (Trainer._fit): 25 of PTB's
# 20 x 20 tokens take 1-3 s on a two-core machine.
PROBE_WINDOWS = 25


class Diverged(RnnkitError):
    """The training loss or gradient stopped being a finite number."""


def _ppl(loss):
    """Perplexity of a loss in nats/token; a diverged one prints as a huge number, not an OverflowError."""
    return math.exp(min(loss, 700.0))


def build_model(vocab, opts, dtype=None):
    """The network ``opts`` describe, for ``vocab`` (its task's: RNNLM or ClozeModel)."""
    return get_task(opts.get("task")).build(vocab, opts, dtype)


def model_config(model, opts, vocab, extra=None):
    """config.json's content for a model trained with ``opts``."""
    cfg = {
        "rnnkit_version": __version__,
        "task": opts.get("task", "lm"),
        "tokenizer": opts["tokenizer"],
        "model": model.config(),
        "vocab_file": io.VOCAB,
        "vocab_size": len(vocab),
        "training": {k: opts[k] for k in DEFAULTS},
    }
    if extra:
        cfg["training"].update(extra)
    # File paths (corpus, valid, vocab) as they were given: a reader resolves
    # them against the model directory and uses them only inside it (io.stored_path).
    return cfg


def available_memory():
    """Bytes of memory the system can still give (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(opts, vocab_size):
    """Refuse, with the figure, a model that cannot fit in the memory available, before allocating it."""
    need, params = memory_estimate(opts, vocab_size)
    have = available_memory()
    if have is not None and need > have:
        raise OptionError(f"the model needs about {need / 2**30:,.1f} GiB to train ({params:,} parameters: {{hidden}} "
                          f"{opts['hidden']}, {{layers}} {opts['layers']}, vocabulary {vocab_size:,}); "
                          f"{have / 2**30:,.1f} GiB of memory is available", "hidden", "layers")


def file_digest(path):
    with open(path, "rb") as f:
        return io.sha256(f.read())


class Result(OptionText):
    """How a training run ended: ``status`` is converged, epochs, time, interrupted or diverged.

    ``exit_code``: 0 (1 when it diverged), or 128 + the signal's number when interrupted (130 for
    Ctrl-C, 143 for SIGTERM), as shells report a process stopped by a signal.
    ``message`` names options as the library does ("option 'resume'"),
    ``cli_message()`` as flags (--resume), like rnnkit.errors.RnnkitError.
    """

    def __init__(self, status, epochs, best_valid_ppl, message, exit_code=0, options=()):
        self.status, self.epochs, self.best_valid_ppl = status, epochs, best_valid_ppl
        super().__init__(message, options)
        self.exit_code = exit_code
        self.message = self.library_message()


class _StopFlag:
    """Turns SIGINT / SIGTERM into a flag that the loop reads between steps.

    Stopping between steps, never inside one, is what makes the checkpoint
    exact. A second Ctrl-C interrupts at once (the previous epoch's checkpoint
    is still on disk).
    """

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. a notebook worker): no handler
                pass
        return self

    def _handle(self, signum, frame):
        self.signal = signum
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def train_step(model, optimizer, x, y, state=None, clip=0.0):
    """One window of `rnnkit train`: forward, BPTT, clipping, update. Returns the mean loss.

    Clipping is folded into the update (``grad_scale``), and the rows of the
    embedding that the window did not read are skipped (``Module.grad_rows``).
    A non-finite loss or gradient norm raises Diverged before the weights are touched.
    """
    model.zero_grad()
    loss = model.loss(x, y, state)  # forward: 式2 over the window, softmax, cross-entropy
    if not math.isfinite(loss):
        raise Diverged(f"the training loss became {loss}")
    model.backward()                # BPTT inside the window
    rows = model.grad_rows()
    scale = 1.0
    if clip:
        norm, scale = clip_scale(model.grads, clip, rows)
        if not math.isfinite(norm):
            raise Diverged(f"the gradient norm became {norm}")
    optimizer.step(grad_scale=scale, rows=rows)
    return loss


class Trainer:
    def __init__(self, corpus, valid, out, opts, log=print, quiet=False, max_minutes=None):
        self.corpus, self.valid_path, self.out, self.opts = corpus, valid, out, opts
        self.log, self.quiet, self.max_minutes = log, quiet, max_minutes
        self.checkpoint_path = os.path.join(out, io.CHECKPOINT)
        self._t0 = None  # when run() was first called, or _fit began: --max-minutes counts from there
        self.fit = None  # a preset's recipes to choose among by measured speed (presets.FITS)
        # Seconds the last validation took: --max-minutes stops training early enough to validate the
        # unfinished epoch's weights inside the minutes.
        self._validation_seconds = 0.0

    # --- setting up ------------------------------------------------------------

    def _load_data(self, vocab=None):
        opts = self.opts
        self.task = get_task(opts.get("task"))
        if is_prepared(self.corpus):
            train = self._prepared_corpus(vocab)
            vocab, train_ids, corpus_digest = train.vocab, train.ids, train.digest
        else:
            if vocab is None:
                words = read_word_list(opts["vocab"]) if opts["vocab"] is not None else None
                vocab, train = build_vocab_and_encode(self.corpus, opts["tokenizer"], opts["min_count"],
                                                      opts["max_vocab"], words)
            else:
                train = encode_file(self.corpus, opts["tokenizer"], vocab)
            train_ids, corpus_digest = train.ids, file_digest(self.corpus)
        if is_prepared(self.valid_path):
            valid = Prepared(self.valid_path)
            if valid.vocab.tokens != vocab.tokens:
                raise RnnkitError(f"{self.valid_path}: prepared with another dictionary than the training corpus "
                                  f"(rnnkit prepare VALID --vocab {self.corpus} --out ... uses the training one)")
            valid_ids, valid_digest = valid.ids.array(), valid.digest
        else:
            valid_ids = encode_file(self.valid_path, opts["tokenizer"], vocab).ids
            valid_digest = file_digest(self.valid_path)
        self.vocab, self.train_ids, self.valid_ids = vocab, train_ids, valid_ids
        self.batches = self.task.batches(train_ids, vocab, opts)
        self.windows = len(self.batches)
        self.digests = {"corpus": corpus_digest, "valid": valid_digest}

    def _prepared_corpus(self, vocab):
        """The corpus of a DATA_DIR: its dictionary and tokenizer were fixed by rnnkit prepare."""
        opts = self.opts
        data = Prepared(self.corpus)
        if opts["vocab"] is not None or opts["min_count"] != 1 or opts["max_vocab"] is not None:
            raise OptionError(f"{self.corpus} was prepared with its dictionary: {{vocab}}, {{min_count}} and "
                              "{max_vocab} belong to rnnkit prepare", "vocab", "min_count", "max_vocab")
        if data.tokenizer != opts["tokenizer"]:
            raise OptionError(f"{self.corpus} was cut by the {data.tokenizer!r} tokenizer, not "
                              f"{{tokenizer}} {opts['tokenizer']}", "tokenizer")
        if vocab is not None and vocab.tokens != data.vocab.tokens:
            raise RnnkitError(f"{self.corpus}: not the corpus this run was started with (its dictionary differs)")
        return data

    def _build(self):
        opts = self.opts
        check_memory(opts, len(self.vocab))
        self.model = build_model(self.vocab, opts)
        self.model.train()
        self.optimizer = make_optimizer(opts["optimizer"], self.model.params, self.model.grads, opts["lr"])
        self.schedule = Schedule.from_options(opts)
        self.best_params = None
        self.hidden = None
        self.state = checkpoint.new_state(opts["lr"])

    def start(self):
        self._load_data()
        settle_softmax(self.opts, len(self.vocab))
        if self.fit:
            self.opts = self._fit(self.fit)
        opts = self.opts
        self._build()
        self.log(
            f"corpus {self.corpus}: {self.train_ids.size:,} tokens, vocabulary {len(self.vocab):,}; "
            f"valid {self.valid_path}: {self.valid_ids.size:,} tokens"
        )
        softmax = "full softmax"
        if opts["softmax"] == "class":
            head = f"a head of {opts['head']:,} words and " if opts["head"] else ""
            softmax = f"class softmax ({head}{opts['classes']} classes)"
        kind, window = self.task.describe(opts)
        self.log(
            f"model: {kind}{opts['cell']} {opts['layers']}x{opts['hidden']}, embed {opts['embed']}, {softmax}, "
            f"{self.model.num_params():,} parameters; {opts['optimizer']} lr {opts['lr']:g}, "
            f"batch {opts['batch']}, {window}"
        )

    def _fit(self, recipes):
        """The options of the first recipe (epochs, changes) whose epochs fit --max-minutes at the
        speed a fresh model of it trains here, measured over PROBE_WINDOWS windows; else the last's.
        The measuring counts against the minutes. A validation token is counted as a third of a
        training token (forward only)."""
        self._t0 = time.monotonic()
        tokens_per_epoch = self.train_ids.size + self.valid_ids.size / 3
        for i, (epochs, changes) in enumerate(recipes):
            opts = {**self.opts, **changes, "embed": changes.get("hidden", self.opts["embed"])}
            rate = self._probe(opts)
            left = self.max_minutes * 60 - (time.monotonic() - self._t0)
            needed = epochs * tokens_per_epoch / rate
            fits = needed <= left
            self.log(f"preset {opts['preset']}: {opts['cell']} {opts['layers']}x{opts['hidden']} trains at "
                     f"{rate:,.0f} tokens/s here; its {epochs} epochs need {needed / 60:.1f} of the "
                     f"{left / 60:.1f} minutes left"
                     + ("" if fits or i + 1 < len(recipes) else "; the last choice, kept"))
            if fits or i + 1 == len(recipes):
                return opts

    def _probe(self, opts):
        """Tokens/s of training a fresh model with ``opts`` on the first windows (the first one unmeasured)."""
        model = build_model(self.vocab, opts)
        model.train()
        optimizer = make_optimizer(opts["optimizer"], model.params, model.grads, opts["lr"])
        hidden, tokens, t0 = None, 0, None
        for window in range(min(PROBE_WINDOWS + 1, self.windows)):
            x, y = self.batches.get(0, window)
            train_step(model, optimizer, x, y, hidden, opts["clip"])
            hidden = model.final_state
            if t0 is None:
                t0 = time.perf_counter()  # after the first window: its allocations are a one-off
            else:
                tokens += int(y.size)
        return tokens / max(time.perf_counter() - t0, 1e-9) if tokens else float("inf")

    # --- checkpoints -------------------------------------------------------------

    def save_checkpoint(self):
        checkpoint.save(self.checkpoint_path, model=self.model, best_params=self.best_params,
                        optimizer=self.optimizer, hidden=self.hidden, opts=self.opts, vocab=self.vocab,
                        digests=self.digests, state=self.state)

    def resume(self, given):
        """Load the checkpoint of ``self.out``; ``given`` are the options typed on this command line."""
        if not os.path.exists(self.checkpoint_path):
            raise RnnkitError(f"{self.out}: no checkpoint to resume ({io.CHECKPOINT} missing)")
        saved = checkpoint.Checkpoint(self.checkpoint_path)
        # The options typed now must mean what they meant then (the same command
        # line with --resume added is fine); only --epochs may change.
        resolved = resolve_options(given)
        settle_softmax(resolved, len(saved.vocab))
        for key, value in given.items():
            if value is None or key in RESUME_FREE or key not in saved.options:
                continue
            if resolved[key] != saved.options[key]:
                raise OptionError(f"{{{key}}} {value} differs from the checkpoint's {saved.options[key]}; "
                                  "a resumed run keeps the options it was started with", key)
        # Options added to rnnkit after the checkpoint was written take their defaults.
        self.opts = {**DEFAULTS, **saved.options}
        try:
            check_known(saved.options)
            for option in OPTIONS:
                option.check(self.opts[option.name])
        except OptionError as exc:
            raise RnnkitError(f"{self.checkpoint_path}: the checkpoint's options are damaged ({exc})") from None
        for key in RESUME_FREE:
            if given.get(key) is not None:
                self.opts[key] = given[key]
        self._load_data(saved.vocab)
        for name in ("corpus", "valid"):
            if self.digests[name] != saved.digests[name]:
                path = self.corpus if name == "corpus" else self.valid_path
                raise RnnkitError(f"{path}: not the {name} file this run was started with (its content differs)")
        self._build()
        self.state = saved.state
        if self.state["finished"] == "epochs" and self.opts["epochs"] > self.state["epoch"]:
            self.state["finished"] = None  # more epochs were asked for
        self.best_params, self.hidden = saved.restore(self.model, self.optimizer)
        st = self.state
        self.log(f"resuming {self.out}: epoch {st['epoch'] + 1}, window {st['window']}/{self.windows}, lr {st['lr']:g}")

    # --- the loop ----------------------------------------------------------------

    def run(self):
        st = self.state
        if st["finished"]:
            return self._result(st["finished"], "nothing to resume: training had already finished")
        if self._t0 is None:  # run() again (rnnkit.scale, after a worker restart) keeps the budget's start
            self._t0 = time.monotonic()
        with _StopFlag() as stop:
            while st["epoch"] < self.opts["epochs"]:
                reason = self._train_epoch(stop)
                if reason == "diverged" and not self._recover(self._why):
                    continue
                if reason == "diverged":
                    return self._give_up()
                if reason:
                    return self._stop_mid_epoch(reason, stop)
                verdict = self._end_of_epoch()
                if verdict == "diverged":
                    return self._give_up()
                if verdict:
                    return self._finish(verdict)
                if stop.signal is not None:
                    return self._stop_mid_epoch("interrupted", stop)
            return self._finish("epochs")

    def _out_of_time(self):
        return (self.max_minutes is not None
                and time.monotonic() - self._t0 >= self.max_minutes * 60 - self._validation_seconds)

    def _train_epoch(self, stop):
        opts, st = self.opts, self.state
        progress = Progress(self.batches.tokens, st["window"] * opts["bptt"] * opts["batch"], f"epoch {st['epoch'] + 1}",
                            self.quiet, self.log, opts.get("log_interval"))
        self.optimizer.lr = st["lr"]
        t_start = time.monotonic()
        seconds_before, tokens_before = st["epoch_seconds"], st["epoch_tokens"]
        try:
            while st["window"] < self.windows:
                try:
                    loss, tokens = self._train_window()
                    if not math.isfinite(loss):  # a loss reported by workers (rnnkit.scale) is checked here
                        raise Diverged(f"the training loss became {loss}")
                except Diverged as exc:
                    self._why = f"{exc} at epoch {st['epoch'] + 1}, window {st['window']}"
                    return "diverged"
                st["window"] += 1
                st["epoch_nll"] += loss * tokens
                st["epoch_tokens"] += tokens
                st["epoch_seconds"] = seconds_before + time.monotonic() - t_start
                rate = (st["epoch_tokens"] - tokens_before) / max(st["epoch_seconds"] - seconds_before, 1e-9)
                progress.update(tokens, st["window"], self.windows, st["epoch_nll"], st["epoch_tokens"], rate,
                                self.optimizer.lr)
                self._after_window()
                if stop.signal is not None:
                    return "interrupted"
                if self._out_of_time():
                    return "time"
        finally:
            progress.close()
        return None

    def _train_window(self):
        """Train on the window the state points at: (mean loss, tokens). rnnkit.scale runs it on workers."""
        x, y = self.batches.get(self.state["epoch"], self.state["window"])
        loss = train_step(self.model, self.optimizer, x, y, self.hidden, self.opts["clip"])
        self.hidden = self.model.final_state  # carried into the next window (None: nothing to carry)
        return loss, int(y.size)

    def _after_window(self):
        """Called after each window's bookkeeping (rnnkit.scale: a checkpoint every few minutes)."""

    def _validate(self):
        t0 = time.monotonic()
        loss = self.task.validation_loss(self.model, self.valid_ids, self.vocab, self.opts)
        self._validation_seconds = time.monotonic() - t0
        return loss

    def _save_best(self, loss, epoch):
        self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        cfg = model_config(self.model, self.opts, self.vocab, {
            "corpus": self.corpus, "valid": self.valid_path, "best_epoch": epoch, "valid_ppl": _ppl(loss),
        })
        io.save_model(self.out, cfg, self.vocab.to_json(), self.model.arrays())

    def _end_of_epoch(self):
        """Validation, the schedule's decision and the files. Returns a stop reason or None."""
        st = self.state
        loss = self._validate()
        reference = st.get("first_loss") or math.log(len(self.vocab))
        if not math.isfinite(loss) or loss > DIVERGE_FACTOR * reference:
            why = f"validation perplexity {_ppl(loss):.4g} after epoch {st['epoch'] + 1}"
            return "diverged" if self._recover(why) else None
        st["divergences"] = 0
        if st.get("first_loss") is None:
            st["first_loss"] = loss
        decision = self.schedule.step(checkpoint.schedule_state(st), loss)
        checkpoint.set_schedule_state(st, decision.state)
        if decision.improved:
            self._save_best(loss, st["epoch"])
        else:
            # Mikolov's RNNLM: an epoch that made things worse is undone.
            io.copy_into(self.model.params, self.best_params)
        train_loss = st["epoch_nll"] / max(st["epoch_tokens"], 1)
        row = {
            "epoch": st["epoch"],
            "train_ppl": math.exp(min(train_loss, 700)),
            "valid_ppl": _ppl(loss),
            "lr": decision.lr_used,
            "tokens_per_s": st["epoch_tokens"] / max(st["epoch_seconds"], 1e-9),
            "seconds": st["epoch_seconds"],
            "best": decision.improved,
        }
        st["metrics"].append(row)
        st.update(window=0, epoch_nll=0.0, epoch_tokens=0, epoch_seconds=0.0)
        self.hidden = None  # every epoch starts from the zero state
        if decision.stop:
            st["finished"] = decision.stop
        self._write_metrics()
        self.save_checkpoint()
        note = "saved best" if decision.improved else "worse: best weights restored"
        self.log(
            f"epoch {row['epoch']:3d}  train ppl {row['train_ppl']:8.2f}  valid ppl {row['valid_ppl']:8.2f}  "
            f"lr {decision.lr_used:<8g} {row['tokens_per_s']:7,.0f} tok/s {row['seconds']:7.1f} s  {note}"
        )
        return decision.stop

    def _recover(self, why):
        """After a divergence: back to the last good weights with half the rate (True: give up instead)."""
        st = self.state
        st["divergences"] = st.get("divergences", 0) + 1
        self._why = why
        if st["divergences"] > MAX_DIVERGENCES:
            return True
        if self.best_params is not None:
            io.copy_into(self.model.params, self.best_params)
        else:  # no epoch has finished well yet: the run's own initial weights (same seed, same weights)
            io.copy_into(self.model.params, build_model(self.vocab, self.opts).params)
        self.optimizer = make_optimizer(self.opts["optimizer"], self.model.params, self.model.grads, st["lr"] / 2)
        st.update(lr=st["lr"] / 2, window=0, epoch_nll=0.0, epoch_tokens=0, epoch_seconds=0.0)
        self.hidden = None
        self.save_checkpoint()
        self.log(f"diverged: {why}; back to the last good weights, lr halved to {st['lr']:g}")
        return False

    def _give_up(self):
        st = self.state
        st["finished"] = "diverged"
        self.save_checkpoint()
        if st["best_loss"] is None:
            kept = f"no model saved in {self.out}"
        else:
            kept = f"best valid ppl {_ppl(st['best_loss']):.2f} (epoch {st['best_epoch']}) kept in {self.out}"
        result = self._result("diverged", f"stopped: training diverged {st['divergences']} times in a row, the last "
                                          f"time with lr {st['lr']:g} ({self._why}); {kept}; lower {{lr}} or "
                                          "set {clip}", ("lr", "clip"))
        result.exit_code = 1
        return result

    def _write_metrics(self):
        lines = "".join(json.dumps(row) + "\n" for row in self.state["metrics"])
        io.atomic_write(os.path.join(self.out, io.METRICS), lines.encode("utf-8"))

    def _stop_mid_epoch(self, reason, stop):
        st = self.state
        self.save_checkpoint()
        where = f"epoch {st['epoch'] + 1}, window {st['window']}/{self.windows}"
        if reason == "interrupted":
            name = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}.get(stop.signal, "a signal")
            result = self._result("interrupted", f"interrupted by {name} at {where}; checkpoint saved, "
                                                 "continue with the same command and {resume}", ("resume",))
            result.exit_code = 128 + int(stop.signal)
            return result
        stopped = f"stopped after {{max_minutes}} {self.max_minutes:g} at {where}"
        # The unfinished epoch's weights are kept when they validate better than the best completed
        # epoch: the last minutes of a budget are not thrown away. In the model files only: the
        # checkpoint (saved above) keeps the uninterrupted run's state, so --resume still reproduces it.
        loss = self._validate()
        if st["best_loss"] is not None and not loss < st["best_loss"]:
            return self._result("time", f"{stopped}; best valid ppl {_ppl(st['best_loss']):.2f} (epoch "
                                        f"{st['best_epoch']}) kept in {self.out}", ("max_minutes",))
        epoch = round(st["epoch"] + st["window"] / self.windows, 3)
        self._save_best(loss, epoch)
        if st["best_loss"] is None:
            judged = "no epoch completed"
        else:
            judged = f"better than epoch {st['best_epoch']}'s {_ppl(st['best_loss']):.2f}"
        return self._result("time", f"{stopped}; {judged}: valid ppl {_ppl(loss):.2f} of the unfinished epoch's "
                                    f"weights (epoch {epoch:g}) kept in {self.out}", ("max_minutes",), best_loss=loss)

    def _finish(self, reason):
        st = self.state
        st["finished"] = reason
        self.save_checkpoint()
        why = {"converged": "annealing no longer helps", "epochs": f"{{epochs}} {self.opts['epochs']} reached"}[reason]
        return self._result(reason, f"done: {why}; best valid ppl {_ppl(st['best_loss']):.2f} "
                                    f"(epoch {st['best_epoch']}) in {self.out}", ("epochs",))

    def _result(self, status, message, options=(), best_loss=None):
        best_loss = self.state["best_loss"] if best_loss is None else best_loss
        return Result(status, self.state["epoch"], _ppl(best_loss) if best_loss is not None else None, message,
                      options=options)


def train(corpus, valid, out, options=None, resume=False, force=False, max_minutes=None, quiet=False, log=print,
          make_trainer=Trainer):
    """Train (or, with resume=True, continue training) a model into directory ``out``.

    ``options``: a dict with any of DEFAULTS' keys (None means the default).
    ``make_trainer``: Trainer, or a subclass with the same arguments (rnnkit.scale: on several workers).
    Returns a Result; the best model is in ``out`` (config.json, vocab.json,
    weights.safetensors), with metrics.jsonl, checkpoint.safetensors and
    train.log (every line ``log`` was given, and the result). ``log``: where
    the lines go besides train.log (None: nowhere); a closed output (a pipe
    whose reader has gone) ends only that, never the training.
    """
    log = RunLog(log)
    try:
        result = _train(corpus, valid, out, options, resume, force, max_minutes, quiet, log, make_trainer)
        log.file_only(result.cli_message())
        return result
    finally:
        log.close()


def _train(corpus, valid, out, options, resume, force, max_minutes, quiet, log, make_trainer):
    given = dict(options or {})
    check_known(given)
    if max_minutes is not None and not max_minutes > 0:
        raise OptionError(f"{{max_minutes}} must be positive, got {max_minutes}", "max_minutes")
    for path, what in ((corpus, "corpus"), (valid, "validation file")):
        if not os.path.isfile(path) and not is_prepared(path):
            raise RnnkitError(f"{path}: no such {what}" if not os.path.exists(path)
                              else f"{path}: not a file, nor a DATA_DIR of rnnkit prepare")
    if resume and force:
        raise OptionError("{resume} and {force} contradict each other: resume continues, force starts over",
                          "resume", "force")
    opts = None if resume else resolve_options(given)
    if resume and not os.path.isdir(out):
        raise RnnkitError(f"{out}: no checkpoint to resume (no such directory)")
    io.check_model_dir_free(out, force or resume)
    created = not os.path.exists(out)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"{out}: cannot create the directory ({exc.strerror or exc})") from None
    try:
        with DirLock(out):  # one process per MODEL_DIR: a second one is refused, naming the first
            io.remove_stale_temporaries(out)
            trainer = make_trainer(corpus, valid, out, opts, log=log, quiet=quiet, max_minutes=max_minutes)
            if make_trainer is Trainer and not resume:  # speed on this machine, one process (not rnnkit.scale's)
                trainer.fit = fit_choices(given, max_minutes)
            if resume:
                trainer.resume(given)
                log.open(out, append=True)
            else:
                io.check_model_dir_free(out, force)  # again, now that nobody else can write here
                if force:
                    # The old run's checkpoint and metrics would sit next to the new model.
                    for name in (io.CHECKPOINT, io.METRICS):
                        io.remove_file(os.path.join(out, name))
                trainer.start()
                log.open(out, append=False)
            return trainer.run()
    except BaseException:
        if created and not io.listdir_own(out):
            os.rmdir(out)  # a run that never wrote anything leaves no empty directory behind
        raise
