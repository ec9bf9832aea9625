"""Unbounded memory: sizes a user types are checked before allocating; scoring holds a fixed working set."""

import tracemalloc

import numpy as np
import pytest

from rnnkit.errors import OptionError, RnnkitError
from rnnkit.lm import score
from rnnkit.lm.model import RNNLM
from rnnkit.lm.vocab import Vocab

from robust_helpers import quiet, write_corpus

VOCAB = 3000


@pytest.fixture(scope="module")
def wide_model():
    """An untrained model with a vocabulary wide enough that (tokens x vocabulary) would show."""
    vocab = Vocab(["<unk>", "<eos>"] + [f"w{i}" for i in range(VOCAB - 2)], [1] * VOCAB)
    return RNNLM(VOCAB, embed=8, hidden=8, seed=1), vocab


def _peak(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_scoring_a_long_line_holds_a_fixed_working_set(wide_model):
    model, vocab = wide_model
    rng = np.random.default_rng(0)
    long_line = rng.integers(2, VOCAB, 20000).astype(np.int32)
    lists = [long_line] + [rng.integers(2, VOCAB, 5).astype(np.int32) for _ in range(63)]
    out, peak = _peak(lambda: score.sentence_log_probs(model, vocab, lists))
    # (20,001 x 3,000) float32 scores would be 240 MB, padded to 64 lines 15 GB; the chunks hold 512 rows
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    # the same log-probabilities as reading the line in one piece
    x = np.concatenate([[vocab.eos_id], long_line]).astype(np.int32)[:, None]
    y = np.concatenate([long_line, [vocab.eos_id]]).astype(np.int32)[:, None]
    whole = model.token_log_probs(x[:3000], y[:3000])[:, 0]
    np.testing.assert_allclose(out[0][:3000], whole, rtol=1e-5, atol=1e-5)
    assert [len(o) for o in out[1:]] == [6] * 63


def test_a_long_line_is_not_padded_into_the_short_ones():
    groups = list(score._groups([10**6] + [3] * 100, 64))
    assert [0] in groups and sum(len(g) for g in groups) == 101


def test_fill_blank_size_checked_before_building():
    from rnnkit.lm.cloze import parse_blanks

    for text in ("the __999999999__ is", "the __" + "9" * 5000 + "__ is", "a __5__ b __5__ c"):
        _, peak = _peak(lambda: pytest.raises(RnnkitError, parse_blanks, text, "word"))
        assert peak < 2**20, text[:30]


@pytest.fixture(scope="module")
def cloze_model(tmp_path_factory):
    from rnnkit.lm.train import train

    d = tmp_path_factory.mktemp("cloze")
    tr, va = write_corpus(d / "train.txt", 200, seed=1), write_corpus(d / "valid.txt", 30, seed=2)
    train(str(tr), str(va), str(d / "m"), dict(task="cloze", hidden=8, embed=8, epochs=1, batch=4, bptt=12,
                                                optimizer="sgd", lr=1.0, seed=1), quiet=True, log=quiet)
    return d / "m"


def test_fill_top_and_beam_checked_before_searching(cloze_model, capsys):
    from rnnkit.cli import main
    from rnnkit.lm.cloze import ClozeLM

    lm = ClozeLM.load(str(cloze_model))
    for kw in (dict(top=100_000_000), dict(top=3, beam=10**9)):
        (_, peak) = _peak(lambda: pytest.raises(OptionError, lm.fill, "the __2__ sat on the mat", **kw))
        assert peak < 2**20
    assert main(["fill", str(cloze_model), "the __ sat on the mat", "--top", "100000000"]) == 0  # one token: exact
    assert main(["fill", str(cloze_model), "the __2__ sat on the mat", "--top", "100000000"]) == 2
    assert "--top" in capsys.readouterr().err


@pytest.mark.parametrize("args, flag", [(["--cache", str(10**12)], "--cache"),
                                        (["--cache", "10001"], "--cache"),
                                        (["--dynamic", "--dynamic-bptt", str(10**8)], "--dynamic-bptt"),
                                        (["--dynamic", "--dynamic-bptt", "0"], "--dynamic-bptt")])
@pytest.mark.parametrize("command", ["eval", "score"])
def test_adapting_sizes_checked_before_reading_anything(tiny_model, tmp_path, capsys, command, args, flag):
    """--cache 10**12 kept every state of the text (time growing with its square), --dynamic-bptt 10**8
    held the whole text's (tokens x vocabulary) output for one gradient step."""
    from rnnkit.cli import main

    missing = str(tmp_path / "not-read.txt")  # the options are refused before the model or the text is read
    assert main([command, str(tiny_model), missing, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err and "must be a whole number in 1.." in err, err


def test_adapting_sizes_up_to_the_caps_work(tiny_model, corpus):
    from rnnkit.lm.adapt import MAX_CACHE, MAX_SEGMENT, DynamicEval, NeuralCache
    from rnnkit.lm.api import LanguageModel

    lm = LanguageModel.load(str(tiny_model))
    r = lm.evaluate(str(corpus[1]), dynamic=DynamicEval(bptt=MAX_SEGMENT), cache=NeuralCache(MAX_CACHE))
    assert np.isfinite(r.perplexity)


def test_prepare_starts_no_more_workers_than_chunks_and_checks_their_memory(tmp_path, monkeypatch, capsys):
    """--workers 1000 started a thousand processes for a corpus of three chunks; --chunk-mb 100000 read
    the whole corpus into each worker whatever the memory; --chunk-mb inf was a traceback."""
    from rnnkit.cli import main
    from rnnkit.lm.train import trainer
    from rnnkit.scale import prepare

    corpus = write_corpus(tmp_path / "train.txt", 60, seed=1)
    started = []
    real_pool = prepare._Pool
    monkeypatch.setattr(prepare, "_Pool", lambda workers, *a: started.append(workers) or real_pool(1, *a))
    manifest = prepare.prepare([str(corpus)], str(tmp_path / "d"), workers=1000, chunk_bytes=900)
    assert started and set(started) == {len(manifest["shards"])} and len(manifest["shards"]) < 10

    # 4 kB available: one chunk of the whole corpus (about 1.5 kB, held about ten times over) is too much
    monkeypatch.setattr(trainer, "available_memory", lambda: 4096)
    with pytest.raises(OptionError, match=r"option 'workers'") as info:
        prepare.prepare([str(corpus)], str(tmp_path / "e"), workers=200, chunk_bytes=60_000)
    assert "GiB of memory is available" in str(info.value) and not (tmp_path / "e").exists()
    assert main(["prepare", str(corpus), "--out", str(tmp_path / "f"), "--chunk-mb", "inf"]) == 2
    err_line = capsys.readouterr().err
    assert err_line.count("\n") == 1 and "--chunk-mb must be a positive number" in err_line


@pytest.mark.parametrize("args", [["--hidden", "100000"], ["--steps", str(10**9), "--batch", str(10**9)],
                                  ["--config", "cell=gru,hidden=60000"]])
def test_gradflow_sizes_checked_before_building(args, capsys):
    """--hidden 100000 was a MemoryError traceback after asking for 75 GiB, --steps/--batch 10**9 a ValueError."""
    from rnnkit.cli import main

    _, peak = _peak(lambda: main(["gradflow", *args, "--json", "--flow-only"]))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GiB of memory is available" in err and "needs about" in err, err
    assert peak < 16 * 2**20  # importing the command's modules; nothing of the sizes asked for


def test_gradflow_memory_estimate_covers_what_it_takes():
    """The estimate is generous: above the measured peak of a small and a wide network."""
    from rnnkit import gradflow

    for cfg, steps, batch, hidden in ((dict(cell="lstm"), 30, 8, 32), (dict(cell="rnn"), 4, 2, 512)):
        _, peak = _peak(lambda: gradflow.measure_fresh(cfg, steps=steps, batch=batch, hidden=hidden))
        # beyond the fixed working set of the measurement (its row budget, about 60 MB), it grows with H² and T B H
        assert peak < gradflow.fresh_memory_estimate(cfg, steps, batch, hidden) + 64 * 2**20


@pytest.mark.parametrize("command", ["plot", "gradflow"])
def test_dpi_is_capped(command, tmp_path, capsys):
    """plot --dpi 1000000 ended in matplotlib's ValueError traceback, after trying."""
    from rnnkit.cli import main

    argv = ["plot", str(tmp_path)] if command == "plot" else ["gradflow", "--json"]
    assert main([*argv, "--dpi", "1000000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--dpi must be in 10..600" in err


def test_local_ray_workers_checked_against_the_memory(tmp_path, monkeypatch):
    """train --workers 100 (with --batch 100) started a hundred Ray processes on this machine, whatever it held."""
    from rnnkit.scale import data_parallel

    def no_ray(*args, **kw):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(data_parallel, "available_memory", lambda: 4 * 2**30)
    monkeypatch.setattr(data_parallel, "connect", no_ray)
    tr, va = write_corpus(tmp_path / "train.txt", 300, seed=1), write_corpus(tmp_path / "valid.txt", 40, seed=2)
    opts = dict(hidden=8, embed=8, batch=100, bptt=5, epochs=1)
    with pytest.raises(OptionError, match=r"option 'workers' 100 local Ray workers need about 14\.\d GiB .* 4\.0 GiB"):
        data_parallel.train_data_parallel(str(tr), str(va), str(tmp_path / "m"), opts, workers=100, quiet=True,
                                          log=quiet)
    # a cluster's workers are not on this machine: not checked here
    with pytest.raises(AssertionError, match="Ray was started"):
        data_parallel.train_data_parallel(str(tr), str(va), str(tmp_path / "m2"), opts, workers=100,
                                          ray_address="10.0.0.1:6379", quiet=True, log=quiet)
