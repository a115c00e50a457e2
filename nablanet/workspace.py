"""Each thread's work buffers for a network: one `Buffers` per layer and batch size.

Read-only calls (forward, hidden, cost, ...) may run from many threads at once: with
buffers shared between threads, one call would overwrite another's activations. Each
thread therefore keeps its own buffers per batch size (`PerThread`), so that a single
thread still reuses them from call to call and allocates nothing once they exist.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from nablanet.layers.base import Array, Buffers, Layer

#: Batch sizes whose buffers a thread keeps at once; a new one beyond clears them all.
MAX_WORKSPACES = 4


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

    def __init__(
        self, layers: Sequence[Layer], m: int, dtype: np.dtype[Any], keep_z: bool
    ) -> None:
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
