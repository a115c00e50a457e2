"""Row blocks of dask arrays: alignment, the fixed-order tree sum, recipes and the client.

Everything that touches dask's collections directly lives here, so that the objective,
local SGD and prediction read as mathematics over a list of row blocks.

Contract: `row_blocks` turns (X, Y, s) into equal-length lists of delayed row blocks
that share row boundaries; `tree_sum` adds per-block results pairwise in a binary tree
whose shape depends only on the number of blocks, so the floating-point result does not
depend on which worker finishes first.
"""

from __future__ import annotations

import functools
import pickle
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from nablanet._arrays import _not_finite  # the message local data get, for a block
from nablanet._optional import requires_extra
from nablanet.layers.chunks import holding_blas

Array = NDArray[Any]
F = TypeVar("F", bound=Callable[..., Any])


def one_thread(task: F) -> F:
    """``task`` run with BLAS, and nablanet's own splits of a batch, on the calling thread.

    For the tasks that run a network on a row block. A cluster's parallelism is its
    workers and their threads: a worker that a Dask nanny starts already runs BLAS on one
    thread (distributed's default environment), but the tasks of dask's local threaded
    scheduler, or of in-process workers, share one process, where each task's BLAS
    threads would spin while waiting for a core another task holds (issue 25).
    """

    @functools.wraps(task)
    def run(*args: Any, **kwargs: Any) -> Any:
        with holding_blas(threads=1):
            return task(*args, **kwargs)

    return cast(F, run)


class ScatteredDataWarning(UserWarning):
    """The inputs depend on data placed with ``client.scatter``.

    Dask can recompute a lost block only from the tasks that made it. Scattered data has
    no such task: if the worker holding it dies, the block is gone and the computation
    fails. Build inputs from files (`from_npy`, ``dask.array.from_zarr``, a dataframe read
    from CSV or Parquet) to survive the loss of a worker.
    """


def active_client() -> Any:
    """The default ``distributed.Client`` if one is active, else None."""
    if "distributed" not in sys.modules:
        return None
    with requires_extra("dask"):
        from distributed import default_client

    try:
        return default_client()
    except ValueError:  # no client: dask's local threaded scheduler runs the graph
        return None


def as_rows(A: Any, name: str, ndim: tuple[int, ...] = (2,)) -> Any:
    """A dask array chunked along rows only, with known chunk sizes.

    Parameters
    ----------
    A : dask array or dask dataframe/series
    name : str
        Used in error messages.
    ndim : tuple of int
        The allowed numbers of dimensions.

    Returns
    -------
    dask.array.Array
        One chunk across the columns; unknown row counts (from a dataframe) computed.
    """
    with requires_extra("dask"):
        import dask.array as da

    if not isinstance(A, da.Array):
        to_array = getattr(A, "to_dask_array", None)
        if to_array is None:
            raise TypeError(f"{name} must be a dask array or dataframe, got {type(A).__name__}")
        A = to_array(lengths=True)
    if A.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, got {A.ndim}")
    if any(np.isnan(c) for c in A.chunks[0]):
        A = A.compute_chunk_sizes()
    if A.ndim == 2 and A.numblocks[1] != 1:
        A = A.rechunk({1: -1})  # each task needs whole rows
    return A


def align(X: Any, *others: Any) -> list[Any]:
    """Rechunk ``others`` to X's row blocks (their first dimension must match X's)."""
    out = [X]
    for i, A in enumerate(others):
        if A is None:
            out.append(None)
            continue
        if A.shape[0] != X.shape[0]:
            raise ValueError(
                f"argument {i + 2} has {A.shape[0]} rows, X has {X.shape[0]}"
            )
        if A.chunks[0] != X.chunks[0]:
            A = A.rechunk({0: X.chunks[0]})
        out.append(A)
    return out


def blocks(A: Any) -> list[Any]:
    """The row blocks of a rows-only dask array as delayed objects, top to bottom."""
    if A is None:
        return []
    return list(A.to_delayed().ravel())


def tree_sum(parts: Sequence[Any], add: Callable[[Any, Any], Any]) -> Any:
    """Combine delayed ``parts`` pairwise, neighbours first, in a fixed binary tree.

    The tree is ⌈log₂ n⌉ deep and its shape depends only on ``len(parts)``: the same
    additions happen in the same order whatever the scheduling, so the result is
    bit-reproducible.
    """
    with requires_extra("dask"):
        import dask

    combine = dask.delayed(add, pure=False)
    level = list(parts)
    while len(level) > 1:
        nxt = [combine(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def scattered_keys(*collections: Any) -> list[str]:
    """Keys of scattered data (no task to recompute them) that the collections depend on.

    Asks the active client's scheduler: a key it holds without a task (``run_spec``) was
    scattered. Without a distributed client nothing can be lost, and nothing is returned.
    """
    client = active_client()
    if client is None:
        return []
    keys: set[Any] = set()
    for c in collections:
        if c is None:
            continue
        graph = c.__dask_graph__()
        keys.update(graph.keys())
        for value in graph.values():
            key = getattr(value, "key", None)  # a Future placed in the graph
            if key is not None and type(value).__name__ == "Future":
                keys.add(key)
    wanted = list(keys)

    def unrecoverable(dask_scheduler: Any) -> list[str]:
        tasks = dask_scheduler.tasks
        return [str(k) for k in wanted if k in tasks and tasks[k].run_spec is None]

    return list(client.run_on_scheduler(unrecoverable))


def warn_if_scattered(*collections: Any, stacklevel: int = 3) -> None:
    """Warn with `ScatteredDataWarning` when the inputs depend on scattered data."""
    lost = scattered_keys(*collections)
    if lost:
        warnings.warn(
            f"the inputs depend on {len(lost)} scattered block(s) (e.g. {lost[0]}): Dask "
            "cannot recompute them if a worker dies. Read the data on the workers from "
            "files instead (nablanet.distributed.from_npy, dask.array.from_zarr, "
            "dask.dataframe.read_csv/read_parquet).",
            ScatteredDataWarning,
            stacklevel=stacklevel,
        )


#: Byte alignment of every array a block task computes with (a cache line; AVX-512 width).
ALIGNMENT = 64


def aligned(A: Any, dtype: Any) -> Array:
    """``A`` as a C-contiguous ``dtype`` array whose data starts on a 64-byte boundary.

    Why: a block arrives from the network, from another worker's memory or from a
    pickle at whatever address its buffer had, and NumPy and BLAS pick different loops
    (and so round differently) for differently aligned data. Giving every task the same
    alignment makes a block's sums the same bits on every worker, which is what makes a
    recomputed block after a lost worker give a bit-identical result.
    """
    A = np.asarray(A)
    if A.dtype == dtype and A.flags.c_contiguous and A.ctypes.data % ALIGNMENT == 0:
        return A
    item = np.dtype(dtype).itemsize
    raw = np.empty(A.size * item + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    out = raw[start : start + A.size * item].view(dtype).reshape(A.shape)
    out[...] = A
    return out


def checked_block(
    A: Any, name: str, n_columns: int | None, dtype: Any, block_info: Any = None
) -> Array:
    """One block checked (numeric, finite; weights non-negative), as aligned ``dtype``.

    ``n_columns`` None means a vector of sample weights. A block of 0 rows (an empty
    dataframe partition) passes as it is. ``block_info`` is dask's (``map_blocks`` passes
    it): an entry that is not finite is named by its row in the whole array, not in the
    block.
    """
    from nablanet._arrays import check_matrix

    A = np.asarray(A)
    if n_columns is not None and A.shape[0] > 0:
        rows = A.reshape(len(A), -1)
        try:
            return aligned(check_matrix(rows, name, n_columns=n_columns, dtype=dtype), dtype)
        except ValueError:
            bad = _first_not_finite(rows, dtype)
            if bad is None:
                raise
            row, col = bad
            raise _not_finite(name, rows[row, col], dtype, _first_row(block_info) + row,
                              col) from None
    A = np.asarray(A, dtype=dtype)
    if n_columns is None and (not np.isfinite(A).all() or (A < 0).any()):
        raise ValueError(f"{name} must be finite and non-negative")
    return aligned(A if n_columns is None else A.reshape(0, n_columns), dtype)


def _first_row(block_info: Any) -> int:
    """The row of the whole array where this block starts (0 without dask's block_info)."""
    if not block_info or None not in block_info:
        return 0
    return int(block_info[None]["array-location"][0][0])


def _first_not_finite(rows: Array, dtype: Any) -> tuple[int, int] | None:
    """(row, column) in the block of the first entry not finite in ``dtype``, or None."""
    if rows.dtype.kind not in "biuf" or rows.ndim != 2:
        return None
    with np.errstate(over="ignore"):
        converted = rows.astype(dtype)
    bad = np.argwhere(~np.isfinite(converted))
    return (int(bad[0, 0]), int(bad[0, 1])) if len(bad) else None


def row_data(
    net: Any, X: Any, Y: Any, sample_weight: Any = None, *, persist: bool = True
) -> tuple[Any, Any, Any, list[tuple[Any, Any, Any]]]:
    """Check and align a network's training data; return it and its row blocks.

    Parameters
    ----------
    net : Network
        Gives the numbers of input and output units.
    X : dask array of shape (m, s_1), or a dask dataframe
    Y : dask array of shape (m, s_{n_l}) or (m,)
    sample_weight : dask array of shape (m,), optional
    persist : bool
        Keep the blocks in the workers' memory (recomputed from their recipe if lost).

    Returns
    -------
    X, Y, sample_weight : dask arrays on X's row blocks (Y 2-D; the weights may be None)
    blocks : list of (X_b, Y_b, s_b) delayed blocks, top to bottom (s_b None without weights)
    """
    with requires_extra("dask"):
        import dask

    X = as_rows(X, "X")
    Y = as_rows(Y, "Y", ndim=(1, 2))
    if Y.ndim == 1:
        Y = Y[:, None]
    s = None if sample_weight is None else as_rows(sample_weight, "sample_weight", (1,))
    n_in, n_out = net.layer_sizes[0], net.layer_sizes[-1]
    if X.shape[1] != n_in:
        raise ValueError(f"X must have {n_in} columns (the input units), got {X.shape[1]}")
    if Y.shape[1] != n_out:
        raise ValueError(f"Y must have {n_out} columns (the output units), got {Y.shape[1]}")
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    X, Y, s = align(X, Y, s)
    warn_if_scattered(X, Y, s, stacklevel=4)
    # Checked, converted and aligned once per block here, so that with persisted blocks
    # an evaluation neither re-checks nor copies its data.
    X = X.map_blocks(checked_block, "X", n_in, net.dtype, dtype=net.dtype)
    Y = Y.map_blocks(checked_block, "Y", n_out, net.dtype, dtype=net.dtype)
    if s is not None:
        s = s.map_blocks(checked_block, "sample_weight", None, np.float64, dtype=np.float64)
    if persist:
        X, Y, s = dask.persist(X, Y, s)
    ss = blocks(s) if s is not None else [None] * X.numblocks[0]
    return X, Y, s, list(zip(blocks(X), blocks(Y), ss, strict=True))


def ship(obj: Any) -> Any:
    """``obj`` pickled once for this round's tasks, as one literal node of the graph.

    Each task unpickles its own copy (threads of one worker never share buffers). The
    bytes travel with the round's graph and reach each worker once, from the scheduler
    or from another worker. Being part of the graph, they are recomputed like any other
    result if the worker holding them dies; ``client.scatter(broadcast=True)`` was
    tried and dropped, because scattering while a worker dies fails the whole call.
    """
    with requires_extra("dask"):
        import dask

    return dask.delayed(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), pure=False)


def _read_rows(path: str, start: int, stop: int) -> Array:
    """Rows ``start:stop`` of an .npy file, read through a memory map on the worker."""
    rows = np.load(path, mmap_mode="r")[start:stop]
    return aligned(rows, rows.dtype)  # one copy, out of the map and onto a 64-byte boundary


def from_npy(path: Any, rows_per_block: int) -> Any:
    """A dask array whose blocks are read on the workers from an .npy file.

    Each block's task names only the file and its rows, so a block lost with a worker
    is read again from the file; the data never passes through the driver.

    Parameters
    ----------
    path : str or path-like
        An .npy file (any dtype, 1-D or 2-D) that every worker can read at this path.
    rows_per_block : int
        Rows of each block (the last may be shorter).

    Returns
    -------
    dask.array.Array of the file's shape and dtype
    """
    with requires_extra("dask"):
        import dask
        import dask.array as da

    path = str(path)
    head = np.load(path, mmap_mode="r")  # reads the header only
    if not isinstance(rows_per_block, int | np.integer) or isinstance(rows_per_block, bool):
        raise TypeError(f"rows_per_block must be an integer, got {rows_per_block!r}")
    if rows_per_block < 1:
        raise ValueError(f"rows_per_block must be >= 1, got {rows_per_block}")
    m = head.shape[0]
    read = dask.delayed(_read_rows, pure=True)
    parts = [
        da.from_delayed(
            read(path, start, min(start + rows_per_block, m)),
            shape=(min(start + rows_per_block, m) - start, *head.shape[1:]),
            dtype=head.dtype,
        )
        for start in range(0, m, rows_per_block)
    ]
    return da.concatenate(parts, axis=0)
