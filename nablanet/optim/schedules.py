"""Learning-rate schedules: ``schedule(epoch, loss) -> learning_rate``.

The training loop calls a schedule at the start of each epoch, ``epoch`` counting from 0
and ``loss`` the latest monitored loss (None before the first epoch has ended), and passes
the value to the optimizer's ``step``. Fixed schedules ignore ``loss``; `ReduceOnPlateau`
reads it and is the only one with state. Ordered in increasing complexity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from nablanet._checks import integer, lookup
from nablanet.optim._inplace import non_negative, positive


class Schedule(Protocol):
    """A learning rate per epoch."""

    def __call__(self, epoch: int, loss: float | None) -> float:
        """Return the learning rate for ``epoch`` (from 0), given the latest ``loss``."""
        ...


def _check_epoch(epoch: Any) -> int:
    integer(epoch, "epoch", low=0)
    return int(epoch)


@dataclass
class Constant:
    """The same learning rate every epoch.

    Parameters
    ----------
    learning_rate : float
        α (> 0).
    """

    learning_rate: float

    def __post_init__(self) -> None:
        self.learning_rate = positive(self.learning_rate, "learning_rate")

    def __call__(self, epoch: int, loss: float | None = None) -> float:
        """Return ``learning_rate``."""
        _check_epoch(epoch)
        return self.learning_rate


@dataclass
class InverseScaling:
    """Decay as an inverse power of the number of steps taken.

    Parameters
    ----------
    learning_rate : float
        α₀ (> 0), the rate of epoch 0.
    power_t : float, default 0.5
        The exponent p (>= 0).
    steps_per_epoch : int, default 1
        How many "time steps" an epoch counts for. scikit-learn's ``'invscaling'`` counts
        samples seen, so ``steps_per_epoch=n_samples`` reproduces it.

    Notes
    -----
        α_e = α₀ / (e · steps_per_epoch + 1)^p
    """

    learning_rate: float
    power_t: float = 0.5
    steps_per_epoch: int = 1

    def __post_init__(self) -> None:
        self.learning_rate = positive(self.learning_rate, "learning_rate")
        self.power_t = non_negative(self.power_t, "power_t")
        self.steps_per_epoch = integer(self.steps_per_epoch, "steps_per_epoch")

    def __call__(self, epoch: int, loss: float | None = None) -> float:
        """Return α₀ / (epoch · steps_per_epoch + 1)^power_t."""
        e = _check_epoch(epoch)
        return self.learning_rate / float(e * self.steps_per_epoch + 1) ** self.power_t


@dataclass
class StepDecay:
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    learning_rate : float
        α₀ (> 0).
    step_size : int
        Epochs between reductions (>= 1).
    gamma : float, default 0.1
        The factor, in (0, 1].

    Notes
    -----
        α_e = α₀ · γ^⌊e / step_size⌋
    """

    learning_rate: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        self.learning_rate = positive(self.learning_rate, "learning_rate")
        self.step_size = integer(self.step_size, "step_size")
        self.gamma = positive(self.gamma, "gamma")
        if self.gamma > 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma!r}")

    def __call__(self, epoch: int, loss: float | None = None) -> float:
        """Return α₀ · gamma^(epoch // step_size)."""
        e = _check_epoch(epoch)
        return self.learning_rate * self.gamma ** (e // self.step_size)


@dataclass
class Cosine:
    """Cosine annealing from ``learning_rate`` down to ``min_learning_rate``.

    Parameters
    ----------
    learning_rate : float
        α_max (> 0), the rate of epoch 0.
    total_epochs : int
        T (>= 1): the rate reaches ``min_learning_rate`` at epoch T and stays there.
    min_learning_rate : float, default 0.0
        α_min, in [0, learning_rate].

    Notes
    -----
    Loshchilov & Hutter, "SGDR" (ICLR 2017), eq. 5, without restarts:

        α_e = α_min + (α_max − α_min) (1 + cos(π e / T)) / 2,   e <= T;   α_e = α_min, e > T.

    With α_min = 0 the last epoch, e = T − 1, still has a small positive rate.
    """

    learning_rate: float
    total_epochs: int
    min_learning_rate: float = 0.0

    def __post_init__(self) -> None:
        self.learning_rate = positive(self.learning_rate, "learning_rate")
        self.total_epochs = integer(self.total_epochs, "total_epochs")
        self.min_learning_rate = non_negative(self.min_learning_rate, "min_learning_rate")
        if self.min_learning_rate > self.learning_rate:
            raise ValueError(
                f"min_learning_rate ({self.min_learning_rate}) exceeds learning_rate "
                f"({self.learning_rate})"
            )

    def __call__(self, epoch: int, loss: float | None = None) -> float:
        """Return the annealed rate of ``epoch``."""
        e = min(_check_epoch(epoch), self.total_epochs)
        lo, hi = self.min_learning_rate, self.learning_rate
        return lo + (hi - lo) * 0.5 * (1.0 + math.cos(math.pi * e / self.total_epochs))


@dataclass
class ReduceOnPlateau:
    """Divide the rate when the loss stops improving. Stateful: see Notes.

    Parameters
    ----------
    learning_rate : float
        The initial rate (> 0).
    factor : float, default 0.1
        The rate is multiplied by ``factor``, in (0, 1), at each reduction.
    patience : int, default 10
        Number of consecutive non-improving epochs (>= 1) that trigger a reduction.
    min_delta : float, default 1e-4
        An epoch improves when its loss is at least ``min_delta`` (>= 0) below the best
        loss so far.
    min_learning_rate : float, default 0.0
        The rate never goes below this (in [0, learning_rate]).

    Attributes
    ----------
    current_learning_rate : float
        The rate now in force.
    best_loss : float
        The lowest loss seen (inf before the first).
    bad_epochs : int
        Consecutive non-improving epochs since the last improvement or reduction.

    Notes
    -----
    Each call with a loss L (``loss=None`` changes nothing):

        if L <= best − min_delta:  bad_epochs ← 0        else:  bad_epochs ← bad_epochs + 1
        best ← min(best, L)
        if bad_epochs == patience: rate ← max(factor · rate, min_learning_rate), bad_epochs ← 0

    so the rate drops at the call that reports the ``patience``-th non-improving epoch in a
    row. A NaN loss counts as non-improving. The best loss follows every decrease, even one
    smaller than ``min_delta`` (scikit-learn's rule), so a loss creeping down by less than
    ``min_delta`` per epoch counts as a plateau.

    scikit-learn's ``learning_rate='adaptive'`` is ``factor=0.2, min_delta=tol`` with
    ``patience=n_iter_no_change + 1`` (its test is ``count > n_iter_no_change``); it also
    stops training once the rate is at most 1e-6, which is the training loop's business.

    The object remembers the run it follows: call `reset` before using it for another run
    (nablanet's training loop does so at the start of each run).
    """

    learning_rate: float
    factor: float = 0.1
    patience: int = 10
    min_delta: float = 1e-4
    min_learning_rate: float = 0.0
    current_learning_rate: float = field(init=False)
    best_loss: float = field(init=False)
    bad_epochs: int = field(init=False)

    def __post_init__(self) -> None:
        self.learning_rate = positive(self.learning_rate, "learning_rate")
        self.factor = positive(self.factor, "factor")
        if self.factor >= 1.0:
            raise ValueError(f"factor must be in (0, 1), got {self.factor!r}")
        self.patience = integer(self.patience, "patience")
        self.min_delta = non_negative(self.min_delta, "min_delta")
        self.min_learning_rate = non_negative(self.min_learning_rate, "min_learning_rate")
        if self.min_learning_rate > self.learning_rate:
            raise ValueError(
                f"min_learning_rate ({self.min_learning_rate}) exceeds learning_rate "
                f"({self.learning_rate})"
            )
        self.reset()

    def reset(self) -> None:
        """Forget the run: back to ``learning_rate``, no best loss, no bad epochs."""
        self.current_learning_rate = self.learning_rate
        self.best_loss = math.inf
        self.bad_epochs = 0

    def __call__(self, epoch: int, loss: float | None) -> float:
        """Record ``loss`` (if any) and return the rate for ``epoch``."""
        _check_epoch(epoch)
        if loss is None:
            return self.current_learning_rate
        L = float(loss)
        # Written so that NaN, which compares False with everything, is non-improving.
        if L <= self.best_loss - self.min_delta:
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        if L < self.best_loss:
            self.best_loss = L
        if self.bad_epochs >= self.patience:
            self.current_learning_rate = max(
                self.current_learning_rate * self.factor, self.min_learning_rate
            )
            self.bad_epochs = 0
        return self.current_learning_rate


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "invscaling": InverseScaling,
    "step": StepDecay,
    "cosine": Cosine,
    "plateau": ReduceOnPlateau,
}
"""Schedule classes by name (``'invscaling'`` as in scikit-learn)."""


def get_schedule(name: str, learning_rate: float, **kwargs: Any) -> Schedule:
    """Return the schedule called ``name``, starting from ``learning_rate``.

    Parameters
    ----------
    name : str
        A key of `SCHEDULES`.
    learning_rate : float
        The initial rate.
    **kwargs
        The schedule's other parameters (``step_size=``, ``total_epochs=``, ...).

    Returns
    -------
    Schedule

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    cls = lookup(SCHEDULES, name, "schedule")
    return cls(learning_rate, **kwargs)  # type: ignore[call-arg]
