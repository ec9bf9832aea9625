"""Drawing rnnkit's figures with matplotlib (an optional extra: pip install 'rnnkit[plot]').

matplotlib is imported only when a figure is drawn, so the rest of rnnkit
never needs it. Figures are drawn on matplotlib's Agg canvas (no display, no
pyplot state) and written as PNG at a fixed size: ``figsize`` inches times
``dpi``, so a README shows them the same way every time.

- ``training_figure``: perplexity per epoch (training and validation) and the
  learning rate, for one or several runs (`rnnkit plot`);
- ``gradflow_figure``: ‖δ_k‖ / ‖δ_t‖ against the distance t - k on a log
  scale, and the global gradient norm and loss of a short training run with
  and without clipping (`rnnkit gradflow`).
"""

import math
import os

from rnnkit.errors import RnnkitError

MISSING = "plotting needs matplotlib: pip install 'rnnkit[plot]'"

# Colour-blind-safe colours (Okabe & Ito) and line styles, so curves stay
# distinguishable in print and in grey scale.
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
STYLES = ["-", "--", "-.", ":"]

TRAINING_SIZE = (10.0, 7.0)  # inches; at dpi 100: 1000 x 700 pixels
GRADFLOW_SIZE = (13.0, 11.0)  # 1300 x 1100 pixels with the clipping panels
GRADFLOW_SIZE_FLOW_ONLY = (13.0, 6.5)
FLOW_YMIN, FLOW_YMAX = 1e-30, 1e20  # ratios beyond these leave the panel
NORM_YMAX, LOSS_YMAX = 1e6, 1e3     # the clipping panels: a diverged run leaves them


def require():
    """Raise RnnkitError with the install line unless matplotlib can be imported.

    Commands call this before measuring, so a missing extra is reported at once.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise RnnkitError(MISSING) from None


def _figure(size, dpi):
    """A matplotlib Figure on the Agg canvas; RnnkitError with the install line if matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise RnnkitError(MISSING) from None
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path, dpi):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise RnnkitError(f"{path}: the directory {directory} does not exist")
    import io as bytes_io

    from rnnkit.lm.io import atomic_write

    # rendered in memory, then written as every rnnkit file is (a temporary name, fsync, rename):
    # a full disk or a kill mid-write leaves the figure that was there, not half a PNG
    png = bytes_io.BytesIO()
    fig.savefig(png, dpi=dpi, format="png")
    atomic_write(path, png.getvalue())
    return path


def _style(i):
    return dict(color=COLORS[i % len(COLORS)], linestyle=STYLES[(i // len(COLORS)) % len(STYLES)])


# --- training curves ------------------------------------------------------------


def training_figure(runs, path, dpi=100, title=None, unit=None):
    """Perplexity per epoch and the learning rate for each run; writes a PNG to ``path``.

    runs: a list of dicts with ``label`` and ``rows`` (metrics.jsonl rows: epoch,
    train_ppl, valid_ppl, lr) and optionally ``saved``: (epoch, valid ppl) of
    the model the directory holds, when config.json says so. ``unit``: what
    the perplexity is per ("word", "character", "blank (cloze)"), for the axis.
    Training perplexity is dashed, validation solid, one colour per run; a
    circle marks the saved model (by default the best validation epoch).
    """
    return _save(training_plot(runs, dpi, title, unit), path, dpi)


def training_plot(runs, dpi=100, title=None, unit=None):
    """The Figure of training_figure (its axes: perplexity, then the learning rate)."""
    fig = _figure(TRAINING_SIZE, dpi)
    gs = fig.add_gridspec(2, 1, height_ratios=[3, 1])
    ax = fig.add_subplot(gs[0])
    ax_lr = fig.add_subplot(gs[1], sharex=ax)
    max_epoch = 1
    for i, run in enumerate(runs):
        st = _style(i)
        rows = run["rows"]
        epochs = [r["epoch"] for r in rows]
        max_epoch = max(max_epoch, max(epochs), (run.get("saved") or (0, 0))[0])
        valid = [_num(r.get("valid_ppl")) for r in rows]
        train = [_num(r.get("train_ppl")) for r in rows]
        best_i = min((j for j, v in enumerate(valid) if math.isfinite(v)), key=lambda j: valid[j], default=None)
        # The model the directory holds: config.json's (possibly mid-epoch) best, else the best row.
        saved = run.get("saved")
        if saved is None and best_i is not None:
            saved = (epochs[best_i], valid[best_i])
        label = run["label"]
        if saved is not None:
            label += f"  (saved model: valid {saved[1]:.1f}, epoch {saved[0]:g})"
        ax.plot(epochs, valid, color=st["color"], linestyle="-", marker=".", label=label)
        if any(math.isfinite(t) for t in train):
            ax.plot(epochs, train, color=st["color"], linestyle="--", alpha=0.8)
        if saved is not None and epochs and saved[0] > epochs[-1]:
            # Saved mid-epoch (a stopped run): join it to the last full epoch.
            ax.plot([epochs[-1], saved[0]], [valid[-1], saved[1]], color=st["color"], linestyle=":")
        if saved is not None:
            ax.plot([saved[0]], [saved[1]], "o", markersize=9, markerfacecolor="none",
                    markeredgecolor=st["color"], markeredgewidth=1.5)
        lrs = [_num(r.get("lr")) for r in rows]
        if any(math.isfinite(v) and v > 0 for v in lrs):
            ax_lr.step(epochs, lrs, where="mid", color=st["color"], linestyle=st["linestyle"], marker=".",
                       label=run["label"])
    ax.set_yscale("log")
    _plain_log_ticks(ax)
    ax.set_ylabel(f"perplexity{' per ' + unit if unit else ''} (log scale; lower is better)")
    ax.set_title(title or "Training curves: perplexity per epoch")
    ax.grid(True, which="both", alpha=0.3)
    ax.tick_params(labelbottom=False)
    # Line styles explained once, runs by colour.
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="grey", linestyle="-"), Line2D([], [], color="grey", linestyle="--"),
                Line2D([], [], color="grey", marker="o", linestyle="none", markerfacecolor="none")]
    labels += ["validation", "training (mean over the epoch)", "the model MODEL_DIR holds (best validation)"]
    ax.legend(handles, labels, loc="best", fontsize="small", framealpha=0.9)
    ax_lr.set_yscale("log")
    _value_ticks(ax_lr, [_num(r.get("lr")) for run in runs for r in run["rows"]])
    ax_lr.set_ylabel("learning rate (log scale)")
    ax_lr.set_xlabel("epoch")
    ax_lr.grid(True, which="both", alpha=0.3)
    ax_lr.set_xlim(0.5, max_epoch + 0.5)
    if max_epoch <= 30:
        ax_lr.set_xticks(range(1, int(max_epoch) + 1, 1 if max_epoch <= 15 else 2))
    return fig


# A learning-rate axis labels the rates themselves (20, 5, 0.005) up to this many.
MAX_VALUE_TICKS = 8


def _value_ticks(ax, values):
    """Tick labels at the values a log axis shows (the learning rates used), not at powers of ten."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    used = sorted({v for v in values if math.isfinite(v) and v > 0})
    if not used:
        return
    if len(used) > MAX_VALUE_TICKS:  # too many to label: every k-th, from the largest down
        step = math.ceil(len(used) / MAX_VALUE_TICKS)
        used = sorted(used[::-1][::step])
    ax.yaxis.set_major_locator(FixedLocator(used))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())
    if len(used) == 1:  # one rate: a little room above and below it
        ax.set_ylim(used[0] / 2, used[0] * 2)


def _plain_log_ticks(ax):
    """Tick labels 100, 200, 300 instead of 10^2, 2x10^2 on a log axis that spans little."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = ax.get_ylim()
    if hi / lo > 1000:
        return
    subs = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0) if hi / lo <= 4 else (1.0, 2.0, 5.0)
    ax.yaxis.set_major_locator(LogLocator(subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# --- gradient flow ----------------------------------------------------------------


def gradflow_figure(panels, clipping, path, dpi=100, subtitle=None):
    """The gradient-flow figure; writes a PNG to ``path``.

    panels:   a list of (title, curves); each curve a dict with ``label``,
              ``distance``, ``ratio`` and optionally ``p10``/``p90`` (a band),
              ``bound_per_step`` (the eq. 3 bound, drawn dotted), ``bptt`` (a
              trained model's BPTT window, a vertical line) and ``style``
              ("fresh" solid, "untrained" dashed, "reference" grey).
    clipping: the result of rnnkit.gradflow.clipping_run, or None to leave
              out the two training panels.
    """
    size = GRADFLOW_SIZE if clipping else GRADFLOW_SIZE_FLOW_ONLY
    fig = _figure(size, dpi)
    rows = 2 if clipping else 1
    ncols = max(len(panels), 2 if clipping else 1)
    gs = fig.add_gridspec(rows, ncols, height_ratios=[1.25, 1] if clipping else [1])
    letters = iter("abcdefgh")
    for j, (title, curves) in enumerate(panels):
        span = gs[0, :] if len(panels) == 1 else gs[0, j]
        _flow_panel(fig.add_subplot(span), curves, f"({next(letters)}) {title}")
    if clipping:
        _clipping_panels(fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[1, 1]), clipping, letters)
    # No CJK glyphs in matplotlib's default font: the article's 式3 is "eq. 3" here.
    fig.suptitle("The error term flowing back through time, the article's eq. 3:  "
                 r"$\delta_k^T = \delta_t^T \prod_{i=k}^{t-1} W\,\mathrm{diag}[f\,'(\mathrm{net}_i)]$"
                 + (f"\n{subtitle}" if subtitle else ""), fontsize="large")
    return _save(fig, path, dpi)


def _flow_panel(ax, curves, title):
    lo, hi = 1.0, 1.0
    colour_i = 0
    bounds = False
    for curve in curves:
        d = curve["distance"]
        ratio = [_positive(r) for r in curve["ratio"]]
        kind = curve.get("style", "fresh")
        if kind == "reference":
            st = dict(color="grey", linestyle="-")
        elif kind == "untrained" and colour_i:
            # The same architecture untrained: the trained curve's colour, dashed.
            st = dict(_style(colour_i - 1), linestyle="--")
        else:
            st = _style(colour_i)
            colour_i += 1
        ax.plot(d, ratio, label=curve["label"], linewidth=2.0 if kind != "reference" else 1.0, **st)
        if curve.get("p10") is not None and kind != "reference":
            p10 = [_positive(r) for r in curve["p10"]]
            p90 = [_positive(r) for r in curve["p90"]]
            ax.fill_between(d, p10, p90, color=st["color"], alpha=0.12, linewidth=0)
        beta = curve.get("bound_per_step")
        if beta and kind != "reference":
            bounds = True
            ax.plot(d, [beta ** k for k in d], color=st["color"], linestyle=":", linewidth=1.0, alpha=0.7)
        finite = [r for r in ratio if math.isfinite(r)]
        if finite:
            lo, hi = min(lo, min(finite)), max(hi, max(finite))
    ax.axhline(1.0, color="black", linewidth=0.6, alpha=0.6)
    windows = sorted({c["bptt"] for c in curves if c.get("bptt")})
    for w in windows:
        # Training never sent an error further back than its truncated-BPTT window.
        ax.axvline(w, color="dimgrey", linestyle="--", linewidth=1.0,
                   label=f"the BPTT window the model was trained with ({w} steps)")
    ax.set_yscale("log")
    # Keep the interesting range: far below 1e-30 every curve means "nothing arrives".
    ax.set_ylim(max(lo / 10, FLOW_YMIN), min(hi * 10, FLOW_YMAX))
    ax.set_xlim(0, max(max(c["distance"]) for c in curves) if curves else 1)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("distance t − k  (time steps back from the last step t)")
    ax.set_ylabel(r"$\Vert\delta_k\Vert \,/\, \Vert\delta_t\Vert$   (log scale)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    if bounds:
        handles.append(Line2D([], [], color="grey", linestyle=":"))
        labels.append(r"dotted: its bound $(\beta_W \beta_f)^{t-k}$ from eq. 3")
    if any(c.get("p10") is not None for c in curves):
        handles.append(Patch(color="grey", alpha=0.2))
        labels.append("band: 10–90% of the sequences")
    # Below the axes, so no curve is hidden.
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize="small",
              frameon=False)


def _positive(value):
    value = _num(value)
    return value if value > 0 else math.nan


def _clipping_panels(ax_norm, ax_loss, result, letters):
    runs = result["runs"]
    clip = result["clip"]
    no, yes = runs["no clipping"], runs["clipping"]
    steps = list(range(1, len(no["norm"]) + 1))
    red, blue = COLORS[1], COLORS[0]
    cfg = result["config"]

    ax_norm.plot(steps, [_positive(v) for v in no["norm"]], color=red, linewidth=1.5, label="no clipping")
    ax_norm.plot(steps, [_positive(v) for v in yes["norm"]], color=blue, alpha=0.45, linewidth=1.0,
                 label="clipping: the norm before clipping")
    ax_norm.plot(steps, [_positive(v) for v in yes["applied"]], color=blue, linewidth=2.0,
                 label="clipping: the norm of the step taken")
    ax_norm.axhline(clip, color="black", linestyle="--", linewidth=1.0, label=f"threshold {clip:g}")
    ax_norm.set_yscale("log")
    top = _top_limit(ax_norm, [no["norm"], yes["norm"]], NORM_YMAX)
    _note_off_chart(ax_norm, no["norm"], top, red, "gradient norm")
    ax_norm.set_xlabel("training step (one SGD update per batch)")
    ax_norm.set_ylabel(r"global gradient norm $\Vert\nabla\Vert$   (log scale)")
    ax_norm.set_title(f"({next(letters)}) Gradient norm while training, with and without clipping")
    ax_norm.grid(True, which="major", alpha=0.3)
    ax_norm.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize="small", frameon=False)

    ax_loss.plot(steps, [_positive(v) for v in no["loss"]], color=red, linewidth=1.5, label="no clipping")
    ax_loss.plot(steps, [_positive(v) for v in yes["loss"]], color=blue, linewidth=2.0,
                 label=f"clipping the global norm at {clip:g}")
    ax_loss.axhline(1.0, color="grey", linestyle=":", linewidth=1.0, label="always answering 0 (the target's variance)")
    ax_loss.set_yscale("log")
    top = _top_limit(ax_loss, [no["loss"], yes["loss"]], LOSS_YMAX)
    _note_off_chart(ax_loss, no["loss"], top, red, "loss")
    ax_loss.set_xlabel("training step (one SGD update per batch)")
    ax_loss.set_ylabel("mean squared error   (log scale)")
    ax_loss.set_title(f"({next(letters)}) Training loss: output x_(t−{result['lag']}) at every step t")
    ax_loss.grid(True, which="major", alpha=0.3)
    ax_loss.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize="small", frameon=False)
    ax_loss.text(0.99, 0.02, f"{cfg['label']}, {result['hidden']} units; SGD lr {result['lr']:g}, "
                             f"batch {result['batch']} x {result['steps']} steps",
                 transform=ax_loss.transAxes, ha="right", va="bottom", fontsize="small", color="dimgrey")


def _top_limit(ax, series, cap):
    finite = [v for s in series for v in s if math.isfinite(_num(v)) and v > 0]
    low = min(finite) if finite else 1e-3
    high = max(finite) if finite else 1.0
    top = min(high * 3, cap)
    ax.set_ylim(low / 3, top)
    return top


def _note_off_chart(ax, values, top, color, what):
    """Say in words where a run leaves the panel and where it stops being finite."""
    leaves = next((i for i, v in enumerate(values) if not math.isfinite(_num(v)) or v > top), None)
    if leaves is None:
        return
    finite = [v for v in values if math.isfinite(_num(v))]
    overflow = next((i for i, v in enumerate(values) if not math.isfinite(_num(v))), None)
    text = f"no clipping: the {what} leaves the chart at step {leaves + 1}"
    if finite:
        text += f",\nreaches {max(finite):.1e}"
    if overflow is not None:
        text += f" and overflows (NaN) at step {overflow + 1}"
    ax.text(0.98, 0.97, text, transform=ax.transAxes, ha="right", va="top", color=color, fontsize="small",
            bbox=dict(facecolor="white", edgecolor="none", alpha=0.8))
