"""Review finding (fixed): after Ctrl-C (or an error) in one part, the pool goes on with
every other part.

In `chunks._share` each worker takes the next part until none is left, and the caller's
``finally: wait(futures)`` waits for them. When the caller's part raises - a
KeyboardInterrupt from the user's Ctrl-C, a MemoryError, a FloatingPointError - the pool
threads still take and compute every remaining part before the exception reaches the user:
Ctrl-C on a 10-million-row prediction (2 400 parts of 4 096 rows) is answered only when the
remaining pool threads have computed all of it (slower than not interrupting). The same
after a part's error in a pool thread. The old loop (`forward` chunk by chunk) stopped at once.

Right behaviour: a failure stops the sharing: the workers check a flag set on the first
exception (or the caller's KeyboardInterrupt) before taking the next part, so only the parts
already running finish; then the exception is raised.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from nablanet.layers import chunks


@pytest.fixture
def pool_of_two(monkeypatch):
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="review-pool")
    monkeypatch.setattr(chunks, "_pool", pool)
    monkeypatch.setattr(chunks, "_pool_pid", os.getpid())
    monkeypatch.setattr(chunks, "threads", lambda: 2)  # the caller and one pool thread
    yield
    pool.shutdown(wait=True)


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
def test_parts_stop_after_the_caller_is_interrupted(pool_of_two, error):
    caller = threading.current_thread()
    pool_started, caller_raised = threading.Event(), threading.Event()
    lock = threading.Lock()
    computed = []

    def part(rows):
        with lock:
            computed.append(rows.start)
        if threading.current_thread() is caller:
            assert pool_started.wait(5)
            caller_raised.set()
            raise error("Ctrl-C")
        if not pool_started.is_set():  # the pool thread's first part: still running
            pool_started.set()
            assert caller_raised.wait(5)
        return np.zeros((rows.stop - rows.start, 1))

    with pytest.raises(error, match="Ctrl-C"):
        chunks.map_rows(part, 20 * 256, 1, np.float64, 10**9, 256)  # 20 parts
    # Before the fix: all 20 parts were computed before Ctrl-C reached the caller.
    assert len(computed) <= 3, f"{len(computed)} of 20 parts computed after the interrupt"


def test_parts_stop_after_a_pool_threads_error(pool_of_two):
    caller = threading.current_thread()
    lock = threading.Lock()
    computed = []
    failed = threading.Event()

    def part(rows):
        with lock:
            computed.append(rows.start)
        if threading.current_thread() is not caller:
            failed.set()
            raise FloatingPointError("a part failed")
        assert failed.wait(5)  # the caller's first part ends after the pool thread's error
        return np.zeros((rows.stop - rows.start, 1))

    with pytest.raises(FloatingPointError, match="a part failed"):
        chunks.map_rows(part, 20 * 256, 1, np.float64, 10**9, 256)
    # Before the fix: the caller went on with all the other parts after the pool thread's error.
    assert len(computed) <= 3, f"{len(computed)} of 20 parts computed after the error"


def test_ctrl_c_during_the_final_wait_leaves_no_part_running(pool_of_two, monkeypatch):
    # Ctrl-C that lands while the caller waits for the pool (its own parts done): `wait`
    # raises, `holding_blas` gives BLAS its threads back and the call returns, while a pool
    # thread still computes a part (with BLAS no longer held, writing into the result).
    # Right behaviour: wait for the parts that run (stop the others), then raise.
    caller = threading.current_thread()
    in_part, release = threading.Event(), threading.Event()
    still_running = []

    def part(rows):
        if threading.current_thread() is not caller:
            in_part.set()
            release.wait(5)
            in_part.clear()
        else:
            assert in_part.wait(5)  # the pool thread is inside its part
        return np.zeros((rows.stop - rows.start, 1))

    real_wait = chunks.wait
    calls = []

    def interrupted_wait(futures, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # Ctrl-C lands in the first wait; the part ends 1 s later
            threading.Timer(1.0, release.set).start()
            raise KeyboardInterrupt("Ctrl-C")
        return real_wait(futures, *args, **kwargs)

    monkeypatch.setattr(chunks, "wait", interrupted_wait)
    try:
        with pytest.raises(KeyboardInterrupt, match="Ctrl-C"):
            chunks.map_rows(part, 2 * 256, 1, np.float64, 10**9, 256)  # 2 parts
        still_running.append(in_part.is_set())
    finally:
        release.set()
    # Before the fix: map_rows returned (raised) while the pool thread was still inside a part.
    assert still_running == [False]
