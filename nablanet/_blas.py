"""NumPy's BLAS and its thread count: one place sets it, from whichever Python thread asks.

The count is the process's, and two kinds of request change it (issue 25):

- holds (`one_blas_thread`): a pass that splits its own work among threads (a
  prediction's parts, a convolution's chunks, a Dask task) runs BLAS on one thread, so
  that no BLAS thread spins beside its own threads and the numbers do not depend on the
  count. While any hold is active, BLAS runs on one thread;
- a fit's choice (`choose_threads`, from `nablanet.training.blas_threads`): the count
  when no hold is active.

The count found before the first request is restored when the last one ends. All of it
goes through one lock, and the count is set directly: threadpoolctl (3.x) lets only the
first Python thread that sets OpenBLAS's count change it while that thread lives, and
silently ignores every other thread (measured: a prediction from a second thread ran
its "held" products on two BLAS threads, and its last bits differed from the same
prediction made by the main thread).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from threadpoolctl import ThreadpoolController

#: OpenBLAS runs a product of fewer multiply-adds than this on one thread whatever its
#: thread count (its SMP_THRESHOLD_MIN · GEMM_MULTITHREAD_THRESHOLD): below it there is
#: no thread count to choose, and the result is the same bits on any.
ONE_THREAD_PRODUCT = 65536 * 4


@cache
def numpy_blas() -> Any:
    """The threadpoolctl handle on NumPy's BLAS (the one nablanet's products call), or None.

    Cached: finding the loaded libraries takes milliseconds, more than a small fit; the
    thread count itself is read afresh from the library each time.
    """
    blas = ThreadpoolController().select(user_api="blas")
    numpy_libs = [lib for lib in blas.lib_controllers if "numpy" in lib.filepath]
    if numpy_libs:
        return ThreadpoolController().select(filepath=numpy_libs[0].filepath)
    return blas if blas.lib_controllers else None


def blas_threads() -> int:
    """BLAS's thread count now (1 without a BLAS threadpoolctl knows)."""
    blas = numpy_blas()
    if blas is None:
        return 1
    return max((lib.num_threads for lib in blas.lib_controllers), default=1)


class _Requests:
    """nablanet's requests on the count, and the counts to restore when none is left."""

    lock = threading.Lock()
    holds = 0
    choice: int | None = None
    saved: list[int] | None = None


def _set(lib: Any, n: int) -> None:
    # threadpoolctl's public setter ignores all but one Python thread (module docstring);
    # its unguarded form sets the library's count whoever calls. The lock above is the
    # guard that keeps nablanet's requests from fighting.
    getattr(lib, "_real_set_num_threads", lib.set_num_threads)(n)


def _apply() -> None:
    """Set the count the requests call for (caller holds the lock)."""
    blas = numpy_blas()
    if blas is None:
        return
    libs = blas.lib_controllers
    r = _Requests
    if r.holds == 0 and r.choice is None:
        if r.saved is not None:  # the last request ended: the count found before the first
            for lib, n in zip(libs, r.saved, strict=True):
                _set(lib, n)
            r.saved = None
        return
    if r.saved is None:
        r.saved = [lib.num_threads for lib in libs]
    target = 1 if r.holds or r.choice is None else r.choice
    for lib in libs:
        if lib.num_threads != target:
            _set(lib, target)


def _available() -> int:
    """A fit's choice, else the count found before the first request (caller holds the lock)."""
    if _Requests.choice is not None:
        return _Requests.choice
    if _Requests.saved is not None:
        return max(_Requests.saved, default=1)
    return blas_threads()


def available_threads() -> int:
    """BLAS's thread count as it is when no hold is active (`one_blas_thread`)."""
    with _Requests.lock:
        return _available()


@contextmanager
def one_blas_thread() -> Iterator[int]:
    """BLAS on one thread inside, from any Python thread; yields `available_threads`.

    Holds nest and overlap: BLAS runs on one thread while any is active.
    """
    with _Requests.lock:
        had = _available()
        _Requests.holds += 1
        _apply()
    try:
        yield had
    finally:
        with _Requests.lock:
            _Requests.holds -= 1
            _apply()


def choose_threads(n: int | None) -> None:
    """A fit's choice of BLAS threads (None: no choice, the count found before comes back).

    Takes effect at once unless a hold is active, then when the last hold ends.
    """
    with _Requests.lock:
        _Requests.choice = n
        _apply()
