"""`rnnkit train CORPUS --valid FILE --out MODEL_DIR [options]`: train an RNN language model."""

import argparse

from rnnkit.errors import UsageError, flag
from rnnkit.lm.train import DEFAULTS, OPTIONS, train

NAME = "train"
HELP = "train a recurrent language model on a text file (one sentence per line)"

# Where each training option (rnnkit.lm.train.OPTIONS: type, choices, help)
# appears in `rnnkit train --help`, group by group.
GROUPS = {
    "data": ("tokenizer", "min_count", "max_vocab", "vocab"),
    "model": ("task", "form", "cell", "activation", "init", "embed", "hidden", "layers", "dropout", "tie_weights",
              "softmax", "classes", "head"),
    "training": ("preset", "batch", "bptt", "epochs", "optimizer", "lr", "clip", "anneal", "anneal_from", "valid_without_unk",
                 "min_improvement", "seed"),
    "run": ("log_interval",),
}
# Switches that are on or off only (no --no- form).
STORE_TRUE = ("valid_without_unk",)


def _add_option(group, option):
    # Every default is None here and filled in by rnnkit.lm.train, so that --resume
    # can tell an option typed on the command line from one left at its default.
    value = option.default
    kw = dict(help=option.help.format(default="none" if value is None else value))
    if option.kind is bool:
        kw.update(action="store_true" if option.name in STORE_TRUE else argparse.BooleanOptionalAction, default=None)
    else:
        if option.kind is not str:
            kw["type"] = option.kind
        if option.choices is not None and option.cli_choices:
            kw["choices"] = option.choices
        if option.metavar:
            kw["metavar"] = option.metavar
    group.add_argument(flag(option.name), **kw)


def add_arguments(p):
    p.add_argument("corpus", metavar="CORPUS", help="training text, UTF-8, one sentence per line, or a DATA_DIR of "
                   "rnnkit prepare")
    p.add_argument("--valid", required=True, metavar="FILE", help="validation text: annealing and the best model")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="directory for the model, metrics and checkpoint")
    by_name = {o.name: o for o in OPTIONS}
    for title, names in GROUPS.items():
        g = p.add_argument_group(title)
        for name in names:
            _add_option(g, by_name[name])
    # g: the "run" group, which goes on with the flags that are no training option
    g.add_argument("--max-minutes", type=float, metavar="M", help="stop after M minutes, keeping the best model")
    g.add_argument("--resume", action="store_true", help="continue the interrupted run in MODEL_DIR")
    g.add_argument("--force", action="store_true", help="train into a MODEL_DIR that is not empty")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("cluster (pip install 'rnnkit[scale]')")
    g.add_argument("--workers", type=int, metavar="N", help="synchronous data-parallel training on N Ray workers "
                   "(the B streams shared between them; the same weights as one process)")
    g.add_argument("--ray-address", metavar="ADDR", help="join the Ray cluster at ADDR (ray start --head prints "
                   "it); default with --workers: a local Ray instance")
    g.add_argument("--checkpoint-minutes", type=float, metavar="M", help="with --workers: a checkpoint every M "
                   "minutes as well as every epoch (a lost worker restarts from the last one)")


def run(args):
    options = {key: getattr(args, key) for key in DEFAULTS if hasattr(args, key)}
    run_args = dict(resume=args.resume, force=args.force, max_minutes=args.max_minutes, quiet=args.quiet)
    if args.workers is None:
        if args.ray_address is not None or args.checkpoint_minutes is not None:
            raise UsageError("--ray-address and --checkpoint-minutes go with --workers N")
        result = train(args.corpus, args.valid, args.out, options, **run_args)
    else:
        from rnnkit.scale.data_parallel import train_data_parallel

        result = train_data_parallel(args.corpus, args.valid, args.out, options, workers=args.workers,
                                     ray_address=args.ray_address, checkpoint_minutes=args.checkpoint_minutes,
                                     **run_args)
    print(result.cli_message())
    return result.exit_code
