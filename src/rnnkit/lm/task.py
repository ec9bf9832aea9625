"""What a model learns to predict: the next word (``lm``) or a blank from both sides (``cloze``).

A task is everything about a model that its kind decides, behind one
interface, so that the trainer, the options and the commands never ask which
task they are running:

    set_defaults(opts, given) / check_options(opts)   the task's own option rules
    build(vocab, opts, dtype)                         the network, from a vocabulary and options
    batches(ids, vocab, opts)                         the training batches: len, tokens, get(epoch, i)
    validation_loss(model, ids, vocab, opts)          nats per token, what the schedule judges
    evaluate(model, encoded, eos_id)                  `rnnkit eval`'s figures
    describe(opts)                                    the words for the training log
    load(model_dir)                                   (config, vocab, tokenizer, model), every file checked

Both networks share their configuration, buffers, rebuilding and random
generators (rnnkit.lm.model.LanguageNetwork). TASKS is the registry by name,
the name config.json's "task" holds.
"""

import copy

from rnnkit.backend import xp
from rnnkit.errors import OptionError
from rnnkit.lm import io
from rnnkit.lm.data import MappedStreams, num_windows, streams, window
from rnnkit.lm.model import RNNLM
from rnnkit.nn.class_softmax import frequency_classes

# The options that shape the network (the rest shape its training).
NETWORK_OPTIONS = ("embed", "hidden", "layers", "cell", "activation", "init", "dropout", "softmax", "classes", "head")


class Task:
    name = None
    model_class = None
    directions = 1     # how many directions read the text (the memory estimate counts the cells that often)
    what = None        # the network, in words, for load errors
    wrong_task = None  # the message when MODEL_DIR holds another task's model

    def set_defaults(self, opts, given):
        """Fill the defaults this task changes (in place), before the values are checked."""

    def check_options(self, opts):
        """Raise OptionError for options this task cannot take."""

    def network_options(self, opts):
        return {k: opts[k] for k in NETWORK_OPTIONS}

    def build(self, vocab, opts, dtype=None):
        """A new network for ``vocab`` with the options ``opts``, initialised from opts["seed"]."""
        word_class = (frequency_classes(vocab.counts, opts["classes"], head=opts["head"])
                      if opts["softmax"] == "class" else None)
        return self.model_class(len(vocab), seed=opts["seed"], dtype=dtype, word_class=word_class,
                                **self.network_options(opts))

    def batches(self, ids, vocab, opts):
        raise NotImplementedError

    def validation_loss(self, model, ids, vocab, opts):
        raise NotImplementedError

    def evaluate(self, model, encoded, eos_id):
        raise NotImplementedError

    def describe(self, opts):
        """(what the model is, what a batch is): words for the training log."""
        raise NotImplementedError

    def load(self, model_dir, verify=True):
        return io.load_trained(model_dir, self.name, self.model_class.from_config, self.what, self.wrong_task,
                               verify=verify)


class StreamBatches:
    """The next-word task's batches: ``batch`` parallel streams cut into windows of ``bptt`` steps.

    get(epoch, index) -> (x (T, B), y (T, B)); the hidden state runs on from one window to the next.
    """

    def __init__(self, ids, batch, bptt):
        # ids: an array, or a memory-mapped TokenFile (rnnkit prepare) read window by window
        self.streams = streams(ids, batch) if hasattr(ids, "reshape") else MappedStreams(ids, batch)
        self.bptt = bptt
        self.count = num_windows(self.streams.shape[0], bptt)
        self.tokens = (self.streams.shape[0] - 1) * batch

    def __len__(self):
        return self.count

    def get(self, epoch, index):
        return window(self.streams, index, self.bptt)

    def part(self, lo, hi):
        """The same windows for streams lo..hi only: one data-parallel worker's share (rnnkit.scale)."""
        share = copy.copy(self)
        share.streams = (self.streams.columns(lo, hi) if isinstance(self.streams, MappedStreams)
                         else xp.ascontiguousarray(self.streams[:, lo:hi]))
        share.tokens = (self.streams.shape[0] - 1) * (hi - lo)
        return share


class NextWordTask(Task):
    """A left-to-right language model: p(w_{t+1} | w_1 .. w_t) (rnnkit.lm.model.RNNLM)."""

    name = "lm"
    model_class = RNNLM
    what = "a model"
    wrong_task = "{model_dir}: a {task!r} model, not a left-to-right language model"

    def check_options(self, opts):
        if opts["form"] is not None:
            raise OptionError("{form} is for {task} cloze (a left-to-right model has one direction)", "form", "task")

    def network_options(self, opts):
        return {**super().network_options(opts), "tie_weights": opts["tie_weights"]}

    def batches(self, ids, vocab, opts):
        return StreamBatches(ids, opts["batch"], opts["bptt"])

    def validation_loss(self, model, ids, vocab, opts):
        from rnnkit.lm.evaluate import stream_nll

        # every line's <eos> is a known target, so n > 0 even without the <unk> ones
        nll, n = stream_nll(model, ids, vocab.eos_id, without_unk=opts["valid_without_unk"])
        return nll / n

    def evaluate(self, model, encoded, eos_id):
        from rnnkit.lm.evaluate import evaluate

        return evaluate(model, encoded, eos_id)

    def describe(self, opts):
        return "", f"bptt {opts['bptt']}"


class ClozeTask(Task):
    """Fill in the blank from both sides of it (rnnkit.lm.cloze.ClozeModel); --bptt is the longest piece."""

    name = "cloze"
    directions = 2
    what = "a cloze model"
    wrong_task = ("{model_dir}: a left-to-right language model (task {task!r}), not a cloze model; "
                  "train one with {{task}} cloze")

    @property
    def model_class(self):
        from rnnkit.lm.cloze import ClozeModel

        return ClozeModel

    def set_defaults(self, opts, given):
        from rnnkit.lm.cloze import DEFAULT_FORM, DEFAULT_MAX_LEN

        if opts.get("form") is None:
            opts["form"] = DEFAULT_FORM
        if given.get("bptt") is None:
            opts["bptt"] = DEFAULT_MAX_LEN

    def check_options(self, opts):
        from rnnkit.lm.cloze import LEAK_REASON

        if opts["tie_weights"]:
            raise OptionError("{tie_weights} is not available with {task} cloze (V reads both directions, "
                              "2 x {hidden})", "tie_weights", "task", "hidden")
        if opts["form"] == "concat" and opts["layers"] > 1:
            raise OptionError("{form} concat " + LEAK_REASON + "; use {form} article (the default for {task} cloze)",
                              "form", "task")
        if opts["valid_without_unk"]:
            raise OptionError("{valid_without_unk} is for {task} lm (a cloze model is judged by its cloze perplexity)",
                              "valid_without_unk", "task")

    def network_options(self, opts):
        return {**super().network_options(opts), "form": opts["form"], "max_len": opts["bptt"]}

    def batches(self, ids, vocab, opts):
        from rnnkit.lm.cloze import SentenceBatches

        if not hasattr(ids, "reshape"):
            ids = ids.array()  # a prepared corpus: lines are shuffled, so the cloze task reads it whole
        return SentenceBatches(ids, vocab.eos_id, opts["batch"], opts["bptt"], opts["seed"])

    def validation_loss(self, model, ids, vocab, opts):
        from rnnkit.lm.cloze import cloze_nll

        nll, n = cloze_nll(model, ids, vocab.eos_id)
        return nll / n

    def evaluate(self, model, encoded, eos_id):
        from rnnkit.lm.cloze import evaluate

        return evaluate(model, encoded, eos_id)

    def describe(self, opts):
        return f"cloze (bidirectional, {opts['form']} form) ", f"lines of up to {opts['bptt']} tokens"


TASKS = {task.name: task for task in (NextWordTask(), ClozeTask())}


def get_task(name):
    """The task called ``name`` (config.json's "task"; "lm" when a config names none)."""
    if name is None:
        name = "lm"
    if name not in TASKS:
        raise OptionError(f"{{task}} {name!r}: expected one of {', '.join(TASKS)}", "task")
    return TASKS[name]
