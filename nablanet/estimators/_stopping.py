"""scikit-learn's stopping rule for its MLPs, as a training callback that owns its state.

The rule (``sklearn.neural_network.MLPClassifier``, 1.9), after each epoch:

    without early stopping:  count ← count + 1 if loss > best_loss − tol else 0
                             best_loss ← min(best_loss, loss)
    with early stopping:     count ← count + 1 if score < best_score + tol else 0
                             best_score, best weights ← score, θ   if score > best_score
    if count > n_iter_no_change:
        "adaptive" sgd with a rate above 1e-6:  rate ← rate / 5, count ← 0
        otherwise:                              stop
    at the end, with early stopping:          θ ← the best weights

It differs from `EarlyStopping` (whose best value moves only on an improvement of at least
``min_delta``, where here it follows every improvement) and from `ReduceOnPlateau` (which
multiplies by a factor and counts a NaN as no improvement, where scikit-learn divides by 5
and its comparisons let a NaN reset the count); reproducing scikit-learn bit for bit is the
point of this one.

The counters carry over from one fit to the next (warm start, ``partial_fit``), so the
callback starts from a `StoppingState` and keeps its own copy per run: the estimator reads
the state of the run it keeps after training and commits it only if training succeeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from numpy.typing import NDArray

from nablanet.training import Callback, TrainState

Array = NDArray[Any]

#: scikit-learn's "adaptive" rate stops being divided at or below this value.
MIN_ADAPTIVE_RATE = 1e-6


@dataclass
class StoppingState:
    """scikit-learn's counters, as its estimators keep them between fits.

    Attributes
    ----------
    learning_rate : float
        The rate in force ("adaptive" divides it by 5 on a plateau).
    no_improvement_count : int
        Epochs in a row without an improvement of ``tol``.
    best_loss : float or None
        The lowest training loss seen (None with early stopping).
    best_validation_score : float or None
        The highest validation score seen (None without early stopping).
    validation_scores : list of float or None
        The validation score of every epoch (None without early stopping).
    """

    learning_rate: float
    no_improvement_count: int = 0
    best_loss: float | None = math.inf
    best_validation_score: float | None = None
    validation_scores: list[float] | None = None

    @classmethod
    def fresh(cls, learning_rate: float, early_stopping: bool) -> StoppingState:
        """The state before a first fit."""
        if early_stopping:
            return cls(learning_rate, 0, None, -math.inf, [])
        return cls(learning_rate)

    def copy(self) -> StoppingState:
        """An independent copy (the score list is copied too)."""
        scores = self.validation_scores
        return replace(self, validation_scores=None if scores is None else list(scores))


@dataclass
class ScikitLearnStopping(Callback):
    """scikit-learn's stopping rule and "adaptive" learning rate (see the module notes).

    Parameters
    ----------
    start : StoppingState
        The counters when the fit begins; never modified.
    tol : float
    n_iter_no_change : int or float (np.inf: never stop on a plateau)
    early_stopping : bool
        Watch the validation score (the loop's ``val_score``) instead of the training loss.
    adaptive : bool
        Divide the rate by 5 on a plateau instead of stopping, while it is above 1e-6.

    Attributes
    ----------
    runs : list of StoppingState
        The counters of each run (one per restart), each started from ``start``.
    best_theta : ndarray or None
        The weights with the best validation score in the current run (early stopping).
    """

    start: StoppingState
    tol: float
    n_iter_no_change: float
    early_stopping: bool
    adaptive: bool
    runs: list[StoppingState] = field(default_factory=list)
    best_theta: Array | None = None

    def on_train_begin(self, state: TrainState) -> None:
        self.runs.append(self.start.copy())
        self.best_theta = None

    def on_epoch_end(self, state: TrainState) -> bool:
        s = self.runs[-1]
        s.no_improvement_count = 0 if self._improved(s, state) else s.no_improvement_count + 1
        if s.no_improvement_count <= self.n_iter_no_change:
            return False
        if self.adaptive and state.learning_rate > MIN_ADAPTIVE_RATE:
            state.learning_rate /= 5.0  # used from the next epoch on, and by later fits
            s.learning_rate = state.learning_rate
            s.no_improvement_count = 0
            return False
        return True

    def on_train_end(self, state: TrainState) -> None:
        self.restore_best(state.net.theta)

    def restore_best(self, theta: Array) -> None:
        """With early stopping, write the best weights of the run into ``theta``."""
        if self.early_stopping and self.best_theta is not None:
            theta[...] = self.best_theta

    def _improved(self, s: StoppingState, state: TrainState) -> bool:
        """Record the epoch; whether it improved on the best by at least ``tol``.

        Written as scikit-learn's comparisons, so that a NaN behaves as there.
        """
        h = state.history
        if self.early_stopping:
            assert s.validation_scores is not None and s.best_validation_score is not None
            score = h.val_score[-1]
            s.validation_scores.append(score)
            improved = not score < s.best_validation_score + self.tol
            if score > s.best_validation_score:
                s.best_validation_score = score
                # a new array each time, never written into: a checkpoint may hold it
                self.best_theta = state.net.theta.copy()
            return improved
        assert s.best_loss is not None
        loss = h.train_loss[-1]
        improved = not loss > s.best_loss - self.tol
        if loss < s.best_loss:
            s.best_loss = loss
        return improved
