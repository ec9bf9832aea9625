"""What every bad-input test asserts: the input loads, or raises rnnkit's own error with one line;
nothing else is raised, and neither memory nor time goes past a fixed budget."""

import os
import shutil
import tempfile
import time
import tracemalloc

from rnnkit.errors import RnnkitError

# Per example. The inputs are a few kB: anything near these figures is a reader
# that allocates what a file asks for instead of what it holds.
MEMORY_BUDGET = 64 * 2**20
TIME_BUDGET = 20.0  # seconds, generous for a loaded machine; a hang or a /dev/zero read is far beyond it

# Few examples, no deadline from hypothesis itself (a loaded CI machine would make it flaky):
# the time budget above is checked instead.
SETTINGS = dict(max_examples=40, deadline=None, derandomize=True)


def loads_or_one_line_error(fn):
    """Run ``fn()``; returns what it returned, or the RnnkitError it raised. Fails on anything else."""
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        result = fn()
    except RnnkitError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        result = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    elapsed = time.monotonic() - t0
    assert peak < MEMORY_BUDGET, f"peak {peak / 2**20:.1f} MiB"
    assert elapsed < TIME_BUDGET, f"{elapsed:.1f} s"
    return result


def ask_ngram(path, workdir):
    """Load the N-gram model at ``path`` and ask it everything the commands do (scores, perplexity,
    per-word scores, predictions, the training summary, the ARPA text written to ``workdir``).
    No silent NaN: only a word outside a closed vocabulary goes without a probability."""
    import os

    import numpy as np

    from rnnkit.ngram import NgramModel

    model = NgramModel.load(path)
    sentences = [["the", "cat", "sat", "on", "the", "mat"], ["zzz", "dog"], [], ["a"]]
    for words, values in zip(sentences, model.token_log10probs(sentences)):
        known = [w in model.word_index or model.open_vocabulary for w in words] + [True]
        assert not np.isnan(values[known]).any(), (words, values)
    model.evaluate(sentences)
    model.score_sentences(sentences)
    model.predict("the cat", top=3)
    model.predict("", top=50)
    model.counts()
    try:
        model.training_summary()
    except RnnkitError:  # no record, or a damaged one: said in one line
        pass
    model.write_arpa(os.path.join(workdir, "back.arpa"), force=True)
    return model


def ngram_file_loads_or_one_line_error(data, name):
    """Write ``data`` as the file ``name`` in a fresh directory and ask_ngram it there, under the
    budgets of loads_or_one_line_error: the NgramModel, or the RnnkitError it raised. The
    directory is removed afterwards."""
    workdir = tempfile.mkdtemp(prefix="fuzz-ngram-")
    try:
        path = os.path.join(workdir, name)
        with open(path, "wb") as f:
            f.write(data)
        return loads_or_one_line_error(lambda: ask_ngram(path, workdir))
    finally:
        shutil.rmtree(workdir)
