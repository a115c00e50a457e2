"""A batch in fixed chunks of examples, spread over a small pool of threads that block.

A convolution's work is one small matrix product per example (docs/math.md §8), too small
for OpenBLAS to split well among its threads: it runs them at one core's speed whatever
its thread count. So `run_chunks` splits the batch instead: each thread takes whole
chunks of `CHUNK` examples and runs their copies (numba loops compiled ``nogil``) and
products (NumPy's ``matmul`` releases the GIL) on one BLAS thread.

The number of threads is the BLAS thread count in force, so one setting governs every
product of a fit: ``OPENBLAS_NUM_THREADS``, ``threadpoolctl.threadpool_limits``, or the
fit's own measured choice (`nablanet.training.blas_threads`, issue 25), which falls back
to one thread when another process shares the cores. The pool's workers wait on a queue
(``concurrent.futures``): they sleep between passes, they never spin.

The numbers do not depend on the thread count. The chunks are the same whatever the
count (examples 0-31, 32-63, …), each chunk's work is the same sequence of operations
on one BLAS thread, and what is summed over the examples (∂J/∂W) is summed within each
chunk, then chunk after chunk in order: the same bits on 1 thread or 16, as long as no
other Python thread changes BLAS's thread count while a pass runs.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

#: Examples per chunk. Fixed, so that the arithmetic does not depend on the thread count;
#: small enough that a batch of 256 gives 8 chunks to share among threads, large enough
#: that a chunk's work (~1 ms) dwarfs handing it to a thread (~20 µs).
CHUNK = 32

_pool: ThreadPoolExecutor | None = None
#: One parallel pass at a time: each sets BLAS to one thread for its duration, and two
#: at once would restore each other's setting too early.
_region = threading.Lock()


def chunks(m: int) -> list[slice]:
    """The chunks of a batch of m examples: ``slice(0, 32), slice(32, 64), …``."""
    return [slice(start, min(start + CHUNK, m)) for start in range(0, m, CHUNK)]


def _numpy_blas() -> Any:
    # Here, not at import: nablanet.training imports the network, which imports the layers.
    from nablanet.training.blas_threads import _numpy_blas

    return _numpy_blas()


def threads() -> int:
    """How many threads a pass may use now: BLAS's thread count (1 without OpenBLAS)."""
    blas = _numpy_blas()
    if blas is None:
        return 1
    return max((lib.num_threads for lib in blas.lib_controllers), default=1)


def run_chunks(work: Callable[[int, slice], None], m: int) -> None:
    """Call ``work(j, s)`` for each chunk s (the j-th) of a batch of m examples.

    On one thread, in order; on n > 1 (`threads`), the chunks go to n threads of the pool
    as each becomes free, with BLAS held to one thread meanwhile. Each call must write
    only what belongs to its chunk. The caller's context (`nablanet.kernels`' choice of
    loops or twins) holds in every thread.
    """
    parts = chunks(m)
    n = min(threads(), len(parts))
    if n <= 1:
        for j, s in enumerate(parts):
            work(j, s)
        return
    with _region:
        blas = _numpy_blas()
        saved = [lib.num_threads for lib in blas.lib_controllers]
        for lib in blas.lib_controllers:
            lib.set_num_threads(1)
        try:
            _share(work, parts, n)
        finally:
            for lib, count in zip(blas.lib_controllers, saved, strict=True):
                lib.set_num_threads(count)


def _share(work: Callable[[int, slice], None], parts: list[slice], n: int) -> None:
    """Run the chunks on n threads of the pool, each taking the next chunk when free."""
    lock = threading.Lock()
    queue = iter(enumerate(parts))

    def worker() -> None:
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            work(*item)

    # n − 1 pool threads and the caller itself, which would otherwise only wait.
    futures: list[Future[None]] = [
        _executor().submit(contextvars.copy_context().run, worker) for _ in range(n - 1)
    ]
    try:
        worker()
    finally:
        wait(futures)  # every thread done before BLAS's setting is restored
    for future in futures:
        future.result()  # re-raises a worker's exception here


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                   thread_name_prefix="nablanet-chunks")
    return _pool
