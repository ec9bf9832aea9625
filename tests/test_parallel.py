import threading
import time

import pytest

from rnnkit.parallel import alongside, parallel_map


def test_parallel_map_gives_each_item_once_in_order_and_the_caller_works_too(monkeypatch):
    monkeypatch.setenv("RNNKIT_NUM_THREADS", "3")
    calls, lock = [], threading.Lock()

    def square(i):
        with lock:
            calls.append((i, threading.get_ident()))
        time.sleep(0.001)  # releases the GIL, so every thread gets items
        return i * i

    assert parallel_map(square, range(60)) == [i * i for i in range(60)]
    assert sorted(i for i, _ in calls) == list(range(60))
    workers = {ident for _, ident in calls}
    assert threading.get_ident() in workers, "the calling thread must take items too"
    assert len(workers) > 1, "the items were not shared out"


def test_parallel_map_raises_an_items_error_after_every_thread_has_stopped(monkeypatch):
    monkeypatch.setenv("RNNKIT_NUM_THREADS", "2")
    done = []

    def fail_on_seven(i):
        time.sleep(0.002)
        if i == 7:
            raise ValueError("item 7")
        done.append(i)

    with pytest.raises(ValueError, match="item 7"):
        parallel_map(fail_on_seven, range(20))
    finished = len(done)
    time.sleep(0.05)
    assert len(done) == finished, "a thread was still running items after parallel_map raised"


def test_parallel_map_runs_in_the_calling_thread_when_told_to_use_one(monkeypatch):
    monkeypatch.setenv("RNNKIT_NUM_THREADS", "1")
    assert parallel_map(lambda i: threading.get_ident(), range(5)) == [threading.get_ident()] * 5


def _blas_threads():
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_alongside_runs_every_job_once_on_another_thread_beside_the_body(monkeypatch):
    monkeypatch.setenv("RNNKIT_NUM_THREADS", "2")
    body_started = threading.Event()
    ran, lock = [], threading.Lock()

    def job(i):
        if i == 0:  # only finishes if the body runs at the same time
            assert body_started.wait(5), "the first job waited for the body in vain: they did not run side by side"
        with lock:
            ran.append((i, threading.get_ident()))

    before = _blas_threads()
    with alongside([lambda i=i: job(i) for i in range(8)]):
        body_started.set()
        inside = _blas_threads()
        time.sleep(0.01)
    assert sorted(i for i, _ in ran) == list(range(8))
    assert any(ident != threading.get_ident() for _, ident in ran)
    if before:  # BLAS is held to one thread during the body, and given back after it
        assert inside == [1] * len(before) and _blas_threads() == before


def test_alongside_runs_the_jobs_after_the_body_when_told_to_use_one_thread(monkeypatch):
    monkeypatch.setenv("RNNKIT_NUM_THREADS", "1")
    events = []
    with alongside([lambda i=i: events.append((i, threading.get_ident())) for i in range(3)]):
        events.append("body")
    assert events == ["body"] + [(i, threading.get_ident()) for i in range(3)]


def test_alongside_raises_a_jobs_error_once_the_body_and_the_jobs_have_finished(monkeypatch):
    monkeypatch.setenv("RNNKIT_NUM_THREADS", "2")
    done, body_finished = [], []

    def job(i):
        time.sleep(0.002)
        if i == 3:
            raise ValueError("job 3")
        done.append(i)

    with pytest.raises(ValueError, match="job 3"):
        with alongside([lambda i=i: job(i) for i in range(10)]):
            time.sleep(0.01)
            body_finished.append(True)
    assert body_finished == [True]
    finished = len(done)
    time.sleep(0.05)
    assert len(done) == finished, "a job was still running after alongside raised"


# --- the recurrent loops' BLAS threads, chosen by measuring -----------------------------


def test_thread_choice_keeps_the_faster_after_interleaved_probes():
    from rnnkit.parallel import HOLD_SECONDS, LOAD_CHANGE, PROBES, ThreadChoice

    choice, tried = ThreadChoice(), []
    for i in range(2 * PROBES):
        n, exploring = choice.pick(2, now=i, load=1.0)
        assert exploring
        tried.append(n)
        choice.record(n, 0.010 if n == 1 else 0.030, 2, now=i, load=1.0)  # one thread three times faster
    assert sorted(tried) == [1] * PROBES + [2] * PROBES and tried[:2] in ([1, 2], [2, 1])  # interleaved
    assert choice.pick(2, now=10, load=1.2) == (1, False)
    assert choice.pick(2, now=10, load=1.0 + LOAD_CHANGE)[1] is True  # the load moved: measure again
    choice = ThreadChoice()
    for i in range(2 * PROBES):
        n, _ = choice.pick(2, now=0, load=0.0)
        choice.record(n, 0.030 if n == 1 else 0.020, 2, now=0, load=0.0)
    assert choice.pick(2, now=1, load=0.0) == (2, False)  # a quiet machine keeps every thread
    assert choice.pick(2, now=HOLD_SECONDS + 1, load=0.0)[1] is True  # and looks again later


def test_step_threads_runs_the_loop_with_the_threads_chosen(monkeypatch):
    import numpy as np

    from rnnkit import parallel

    blas = parallel._blas_controller()
    if blas is None or blas.get_num_threads() < 2:
        pytest.skip("needs a BLAS that threadpoolctl can limit, with at least two threads")
    top = blas.get_num_threads()
    seen = []

    class Layer:
        hidden_size = 200

        @parallel.step_threads
        def forward(self, x):
            seen.append(blas.get_num_threads())
            return x * 2

    x = np.ones((5, 20, 200))
    monkeypatch.setenv("RNNKIT_STEP_THREADS", "1")
    assert (Layer().forward(x) == 2).all() and seen == [1] and blas.get_num_threads() == top
    monkeypatch.setenv("RNNKIT_STEP_THREADS", "auto")
    for _ in range(2 * parallel.PROBES):
        Layer().forward(x)
    assert set(seen[1:]) == {1, top} and blas.get_num_threads() == top  # both measured, the setting restored
    small = np.ones((5, 1, 200))  # B H H under OpenBLAS's own threshold: left alone
    seen.clear()
    Layer().forward(small)
    assert seen == [top]


def test_measured_blas_threads_tries_both_per_size_and_keeps_the_faster(monkeypatch):
    from rnnkit import parallel

    blas = parallel._blas_controller()
    if blas is None or blas.get_num_threads() < 2:
        pytest.skip("needs a BLAS that threadpoolctl can limit, with at least two threads")
    top = blas.get_num_threads()
    monkeypatch.setattr(parallel, "_choices", {})
    monkeypatch.setenv("RNNKIT_STEP_THREADS", "1")
    with parallel.measured_blas_threads("test", 100):
        assert blas.get_num_threads() == 1
    monkeypatch.setenv("RNNKIT_STEP_THREADS", "auto")
    seen = {50: [], 5000: []}
    for _ in range(2 * parallel.PROBES + 2):
        for units in seen:
            with parallel.measured_blas_threads("test", units):
                n = blas.get_num_threads()
                seen[units].append(n)
                # one thread is faster for the small work, every thread for the large (compared per unit)
                time.sleep(0.02 if (n == 1) == (units < 1000) else 0.08)
    assert blas.get_num_threads() == top
    for units, chosen in ((50, 1), (5000, top)):
        assert sorted(seen[units][:2 * parallel.PROBES]) == [1] * parallel.PROBES + [top] * parallel.PROBES
        assert seen[units][2 * parallel.PROBES:] == [chosen, chosen]
    with pytest.raises(ZeroDivisionError):  # an error in the body: the thread count is restored
        with parallel.measured_blas_threads("test", 50):
            1 / 0
    assert blas.get_num_threads() == top


def test_products_are_shared_only_inside_shared_products(monkeypatch):
    from rnnkit import parallel

    monkeypatch.setenv("RNNKIT_NUM_THREADS", "2")
    assert not parallel.shares_products()
    with parallel.shared_products():
        assert parallel.shares_products()
        with parallel.shared_products():
            assert parallel.shares_products()
        assert parallel.shares_products()  # the inner one closing leaves the outer one open
        monkeypatch.setenv("RNNKIT_NUM_THREADS", "1")
        assert not parallel.shares_products()  # one thread: nothing to share with
        assert parallel.product_map(lambda i: i * i, range(5)) == [0, 1, 4, 9, 16]
        monkeypatch.setenv("RNNKIT_NUM_THREADS", "2")
        assert parallel.product_map(lambda i: i * i, range(5)) == [0, 1, 4, 9, 16]
    assert not parallel.shares_products()
    with pytest.raises(KeyError):
        with parallel.shared_products():
            raise KeyError("x")
    assert not parallel.shares_products()  # closed by an error too
