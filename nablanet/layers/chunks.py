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

A prediction (`map_rows`) is split the same way one level up: its rows in fixed parts,
each part a whole pass on one BLAS thread, the parts shared among the pool's threads.
A thread that gets less of the CPU (another process shares its core) then simply takes
fewer parts, where OpenBLAS's fixed split would wait for it at every product (issue 25);
and a row's outputs are the same bits whatever the thread count.
"""

from __future__ import annotations

import contextvars
import functools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import numpy as np

from nablanet._blas import ONE_THREAD_PRODUCT, blas_threads, one_blas_thread

T = TypeVar("T")

#: Examples per chunk. Fixed, so that the arithmetic does not depend on the thread count;
#: small enough that a batch of 256 gives 8 chunks to share among threads, large enough
#: that a chunk's work (~1 ms) dwarfs handing it to a thread (~20 µs).
CHUNK = 32
#: A prediction's rows go in this many parts (fewer where parts would be smaller than
#: `MIN_PART_ROWS`, more where larger than a workspace's rows), whatever the thread count
#: or the load: enough to keep a few threads evenly busy and to let a thread that gets less
#: of the CPU take fewer, and one part per CPU on a larger machine. (The machine is fixed
#: for a process; its BLAS kernels already make its last bits its own.)
PARTS = max(8, os.cpu_count() or 1)
#: Rows below which a part is not worth handing to a thread (~20 µs to hand over).
MIN_PART_ROWS = 256

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0

#: The chunk threads of the pass running in this context, while BLAS is held to one thread
#: (`holding_blas`); None outside.
_held: ContextVar[int | None] = ContextVar("nablanet_chunk_threads", default=None)
_lock = threading.Lock()  # guards the pool


def _after_fork() -> None:
    # A fork copies the lock as it was, perhaps held by a thread the child does not have.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def chunks(m: int) -> list[slice]:
    """The chunks of a batch of m examples: ``slice(0, 32), slice(32, 64), …``."""
    return [slice(start, min(start + CHUNK, m)) for start in range(0, m, CHUNK)]


def threads() -> int:
    """How many threads a pass may use now: BLAS's thread count (1 without OpenBLAS).

    Inside `holding_blas`, the count BLAS had when it was held.
    """
    held = _held.get()
    return blas_threads() if held is None else held


@contextmanager
def holding_blas(threads: int | None = None) -> Iterator[None]:
    """BLAS on one thread inside; the chunks (`run_chunks`) on the threads it had.

    Or, with ``threads``, on that many (1: everything inside on the calling thread, as a
    Dask task runs, its cluster's workers being the parallelism).

    A network with layers that split the batch holds BLAS around a whole pass (`held`),
    not only around each layer: OpenBLAS's idle threads spin for a while after each
    product they share, so a dense layer's product on two threads left a thread spinning
    through the convolution that followed, as much CPU again as the work (measured on
    UFLDL's network: 54 ms of CPU a step against 25). With every product of the pass on
    one thread the pass's numbers are also the same whatever the thread count.

    Nested and concurrent holds, from any Python threads, share one setting
    (`nablanet._blas.one_blas_thread`).
    """
    if _held.get() is not None:
        yield
        return
    with one_blas_thread() as had:
        token = _held.set(had if threads is None else threads)
        try:
            yield
        finally:
            _held.reset(token)


def held(method: Callable[..., T]) -> Callable[..., T]:
    """Run a network's pass inside `holding_blas` when one of its layers splits the batch.

    For methods of a network, which says ``splits_batch`` when one of its layers does
    (convolution and pooling: their class says ``splits_batch = True``). Other networks
    run as before, at the cost of one attribute read.
    """

    @functools.wraps(method)
    def pass_(net: Any, *args: Any, **kwargs: Any) -> T:
        if getattr(net, "splits_batch", False) and _held.get() is None:
            with holding_blas():
                return method(net, *args, **kwargs)
        return method(net, *args, **kwargs)

    return pass_


def run_chunks(work: Callable[[int, slice], None], m: int) -> None:
    """Call ``work(j, s)`` for each chunk s (the j-th) of a batch of m examples (`run_parts`)."""
    run_parts(work, chunks(m))


def row_parts(m: int, max_rows: int) -> list[slice]:
    """The fixed parts of a pass over m rows; they depend on m alone.

    `PARTS` of them (fewer where a part would have fewer than `MIN_PART_ROWS` rows, more
    where it would have more than ``max_rows``, the most one workspace may take), of equal
    size but the last.
    """
    rows = min(max_rows, -(-m // max(1, min(PARTS, m // MIN_PART_ROWS))))
    return [slice(start, min(start + rows, m)) for start in range(0, m, rows)]


def run_parts(work: Callable[[int, slice], None], parts: list[slice], split: bool = True) -> None:
    """Call ``work(j, s)`` for each part s (the j-th), with BLAS held to one thread.

    On n > 1 threads (`threads`) the parts go to n threads of the pool as each becomes
    free; on one, or with ``split=False``, in order in the caller. Either way every
    product runs on one BLAS thread, so the numbers do not depend on n. Each call must
    write only what belongs to its part. The caller's context (`nablanet.kernels`'
    choice of loops or twins) holds in every thread.
    """
    with holding_blas():
        n = min(threads(), len(parts)) if split else 1
        if n > 1:
            _share(work, parts, n)
        else:
            for j, s in enumerate(parts):
                work(j, s)


def map_rows(
    part: Callable[[slice], Any],
    m: int,
    width: int,
    dtype: Any,
    product: int,
    max_rows: int,
    split: bool = True,
) -> Any:
    """Stack ``part(rows)`` over the rows of a batch of m: a prediction, part by part.

    ``part(rows)`` runs one pass on ``rows`` and returns its (len, width) result (a
    buffer, copied here). ``product`` is the multiply-adds per row of the pass's largest
    product, ``max_rows`` the most rows one pass may take (its buffers are bounded).
    Below `ONE_THREAD_PRODUCT` OpenBLAS uses one thread anyway: one pass, nothing held
    (a single row's latency). Above it the rows go in fixed parts (`row_parts`, `run_parts`);
    with ``split=False`` (a network whose layers split each batch themselves) in turn.
    """
    if m <= max_rows and m * product < ONE_THREAD_PRODUCT:
        return part(slice(0, m)).copy()
    out = np.empty((m, width), dtype)

    def work(j: int, s: slice) -> None:
        out[s] = part(s)

    run_parts(work, row_parts(m, max_rows), split)
    return out


def _share(work: Callable[[int, slice], None], parts: list[slice], n: int) -> None:
    """Run the chunks on n threads of the pool, each taking the next chunk when free.

    The first failure anywhere (a chunk's error, the caller's Ctrl-C) stops the sharing:
    the chunks that run finish, no other starts, and the error is raised once they have,
    so that nothing is still writing when the call returns.
    """
    lock = threading.Lock()
    queue = iter(enumerate(parts))
    stop = threading.Event()

    def worker() -> None:
        try:
            while not stop.is_set():
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                work(*item)
        except BaseException:
            stop.set()
            raise

    futures = _submit(worker, n - 1)  # n − 1 pool threads, and the caller itself
    try:
        worker()
    finally:
        for future in futures:
            future.cancel()  # not started (its thread busy elsewhere): nothing left for it
        _settle(futures, stop)
    for future in futures:
        if not future.cancelled():
            future.result()  # re-raises a worker's exception here


def _submit(worker: Callable[[], None], k: int) -> list[Future[None]]:
    """``worker`` on up to k pool threads, in the caller's context (the kernels' choice).

    None once the interpreter is shutting down (after the main thread ended, in ``atexit``
    handlers), when the pool takes no new work: the caller then does it all.
    """
    futures: list[Future[None]] = []
    try:
        for _ in range(k):
            futures.append(_executor().submit(contextvars.copy_context().run, worker))
    except RuntimeError:  # "cannot schedule new futures after (interpreter) shutdown"
        pass
    return futures


def _settle(futures: list[Future[None]], stop: threading.Event) -> None:
    """Wait for the running workers; a Ctrl-C meanwhile stops the others and is raised after."""
    interrupted: BaseException | None = None
    # A cancelled future counts as done only once a pool thread dequeues it: not waited for.
    running = [future for future in futures if not future.cancelled()]
    while True:
        try:
            wait(running)
            break
        except KeyboardInterrupt as exc:
            stop.set()
            interrupted = exc
    if interrupted is not None:
        raise interrupted


def _executor() -> ThreadPoolExecutor:
    """The pool (a process forked from one with a pool makes its own)."""
    global _pool, _pool_pid
    with _lock:
        # A forked process inherits the pool without its threads: tasks would wait forever.
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                       thread_name_prefix="nablanet-chunks")
            _pool_pid = os.getpid()
        return _pool
