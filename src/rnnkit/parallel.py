"""How rnnkit's own work shares the cores, beside the threads BLAS runs itself.

Two ways: parallel_map (a softmax's row blocks over every core, NumPy releasing
the GIL inside each ufunc) and alongside (the output layer's ∇V on a second core
beside BPTT, BLAS held to one thread each through threadpoolctl). Both are
speed machinery only: with one thread they run the same work in the calling
thread, and the results are the same.
"""

import os
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager


def num_threads():
    """How many threads rnnkit's own elementwise work may use.

    BLAS already runs its matrix products on every core; NumPy's ufuncs run on
    one. The large elementwise passes (the softmax over the vocabulary) are
    split over this many threads, NumPy releasing the GIL inside each pass.
    The usual variables that pin BLAS to fewer threads pin this too, so a run
    told to use one core uses one core.
    """
    for var in ("RNNKIT_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var)
        if value and value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


_pool = None


def _helpers(n):
    """The shared pool of helper threads, grown to at least ``n``."""
    global _pool
    if _pool is None or _pool._max_workers < n:
        _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="rnnkit")
    return _pool


def parallel_map(fn, items):
    """[fn(item) for item in items], spread over num_threads() threads when there is more than one.

    The calling thread works too, and the items are handed out one at a time
    to whichever thread is free. On a shared machine a woken pool thread can
    start milliseconds late (measured here: 4-6 ms, a scheduler tick); with a
    fixed half of the items each, the whole call waited for it, where now the
    threads already running take the late one's share. So callers pass more
    items than threads (several cache-sized blocks each, not one half each).
    """
    items = list(items)
    threads = min(num_threads(), len(items))
    if threads <= 1:
        return [fn(item) for item in items]
    results = [None] * len(items)

    def run(i):
        results[i] = fn(items[i])

    with _helped(_shared_loop(len(items), run), threads - 1):
        pass  # nothing of its own: the calling thread joins the loop at once
    return results


def _shared_loop(count, run):
    """A loop that several threads can run at once: together they call run(i) once for each i < count."""
    indices = iter(range(count))  # shared: next() on it is one C call, atomic under the GIL

    def work():
        for i in indices:
            run(i)

    return work


@contextmanager
def _helped(work, helpers):
    """Run ``work`` on ``helpers`` pool threads while the body runs, and in this thread after it.

    Returns (or raises the body's error) only once every helper has stopped,
    so none is left writing into the caller's arrays; then a helper's error
    is raised.
    """
    futures = [_helpers(helpers).submit(work) for _ in range(helpers)]
    try:
        yield
        work()
    finally:
        wait(futures)
    for future in futures:
        future.result()


_blas = None


def _one_blas_thread():
    """A context manager that holds BLAS to one thread (threadpoolctl), or None if none is found."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas")
    return _blas.limit(limits=1) if _blas.lib_controllers else None


@contextmanager
def alongside(jobs):
    """Run ``jobs`` (independent callables) on a second core while the body of the ``with`` runs.

    Made for one large matrix product, cut in pieces, beside a chain of small
    ones that cannot keep two cores busy: the output layer's ∇V beside BPTT
    (RNNLM.backward). BLAS is held to one thread meanwhile, so that the two
    share the cores instead of queueing for BLAS's threads; pieces not started
    when the body ends are shared by both threads. When a job raises, the error
    comes after the body and every started job have finished.

    Only with exactly two threads (num_threads()), the machine it was measured
    on: with more cores, one BLAS thread per side would leave cores idle that
    BLAS alone would use. Otherwise, or where no BLAS can be limited, the jobs
    simply run after the body.
    """
    jobs = list(jobs)
    limit = _one_blas_thread() if jobs and num_threads() == 2 else None
    if limit is None:
        yield
        for job in jobs:
            job()
        return
    with limit, _helped(_shared_loop(len(jobs), lambda i: jobs[i]()), 1):
        yield
