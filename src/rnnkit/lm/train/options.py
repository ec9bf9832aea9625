"""The training options: one table of names, types, defaults, ranges and help, and the checks it drives.

Every option `rnnkit train` takes, and ``LanguageModel.train`` takes as a
keyword, is one row of OPTIONS. resolve_options fills in the defaults and
checks each value against its row (type, choices, range), then the few rules
that tie two options together, then the task's own (rnnkit.lm.task). The
command line builds its flags from the same rows (rnnkit.commands.train).
Errors are rnnkit.errors.OptionError, naming the option ("option 'lr'"); the
command line turns the name into the flag (``--lr``).
"""

import math
from dataclasses import dataclass

from rnnkit.errors import OptionError
from rnnkit.lm.task import TASKS, get_task
from rnnkit.lm.train.presets import PRESETS, with_preset
from rnnkit.lm.tokenize import TOKENIZERS
from rnnkit.nn.activations import ACTIVATIONS
from rnnkit.nn.init import INITS
from rnnkit.nn.optim import OPTIMIZERS
from rnnkit.nn.stack import CELLS, FORMS, get_cell

# --lr when not given: per optimizer, for the loss as a mean over tokens. SGD:
# measured on PTB (docs/results.md): 1 and 2 learn slower, 10 diverges.
DEFAULT_LR = {"sgd": 5.0, "momentum": 0.5, "adagrad": 0.1, "adam": 0.002}
# The gated cells take plain SGD at 20: Zaremba et al.'s lr 1 on a loss summed
# over 20 steps, as the mean per token here; measured on PTB in docs/results.md.
GATED_SGD_LR = 20.0
# --softmax auto: the class softmax from this vocabulary size on (full softmax
# costs vocab x hidden per token; the class one about 2 sqrt(vocab) x hidden).
AUTO_CLASS_VOCAB = 4096


@dataclass(frozen=True)
class Option:
    """One training option.

    ``kind``: int, float, bool or str. ``choices``: the values allowed (a str
    option). ``low`` / ``high``: the range of a number, each end closed unless
    ``low_open`` / ``high_open``; ``expect`` says the range in words for the
    error. ``default`` None with ``optional``: decided later (``default_note``
    says how). ``help``: the command line's, with ``{default}`` filled in.
    ``metavar`` and ``cli_choices`` (whether argparse lists the choices):
    the flag's look, kept as it always was.
    """

    name: str
    kind: type
    default: object
    help: str
    choices: tuple = None
    low: float = None
    high: float = None
    low_open: bool = False
    high_open: bool = False
    expect: str = None
    optional: bool = False
    metavar: str = None
    cli_choices: bool = True

    def check(self, value):
        """Raise OptionError unless ``value`` is of this option's type and range."""
        if value is None and self.optional:
            return
        if self.choices is not None:
            if value not in self.choices:
                raise OptionError(f"{{{self.name}}} {value!r}: expected one of {', '.join(self.choices)}", self.name)
            return
        if self.kind is bool:
            if not isinstance(value, bool):
                raise OptionError(f"{{{self.name}}} must be true or false, got {value!r}", self.name)
            return
        if self.kind is str:
            if not isinstance(value, str):
                raise OptionError(f"{{{self.name}}} must be a string, got {value!r}", self.name)
            return
        number = isinstance(value, int) if self.kind is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not number or (self.kind is float and not math.isfinite(value)) \
                or not self._in_range(value):
            raise OptionError(f"{{{self.name}}} must be {self.expect}, got {value!r}", self.name)

    def _in_range(self, v):
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return self.high is None or (v < self.high if self.high_open else v <= self.high)


def _positive(name, default, help, metavar="N", **kw):
    return Option(name, int, default, help, low=1, expect="a positive integer", metavar=metavar, **kw)


# In the order config.json's "training" section and the checkpoint list them.
OPTIONS = (
    Option("tokenizer", str, "word", "default: {default}", choices=tuple(TOKENIZERS)),
    _positive("min_count", 1, "words seen fewer times become <unk> (default: 1)"),
    Option("max_vocab", int, None, "keep the N most frequent tokens, <unk> and <eos> included", low=3,
           expect="at least 3 (<unk>, <eos> and one word)", optional=True, metavar="N"),
    Option("vocab", str, None, "a fixed dictionary instead: one token per line; every other token becomes <unk>",
           optional=True, metavar="FILE"),
    Option("cell", str, "rnn", "rnn: the article's Elman cell (default)", choices=tuple(CELLS)),
    Option("activation", str, "tanh", "f of 式2 for the rnn cell: tanh, relu, sigmoid, identity (default: {default})",
           choices=tuple(ACTIVATIONS), cli_choices=False),
    Option("init", str, "xavier", "U/W initialisation: xavier, orthogonal, identity, uniform, torch (default: {default})",
           choices=INITS, cli_choices=False),
    Option("embed", int, None, "embedding size; 0: no embedding layer, the ids index U directly (default: = --hidden)",
           low=0, expect="0 (no embedding layer) or positive", optional=True, metavar="N"),
    _positive("hidden", 200, "hidden units per layer (default: {default})"),
    _positive("layers", 1, "recurrent layers (default: {default})"),
    Option("dropout", float, 0.0, "dropout on non-recurrent connections (default: {default})", low=0.0, high=1.0,
           high_open=True, expect="in [0, 1)", metavar="P"),
    Option("tie_weights", bool, False,
           "share the embedding with the output layer V (needs --embed = --hidden; default: {default})"),
    Option("softmax", str, "auto", "full, class (Mikolov's class-based softmax: exact, much faster on large "
           "vocabularies) or auto: class from 4096 tokens on (default: auto)", choices=("auto", "full", "class")),
    _positive("classes", None, "word classes for the class softmax (default: the square root of the vocabulary size "
              "after the head)", metavar="C", optional=True),
    Option("head", int, 0, "the class softmax's head: the N most frequent words are scored in its first softmax "
           "beside the classes, the rest share the classes (Grave et al. 2017's adaptive softmax); implies "
           "--softmax class (default: 0, none)", low=0, expect="0 (no head) or positive", metavar="N"),
    _positive("batch", 20, "parallel streams (default: {default})", metavar="B"),
    _positive("bptt", 35, "truncated BPTT window (default: {default})", metavar="T"),
    _positive("epochs", 40, "at most this many epochs (default: {default})"),
    Option("optimizer", str, "sgd", "default: sgd", choices=tuple(OPTIMIZERS)),
    Option("lr", float, None, "learning rate for the mean loss per token (default: "
           + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())
           + f"; sgd with --cell lstm or gru {GATED_SGD_LR:g})",
           low=0.0, low_open=True, expect="a positive number", optional=True, metavar="LR"),
    Option("clip", float, 0.25, "clip the global gradient norm; 0: off (default: {default})", low=0.0,
           expect="0 (no clipping) or positive", metavar="NORM"),
    Option("anneal", float, 2.0, "divide lr by F once validation stalls (default: {default})", low=1.0, low_open=True,
           expect="above 1 (the factor the learning rate is divided by)", metavar="F"),
    Option("anneal_from", int, None, "start dividing lr by F after epoch N even if validation still improves "
           "(Zaremba et al.'s fixed schedule; default: only when it stalls)", low=1,
           expect="a positive epoch number", optional=True, metavar="N"),
    Option("min_improvement", float, 1.003, "validation loss ratio counted as progress (default: {default})",
           low=1.0, expect="at least 1.0", metavar="R"),
    Option("valid_without_unk", bool, False,
           "judge epochs by the validation perplexity without the <unk> targets (rnnkit eval's second figure): "
           "for a large dictionary whose <unk> the training text never shows"),
    _positive("log_interval", None, "also print a line (window, training perplexity, lr, tok/s) every N windows, "
              "and into MODEL_DIR/train.log (default: every five minutes when output is not a terminal)",
              optional=True),
    Option("seed", int, 1, "random seed: same seed, same run (default: {default})", low=0, high=2**32 - 1,
           expect="an integer from 0 to 4294967295"),
    Option("preset", str, None, "start from a recipe: " + ", ".join(PRESETS) + " (docs/results.md); the options "
           "given change it; with --max-minutes, ptb-20min first measures which of its widths fits the minutes here",
           choices=tuple(PRESETS), optional=True, metavar="NAME"),
    Option("task", str, "lm", "lm: left-to-right language model (default); cloze: bidirectional model that fills a "
           "blank from both sides (rnnkit fill), lines read whole, --bptt = longest piece (default 100)",
           choices=tuple(TASKS)),
    Option("form", str, None, "--task cloze, deep bidirectional form: article (each direction reads its own direction "
           "below; the default) or concat (one layer only: deeper, it would leak the blank)",
           choices=("article", "concat"), optional=True),
)
BY_NAME = {o.name: o for o in OPTIONS}
# What `rnnkit train` does when given nothing but files. Measured on PTB (see
# docs/results.md): these reach a test perplexity well under the KN 5-gram's.
DEFAULTS = {o.name: o.default for o in OPTIONS}
assert set(BY_NAME["form"].choices) == set(FORMS)


def check_known(given):
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise OptionError(f"unknown training option(s): {', '.join(unknown)}", *unknown)


def resolve_options(given):
    """The full option dict: defaults filled in, every value checked (OptionError)."""
    check_known(given)
    if given.get("head") and given.get("softmax") in (None, "auto"):
        given = {**given, "softmax": "class"}  # a head is the class softmax's, whatever a preset says
    given = with_preset(given)
    opts = dict(DEFAULTS)
    opts.update({k: v for k, v in given.items() if v is not None})
    task = get_task(opts["task"])  # first: the task may set defaults of its own
    task.set_defaults(opts, given)
    for option in OPTIONS:
        option.check(opts[option.name])
    # the defaults that follow other options, from values already checked
    if opts["embed"] is None:
        opts["embed"] = opts["hidden"]
    if opts["lr"] is None:
        gated = opts["optimizer"] == "sgd" and opts["cell"] in ("lstm", "gru")
        opts["lr"] = GATED_SGD_LR if gated else DEFAULT_LR[opts["optimizer"]]
    if opts["vocab"] is not None and (opts["min_count"] != 1 or opts["max_vocab"] is not None):
        raise OptionError("{vocab} fixes the dictionary; {min_count} and {max_vocab} cut one built from the "
                          "corpus: give one or the other", "vocab", "min_count", "max_vocab")
    if opts["head"] and opts["softmax"] == "full":
        raise OptionError("{head} is part of the class softmax; the full softmax scores every word directly",
                          "head", "softmax")
    if opts["tie_weights"] and opts["embed"] != opts["hidden"]:
        if opts["embed"] == 0:
            raise OptionError("{tie_weights} needs an embedding layer: {embed} must equal {hidden}, not 0",
                              "tie_weights", "embed", "hidden")
        raise OptionError(f"{{tie_weights}} needs {{embed}} equal to {{hidden}}, got {opts['embed']} and "
                          f"{opts['hidden']}", "tie_weights", "embed", "hidden")
    try:
        get_cell(opts["cell"])
    except ImportError:
        raise OptionError(f"{{cell}} {opts['cell']} is not available in this rnnkit", "cell") from None
    task.check_options(opts)
    return opts


def settle_softmax(opts, vocab_size):
    """Decide softmax "auto" and the number of classes from the vocabulary size (in place)."""
    if opts["softmax"] == "auto":
        opts["softmax"] = "class" if vocab_size >= AUTO_CLASS_VOCAB else "full"
    if opts["softmax"] != "class":
        return
    if opts["head"] >= vocab_size:
        raise OptionError(f"{{head}} {opts['head']:,} leaves none of the {vocab_size:,} words of the vocabulary "
                          "for the classes", "head")
    rest = vocab_size - opts["head"]
    if opts["classes"] is None:
        opts["classes"] = max(1, round(math.sqrt(rest)))  # Mikolov's rule of thumb
    if opts["classes"] > rest:
        words = f"the {rest:,} words after the head" if opts["head"] else f"the {vocab_size:,} words of the vocabulary"
        raise OptionError(f"{{classes}} {opts['classes']} is more than {words}; each class needs at least one word",
                          "classes")


# Bytes per parameter while training: the weights, their gradient, two
# optimizer buffers (Adam), the best weights, and the checkpoint's and the
# model file's serialised copies.
COPIES_PER_PARAMETER = 7


def memory_estimate(opts, vocab_size, itemsize=4):
    """(bytes, parameters): about what training a model with these options holds in memory.

    The parameters of the cells, the embedding and the output layer, times
    COPIES_PER_PARAMETER, plus one window's activations: the output scores of
    every position (bptt x batch x vocabulary with the full softmax) and the
    cells' states. An estimate to refuse the impossible (``hidden`` 100000)
    before allocating it, not a measurement.
    """
    V, H, L = vocab_size, opts["hidden"], opts["layers"]
    E = H if opts["embed"] is None else opts["embed"]
    gates = {"lstm": 4, "gru": 3}.get(opts["cell"], 1)
    sides = get_task(opts.get("task")).directions
    cells = sides * gates * H * ((E or V) + H + 1 + (L - 1) * (sides * H + H + 1))
    output = V * (sides * H + 1) + (opts["classes"] or 0) * (sides * H + 1)
    params = V * E + cells + output
    positions = opts["bptt"] * opts["batch"]
    scores = positions * (V if opts["softmax"] != "class" else opts["head"] + 2 * int(math.sqrt(V)) + 1)
    states = positions * L * sides * H * (gates + 2)
    return (params * COPIES_PER_PARAMETER + 3 * scores + 2 * states) * itemsize, params
