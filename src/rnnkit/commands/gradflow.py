"""`rnnkit gradflow`: see 式3 happen, the error term δ flowing back through time.

Measures ‖δ_k‖ / ‖δ_t‖ against the distance t - k (rnnkit.gradflow), for
fresh networks (a preset comparison by default, or the configurations given)
or trained language models on real text, and draws the curves on a log scale
with, below them, the global gradient norm and the loss of a short training
run with and without clipping.
"""

import json
import math
import os
import sys

from rnnkit import gradflow
from rnnkit.commands import model_options
from rnnkit.errors import RnnkitError, UsageError

NAME = "gradflow"
HELP = "measure and draw how gradients vanish or explode back through time (‖δ_k‖/‖δ_t‖, 式3)"

DEFAULT_OUT = "gradflow.png"
MAX_DPI = 600  # 7,800 x 5,700 pixels: above it the figure's pixels alone take hundreds of MB


def add_arguments(p):
    g = p.add_argument_group("one fresh network (any of these replaces the preset comparison)")
    g.add_argument("--cell", help="rnn (Elman), lstm or gru")
    g.add_argument("--activation", help="f of the rnn cell: tanh, sigmoid, relu, identity")
    g.add_argument("--init", help="initialisation of W: uniform, xavier, orthogonal, identity, torch")
    g.add_argument("--init-scale", type=float, help="multiply the initial W by this (default 1)")
    p.add_argument("--config", action="append", metavar="SPEC",
                   help="a configuration to draw, repeatable, e.g. "
                        "'cell=rnn,activation=relu,init=identity,scale=1,label=IRNN' "
                        "(keys: cell, activation, init, scale, hidden, forget_bias, update_bias, label)")
    p.add_argument("--model", action="append", metavar="MODEL_DIR",
                   help="a trained language model (repeatable): measured on real text, next to the same "
                        "architecture untrained")
    p.add_argument("--text", metavar="FILE",
                   help="text to read with --model (default: the validation file config.json records, when it lies "
                        "inside the model directory; a model directory never names a file to read elsewhere)")
    model_options.add_arguments(p)
    p.add_argument("--warmup", type=int, default=50,
                   help="with --model: tokens read before the measured window, to reach a realistic state (50)")
    p.add_argument("--hidden", type=int, default=64, help="hidden units of fresh networks (64)")
    p.add_argument("--steps", type=int, default=100, help="sequence length T; distances 0..T-1 are measured (100)")
    p.add_argument("--batch", type=int, default=32, help="sequences averaged over (32)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, inputs and injected errors (0)")
    c = p.add_argument_group("the clipping panels (a short training run with and without clipping)")
    c.add_argument("--clip", type=float, default=1.0, help="clipping threshold of the global norm (1.0)")
    c.add_argument("--lr", type=float, default=0.2, help="SGD learning rate of that run (0.2)")
    c.add_argument("--train-steps", type=int, default=300, help="SGD steps of that run (300)")
    c.add_argument("--flow-only", action="store_true",
                   help="leave out the clipping panels (always left out with --model)")
    p.add_argument("--out", metavar="FILE.png", help=f"write the figure here (default {DEFAULT_OUT}; "
                                                      "with --json only when given)")
    p.add_argument("--dpi", type=int, default=100, help=f"pixels per inch of the PNG, 10..{MAX_DPI} (100: 1300 x 950 pixels)")
    p.add_argument("--json", action="store_true", help="print the numbers as one JSON document")


def _configs(args):
    """The fresh-network configurations to measure: explicit ones, or the presets."""
    configs = []
    single = {k: getattr(args, k) for k in ("cell", "activation", "init", "init_scale")
              if getattr(args, k) is not None}
    try:
        if single:
            configs.append(gradflow.check_config(single))
        for spec in args.config or []:
            configs.append(gradflow.parse_config(spec))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not configs and not args.model:
        configs = [gradflow.check_config(c) for c in gradflow.PRESETS]
    return configs


def _check_numbers(args):
    if args.steps < 2:
        raise UsageError(f"--steps must be at least 2, got {args.steps}")
    if args.batch < 1:
        raise UsageError(f"--batch must be at least 1, got {args.batch}")
    if args.hidden < 1:
        raise UsageError(f"--hidden must be at least 1, got {args.hidden}")
    if args.warmup < 0:
        raise UsageError(f"--warmup must be 0 or more, got {args.warmup}")
    if not (args.clip > 0 and math.isfinite(args.clip)):
        raise UsageError(f"--clip must be a positive number, got {args.clip}")
    if not (args.lr > 0 and math.isfinite(args.lr)):
        raise UsageError(f"--lr must be a positive number, got {args.lr}")
    if args.train_steps < 1:
        raise UsageError(f"--train-steps must be at least 1, got {args.train_steps}")
    if not 10 <= args.dpi <= MAX_DPI:
        raise UsageError(f"--dpi must be in 10..{MAX_DPI}, got {args.dpi}")
    if args.init_scale is not None and not math.isfinite(args.init_scale):
        raise UsageError(f"--init-scale must be a finite number, got {args.init_scale}")
    if args.text and not args.model:
        raise UsageError("--text is read with --model only")
    if not args.verify and not args.model:
        raise UsageError("--no-verify goes with --model only")


def _load_model(model_dir, text, batch, warmup, steps, seed, verify=True):
    """(trained RNNLM in float64, the same architecture untrained, ids (L, B), text path,
    model config, the BPTT window it was trained with or None)."""
    import numpy

    from rnnkit.lm import io
    from rnnkit.lm.api import LanguageModel
    from rnnkit.lm.data import encode_file, streams
    from rnnkit.lm.model import RNNLM

    lm = LanguageModel.load(model_dir, verify)
    if text is None:
        training = lm.config.get("training")
        training = training if isinstance(training, dict) else {}
        text = io.stored_path(model_dir, training.get("valid") or training.get("corpus"), "validation text", "text")
    enc = encode_file(text, lm.tokenizer, lm.vocab)
    need = warmup + steps + 1
    if enc.ids.size < need * batch:
        raise RnnkitError(f"{text}: {enc.ids.size:,} tokens, too few for --batch {batch} sequences of "
                          f"--warmup {warmup} + --steps {steps} + 1 tokens")
    ids = streams(enc.ids, batch)[:need]
    cfg = lm.model.config()
    buffers = lm.model.buffers()
    trained = RNNLM.from_config(cfg, buffers=buffers, dtype=numpy.float64)
    io.copy_into(trained.params, lm.model.params)
    fresh = RNNLM.from_config(cfg, buffers=buffers, seed=seed, dtype=numpy.float64)
    bptt = (lm.config.get("training") or {}).get("bptt")
    return trained, fresh, ids, text, cfg, bptt if isinstance(bptt, int) else None


def _model_name(model_dir, cfg):
    name = os.path.basename(os.path.normpath(os.path.abspath(model_dir)))
    arch = f"{cfg.get('cell', '?')}"
    if cfg.get("cell") == "rnn" and cfg.get("activation") not in (None, "tanh"):
        arch += f" {cfg['activation']}"
    arch += f" {cfg.get('layers', 1)}×{cfg.get('hidden', '?')}"
    return f"{name} ({arch})"


def _check_memory(configs, args):
    """Refuse, with the figure, fresh networks that no memory here holds (--hidden 100000 asked
    for 75 GiB, --steps and --batch 10**9 for more than numpy can address), before building them."""
    from rnnkit.lm.train.trainer import available_memory

    have = available_memory()
    for cfg in configs:
        need = gradflow.fresh_memory_estimate(cfg, args.steps, args.batch, args.hidden)
        if have is not None and need > have:
            raise UsageError(f"measuring {cfg.get('label') or cfg.get('cell')} with hidden "
                             f"{cfg.get('hidden', args.hidden)}, --steps {args.steps} and --batch {args.batch} "
                             f"needs about {need / 2**30:,.1f} GiB; {have / 2**30:,.1f} GiB of memory is available")


def run(args):
    _check_numbers(args)
    configs = _configs(args)
    _check_memory(configs, args)
    draw = bool(args.out) or not args.json
    out = args.out or DEFAULT_OUT
    if draw:
        from rnnkit import plots

        # all before minutes of measuring, not after; the path first, since checking it needs no matplotlib
        if not out.lower().endswith(".png"):
            raise UsageError(f"--out {out}: figures are written as PNG; give a name ending in .png")
        directory = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(directory):
            raise RnnkitError(f"{out}: the directory {directory} does not exist")
        plots.require()

    curves = []
    for cfg in configs:
        try:
            r = gradflow.measure_fresh(cfg, steps=args.steps, batch=args.batch, hidden=args.hidden, seed=args.seed)
        except ImportError as exc:
            raise RnnkitError(f"--cell {cfg['cell']}: not available in this rnnkit ({exc})") from None
        curves.append(dict(label=cfg["label"], group=cfg.get("group", "fresh"), style="fresh",
                           **_public(r)))
    for model_dir in args.model or []:
        trained, fresh, ids, text, cfg, bptt = _load_model(model_dir, args.text, args.batch, args.warmup,
                                                           args.steps, args.seed, args.verify)
        name = _model_name(model_dir, cfg)
        for model, kind, label in ((trained, "trained", f"{name}, trained"),
                                   (fresh, "untrained", f"{name}, untrained (same architecture)")):
            r = gradflow.measure_lm(model, ids, warmup=args.warmup)
            curves.append(dict(label=label, group="model", style=kind, model_dir=model_dir, text=text, bptt=bptt,
                               **_public(r)))

    clipping = None
    if not args.flow_only and not args.model:
        clipping = gradflow.clipping_run(clip=args.clip, lr=args.lr, train_steps=args.train_steps, seed=args.seed)

    if args.json:
        doc = dict(steps=args.steps, batch=args.batch, hidden=args.hidden, seed=args.seed,
                   curves=[_jsonable(c) for c in curves],
                   clipping=_jsonable(_clipping_summary(clipping)) if clipping else None)
        print(json.dumps(doc, ensure_ascii=False))
    else:
        _print_table(curves, clipping)
    if draw:
        from rnnkit import plots

        plots.gradflow_figure(_panels(curves), clipping, out, dpi=args.dpi, subtitle=_subtitle(args, curves))
        print(f"wrote {out}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _public(result):
    keys = ("quantity", "steps", "batch", "distance", "ratio", "median", "p10", "p90", "bound_per_step",
            "config", "warmup")
    return {k: result[k] for k in keys if k in result}


def _panels(curves):
    groups = {}
    for c in curves:
        groups.setdefault(c["group"], []).append(c)
    titles = {
        "Elman": "Elman layer: activation f and initial W",
        "gated": "Gated cells: the forget / update gate decides",
        "fresh": "Fresh networks, random inputs",
        "model": "Trained language model on real text (the last word's loss)",
    }
    panels = [(titles.get(name, name), cs) for name, cs in groups.items()]
    if "gated" in groups and "Elman" in groups:
        # The gated panel gets the plain tanh network as a grey reference line.
        ref = next((c for c in groups["Elman"] if c["config"].get("activation") == "tanh"
                    and c["config"].get("init_scale") == 1.0), None)
        if ref:
            panel = dict(panels)["Gated cells: the forget / update gate decides"]
            panel.append(dict(ref, label=f"for reference: Elman {ref['label']}", style="reference"))
    return panels


def _subtitle(args, curves):
    parts = []
    if any(c["style"] == "fresh" for c in curves):
        parts.append(f"fresh networks: {args.hidden} hidden units, inputs x_t ~ N(0, 1), δ_t injected at the "
                     f"last of {args.steps} steps, {args.batch} sequences (curve: batch RMS ratio)")
    models = [c for c in curves if c["style"] == "trained"]
    if models:
        texts = sorted({os.path.basename(c["text"]) for c in models})
        parts.append(f"models: {args.batch} pieces of {', '.join(texts)}, {args.warmup} tokens read first, "
                     f"{args.steps} steps measured")
    return "; ".join(parts)


def _clipping_summary(result):
    out = {k: v for k, v in result.items() if k != "runs"}
    out["runs"] = {}
    for name, run in result["runs"].items():
        finite = [v for v in run["loss"] if math.isfinite(v)]
        diverged = next((i + 1 for i, v in enumerate(run["loss"]) if not math.isfinite(v)), None)
        out["runs"][name] = dict(run, first_loss=run["loss"][0], last_loss=run["loss"][-1],
                                 best_loss=min(finite) if finite else None, diverged_at_step=diverged)
    return out


def _jsonable(obj):
    """NaN and infinity become null: JSON has no such numbers."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _print_table(curves, clipping):
    if curves:
        T = max(len(c["distance"]) for c in curves)
        shown = [d for d in (1, 10, 20, 50, T - 1) if d < T]
        shown = sorted(set(shown))
        width = max(len(c["label"]) for c in curves)
        print("‖δ_k‖ / ‖δ_t‖ at distance t - k (batch RMS ratio)")
        print(f"{'configuration':{width}}  " + "  ".join(f"{f'd={d}':>9}" for d in shown) + "  β_W·β_f")
        for c in curves:
            vals = "  ".join(f"{c['ratio'][d]:9.2e}" if d < len(c["ratio"]) else f"{'':9}" for d in shown)
            beta = c.get("bound_per_step")
            print(f"{c['label']:{width}}  {vals}  {beta:.3g}" if beta else f"{c['label']:{width}}  {vals}")
    if clipping:
        s = _clipping_summary(clipping)
        print(f"training {s['config']['label']}, SGD lr {s['lr']:g}, {s['train_steps']} steps:")
        for name, run in s["runs"].items():
            end = (f"diverged (overflow) at step {run['diverged_at_step']}" if run["diverged_at_step"]
                   else f"final loss {run['last_loss']:.3f}")
            finite = [v for v in run["norm"] if math.isfinite(v)]
            print(f"  {name:12} loss {run['first_loss']:.3f} -> {end}; largest gradient norm "
                  f"{max(finite):.3g}" + (f" (steps capped at {run['clip']:g})" if run["clip"] else ""))
