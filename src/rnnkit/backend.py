"""The one place that picks the array module and the floating-point type.

Layers never import numpy for their math; they take ``xp`` from here, so that a
GPU array module (CuPy) can be dropped in without touching them. Training and
inference run in float32; gradient checks ask for float64 explicitly.
"""

from concurrent.futures import ThreadPoolExecutor, wait

import numpy

xp = numpy
DEFAULT_DTYPE = numpy.float32


def as_dtype(dtype):
    """The dtype to use: ``dtype`` if given, else the default (float32)."""
    return xp.dtype(DEFAULT_DTYPE if dtype is None else dtype)


def rng(seed=None):
    """A NumPy Generator; an existing Generator is passed through unchanged."""
    if isinstance(seed, numpy.random.Generator):
        return seed
    return numpy.random.default_rng(seed)


def num_threads():
    """How many threads rnnkit's own elementwise work may use.

    BLAS already runs its matrix products on every core; NumPy's ufuncs run on
    one. The large elementwise passes (the softmax over the vocabulary) are
    split over this many threads, NumPy releasing the GIL inside each pass.
    The usual variables that pin BLAS to fewer threads pin this too, so a run
    told to use one core uses one core.
    """
    import os

    for var in ("RNNKIT_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var)
        if value and value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


_pool = None


def parallel_map(fn, items):
    """[fn(item) for item in items], spread over num_threads() threads when there is more than one.

    The calling thread works too, and the items are handed out one at a time
    to whichever thread is free. On a shared machine a woken pool thread can
    start milliseconds late (measured here: 4-6 ms, a scheduler tick); with a
    fixed half of the items each, the whole call waited for it, where now the
    threads already running take the late one's share. So callers pass more
    items than threads (several cache-sized blocks each, not one half each).
    """
    global _pool
    items = list(items)
    threads = min(num_threads(), len(items))
    if threads <= 1:
        return [fn(item) for item in items]
    if _pool is None or _pool._max_workers < threads - 1:
        _pool = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="rnnkit")
    results = [None] * len(items)
    indices = iter(range(len(items)))  # shared: next() on it is one C call, atomic under the GIL

    def work():
        for i in indices:
            results[i] = fn(items[i])

    helpers = [_pool.submit(work) for _ in range(threads - 1)]
    try:
        work()
    finally:
        wait(helpers)  # never leave a helper writing into results after returning or raising
    for helper in helpers:
        helper.result()  # re-raises a helper's exception
    return results
