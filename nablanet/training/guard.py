"""The divergence guard: stop a run whose cost is not finite or explodes; keep good weights.

The rule, checked on every (minibatch) cost and at the end of every epoch: a cost J that
is a mean over a share s of the training data (s = |batch| / m, or the batch's share of
the sample weight; 1 for the whole set) has diverged when

- it is NaN or infinite, or above the ceiling √(largest value of the network's dtype)
  (1.3e154 in float64, 1.8e19 in float32), whatever came before: such a cost has spent
  half the exponent range, and the next squaring (a squared error, Adam's g²) overflows;
- or J × s > `EXPLOSION_FACTOR` × max(J₀, 1), J₀ being the cost of all the training
  data at the run's starting weights (the run's first cost).

J₀ is a mean over all the data, never one batch's cost: a first batch of zero targets
costs near 0 and would make any ordinary batch look like an explosion. Costs are ≥ 0, so
at the same weights a batch's mean cost is at most J₀ / s: dividing by the share keeps
the rule free of false alarms however the rows are ordered. "At least 1" lets a run that
starts near J = 0 (a warm start) move; 1e4 × leaves ordinary noise and the spikes of
warm restarts far below the limit, and an exploding run passes it within a few steps,
long before its cost overflows. J₀ costs nothing for a full-batch run (its first cost)
and is otherwise measured only when a cost passes the limit that the first batch's
cost (J × s ≤ J₀) sets: one extra pass over the data, in a run that may be diverging.

The network then gets back the weights from the end of the last epoch that passed, and
the error's advice names the cause the guard can see: data too large for any step size
(an entry of X or Y of at least 1/√ε of the dtype, `data_limit`), a cost already beyond
the ceiling at the starting weights, or else the step size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._arrays import is_sparse
from nablanet.network import Network
from nablanet.training.history import History, TrainingDiverged, TrainState

Array = NDArray[Any]

#: A cost above this many times the run's reference cost (at least 1) is a divergence.
EXPLOSION_FACTOR = 1e4


def ceiling(dtype: Any) -> float:
    """The largest cost a run may reach in ``dtype``: √(largest value), 1.3e154 in float64."""
    return math.sqrt(float(np.finfo(dtype).max))


def data_limit(dtype: Any) -> float:
    """The size of a data entry that the guard blames: 1/√ε, 6.7e7 in float64, 2.9e3 in float32.

    A gradient step is stable only while the learning rate is below about 1/|x|² (the
    curvature of the cost grows as the square of the data); for |x| ≥ 1/√ε that rate is
    below ε, a step too small to change weights of order 1 in this dtype.
    """
    return 1.0 / math.sqrt(float(np.finfo(dtype).eps))


class Guard:
    """One run's guard: the reference cost, the limits, and the last good weights.

    Parameters
    ----------
    net : Network
        The network being trained; its current weights are the starting ones.
    X, Y : ndarray (X also scipy.sparse)
        The training data, inspected only to explain a divergence.
    history : History
        Carried by the error.
    cost_at : callable
        ``cost_at(theta)``: J over all the training data at ``theta`` (the reference).
    """

    def __init__(
        self, net: Network, X: Any, Y: Array, history: History, cost_at: Callable[[Array], float]
    ) -> None:
        self.net, self.X, self.Y, self.history, self.cost_at = net, X, Y, history, cost_at
        self.theta_start = net.theta.copy()
        self.last_good = net.theta.copy()  # weights at the end of the last good epoch
        self.last_good_loss = math.nan
        self.J_start: float | None = None  # the run's first cost: at the starting weights
        self.J_first: float | None = None  # all the data's cost there: the reference
        self.ceiling = ceiling(net.dtype)  # no cost may exceed this
        # EXPLOSION_FACTOR × max(J_first, 1); until J_first is needed, a lower bound of it.
        self.limit = math.inf

    def check(
        self, state: TrainState, where: str, J: float, advice: str, share: float = 1.0
    ) -> None:
        """Raise `TrainingDiverged` for a cost that is not finite or has exploded.

        ``share`` is the part of the training data (rows, or sample weight) that J is a
        mean over. ``advice`` is what to change when the data is not the cause.
        """
        if self.J_start is None:
            self.J_start = J
            if share == 1.0:  # a cost of all the data at the starting weights
                self.J_first = J
            # Costs are >= 0, so J_first >= J × share: a limit no stricter than the rule.
            self.limit = EXPLOSION_FACTOR * max(J * share, 1.0)
        if J <= self.ceiling and J * share <= self.limit:
            return
        if self.J_first is None and J <= self.ceiling:  # measure the reference, once
            self.J_first = self.cost_at(self.theta_start)
            self.limit = EXPLOSION_FACTOR * max(self.J_first, 1.0)
            if J * share <= self.limit:
                return
        raise self.diverged(state, where, J, advice, share)

    def keep(self, loss: float) -> None:
        """Remember the network's current weights as good (an epoch ended with ``loss``)."""
        np.copyto(self.last_good, self.net.theta)
        self.last_good_loss = loss

    def diverged(
        self, state: TrainState, where: str, value: float, advice: str, share: float = 1.0
    ) -> TrainingDiverged:
        """Put the last good weights back and return the error that says so."""
        self.net.theta[...] = self.last_good
        kept = (
            f"the weights from the end of epoch {state.epoch} (loss {self.last_good_loss:.6g})"
            if state.epoch > 0
            else "the weights it started from"
        )
        return TrainingDiverged(
            f"training diverged at epoch {state.epoch + 1} ({where}): "
            f"{self.what(value, share)}. The network keeps {kept}. " + self.advice(advice),
            self.history,
        )

    def what(self, value: float, share: float = 1.0) -> str:
        """What happened to the cost, in words."""
        if not math.isfinite(value):
            return f"the cost became {value}"
        if value > self.ceiling:
            return (
                f"the cost grew to {value:.6g}, beyond {self.ceiling:.3g} (the square root "
                f"of the largest {np.dtype(self.net.dtype).name}), where no training cost belongs"
            )
        scaled = f" divided by this batch's share of the data ({share:.3g})" if share < 1 else ""
        return (
            f"the cost grew to {value:.6g}, more than {EXPLOSION_FACTOR:g} times the run's "
            f"first cost ({self.J_first:.6g}), all the data's cost at the starting weights taken "
            f"as at least 1{scaled}"
        )

    def advice(self, otherwise: str) -> str:
        """What to change: the data when it is too large, else ``otherwise``."""
        limit = data_limit(self.net.dtype)
        for name, A in (("X", self.X), ("Y", self.Y)):
            value, row, col = largest_entry(A)
            if value >= limit:
                return (
                    f"{name} holds a value of {value:.3g} (row {row}, column {col}): data of "
                    f"this size (|value| ≥ {limit:.3g}, 1/√ε of "
                    f"{np.dtype(self.net.dtype).name}) makes the network's sums (X·Wᵀ) and "
                    f"the cost explode at any learning rate. Scale the data (e.g. "
                    f"StandardScaler) or remove such rows."
                )
        if self.J_start is None or not self.J_start <= self.ceiling:
            return (
                f"The cost was {self.J_start} at the starting weights, before any step (so "
                f"no step size is the cause): check the data's scale and the starting weights."
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
