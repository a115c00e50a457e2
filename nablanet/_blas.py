"""NumPy's (and scipy's) BLAS thread count: one place sets it, from any Python thread.

The count is the process's, and two kinds of request change it (issue 25):

- holds (`Knob.hold`; `one_blas_thread` for NumPy's BLAS): a pass that splits its own
  work among threads (a prediction's parts, a convolution's chunks, a Dask task) runs
  BLAS on one thread, so that no BLAS thread spins beside its own threads and the numbers
  do not depend on the count. While any hold is active, BLAS runs on one thread;
- a fit's choice (`Knob.choose`; `choose_threads`, from `nablanet.training.blas_threads`):
  the count when no hold is active.

The count found before the first request is restored when the last one ends. All of it
goes through one lock, and the count is set directly: threadpoolctl (3.x) lets only the
first Python thread that sets OpenBLAS's count change it while that thread lives, and
silently ignores every other thread (measured: a prediction from a second thread ran its
"held" products on two BLAS threads, and its last bits differed from the same prediction
made by the main thread).
"""

from __future__ import annotations

import os
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


@cache
def scipy_blas() -> Any:
    """The handle on scipy's own BLAS where its wheels bundle a second one, else None."""
    libs = ThreadpoolController().select(user_api="blas").lib_controllers
    own = [lib for lib in libs if "scipy.libs" in lib.filepath]
    return ThreadpoolController().select(filepath=own[0].filepath) if own else None


def _set(lib: Any, n: int) -> None:
    # threadpoolctl's public setter ignores all but one Python thread (module docstring);
    # its unguarded form sets the library's count whoever calls. `Knob.lock` is the guard
    # that keeps nablanet's requests from fighting.
    getattr(lib, "_real_set_num_threads", lib.set_num_threads)(n)


class Knob:
    """One BLAS library's thread count and nablanet's requests on it (module docstring).

    Parameters
    ----------
    find : callable
        Returns the library's threadpoolctl handle, or None where there is none.
    """

    lock = threading.Lock()  # one for every library: requests are rare and short

    def __init__(self, find: Any) -> None:
        self.find = find
        self.holds = 0
        self.choice: int | None = None
        self.saved: list[int] | None = None  # the counts found before the first request

    def count(self) -> int:
        """The library's thread count now (1 without the library)."""
        blas = self.find()
        if blas is None:
            return 1
        return max((lib.num_threads for lib in blas.lib_controllers), default=1)

    def available(self) -> int:
        """The count as it is when no hold is active: a fit's choice, or the count found."""
        with self.lock:
            return self._available()

    def _available(self) -> int:
        if self.choice is not None:
            return self.choice
        if self.saved is not None:
            return max(self.saved, default=1)
        return self.count()

    @contextmanager
    def hold(self) -> Iterator[int]:
        """One thread inside, from any Python thread; yields `available`.

        Holds nest and overlap: the library runs on one thread while any is active.
        """
        with self.lock:
            had = self._available()
            self.holds += 1
            self._apply()
        try:
            yield had
        finally:
            with self.lock:
                self.holds = max(0, self.holds - 1)  # 0 if a fork reset it meanwhile
                self._apply()

    def choose(self, n: int | None) -> None:
        """A fit's choice of threads (None: no choice, the count found before comes back).

        Takes effect at once unless a hold is active, then when the last hold ends.
        """
        with self.lock:
            self.choice = n
            self._apply()

    def _apply(self) -> None:
        """Set the count the requests call for (the caller holds the lock)."""
        blas = self.find()
        if blas is None:
            return
        libs = blas.lib_controllers
        if self.holds == 0 and self.choice is None:
            if self.saved is not None:  # the last request ended: the counts found before
                for lib, n in zip(libs, self.saved, strict=True):
                    _set(lib, n)
                self.saved = None
            return
        if self.saved is None:
            self.saved = [lib.num_threads for lib in libs]
        target = 1 if self.holds or self.choice is None else self.choice
        for lib in libs:
            if lib.num_threads != target:
                _set(lib, target)


    def after_fork(self) -> None:
        """In a forked child: the parent's other threads, and their requests, are gone."""
        Knob.lock = threading.Lock()  # perhaps copied while another thread held it
        self.holds, self.choice = 0, None
        self._apply()  # back to the counts found before the first request


#: NumPy's BLAS, which every product of a network calls.
NUMPY = Knob(numpy_blas)
#: scipy's own BLAS (its wheels bundle a second OpenBLAS), which L-BFGS's vector work calls.
SCIPY = Knob(scipy_blas)
for _knob in (NUMPY, SCIPY):
    os.register_at_fork(after_in_child=_knob.after_fork)

blas_threads = NUMPY.count
available_threads = NUMPY.available
one_blas_thread = NUMPY.hold
choose_threads = NUMPY.choose
