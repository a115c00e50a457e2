"""Review finding (fixed): a pass whose own parts are all done still waits for an unrelated
pass (`chunks._share`).

`_share` submits n-1 `worker`s to the shared pool and runs one itself, then waits for all
the futures. A second pass (another Python thread's prediction, or a convolutional
network's training step) whose workers find every pool thread busy with another pass does
all of its own parts in the caller, and then `wait(futures)` blocks until a pool thread is
free, only for its worker to find nothing left to do. So a 512-row prediction takes as long
as the part (or, with several, the whole prediction) another thread is computing on the
pool; a conv fit's every step waits the same way.

Right behaviour: once the caller's own worker finds no part left, the futures that have not
started are cancelled (``Future.cancel``); only those that run are waited for (and their
results checked as now).
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from nablanet.layers import chunks


@pytest.fixture
def pool_of_two(monkeypatch):
    # A pool of 2 threads and 3 threads per pass, whatever the machine.
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="review-pool")
    monkeypatch.setattr(chunks, "_pool", pool)
    monkeypatch.setattr(chunks, "_pool_pid", os.getpid())
    monkeypatch.setattr(chunks, "threads", lambda: 3)
    yield
    pool.shutdown(wait=True)


def test_a_small_pass_does_not_wait_for_another_threads_pass(pool_of_two):
    lock = threading.Lock()
    blocked = []  # pool threads inside a long part of the large pass
    both = threading.Event()
    release = threading.Event()

    def large_part(rows):
        name = threading.current_thread().name
        if name.startswith("review-pool") and name not in blocked:  # its first part is long
            with lock:
                blocked.append(name)
                if len(blocked) == 2:
                    both.set()
            release.wait(10)
        return np.zeros((rows.stop - rows.start, 1))

    def small_part(rows):
        return np.ones((rows.stop - rows.start, 1))

    large = threading.Thread(target=chunks.map_rows,
                             args=(large_part, 64 * 256, 1, np.float64, 10**9, 256))
    large.start()
    assert both.wait(5)  # both pool threads are in the large pass's long parts
    result = {}
    small_done = threading.Event()

    def small():
        result["out"] = chunks.map_rows(small_part, 512, 1, np.float64, 10**9, 4096)
        small_done.set()

    small_thread = threading.Thread(target=small)
    small_thread.start()
    finished = small_done.wait(2)
    release.set()  # let the large pass finish either way
    small_thread.join(10)
    large.join(10)
    # Before the fix: the small pass computed its 2 parts in its own thread at once, then waited for
    # a pool thread to come back from the other pass, only to find nothing left to do.
    assert finished, "a 2-part prediction waited for another thread's prediction"
    np.testing.assert_array_equal(result["out"], np.ones((512, 1)))
