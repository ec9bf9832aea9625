import threading
import time

import pytest

from rnnkit.backend import parallel_map


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
