"""The records of training: per-run `RunHistory`, the whole call's `History`, the live `TrainState`.

A training call returns a `History` (one `RunHistory` per random initialisation and the
index of the winner); callbacks read and change the run under way through `TrainState`;
`TrainingDiverged` carries the `History` up to the point where the guard stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nablanet.network import Network


@dataclass
class RunHistory:
    """Per-epoch record of one training run (one random initialisation).

    Attributes
    ----------
    seed : int or None
        Seed of this run's initial weights (None: the network's own weights).
    train_loss : list of float
        Mean cost J over the epoch's minibatches (L-BFGS/CG: per iteration).
    val_loss, val_score : list of float
        On the validation data at the end of each epoch (NaN when there is none).
    learning_rate : list of float
    epoch_time : list of float
        Wall-clock seconds of each epoch.
    stop_reason : str
        "max_epochs", "converged", or the name of the callback that stopped the run.
    final_loss : float
        The monitored loss of the weights the run ends with (validation loss when there
        is validation data, else the training cost on all of it).
    """

    seed: int | None = None
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    stop_reason: str = "max_epochs"
    final_loss: float = math.nan

    @property
    def n_epochs(self) -> int:
        """Epochs (or iterations) run."""
        return len(self.train_loss)


@dataclass
class TrainState:
    """Everything a callback may read or change while a run is under way.

    Attributes
    ----------
    net : Network
        The network being trained; ``net.theta`` holds the current weights.
    epoch : int
        The current epoch, counting from 0.
    run : int
        Index of the current restart.
    learning_rate : float
        Used for the coming epoch; schedules set it in ``on_epoch_begin``.
    history : RunHistory
        This run's record so far.
    has_validation : bool
        Whether ``history.val_loss`` holds real numbers.
    total_epochs : int
        The epoch (or iteration) limit of the run.
    """

    net: Network
    epoch: int
    run: int
    learning_rate: float
    history: RunHistory
    has_validation: bool
    total_epochs: int

    def monitored_loss(self) -> float:
        """The latest validation loss, or the training loss without validation data."""
        h = self.history
        if not h.train_loss:
            return math.nan
        return h.val_loss[-1] if self.has_validation else h.train_loss[-1]


class TrainingDiverged(RuntimeError, ValueError):
    """Raised when the cost or gradient stops being finite, or the cost explodes.

    Both a ``RuntimeError`` and a ``ValueError``: scikit-learn's MLPs raise ``ValueError``
    for weights that stopped being finite, so ``except ValueError`` written for them
    catches this too.

    "Explodes" means that a cost exceeds the dtype's ceiling, or ``EXPLOSION_FACTOR`` times
    the cost of all the data at the starting weights (at least 1) once scaled by the share
    of the data it is a mean over: see `nablanet.training.guard`. The network keeps the
    weights from the end of the last epoch that passed the guard; ``history`` holds the
    record up to there.
    """

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """The record of a training call: one `RunHistory` per restart and the winner.

    Attributes
    ----------
    runs : list of RunHistory
    best_run : int
        Index of the run whose weights the network kept (lowest final loss).
    """

    runs: list[RunHistory] = field(default_factory=list)
    best_run: int = 0

    @property
    def best(self) -> RunHistory:
        """The winning run."""
        return self.runs[self.best_run]

    @property
    def train_loss(self) -> list[float]:
        """Per-epoch training loss of the winning run."""
        return self.best.train_loss

    @property
    def val_loss(self) -> list[float]:
        """Per-epoch validation loss of the winning run."""
        return self.best.val_loss

    @property
    def val_score(self) -> list[float]:
        """Per-epoch validation score of the winning run."""
        return self.best.val_score

    def __str__(self) -> str:
        rows = [f"{'run':>4} {'seed':>12} {'epochs':>7} {'first loss':>12} "
                f"{'last loss':>12} {'final loss':>12}  stop"]
        for i, r in enumerate(self.runs):
            first = f"{r.train_loss[0]:.6g}" if r.train_loss else "-"
            last = f"{r.train_loss[-1]:.6g}" if r.train_loss else "-"
            seed = "-" if r.seed is None else str(r.seed)
            mark = "  <- kept" if i == self.best_run and len(self.runs) > 1 else ""
            rows.append(f"{i:>4} {seed:>12} {r.n_epochs:>7} {first:>12} {last:>12} "
                        f"{r.final_loss:>12.6g}  {r.stop_reason}{mark}")
        return "\n".join(rows)

    def _repr_html_(self) -> str:
        """Jupyter's display: the same table as ``print``."""
        from nablanet._html import as_html

        return as_html("Training history", str(self))
