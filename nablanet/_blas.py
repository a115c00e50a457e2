"""The handle on NumPy's BLAS that both thread choices share (training's and the layers')."""

from __future__ import annotations

from functools import cache
from typing import Any

from threadpoolctl import ThreadpoolController


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


#: OpenBLAS runs a product of fewer multiply-adds than this on one thread whatever its
#: thread count (its SMP_THRESHOLD_MIN · GEMM_MULTITHREAD_THRESHOLD): below it there is
#: no thread count to choose, and the result is the same bits on any.
ONE_THREAD_PRODUCT = 65536 * 4
