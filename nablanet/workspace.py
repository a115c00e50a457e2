"""A network and threads: each thread's work buffers, and the hold of one training.

Read-only calls (forward, hidden, cost, ...) may run from many threads at once: with
buffers shared between threads, one call would overwrite another's activations. Each
thread therefore keeps its own buffers per batch size (`PerThread`), so that a single
thread still reuses them from call to call and allocates nothing once they exist.
Training, which writes θ, is held by one call at a time (`ThreadSafety.training_hold`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from nablanet.layers.base import Array, Buffers, Layer

#: Batch sizes whose buffers a thread keeps at once; a new one beyond clears them all.
MAX_WORKSPACES = 4
#: Rows per chunk when evaluating (not training on) many samples: bounds the buffers.
CHUNK_ROWS = 4096
#: Bytes of layers' scratch (a convolution's im2col columns) one chunk may take.
CHUNK_SCRATCH_BYTES = 16 << 20


def chunk_rows(scratch_bytes: int = 0) -> int:
    """The most rows of one workspace.

    `CHUNK_ROWS`, or fewer where the layers' scratch, ``scratch_bytes`` per row, would pass
    `CHUNK_SCRATCH_BYTES` (a convolution keeps its patches: tens of values per output
    value, per example).
    """
    if not scratch_bytes:
        return CHUNK_ROWS
    return max(1, min(CHUNK_ROWS, CHUNK_SCRATCH_BYTES // scratch_bytes))


def chunks(m: int, scratch_bytes: int = 0) -> list[slice]:
    """Row slices covering ``range(m)``, one workspace each (`chunk_rows` rows at most)."""
    rows = chunk_rows(scratch_bytes)
    return [slice(start, min(start + rows, m)) for start in range(0, m, rows)]


class Workspace:
    """Buffers for one batch size of m rows: each layer's `Buffers` and two row vectors.

    With ``keep_z`` the weighted inputs Z get buffers of their own (for `Network.trace`);
    otherwise each hidden Z is overwritten by its activation A in place. The output
    layer's Z is always kept: losses are computed from it (log-sum-exp). f'(z) gets a
    buffer in the hidden layers whose kind has one (`Layer.has_derivative`).

    Attributes
    ----------
    buffers : list of Buffers
        One per layer.
    ones : ndarray of shape (m,)
        Each row's weight 1 (an unweighted sum over rows).
    uniform : ndarray of shape (m,)
        1/m each: every example's share of the mean J.
    """

    def __init__(self, layers: Sequence[Layer], m: int, dtype: np.dtype[Any], keep_z: bool) -> None:
        last = len(layers) - 1
        # Allocated kind by kind (all A, then Z, f', δ), in the order of the first version.
        A = [np.empty((m, layer.n_out), dtype) for layer in layers]
        Z = [
            np.empty((m, layer.n_out), dtype) if keep_z or l == last else A[l]
            for l, layer in enumerate(layers)
        ]
        D: list[Array | None] = [
            np.empty((m, layer.n_out), dtype) if l < last and layer.has_derivative else None
            for l, layer in enumerate(layers)
        ]
        delta = [np.empty((m, layer.n_out), dtype) for layer in layers]
        self.buffers = [
            Buffers(Z[l], A[l], D[l], delta[l], layer.scratch(m, dtype))
            for l, layer in enumerate(layers)
        ]
        self.ones = np.ones(m, dtype)
        self.uniform = np.full(m, 1.0 / m, dtype)


class PerThread(threading.local):
    """The calling thread's workspaces of one network, and its last gradient views."""

    def __init__(self) -> None:
        self.workspaces: dict[tuple[int, bool], Workspace] = {}
        self.grad_views: tuple[Array, list[Array], list[Array]] | None = None

    def workspace(
        self, layers: Sequence[Layer], m: int, dtype: np.dtype[Any], keep_z: bool = False
    ) -> Workspace:
        """Buffers of this thread for a batch of m rows (made once, then reused)."""
        key = (m, keep_z)
        ws = self.workspaces.get(key)
        if ws is None:
            if len(self.workspaces) >= MAX_WORKSPACES:
                self.workspaces.clear()
            ws = self.workspaces[key] = Workspace(layers, m, dtype, keep_z)
        return ws


class PartBuffers:
    """Workspaces for the parts of one prediction shared among threads (`chunks.map_rows`).

    ``buffers(m)`` gives the calling thread its own (the network's per-thread cache) and a
    pool thread buffers lent for this call only, dropped with it: kept for good, the pool
    threads' buffers would make what a network holds after predicting grow with the
    thread count.
    """

    __slots__ = ("caller", "lent", "net")

    def __init__(self, net: ThreadSafety) -> None:
        self.net = net
        self.caller = threading.get_ident()
        self.lent: dict[tuple[int, int], Workspace] = {}

    def __call__(self, m: int) -> Workspace:
        """The buffers of m rows for the thread that asks."""
        me = threading.get_ident()
        if me == self.caller:
            return self.net._workspace(m)
        ws = self.lent.get((me, m))
        if ws is None:
            ws = self.lent[me, m] = Workspace(self.net.layers, m, self.net.dtype, False)
        return ws


class ThreadSafety:
    """The network's per-thread buffers and its training hold (a `Network` mixin)."""

    if TYPE_CHECKING:  # what the network gives this mixin
        layers: list[Layer]
        dtype: np.dtype[Any]

        def views(self, theta: Array) -> tuple[list[Array], list[Array]]:  # noqa: D102
            ...

    def _init_threads(self) -> None:
        """Fresh buffers and an open hold (a new network, or one just unpickled)."""
        self._local = PerThread()
        self._training_lock = threading.Lock()

    @contextmanager
    def training_hold(self) -> Iterator[None]:
        """Hold the network for one training call; a second one at the same time is refused.

        Two trainings interleaving their steps on one theta would leave weights that
        neither computed. Not blocking: waiting would hide the mistake in the caller.

        Raises
        ------
        RuntimeError
            If another training holds the network.
        """
        if not self._training_lock.acquire(blocking=False):
            raise RuntimeError(
                "network is being trained by another thread (or by a callback of its own "
                "training); train one network from one thread at a time, or train a copy"
            )
        try:
            yield
        finally:
            self._training_lock.release()

    def _workspace(self, m: int, keep_z: bool = False) -> Workspace:
        """Buffers of the calling thread for a batch of m rows (made once, then reused)."""
        return self._local.workspace(self.layers, m, self.dtype, keep_z)

    def _gradient_views(self, grad: Array) -> tuple[list[Array], list[Array]]:
        """Views ``(dW, db)`` into ``grad``, kept for the buffer the training loop reuses."""
        local = self._local
        cached = local.grad_views
        if cached is None or cached[0] is not grad:
            cached = local.grad_views = (grad, *self.views(grad))
        return cached[1], cached[2]
