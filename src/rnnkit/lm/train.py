"""Training a language model: truncated BPTT over parallel streams, SGD, annealing.

One step (docs/article.md §5): forward over a window of ``bptt`` steps in ``batch``
parallel streams, the cross-entropy against the next tokens, BPTT back through
the window, the gradients clipped to a global norm (§6: the threshold against
exploding gradients), and the update. The last state of a window is the first
state of the next (the gradient stops there: truncated BPTT).

The learning rate follows Mikolov's RNNLM: constant while each epoch improves
the validation cross-entropy by at least ``min_improvement`` (0.3%); from the
first epoch that does not, divided by ``anneal`` every epoch; when another
epoch gains less than that, training stops. ``anneal_from`` N starts the
annealing after epoch N whatever validation says (Zaremba et al.'s schedule:
their small PTB model anneals from epoch 4, the medium one from 6). An epoch
that makes validation worse is undone (the best weights are put back). The
best model on validation is what MODEL_DIR holds.

After every epoch, and when stopped (Ctrl-C, SIGTERM, --max-minutes), a single
checkpoint file holds everything the run needs to go on as if never stopped:
weights, best weights, optimizer buffers, the carried hidden state, the random
generators of dropout, the position in the data and the schedule.
"""

import json
import math
import os
import signal
import time

from rnnkit import __version__
from rnnkit.errors import RnnkitError, UsageError
from rnnkit.lm import io
from rnnkit.lm.data import build_vocab_and_encode, encode_file, num_windows, read_word_list, streams, window
from rnnkit.lm.evaluate import stream_nll
from rnnkit.lm.model import CELLS, SOFTMAXES, RNNLM, class_of_words, flatten_state, unflatten_state
from rnnkit.lm.tokenize import TOKENIZERS
from rnnkit.lm.vocab import Vocab
from rnnkit.nn.activations import ACTIVATIONS
from rnnkit.nn.init import INITS
from rnnkit.nn.optim import OPTIMIZERS, clip_scale, make_optimizer
from rnnkit.nn.stack import get_cell

# What `rnnkit train` does when given nothing but files. Measured on PTB (see
# docs/results.md): these reach a test perplexity well under the KN 5-gram's.
DEFAULTS = dict(
    tokenizer="word", min_count=1, max_vocab=None, vocab=None,
    cell="rnn", activation="tanh", init="xavier", embed=None, hidden=200, layers=1,
    dropout=0.0, tie_weights=False, softmax="auto", classes=None,
    batch=20, bptt=35, epochs=40, optimizer="sgd", lr=None, clip=0.25,
    anneal=2.0, anneal_from=None, min_improvement=1.003, valid_without_unk=False, seed=1,
    task="lm", form=None,  # --task cloze: rnnkit.lm.cloze (form: its deep bidirectional form)
)
TASKS = ("lm", "cloze")
# --lr when not given: per optimizer, for the loss as a mean over tokens. SGD:
# measured on PTB (docs/results.md): 1 and 2 learn slower, 10 diverges.
DEFAULT_LR = {"sgd": 5.0, "momentum": 0.5, "adagrad": 0.1, "adam": 0.002}
# The gated cells take plain SGD at 20: Zaremba et al.'s lr 1 on a loss summed
# over 20 steps, as the mean per token here; measured on PTB in docs/results.md.
GATED_SGD_LR = 20.0
# --softmax auto: the class softmax from this vocabulary size on (full softmax
# costs vocab x hidden per token; the class one about 2 sqrt(vocab) x hidden).
AUTO_CLASS_VOCAB = 4096
MODEL_KEYS = ("embed", "hidden", "layers", "cell", "activation", "init", "dropout", "tie_weights", "softmax",
              "classes")
# The one option that may differ on --resume: how far to go. Nothing in the
# schedule depends on it, so stopping at epoch 5 and resuming to 8 is the same
# run as going to 8 at once.
RESUME_FREE = ("epochs",)
# Without a terminal (output to a log file, nohup) the progress bar is off;
# a plain line this often says instead how far the epoch has got.
PROGRESS_SECONDS = 300


def resolve_options(given):
    """The full option dict: defaults filled in, every value checked (UsageError)."""
    opts = dict(DEFAULTS)
    opts.update({k: v for k, v in given.items() if v is not None and k in DEFAULTS})
    if opts["embed"] is None:
        opts["embed"] = opts["hidden"]
    if opts["lr"] is None:
        gated = opts["optimizer"] == "sgd" and opts["cell"] in ("lstm", "gru")
        opts["lr"] = GATED_SGD_LR if gated else DEFAULT_LR.get(opts["optimizer"], 1.0)
    choices = {"tokenizer": TOKENIZERS, "cell": CELLS, "activation": tuple(ACTIVATIONS), "init": INITS,
               "optimizer": tuple(OPTIMIZERS), "softmax": ("auto",) + SOFTMAXES}
    for key, allowed in choices.items():
        if opts[key] not in allowed:
            raise UsageError(f"--{key.replace('_', '-')} {opts[key]!r}: expected one of {', '.join(allowed)}")
    positive = ("hidden", "layers", "batch", "bptt", "epochs", "min_count", "classes")
    for key in positive:
        if key == "classes" and opts[key] is None:
            continue  # decided with the vocabulary: its square root
        if not isinstance(opts[key], int) or opts[key] < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be a positive integer, got {opts[key]!r}")
    if opts["embed"] < 0:
        raise UsageError(f"--embed must be 0 (no embedding layer) or positive, got {opts['embed']}")
    if opts["max_vocab"] is not None and opts["max_vocab"] < 3:
        raise UsageError(f"--max-vocab must be at least 3 (<unk>, <eos> and one word), got {opts['max_vocab']}")
    if opts["vocab"] is not None and (opts["min_count"] != 1 or opts["max_vocab"] is not None):
        raise UsageError("--vocab fixes the dictionary; --min-count and --max-vocab cut one built from the corpus: "
                         "give one or the other")
    if not 0.0 <= opts["dropout"] < 1.0:
        raise UsageError(f"--dropout must be in [0, 1), got {opts['dropout']}")
    if not opts["lr"] > 0 or not math.isfinite(opts["lr"]):
        raise UsageError(f"--lr must be a positive number, got {opts['lr']}")
    if not opts["clip"] >= 0 or not math.isfinite(opts["clip"]):
        raise UsageError(f"--clip must be 0 (no clipping) or positive, got {opts['clip']}")
    if not opts["anneal"] > 1.0:
        raise UsageError(f"--anneal must be above 1 (the factor the learning rate is divided by), got {opts['anneal']}")
    if opts["anneal_from"] is not None and (not isinstance(opts["anneal_from"], int) or opts["anneal_from"] < 1):
        raise UsageError(f"--anneal-from must be a positive epoch number, got {opts['anneal_from']!r}")
    if not opts["min_improvement"] >= 1.0:
        raise UsageError(f"--min-improvement must be at least 1.0, got {opts['min_improvement']}")
    if opts["tie_weights"] and opts["embed"] != opts["hidden"]:
        if opts["embed"] == 0:
            raise UsageError("--tie-weights needs an embedding layer: --embed must equal --hidden, not 0")
        raise UsageError(f"--tie-weights needs --embed equal to --hidden, got {opts['embed']} and {opts['hidden']}")
    try:
        get_cell(opts["cell"])
    except ImportError:
        raise UsageError(f"--cell {opts['cell']} is not available in this rnnkit") from None
    if opts["task"] not in TASKS:
        raise UsageError(f"--task {opts['task']!r}: expected one of {', '.join(TASKS)}")
    if opts["task"] == "cloze":  # hook: the cloze model's own defaults and checks
        from rnnkit.lm import cloze

        cloze.resolve_options(opts, given)
        if opts["valid_without_unk"]:
            raise UsageError("--valid-without-unk is for --task lm (a cloze model is judged by its cloze perplexity)")
    elif opts["form"] is not None:
        raise UsageError("--form is for --task cloze (a left-to-right model has one direction)")
    return opts


def settle_softmax(opts, vocab_size):
    """Decide --softmax auto and --classes from the vocabulary size (in place)."""
    if opts["softmax"] == "auto":
        opts["softmax"] = "class" if vocab_size >= AUTO_CLASS_VOCAB else "full"
    if opts["softmax"] == "class" and opts["classes"] is None:
        opts["classes"] = max(1, round(math.sqrt(vocab_size)))  # Mikolov's rule of thumb


def build_model(vocab, opts, dtype=None):
    if opts.get("task") == "cloze":  # hook: the bidirectional fill-in-the-blank model
        from rnnkit.lm import cloze

        return cloze.build_model(vocab, opts, dtype)
    word_class = class_of_words(vocab.counts, opts["classes"]) if opts["softmax"] == "class" else None
    return RNNLM(len(vocab), seed=opts["seed"], dtype=dtype, word_class=word_class,
                 **{k: opts[k] for k in MODEL_KEYS})


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
    return cfg


def file_digest(path):
    with open(path, "rb") as f:
        return io.sha256(f.read())


class Result:
    """How a training run ended: ``status`` is converged, epochs, time or interrupted.

    ``exit_code``: 0, or 128 + the signal's number when interrupted (130 for
    Ctrl-C, 143 for SIGTERM), as shells report a process stopped by a signal.
    """

    def __init__(self, status, epochs, best_valid_ppl, message, exit_code=0):
        self.status, self.epochs, self.best_valid_ppl, self.message = status, epochs, best_valid_ppl, message
        self.exit_code = exit_code


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
    """
    model.zero_grad()
    loss = model.loss(x, y, state)  # forward: 式2 over the window, softmax, cross-entropy
    model.backward()                # BPTT inside the window
    rows = model.grad_rows()
    scale = clip_scale(model.grads, clip, rows)[1] if clip else 1.0
    optimizer.step(grad_scale=scale, rows=rows)
    return loss


class Trainer:
    def __init__(self, corpus, valid, out, opts, log=print, quiet=False, max_minutes=None):
        self.corpus, self.valid_path, self.out, self.opts = corpus, valid, out, opts
        self.log, self.quiet, self.max_minutes = log, quiet, max_minutes
        self.checkpoint_path = os.path.join(out, io.CHECKPOINT)

    # --- setting up ------------------------------------------------------------

    def _load_data(self, vocab=None):
        opts = self.opts
        if vocab is None:
            words = read_word_list(opts["vocab"]) if opts["vocab"] is not None else None
            vocab, train = build_vocab_and_encode(self.corpus, opts["tokenizer"], opts["min_count"],
                                                  opts["max_vocab"], words)
        else:
            train = encode_file(self.corpus, opts["tokenizer"], vocab)
        valid = encode_file(self.valid_path, opts["tokenizer"], vocab)
        self.vocab, self.train_ids, self.valid_ids = vocab, train.ids, valid.ids
        self.streams = streams(train.ids, opts["batch"])
        self.windows = num_windows(self.streams.shape[0], opts["bptt"])
        self.cloze_batches = None
        if opts.get("task") == "cloze":  # hook: whole lines in equal-length batches instead of streams
            from rnnkit.lm import cloze

            self.cloze_batches = cloze.SentenceBatches(train.ids, vocab.eos_id, opts["batch"], opts["bptt"], opts["seed"])
            self.windows = len(self.cloze_batches)
        self.digests = {"corpus": file_digest(self.corpus), "valid": file_digest(self.valid_path)}

    def _build(self):
        opts = self.opts
        self.model = build_model(self.vocab, opts)
        self.model.train()
        self.optimizer = make_optimizer(opts["optimizer"], self.model.params, self.model.grads, opts["lr"])
        self.best_params = None
        self.hidden = None
        self.state = {
            "epoch": 0,          # epochs finished
            "window": 0,         # next window of the current epoch
            "lr": opts["lr"],
            "annealing": False,
            "best_loss": None,   # validation nats/token of the best model
            "best_epoch": None,
            "finished": None,    # the stop reason once training is over
            "epoch_nll": 0.0,    # training loss summed over the current epoch so far
            "epoch_tokens": 0,
            "epoch_seconds": 0.0,
            "metrics": [],
        }

    def start(self):
        opts = self.opts
        self._load_data()
        settle_softmax(opts, len(self.vocab))
        self._build()
        self.log(
            f"corpus {self.corpus}: {self.train_ids.size:,} tokens, vocabulary {len(self.vocab):,}; "
            f"valid {self.valid_path}: {self.valid_ids.size:,} tokens"
        )
        softmax = f"class softmax ({opts['classes']} classes)" if opts["softmax"] == "class" else "full softmax"
        kind, window = "", f"bptt {opts['bptt']}"
        if opts.get("task") == "cloze":  # hook: say which model this is
            kind = f"cloze (bidirectional, {opts['form']} form) "
            window = f"lines of up to {opts['bptt']} tokens"
        self.log(
            f"model: {kind}{opts['cell']} {opts['layers']}x{opts['hidden']}, embed {opts['embed']}, {softmax}, "
            f"{self.model.num_params():,} parameters; {opts['optimizer']} lr {opts['lr']:g}, "
            f"batch {opts['batch']}, {window}"
        )

    # --- checkpoints -------------------------------------------------------------

    def save_checkpoint(self):
        arrays = {f"model/{k}": v for k, v in self.model.params.items()}
        if self.best_params is not None:
            arrays.update({f"best/{k}": v for k, v in self.best_params.items()})
        opt_state = self.optimizer.state_dict()
        arrays.update({f"optim/{k}": v for k, v in opt_state["arrays"].items()})
        leaves, structure = flatten_state(self.hidden)
        arrays.update({f"hidden/{i}": a for i, a in enumerate(leaves)})
        meta = {
            "format": "rnnkit-checkpoint",
            "rnnkit_version": __version__,
            "options": self.opts,
            "vocab": self.vocab.to_json(),
            "digests": self.digests,
            "state": self.state,
            "optimizer": {"lr": opt_state["lr"], "step_count": opt_state["step_count"]},
            "hidden": structure,
            "generators": [g.bit_generator.state for g in self.model.generators()],
        }
        io.atomic_write(self.checkpoint_path, io.tensors_bytes(arrays, {"rnnkit": json.dumps(meta)}))

    def resume(self, given):
        """Load the checkpoint of ``self.out``; ``given`` are the options typed on this command line."""
        if not os.path.exists(self.checkpoint_path):
            raise RnnkitError(f"{self.out}: no checkpoint to resume ({io.CHECKPOINT} missing)")
        arrays, meta = io.read_tensors(self.checkpoint_path)
        try:
            meta = json.loads(meta["rnnkit"])
            saved_opts = meta["options"]
        except (KeyError, ValueError, TypeError):
            raise RnnkitError(f"{self.checkpoint_path}: not an rnnkit training checkpoint") from None
        vocab = Vocab.from_json(meta["vocab"], self.checkpoint_path)
        # The options typed now must mean what they meant then (the same command
        # line with --resume added is fine); only --epochs may change.
        resolved = resolve_options(given)
        settle_softmax(resolved, len(vocab))
        for key, value in given.items():
            if value is None or key in RESUME_FREE or key not in saved_opts:
                continue
            if resolved[key] != saved_opts[key]:
                raise UsageError(
                    f"--{key.replace('_', '-')} {value} differs from the checkpoint's {saved_opts[key]}; "
                    "a resumed run keeps the options it was started with"
                )
        # Options added to rnnkit after the checkpoint was written take their defaults.
        self.opts = {**DEFAULTS, **saved_opts}
        if given.get("epochs") is not None:
            self.opts["epochs"] = given["epochs"]
        self._load_data(vocab)
        for name in ("corpus", "valid"):
            if self.digests[name] != meta["digests"][name]:
                path = self.corpus if name == "corpus" else self.valid_path
                raise RnnkitError(f"{path}: not the {name} file this run was started with (its content differs)")
        self._build()
        self.state = meta["state"]
        if self.state["finished"] == "epochs" and self.opts["epochs"] > self.state["epoch"]:
            self.state["finished"] = None  # more epochs were asked for
        model_arrays = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
        io.check_arrays(self.checkpoint_path, self.model.params, model_arrays)
        io.copy_into(self.model.params, model_arrays)
        best = {k[len("best/"):]: v for k, v in arrays.items() if k.startswith("best/")}
        self.best_params = best or None
        self.optimizer.load_state_dict({
            **meta["optimizer"],
            "arrays": {k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")},
        })
        leaves = [arrays[f"hidden/{i}"] for i in range(sum(k.startswith("hidden/") for k in arrays))]
        self.hidden = unflatten_state(leaves, meta["hidden"])
        for g, st in zip(self.model.generators(), meta["generators"]):
            g.bit_generator.state = st
        st = self.state
        self.log(f"resuming {self.out}: epoch {st['epoch'] + 1}, window {st['window']}/{self.windows}, lr {st['lr']:g}")

    # --- the loop ----------------------------------------------------------------

    def run(self):
        st = self.state
        if st["finished"]:
            return self._result(st["finished"], "nothing to resume: training had already finished")
        self._t0 = time.monotonic()
        with _StopFlag() as stop:
            while st["epoch"] < self.opts["epochs"]:
                reason = self._train_epoch(stop)
                if reason:
                    return self._stop_mid_epoch(reason, stop)
                verdict = self._end_of_epoch()
                if verdict:
                    return self._finish(verdict)
                if stop.signal is not None:
                    return self._stop_mid_epoch("interrupted", stop)
            return self._finish("epochs")

    def _out_of_time(self):
        return self.max_minutes is not None and time.monotonic() - self._t0 >= self.max_minutes * 60

    def _train_epoch(self, stop):
        from tqdm import tqdm

        opts, st, model = self.opts, self.state, self.model
        T = opts["bptt"]
        total_tokens = (self.streams.shape[0] - 1) * opts["batch"]
        if self.cloze_batches is not None:
            total_tokens = self.cloze_batches.tokens
        bar = tqdm(total=total_tokens, initial=min(st["window"] * T * opts["batch"], total_tokens), unit="tok",
                   unit_scale=True, desc=f"epoch {st['epoch'] + 1}", leave=False, dynamic_ncols=True,
                   disable=True if self.quiet else None, mininterval=0.5)
        self.optimizer.lr = st["lr"]
        t_start = last_line = time.monotonic()
        seconds_before = st["epoch_seconds"]
        tokens_before = st["epoch_tokens"]
        try:
            while st["window"] < self.windows:
                if self.cloze_batches is not None:
                    x, y = self.cloze_batches.get(st["epoch"], st["window"])
                else:
                    x, y = window(self.streams, st["window"], T)
                loss = train_step(model, self.optimizer, x, y, self.hidden, opts["clip"])
                self.hidden = model.final_state       # carried into the next window
                if not math.isfinite(loss):
                    raise RnnkitError(
                        f"the training loss became {loss} at epoch {st['epoch'] + 1}, window {st['window']}: "
                        f"lower --lr (now {self.optimizer.lr:g}) or --clip"
                    )
                st["window"] += 1
                st["epoch_nll"] += loss * y.size
                st["epoch_tokens"] += int(y.size)
                st["epoch_seconds"] = seconds_before + time.monotonic() - t_start
                bar.update(y.size)
                if st["window"] % 20 == 0 or st["window"] == self.windows:
                    rate = (st["epoch_tokens"] - tokens_before) / max(st["epoch_seconds"] - seconds_before, 1e-9)
                    progress = (f"ppl {math.exp(min(st['epoch_nll'] / st['epoch_tokens'], 700)):.1f}, "
                                f"lr {self.optimizer.lr:g}, {rate:,.0f} tok/s")
                    bar.set_postfix_str(progress, refresh=False)
                    if bar.disable and not self.quiet and time.monotonic() - last_line >= PROGRESS_SECONDS:
                        last_line = time.monotonic()
                        self.log(f"epoch {st['epoch'] + 1}: window {st['window']}/{self.windows}, train {progress}")
                if stop.signal is not None:
                    return "interrupted"
                if self._out_of_time():
                    return "time"
        finally:
            bar.close()
        return None

    def _validate(self):
        if self.cloze_batches is not None:
            from rnnkit.lm.cloze import cloze_nll

            nll, n = cloze_nll(self.model, self.valid_ids, self.vocab.eos_id)
        else:
            # every line's <eos> is a known target, so n > 0 even without the <unk> ones
            nll, n = stream_nll(self.model, self.valid_ids, self.vocab.eos_id,
                                without_unk=self.opts["valid_without_unk"])
        return nll / n

    def _save_best(self, loss, epoch):
        self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        cfg = model_config(self.model, self.opts, self.vocab, {
            "corpus": self.corpus, "valid": self.valid_path, "best_epoch": epoch, "valid_ppl": math.exp(loss),
        })
        io.save_model(self.out, cfg, self.vocab.to_json(), {**self.model.params, **self.model.buffers()})

    def _end_of_epoch(self):
        """Validation, the annealing schedule and the files. Returns a stop reason or None."""
        st, opts = self.state, self.opts
        loss = self._validate()
        previous_best = st["best_loss"]
        improved = previous_best is None or loss < previous_best
        st["epoch"] += 1
        lr_used = self.optimizer.lr
        if improved:
            st["best_loss"], st["best_epoch"] = loss, st["epoch"]
            self._save_best(loss, st["epoch"])
        else:
            # Mikolov's RNNLM: an epoch that made things worse is undone.
            io.copy_into(self.model.params, self.best_params)
        verdict = None
        if previous_best is not None and loss * opts["min_improvement"] > previous_best:
            if st["annealing"]:
                verdict = "converged"
            st["annealing"] = True
        if opts["anneal_from"] and st["epoch"] >= opts["anneal_from"]:
            st["annealing"] = True
        if st["annealing"] and verdict is None:
            st["lr"] = lr_used / opts["anneal"]
        train_loss = st["epoch_nll"] / max(st["epoch_tokens"], 1)
        row = {
            "epoch": st["epoch"],
            "train_ppl": math.exp(min(train_loss, 700)),
            "valid_ppl": math.exp(loss),
            "lr": lr_used,
            "tokens_per_s": st["epoch_tokens"] / max(st["epoch_seconds"], 1e-9),
            "seconds": st["epoch_seconds"],
            "best": improved,
        }
        st["metrics"].append(row)
        st.update(window=0, epoch_nll=0.0, epoch_tokens=0, epoch_seconds=0.0)
        self.hidden = None  # every epoch starts from the zero state
        if verdict:
            st["finished"] = verdict
        self._write_metrics()
        self.save_checkpoint()
        note = "saved best" if improved else "worse: best weights restored"
        self.log(
            f"epoch {row['epoch']:3d}  train ppl {row['train_ppl']:8.2f}  valid ppl {row['valid_ppl']:8.2f}  "
            f"lr {lr_used:<8g} {row['tokens_per_s']:7,.0f} tok/s {row['seconds']:7.1f} s  {note}"
        )
        return verdict

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
                                                 f"continue with the same command and --resume")
            result.exit_code = 128 + int(stop.signal)
            return result
        # --max-minutes: the weights of the unfinished epoch may still be the best ones.
        loss = self._validate()
        if st["best_loss"] is None or loss < st["best_loss"]:
            # Recorded in the model files only: the checkpoint (saved above) keeps the
            # schedule of the uninterrupted run, so --resume still reproduces it.
            self._save_best(loss, round(st["epoch"] + st["window"] / self.windows, 3))
        best = min(loss, st["best_loss"] if st["best_loss"] is not None else loss)
        return self._result("time", f"stopped after --max-minutes {self.max_minutes:g} at {where}; "
                                    f"best valid ppl {math.exp(best):.2f} kept in {self.out}",
                            best_loss=best)

    def _finish(self, reason):
        st = self.state
        st["finished"] = reason
        self.save_checkpoint()
        why = {"converged": "annealing no longer helps", "epochs": f"--epochs {self.opts['epochs']} reached"}[reason]
        return self._result(reason, f"done: {why}; best valid ppl {math.exp(st['best_loss']):.2f} "
                                    f"(epoch {st['best_epoch']}) in {self.out}")

    def _result(self, status, message, best_loss=None):
        best_loss = self.state["best_loss"] if best_loss is None else best_loss
        return Result(status, self.state["epoch"], math.exp(best_loss) if best_loss is not None else None, message)


def train(corpus, valid, out, options=None, resume=False, force=False, max_minutes=None, quiet=False, log=print):
    """Train (or, with resume=True, continue training) a model into directory ``out``.

    ``options``: a dict with any of DEFAULTS' keys (None means the default).
    Returns a Result; the best model is in ``out`` (config.json, vocab.json,
    weights.safetensors), with metrics.jsonl and checkpoint.safetensors.
    """
    given = dict(options or {})
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"unknown training option(s): {', '.join(unknown)}")
    if max_minutes is not None and not max_minutes > 0:
        raise UsageError(f"--max-minutes must be positive, got {max_minutes}")
    for path, what in ((corpus, "corpus"), (valid, "validation file")):
        if not os.path.isfile(path):
            raise RnnkitError(f"{path}: no such {what}" if not os.path.exists(path) else f"{path}: not a file")
    if resume:
        if force:
            raise UsageError("--resume and --force contradict each other: resume continues, force starts over")
        trainer = Trainer(corpus, valid, out, None, log=log, quiet=quiet, max_minutes=max_minutes)
        trainer.resume(given)
    else:
        opts = resolve_options(given)
        io.check_model_dir_free(out, force)
        trainer = Trainer(corpus, valid, out, opts, log=log, quiet=quiet, max_minutes=max_minutes)
        trainer.start()
        os.makedirs(out, exist_ok=True)
    return trainer.run()
