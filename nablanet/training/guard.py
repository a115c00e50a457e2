"""The divergence guard: stop a run whose cost is not finite or explodes; keep good weights.

The rule, checked on every (minibatch) cost and at the end of every epoch: a run has
diverged when a cost is NaN or infinite, or exceeds `EXPLOSION_FACTOR` times the run's
first finite cost taken as at least 1. 1e4 × leaves ordinary noise and the spikes of warm
restarts far below it, and "at least 1" lets a run that starts near J = 0 (a warm start)
move; an exploding run passes it within a few steps, long before its cost overflows,
with weights still worth keeping. The network then gets back the weights from the end
of the last epoch that passed, and the error's advice names the cause the guard can see:
data too large for any step size, or else the step size.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._arrays import is_sparse
from nablanet.network import Network
from nablanet.training.history import History, TrainingDiverged, TrainState

Array = NDArray[Any]

#: A cost above this many times the run's first cost (at least 1) is a divergence.
EXPLOSION_FACTOR = 1e4


class Guard:
    """One run's guard: the reference cost, the limit, and the last good weights.

    Parameters
    ----------
    net : Network
        The network being trained; its current weights are the first good ones.
    X, Y : ndarray (X also scipy.sparse)
        The training data, inspected only to explain a divergence.
    history : History
        Carried by the error.
    """

    def __init__(self, net: Network, X: Any, Y: Array, history: History) -> None:
        self.net, self.X, self.Y, self.history = net, X, Y, history
        self.last_good = net.theta.copy()  # weights at the end of the last good epoch
        self.last_good_loss = math.nan
        self.J_first: float | None = None  # the run's first finite cost: the reference
        self.limit = sys.float_info.max  # a cost above this has diverged (inf and NaN too)

    def check(self, state: TrainState, where: str, J: float, advice: str) -> None:
        """Raise `TrainingDiverged` for a cost that is not finite or has exploded.

        The run's first finite cost sets the limit. ``advice`` is what to change when
        the data is not the cause.
        """
        if self.J_first is None and math.isfinite(J):
            self.J_first = J
            self.limit = min(EXPLOSION_FACTOR * max(J, 1.0), sys.float_info.max)
        if not J <= self.limit:  # also true for NaN
            raise self.diverged(state, where, J, advice)

    def keep(self, loss: float) -> None:
        """Remember the network's current weights as good (an epoch ended with ``loss``)."""
        np.copyto(self.last_good, self.net.theta)
        self.last_good_loss = loss

    def diverged(
        self, state: TrainState, where: str, value: float, advice: str
    ) -> TrainingDiverged:
        """Put the last good weights back and return the error that says so."""
        self.net.theta[...] = self.last_good
        kept = (
            f"the weights from the end of epoch {state.epoch} (loss {self.last_good_loss:.6g})"
            if state.epoch > 0
            else "the weights it started from"
        )
        if math.isfinite(value):
            what = (
                f"the cost grew to {value:.6g}, more than {EXPLOSION_FACTOR:g} times the "
                f"run's first cost ({self.J_first:.6g})"
            )
        else:
            what = f"the cost became {value}"
        return TrainingDiverged(
            f"training diverged at epoch {state.epoch + 1} ({where}): {what}. "
            f"The network keeps {kept}. " + self.advice(advice),
            self.history,
        )

    def advice(self, otherwise: str) -> str:
        """What to change: the data when it alone overflows, else ``otherwise``."""
        huge = math.sqrt(float(np.finfo(self.net.dtype).max))  # its square overflows
        for name, A in (("X", self.X), ("Y", self.Y)):
            value, row, col = largest_entry(A)
            if value >= huge:
                return (
                    f"{name} holds a value of {value:.3g} (row {row}, column {col}): values "
                    f"this large overflow the network's sums (X·Wᵀ) and the cost whatever the "
                    f"learning rate. Scale the data (e.g. StandardScaler) or remove such rows."
                )
        if self.J_first is None:
            return (
                "The cost was not finite at the starting weights, before any step (so no "
                "step size is the cause): check the data's scale and the starting weights."
            )
        return otherwise


def largest_entry(A: Any, rows_per_block: int = 4096) -> tuple[float, int, int]:
    """The largest |entry| of a finite matrix (dense or CSR) and its (row, column).

    Data held elsewhere (a dask array) is not inspected: (0, 0, 0).
    """
    if not isinstance(A, np.ndarray):
        if not is_sparse(A):
            return 0.0, 0, 0
        # scipy.sparse CSR: only the stored entries
        if A.nnz == 0:
            return 0.0, 0, 0
        k = int(np.argmax(np.abs(A.data)))
        row = int(np.searchsorted(A.indptr, k, side="right")) - 1
        return float(abs(A.data[k])), row, int(A.indices[k])
    best = (0.0, 0, 0)
    for start in range(0, A.shape[0], rows_per_block):  # blocks: no full-size temporary
        block = np.abs(A[start : start + rows_per_block])
        row, col = divmod(int(np.argmax(block)), block.shape[1])
        if block[row, col] > best[0]:
            best = (float(block[row, col]), start + row, col)
    return best
