"""`rnnkit train CORPUS --valid FILE --out MODEL_DIR [options]`: train an RNN language model."""

import argparse

from rnnkit.lm.train import DEFAULT_LR, DEFAULTS, GATED_SGD_LR, train

NAME = "train"
HELP = "train a recurrent language model on a text file (one sentence per line)"


def _d(key):
    value = DEFAULTS[key]
    return "none" if value is None else value


def add_arguments(p):
    # Every default is None here and filled in by rnnkit.lm.train, so that --resume
    # can tell an option typed on the command line from one left at its default.
    p.add_argument("corpus", metavar="CORPUS", help="training text, UTF-8, one sentence per line")
    p.add_argument("--valid", required=True, metavar="FILE", help="validation text: annealing and the best model")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="directory for the model, metrics and checkpoint")
    g = p.add_argument_group("data")
    g.add_argument("--tokenizer", choices=("word", "char", "jieba"), help=f"default: {_d('tokenizer')}")
    g.add_argument("--min-count", type=int, metavar="N", help="words seen fewer times become <unk> (default: 1)")
    g.add_argument("--max-vocab", type=int, metavar="N", help="keep the N most frequent tokens, <unk> and <eos> included")
    g.add_argument("--vocab", metavar="FILE",
                   help="a fixed dictionary instead: one token per line; every other token becomes <unk>")
    g = p.add_argument_group("model")
    g.add_argument("--task", choices=("lm", "cloze"),
                   help="lm: left-to-right language model (default); cloze: bidirectional model that fills a blank "
                        "from both sides (rnnkit fill), lines read whole, --bptt = longest piece (default 100)")
    g.add_argument("--form", choices=("article", "concat"),
                   help="--task cloze, deep bidirectional form: article (each direction reads its own direction "
                        "below; the default) or concat (one layer only: deeper, it would leak the blank)")
    g.add_argument("--cell", choices=("rnn", "lstm", "gru"), help="rnn: the article's Elman cell (default)")
    g.add_argument("--activation", help=f"f of 式2 for the rnn cell: tanh, relu, sigmoid, identity (default: {_d('activation')})")
    g.add_argument("--init", help=f"U/W initialisation: xavier, orthogonal, identity, uniform, torch (default: {_d('init')})")
    g.add_argument("--embed", type=int, metavar="N",
                   help="embedding size; 0: no embedding layer, the ids index U directly (default: = --hidden)")
    g.add_argument("--hidden", type=int, metavar="N", help=f"hidden units per layer (default: {_d('hidden')})")
    g.add_argument("--layers", type=int, metavar="N", help=f"recurrent layers (default: {_d('layers')})")
    g.add_argument("--dropout", type=float, metavar="P", help=f"dropout on non-recurrent connections (default: {_d('dropout')})")
    g.add_argument("--tie-weights", action=argparse.BooleanOptionalAction, default=None,
                   help=f"share the embedding with the output layer V (needs --embed = --hidden; default: {_d('tie_weights')})")
    g.add_argument("--softmax", choices=("auto", "full", "class"),
                   help="full, class (Mikolov's class-based softmax: exact, much faster on large vocabularies) or auto: class from 4096 tokens on (default: auto)")
    g.add_argument("--classes", type=int, metavar="C", help="word classes for the class softmax (default: the square root of the vocabulary size)")
    g = p.add_argument_group("training")
    g.add_argument("--batch", type=int, metavar="B", help=f"parallel streams (default: {_d('batch')})")
    g.add_argument("--bptt", type=int, metavar="T", help=f"truncated BPTT window (default: {_d('bptt')})")
    g.add_argument("--epochs", type=int, metavar="N", help=f"at most this many epochs (default: {_d('epochs')})")
    g.add_argument("--optimizer", choices=("sgd", "momentum", "adagrad", "adam"), help="default: sgd")
    g.add_argument("--lr", type=float, metavar="LR",
                   help="learning rate for the mean loss per token (default: "
                        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())
                        + f"; sgd with --cell lstm or gru {GATED_SGD_LR:g})")
    g.add_argument("--clip", type=float, metavar="NORM", help=f"clip the global gradient norm; 0: off (default: {_d('clip')})")
    g.add_argument("--anneal", type=float, metavar="F", help=f"divide lr by F once validation stalls (default: {_d('anneal')})")
    g.add_argument("--anneal-from", type=int, metavar="N",
                   help="start dividing lr by F after epoch N even if validation still improves "
                        "(Zaremba et al.'s fixed schedule; default: only when it stalls)")
    g.add_argument("--valid-without-unk", action="store_true", default=None,
                   help="judge epochs by the validation perplexity without the <unk> targets (rnnkit eval's "
                        "second figure): for a large dictionary whose <unk> the training text never shows")
    g.add_argument("--min-improvement", type=float, metavar="R",
                   help=f"validation loss ratio counted as progress (default: {_d('min_improvement')})")
    g.add_argument("--seed", type=int, help=f"random seed: same seed, same run (default: {_d('seed')})")
    g = p.add_argument_group("run")
    g.add_argument("--max-minutes", type=float, metavar="M", help="stop after M minutes, keeping the best model")
    g.add_argument("--resume", action="store_true", help="continue the interrupted run in MODEL_DIR")
    g.add_argument("--force", action="store_true", help="train into a MODEL_DIR that is not empty")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args):
    options = {key: getattr(args, key) for key in DEFAULTS if hasattr(args, key)}
    result = train(args.corpus, args.valid, args.out, options, resume=args.resume, force=args.force,
                   max_minutes=args.max_minutes, quiet=args.quiet)
    print(result.message)
    return result.exit_code
