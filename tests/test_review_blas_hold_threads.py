"""Review finding (fixed): bLAS is held (and chosen) only from threadpoolctl's "controlling thread".

threadpoolctl 3.8 (pinned) lets only ONE Python thread change a pthreads OpenBLAS's thread
count: the first thread that sets it, until that thread dies (or a ``with threadpool_limits``
block of that thread ends). Every other thread's ``set_num_threads`` is silently ignored.
`nablanet.layers.chunks.holding_blas` (lib.set_num_threads) and
`nablanet.training.blas_threads.ThreadChoice` (controller.limit without ``with``) both set the
count from whatever thread they run in, and never check that the setting took:

- a prediction from any other thread than the controlling one (a web server's worker, a Dask
  thread, a GUI worker, any thread once the main thread has predicted once) runs its parts on
  the pool with BLAS still on all its threads: n pool threads x n BLAS threads, issue 25's
  slow case, and different bits from the same prediction in the main thread;
- two overlapping holds in two threads leave BLAS on ONE thread for the rest of the process
  when the controlling thread leaves first (the last holder's restore is ignored, and every
  later hold saves and restores that 1);
- a fit in a second thread "probes" one thread but still runs on all of them.

Right behaviour: a hold really holds BLAS to one thread (and restores it) whatever thread
calls it, e.g. by setting OpenBLAS's process-wide count directly (the controller's
``_real_set_num_threads`` / the ``openblas_set_num_threads`` symbol) and checking
``lib.num_threads`` after setting; the same for ThreadChoice.
"""

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from nablanet import Network
from nablanet._blas import blas_threads as _count
from nablanet._blas import numpy_blas
from nablanet.layers import chunks
from nablanet.training import blas_threads


def _in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported in the caller
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(10)
    assert not t.is_alive()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_a_prediction_from_another_thread_holds_blas_to_one_thread(two_blas_threads):
    net = Network([784, 100, 10], activation="relu", output_activation="softmax",
                  dtype=np.float32, seed=0)
    X = np.random.default_rng(0).random((3000, 784)).astype(np.float32)
    in_main = net.forward(X)  # 8 parts, each on one BLAS thread
    seen = []
    forward = net._forward

    def spy(*args, **kwargs):
        seen.append(_count())
        return forward(*args, **kwargs)

    net._forward = spy
    in_thread = _in_thread(lambda: net.forward(X))
    # Before the fix: every part ran with BLAS on 2 threads (seen == [2] * 8) on 2 pool threads.
    assert set(seen) == {1}, f"BLAS threads seen by the parts: {seen}"
    # ... and so the same prediction is not the same bits in another thread.
    np.testing.assert_array_equal(in_thread, in_main)


def test_overlapping_holds_in_two_threads_give_blas_its_count_back(two_blas_threads):
    entered, main_left = threading.Event(), threading.Event()

    def other():
        with chunks.holding_blas():
            entered.set()
            assert main_left.wait(5)

    t = threading.Thread(target=other)
    with chunks.holding_blas():  # the main thread's prediction...
        t.start()
        assert entered.wait(5)  # ...while another thread predicts too
    main_left.set()
    t.join(5)
    # Before the fix: the last one out (the other thread) cannot restore: BLAS stays on 1 thread,
    # and every later hold saves 1 and restores 1 (training too runs on one thread).
    assert _count() == 2
    with chunks.holding_blas():
        pass
    assert _count() == 2


def test_a_fit_in_another_thread_can_use_one_blas_thread(two_blas_threads, monkeypatch):
    monkeypatch.setattr(blas_threads, "WARMUP_STEPS", 0)

    def fit_steps():
        choice = blas_threads.ThreadChoice([784, 100, 10], 256)
        try:
            assert choice.options == (2, 1)
            counts = []
            for _ in range(2):  # the probe: a step on 2 threads, then a step on 1
                with choice.step():
                    counts.append(_count())
            return counts
        finally:
            choice.close()

    # Before the fix: the "one thread" step ran on 2: the fit compares 2 threads with 2 threads.
    assert _in_thread(fit_steps) == [2, 1]


def test_a_prediction_in_a_worker_thread_leaves_the_users_own_limits_working():
    # A prediction's hold sets BLAS's count outside threadpoolctl's ``with`` protocol, so
    # the thread it ran in becomes threadpoolctl's controlling thread for as long as it
    # lives (a pool's worker: for good). From then on the user's own
    # ``with threadpool_limits(...)`` in the main thread silently does nothing.
    # Right behaviour: nablanet's settings leave threadpoolctl's state as they found it.
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import OpenBLASController

    lib = numpy_blas().lib_controllers[0]
    if not hasattr(lib, "_real_set_num_threads"):
        pytest.skip("not OpenBLAS")
    before = lib.num_threads
    OpenBLASController.clear_controlling_thread(force=True)  # as in a fresh process
    lib._real_set_num_threads(2)
    net = Network([784, 100, 10], activation="relu", output_activation="softmax", seed=0)
    X = np.random.default_rng(0).random((1000, 784))
    users_pool = ThreadPoolExecutor(max_workers=1)  # a web server's worker, say
    try:
        users_pool.submit(net.forward, X).result()
        with threadpool_limits(limits=1):
            inside = _count()
    finally:
        users_pool.shutdown(wait=True)
        OpenBLASController.clear_controlling_thread(force=True)
        lib._real_set_num_threads(before)
    # Before the fix: the user's limit of 1 thread was ignored: BLAS stayed on 2.
    assert inside == 1
