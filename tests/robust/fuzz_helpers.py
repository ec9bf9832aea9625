"""What every bad-input test asserts: the input loads, or raises rnnkit's own error with one line;
nothing else is raised, and neither memory nor time goes past a fixed budget."""

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
