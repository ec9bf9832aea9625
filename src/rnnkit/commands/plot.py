"""`rnnkit plot MODEL_DIR... [--out FILE.png]`: training curves of one or several runs.

Reads MODEL_DIR/metrics.jsonl, which `rnnkit train` rewrites after every
epoch (one JSON object per epoch: epoch, train_ppl, valid_ppl, lr, ...), so a
run can be plotted while it trains. A metrics.jsonl file may be given instead
of its directory.
"""

import json
import math
import os

from rnnkit.errors import RnnkitError, UsageError
from rnnkit.lm.tokenize import split_lines
from rnnkit.lm.io import CONFIG, METRICS, read_json

NAME = "plot"
HELP = "draw training and validation perplexity per epoch, with the learning rate, for one or more runs"

DEFAULT_OUT = "training.png"

MAX_DPI = 600  # 6,000 x 4,200 pixels: above it the figure's pixels alone take hundreds of MB (10**6 was a traceback)

def add_arguments(p):
    p.add_argument("model_dirs", nargs="+", metavar="MODEL_DIR",
                   help="directories written by `rnnkit train` (or their metrics.jsonl files)")
    p.add_argument("--out", metavar="FILE.png", default=DEFAULT_OUT, help=f"the figure (default {DEFAULT_OUT})")
    p.add_argument("--label", action="append", metavar="NAME",
                   help="legend name of each run, in the order of the MODEL_DIRs (default: the directory name)")
    p.add_argument("--title", help="the figure's title")
    p.add_argument("--dpi", type=int, default=100, help=f"pixels per inch, 10..{MAX_DPI} (100: 1000 x 700 pixels)")


def _metrics_path(path):
    if os.path.isfile(path):
        return path
    if not os.path.exists(path):
        raise RnnkitError(f"{path}: no such model directory")
    metrics = os.path.join(path, METRICS)
    if not os.path.exists(metrics):
        raise RnnkitError(f"{path}: no {METRICS} (`rnnkit train` writes it after each epoch)")
    return metrics


def read_metrics(path):
    """The rows of a metrics.jsonl (of MODEL_DIR or the file itself); RnnkitError naming the bad line."""
    metrics = _metrics_path(path)
    rows = []
    try:
        with open(metrics, encoding="utf-8", newline="") as f:
            lines = split_lines(f.read())
    except UnicodeDecodeError:
        raise RnnkitError(f"{metrics}: not UTF-8 text") from None
    except OSError as exc:
        raise RnnkitError(f"{metrics}: cannot read ({exc.strerror or exc})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise RnnkitError(f"{metrics}:{n}: not a JSON object (truncated or damaged line)") from None
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), (int, float)):
            raise RnnkitError(f"{metrics}:{n}: expected an object with an \"epoch\" number")
        if not any(_finite(row.get(k)) for k in ("valid_ppl", "train_ppl")):
            raise RnnkitError(f"{metrics}:{n}: no valid_ppl or train_ppl number")
        rows.append(row)
    if not rows:
        raise RnnkitError(f"{metrics}: no epochs recorded yet")
    rows.sort(key=lambda r: r["epoch"])
    return rows


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _config(path):
    directory = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    try:
        cfg = read_json(os.path.join(directory, CONFIG))
    except RnnkitError:
        return None
    return cfg if isinstance(cfg, dict) else None


def _describe(path):
    """A short architecture note from config.json, when there is one ("lstm 2×200")."""
    try:
        model = _config(path)["model"]
        arch = model["cell"]
        if model["cell"] == "rnn" and model.get("activation") not in (None, "tanh"):
            arch += f" {model['activation']}"
        return f"{arch} {model.get('layers', 1)}×{model['hidden']}"
    except (KeyError, TypeError):
        return None


def _saved(path):
    """(epoch, validation perplexity) of the model MODEL_DIR holds, from config.json, or None.

    A run stopped mid-epoch (--max-minutes, Ctrl-C) may have saved a model at a
    fractional epoch that has no row in metrics.jsonl.
    """
    try:
        training = _config(path)["training"]
        epoch, ppl = training["best_epoch"], training["valid_ppl"]
    except (KeyError, TypeError):
        return None
    return (float(epoch), float(ppl)) if _finite(epoch) and _finite(ppl) else None


def unit(path):
    """What the run's perplexity is per: "word", "character", "blank (cloze)"; None without config.json.

    Perplexities per character and per word (or of a cloze model, which
    sees both sides) are different quantities: one axis for them would
    compare what cannot be compared.
    """
    cfg = _config(path)
    if not cfg:
        return None
    if cfg.get("task") == "cloze":
        return "blank (cloze)"
    return {"char": "character", "word": "word", "jieba": "word (jieba)"}.get(cfg.get("tokenizer"))


def _default_label(path):
    directory = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    name = os.path.basename(os.path.normpath(os.path.abspath(directory)))
    arch = _describe(path)
    return f"{name} ({arch})" if arch else name


def run(args):
    from rnnkit import plots

    labels = args.label or []
    if len(labels) > len(args.model_dirs):
        raise UsageError(f"{len(labels)} --label values for {len(args.model_dirs)} MODEL_DIRs")
    if not 10 <= args.dpi <= MAX_DPI:
        raise UsageError(f"--dpi must be in 10..{MAX_DPI}, got {args.dpi}")
    if not args.out.lower().endswith(".png"):
        raise UsageError(f"--out {args.out}: figures are written as PNG; give a name ending in .png")
    runs = []
    for i, path in enumerate(args.model_dirs):
        rows = read_metrics(path)
        label = labels[i] if i < len(labels) else _default_label(path)
        runs.append(dict(label=label, rows=rows, path=path, saved=_saved(path), unit=unit(path)))
    units = {r["unit"] for r in runs if r["unit"]}
    if len(units) > 1:
        which = ", ".join(f"{r['path']}: per {r['unit']}" for r in runs if r["unit"])
        raise UsageError(f"these runs measure perplexity in different units ({which}); one axis cannot compare "
                         "them: plot each kind on its own")
    plots.require()
    plots.training_figure(runs, args.out, dpi=args.dpi, title=args.title, unit=units.pop() if units else None)
    for run in runs:
        valid = [(r["valid_ppl"], r["epoch"]) for r in run["rows"] if _finite(r.get("valid_ppl"))]
        best = f"best valid ppl {min(valid)[0]:.2f} at epoch {min(valid)[1]}" if valid else "no validation numbers"
        if run["saved"]:
            best += f"; saved model: valid ppl {run['saved'][1]:.2f} at epoch {run['saved'][0]:g}"
        print(f"{run['label']}: {len(run['rows'])} epochs, {best}")
    print(f"wrote {args.out}")
    return 0
