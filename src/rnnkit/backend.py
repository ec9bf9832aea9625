"""The one place that picks the array module and the floating-point type.

Layers never import numpy for their math; they take ``xp`` from here, so that a
GPU array module (CuPy) can be dropped in without touching them. Training and
inference run in float32; gradient checks ask for float64 explicitly.
"""

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
    """[fn(item) for item in items], spread over num_threads() threads when there is more than one."""
    global _pool
    items = list(items)
    threads = min(num_threads(), len(items))
    if threads <= 1:
        return [fn(item) for item in items]
    if _pool is None or _pool._max_workers < threads:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rnnkit")
    return list(_pool.map(fn, items))
