"""How rnnkit's own work shares the cores, beside the threads BLAS runs itself.

Three ways: parallel_map (a softmax's row blocks over every core, NumPy releasing
the GIL inside each ufunc), product_map (a product of few rows cut in blocks,
shared among the threads inside shared_products, BLAS held to one thread:
dynamic evaluation) and alongside (the output layer's ∇V on a second core
beside BPTT, BLAS held to one thread each through threadpoolctl). All are speed
machinery only: with one thread they run the same work in the calling thread,
and the results are the same.
"""

import functools
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext


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


def product_map(fn, items):
    """[fn(item) for item in items] for matrix products cut in blocks: shared among rnnkit's
    threads (parallel_map) inside ``shared_products``, otherwise run here one after another,
    each product on BLAS's own threads.

    Made for products of few rows (a 20-token segment against a 10,000-word output layer):
    OpenBLAS ran such a product no faster on two threads than on one (measured here, 2.4 ms
    either way), where two blocks of it on two threads took 1.0-1.2 ms.
    """
    if shares_products():
        return parallel_map(fn, items)
    return [fn(item) for item in items]


_sharing = [0]  # how many shared_products bodies are open


@contextmanager
def shared_products():
    """For the body: BLAS held to one thread, and product_map sharing its blocks among
    rnnkit's threads (when num_threads() allows more than one).

    Opened once around a whole job made of few-row products (dynamic evaluation, through
    rnnkit.lm.adapt.Adapter), not around each product: changing BLAS's threads costs more
    than the second core gives to one 20-row product. Elsewhere BLAS keeps its threads and
    products their usual path, so a server's or a training run's work is as it was.
    """
    with _one_blas_thread() or nullcontext():  # nothing to hold where no BLAS can be limited
        _sharing[0] += 1
        try:
            yield
        finally:
            _sharing[0] -= 1


def shares_products():
    """Whether product_map shares the blocks among threads now (see shared_products)."""
    return _sharing[0] > 0 and num_threads() > 1


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


# --- how many BLAS threads a recurrent layer's loop gets ---------------------------
#
# A recurrent layer's forward and BPTT are a chain of small products, one per
# time step (B x H by H x GH). On a quiet machine BLAS's threads help them a
# little; with another CPU-bound process on the cores they wait for each other
# at every step, and `rnnkit gradflow` took 3 min 43 s with OpenBLAS's two
# threads where it took 22 s with one. Which is faster depends on the sizes and
# on what else the machine runs right now, so it is measured, not guessed:
# step_threads times each loop (per layer kind, direction and shape) with one
# BLAS thread and with all of them, PROBES calls each, interleaved, keeps the
# faster, and measures again after HOLD_SECONDS or as soon as the load average
# (os.getloadavg) has moved by LOAD_CHANGE. The big products outside the loops
# (the output layer's) keep every thread. Results do not depend on the choice
# beyond rounding: see the README on --seed.

PROBES = 3
HOLD_SECONDS = 30.0
LOAD_CHANGE = 1.0
# Below this many multiply-adds per step (B x H x H) OpenBLAS runs one thread
# anyway (its GEMM_MULTITHREAD_THRESHOLD: M N K <= 65536 x 4): nothing to choose.
SMALL_STEP = 65536 * 4


class ThreadChoice:
    """The measured choice for one kind of loop: 1 BLAS thread or ``top``."""

    def __init__(self):
        self.samples = {}
        self.choice, self.until, self.load = None, 0.0, None

    def pick(self, top, now, load):
        """(threads, exploring): the count to run with, and whether this call is a measurement."""
        if self.choice is not None and now < self.until and abs(load - self.load) < LOAD_CHANGE \
                and self.choice in (1, top):
            return self.choice, False
        self.choice = None
        for n in (1, top):
            self.samples.setdefault(n, [])
        n = min((1, top), key=lambda c: len(self.samples[c]))  # interleaved: the one measured least
        return n, True

    def record(self, threads, seconds, top, now, load):
        self.samples.setdefault(threads, []).append(seconds)
        if all(len(self.samples.get(n, ())) >= PROBES for n in (1, top)):
            self.choice = min((1, top), key=lambda n: statistics.median(self.samples[n]))
            self.until, self.load, self.samples = now + HOLD_SECONDS, load, {}


_choices = {}
_load = [0.0, -1.0]  # (1-minute load average, when read)


def _load_average(now):
    if now - _load[1] >= 1.0:  # a file read: at most once a second
        try:
            _load[:] = [os.getloadavg()[0], now]
        except OSError:
            _load[:] = [0.0, now]
    return _load[0]


def _fixed_step_threads():
    """RNNKIT_STEP_THREADS: a number fixes the loops' BLAS threads (for measuring); unset or "auto": measured."""
    value = os.environ.get("RNNKIT_STEP_THREADS", "auto")
    return int(value) if value.isdigit() and int(value) > 0 else None


def step_threads(method):
    """Decorator for a recurrent layer's forward / backward: BLAS's threads for its loop, chosen by measuring.

    ``method(self, x, ...)``: ``x`` (T, B, ...) the sequence in or the error
    terms coming back; ``self.hidden_size`` H.
    """

    @functools.wraps(method)
    def run(self, x, *args, **kwargs):
        blas = _blas_controller()
        if blas is None or getattr(x, "ndim", 0) < 2 or x.shape[1] * self.hidden_size ** 2 <= SMALL_STEP:
            return method(self, x, *args, **kwargs)
        with _measured_threads(blas, (method.__qualname__, x.shape, self.hidden_size)):
            return method(self, x, *args, **kwargs)

    return run


@contextmanager
def measured_blas_threads(kind, units):
    """Run the body with the BLAS thread count (one, or all of them) measured faster for work
    of this ``kind`` and size, as step_threads does for a recurrent layer's loop.

    For a call whose products are large or small from one call to the next (a server's batch
    of however many requests waited): ``units`` is how much work this call does, calls are
    compared per unit and in buckets of a power of two of units. A small product gains little
    from a second thread, and on a busy machine the second thread's late start costs more than
    it saves; a large one on a quiet machine runs nearly twice as fast. RNNKIT_STEP_THREADS=N
    fixes the count here too.
    """
    blas = _blas_controller()
    if blas is None:
        yield
        return
    units = max(1, int(units))
    with _measured_threads(blas, (kind, units.bit_length(), blas.get_num_threads()), units):
        yield


@contextmanager
def _measured_threads(blas, key, units=1):
    """The body run with the thread count (one, or all) that ``key``'s ThreadChoice picks; while
    that choice is being measured, the body's time per unit is recorded for it.
    RNNKIT_STEP_THREADS=N fixes the count instead."""
    top = blas.get_num_threads()
    if top <= 1:  # already held to one (alongside, or the user's setting)
        yield
        return
    fixed = _fixed_step_threads()
    if fixed is not None:
        threads, exploring = min(fixed, top), False
    else:
        now = time.monotonic()
        load = _load_average(now)
        choice = _choices.setdefault(key, ThreadChoice())
        threads, exploring = choice.pick(top, now, load)
    start = time.perf_counter()
    if threads < top:
        blas.set_num_threads(threads)
    try:
        yield
    finally:
        if threads < top:
            blas.set_num_threads(top)
    if exploring:
        choice.record(threads, (time.perf_counter() - start) / units, top, time.monotonic(), load)


_blas_lib = []


def _blas_controller():
    """threadpoolctl's controller of the BLAS NumPy uses (first call after NumPy is loaded), or None."""
    if not _blas_lib:
        from threadpoolctl import ThreadpoolController

        libs = ThreadpoolController().select(user_api="blas").lib_controllers
        # NumPy's own (PyTorch, when loaded too, brings another one)
        ours = [lib for lib in libs if "numpy" in (lib.filepath or "")] or libs
        _blas_lib.append(ours[0] if len(ours) == 1 else None)
    return _blas_lib[0]
