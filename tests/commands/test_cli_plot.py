"""`rnnkit plot` and the figures of `rnnkit gradflow`: PNGs that open, have their size and are not blank."""

import json
import math
import random
import sys

import numpy
import pytest

from rnnkit.cli import main

PIL = pytest.importorskip("PIL.Image")


def open_png(path):
    with PIL.open(path) as img:
        assert img.format == "PNG"
        return numpy.asarray(img.convert("RGB"), dtype=numpy.float64)


def assert_drawn(pixels, size):
    h, w, _ = pixels.shape
    assert (w, h) == size
    assert pixels.var() > 100  # not a blank canvas
    ink = (pixels.sum(axis=2) < 600).mean()  # pixels clearly darker than white
    assert 0.01 < ink < 0.6


def write_metrics(directory, epochs, start_ppl, lrs=None, bad_line=None):
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for e in range(1, epochs + 1):
        valid = start_ppl / math.sqrt(e) + 100
        rows.append(json.dumps({"epoch": e, "train_ppl": valid * 1.1, "valid_ppl": valid,
                                "lr": (lrs or [1.0] * epochs)[e - 1], "best": True}))
    if bad_line is not None:
        rows.insert(bad_line, '{"epoch": 3, "valid_')
    (directory / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    return str(directory)


def one_line_error(capsys, code, argv):
    assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0], err
    return err[0]


# --- rnnkit plot -----------------------------------------------------------------------------


def test_plot_one_run(capsys, tmp_path):
    run = write_metrics(tmp_path / "run", 6, 300, lrs=[20, 20, 20, 10, 5, 2.5])
    out = tmp_path / "curves.png"
    assert main(["plot", run, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "6 epochs" in text and "at epoch 6" in text and f"wrote {out}" in text
    assert_drawn(open_png(out), (1000, 700))


def test_plot_several_runs_with_labels_and_a_metrics_file(capsys, tmp_path):
    a = write_metrics(tmp_path / "a", 4, 300)
    b = write_metrics(tmp_path / "b", 9, 200)
    out = tmp_path / "both.png"
    assert main(["plot", a, str(tmp_path / "b" / "metrics.jsonl"), "--label", "first", "--label", "second",
                 "--out", str(out), "--dpi", "50", "--title", "two runs"]) == 0
    text = capsys.readouterr().out
    assert "first: 4 epochs" in text and "second: 9 epochs" in text
    assert_drawn(open_png(out), (500, 350))


def test_plot_reads_what_rnnkit_train_writes(capsys, tmp_path):
    rnd = random.Random(0)
    words = "the cat dog sat on mat ran to a big small red house".split()
    for name, n in (("train.txt", 200), ("valid.txt", 50)):
        (tmp_path / name).write_text("".join(" ".join(rnd.choice(words) for _ in range(6)) + "\n" for _ in range(n)))
    model = str(tmp_path / "model")
    assert main(["train", str(tmp_path / "train.txt"), "--valid", str(tmp_path / "valid.txt"), "--out", model,
                 "--hidden", "8", "--epochs", "3", "--batch", "4", "--bptt", "8", "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "trained.png"
    assert main(["plot", model, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "model (rnn 1×8): 3 epochs" in text
    assert_drawn(open_png(out), (1000, 700))


def test_model_dir_without_metrics_is_one_line(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    line = one_line_error(capsys, 1, ["plot", str(tmp_path / "empty"), "--out", str(tmp_path / "x.png")])
    assert "no metrics.jsonl" in line
    line = one_line_error(capsys, 1, ["plot", str(tmp_path / "missing"), "--out", str(tmp_path / "x.png")])
    assert "no such model directory" in line
    assert not (tmp_path / "x.png").exists()


def test_damaged_or_empty_metrics_are_one_line(capsys, tmp_path):
    bad = write_metrics(tmp_path / "bad", 4, 300, bad_line=2)
    line = one_line_error(capsys, 1, ["plot", bad, "--out", str(tmp_path / "x.png")])
    assert "metrics.jsonl:3:" in line
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "metrics.jsonl").write_text("")
    line = one_line_error(capsys, 1, ["plot", str(tmp_path / "none"), "--out", str(tmp_path / "x.png")])
    assert "no epochs" in line
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "metrics.jsonl").write_text('{"epoch": 1}\n')
    line = one_line_error(capsys, 1, ["plot", str(tmp_path / "odd"), "--out", str(tmp_path / "x.png")])
    assert "valid_ppl" in line


def test_plot_usage_errors(capsys, tmp_path):
    run = write_metrics(tmp_path / "run", 2, 300)
    assert "PNG" in one_line_error(capsys, 2, ["plot", run, "--out", str(tmp_path / "x.svg")])
    assert "--label" in one_line_error(capsys, 2, ["plot", run, "--label", "a", "--label", "b"])


def test_missing_matplotlib_is_one_line_with_the_install_command(capsys, tmp_path, monkeypatch):
    run = write_metrics(tmp_path / "run", 2, 300)
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    line = one_line_error(capsys, 1, ["plot", run, "--out", str(tmp_path / "x.png")])
    assert line == "rnnkit plot: error: plotting needs matplotlib: pip install 'rnnkit[plot]'"
    line = one_line_error(capsys, 1, ["gradflow", "--steps", "3", "--out", str(tmp_path / "y.png")])
    assert line.endswith("plotting needs matplotlib: pip install 'rnnkit[plot]'")
    # The numbers alone do not need matplotlib.
    assert main(["gradflow", "--cell", "rnn", "--steps", "3", "--batch", "1", "--hidden", "2", "--flow-only",
                 "--json"]) == 0


# --- rnnkit gradflow's figure -------------------------------------------------------------------


def test_gradflow_figure_with_clipping_panels(capsys, tmp_path):
    out = tmp_path / "gradflow.png"
    argv = ["gradflow", "--config", "cell=rnn,activation=tanh,init=orthogonal,scale=0.5",
            "--config", "cell=lstm,forget_bias=3", "--steps", "15", "--batch", "3", "--hidden", "6",
            "--train-steps", "20", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "no clipping" in text and "clipping" in text
    assert_drawn(open_png(out), (1300, 1100))


def test_gradflow_presets_figure_flow_only(capsys, tmp_path, monkeypatch):
    from rnnkit import gradflow

    # The default comparison, on fewer presets so the test stays fast.
    monkeypatch.setattr(gradflow, "PRESETS", [gradflow.PRESETS[0], gradflow.PRESETS[2], gradflow.PRESETS[6]])
    out = tmp_path / "presets.png"
    assert main(["gradflow", "--steps", "10", "--batch", "2", "--hidden", "4", "--flow-only",
                 "--out", str(out)]) == 0
    assert_drawn(open_png(out), (1300, 650))


def write_config(directory, tokenizer="word", task="lm"):
    (directory / "config.json").write_text(json.dumps({"task": task, "tokenizer": tokenizer}))


def test_the_learning_rate_panel_labels_the_rates_and_the_runs():
    pytest.importorskip("matplotlib")
    from rnnkit import plots

    rows = [{"epoch": e, "valid_ppl": 200.0 / e, "train_ppl": 210.0 / e, "lr": lr}
            for e, lr in enumerate([20, 20, 5, 0.005], 1)]
    other = [dict(r, lr=1.0) for r in rows]
    fig = plots.training_plot([dict(label="elman", rows=rows), dict(label="lstm", rows=other)], unit="word")
    ax, ax_lr = fig.axes
    fig.canvas.draw()
    labels = [t.get_text() for t in ax_lr.get_yticklabels() if t.get_text()]
    assert labels == ["0.005", "1", "5", "20"]  # the rates used, as numbers
    assert ax.get_ylabel().startswith("perplexity per word")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("elman") and legend[1].startswith("lstm")


def test_runs_in_different_units_are_refused(capsys, tmp_path):
    words = write_metrics(tmp_path / "words", 3, 300)
    chars = write_metrics(tmp_path / "chars", 3, 30)
    cloze = write_metrics(tmp_path / "cloze", 3, 30)
    write_config(tmp_path / "words")
    write_config(tmp_path / "chars", tokenizer="char")
    write_config(tmp_path / "cloze", task="cloze")
    out = str(tmp_path / "x.png")
    line = one_line_error(capsys, 2, ["plot", words, chars, "--out", out])
    assert "different units" in line and "per word" in line and "per character" in line
    line = one_line_error(capsys, 2, ["plot", words, cloze, "--out", out])
    assert "per blank (cloze)" in line
    assert not (tmp_path / "x.png").exists()
