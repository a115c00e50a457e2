"""Ctrl-C during a fit: keep what the completed epochs learned, as scikit-learn's MLP does.

`Checkpoint` is the last callback of an estimator's training: at the end of every epoch it
keeps the weights, the count of completed epochs and the stopping rule's counters. When
``KeyboardInterrupt`` arrives (anywhere: in a minibatch, in a callback), `resume` puts the
network back at the end of the last completed epoch and returns the record of the epochs
completed, so that ``n_iter_``, ``t_`` and ``loss_curve_`` describe the weights the
estimator keeps. `nablanet.train` itself lets the interrupt propagate.

When a run with early stopping diverges, `diverged` returns its record with the diverged
epoch marked, for the estimator to keep the best validated weights (as scikit-learn does).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.estimators._optimizer import KeptOptimizer, State
from nablanet.estimators._stopping import ScikitLearnStopping, StoppingState
from nablanet.network import Network
from nablanet.training import Callback, History, RunHistory, TrainState

Array = NDArray[Any]


class Checkpoint(Callback):
    """The state at the end of the last completed epoch of the run under way.

    Parameters
    ----------
    stopping : ScikitLearnStopping or None
        The stopping rule whose counters are kept with the weights.
    optimizer : KeptOptimizer or None
        The optimizer whose state is kept with the weights.
    """

    def __init__(
        self, stopping: ScikitLearnStopping | None, optimizer: KeptOptimizer | None = None
    ) -> None:
        self.stopping = stopping
        self.optimizer = optimizer
        self.runs: list[RunHistory] = []
        self.theta: Array | None = None
        self.epochs = 0
        self.counters: StoppingState | None = None
        self.best_theta: Array | None = None
        self.optimizer_state: State | None = None

    def on_train_begin(self, state: TrainState) -> None:
        self.runs.append(state.history)
        self.epochs = 0
        self._keep(state)

    def on_epoch_end(self, state: TrainState) -> None:
        self.epochs = state.history.n_epochs
        self._keep(state)

    def _keep(self, state: TrainState) -> None:
        if self.theta is None:
            self.theta = state.net.theta.copy()
        else:
            np.copyto(self.theta, state.net.theta)
        if self.stopping is not None and self.stopping.runs:
            self.counters = self.stopping.runs[-1].copy()
            self.best_theta = self.stopping.best_theta
        if self.optimizer is not None and self.optimizer.runs:
            self.optimizer_state = copy.deepcopy(self.optimizer.runs[-1])

    def resume(self, net: Network) -> History:
        """After an interrupt: the weights and record of the last completed epoch.

        Returns
        -------
        History
            The runs so far, the interrupted one cut to its completed epochs and kept
            (``stop_reason`` "interrupted"), with the stopping rule's counters set back
            to that epoch.

        Raises
        ------
        KeyboardInterrupt
            Again, when the run under way completed no epoch: there is nothing to keep.
        """
        if not self.runs or self.epochs == 0 or self.theta is None:
            raise KeyboardInterrupt
        net.theta[...] = self.theta
        run = self.runs[-1]
        n = self.epochs
        for record in (run.train_loss, run.val_loss, run.val_score, run.learning_rate,
                       run.epoch_time):
            del record[n:]
        run.stop_reason = "interrupted"
        if self.stopping is not None and self.counters is not None:
            self.stopping.runs[-1] = self.counters
            self.stopping.best_theta = self.best_theta
            self.stopping.restore_best(net.theta)  # as at the normal end of a run
        if self.optimizer is not None and self.optimizer_state is not None:
            self.optimizer.runs[-1] = self.optimizer_state
        return History(runs=list(self.runs), best_run=len(self.runs) - 1)

    def diverged(self, net: Network) -> History | None:
        """After a divergence with early stopping: the best validated weights and the record.

        The diverged epoch is recorded with NaN loss and score (it has neither), as
        scikit-learn's record of such an epoch ends; the network gets the weights with the
        best validation score. None when no epoch was validated: nothing to keep.
        """
        stopping = self.stopping
        if stopping is None or stopping.best_theta is None or not self.runs:
            return None
        net.theta[...] = stopping.best_theta
        run = self.runs[-1]
        del run.val_loss[len(run.train_loss):], run.val_score[len(run.train_loss):]
        run.train_loss.append(math.nan)
        run.val_loss.append(math.nan)
        run.val_score.append(math.nan)
        run.learning_rate.append(run.learning_rate[-1] if run.learning_rate else math.nan)
        run.epoch_time.append(math.nan)
        run.stop_reason = "diverged"
        counters = stopping.runs[-1]
        if counters.validation_scores is not None:
            counters.validation_scores.append(math.nan)
        return History(runs=list(self.runs), best_run=len(self.runs) - 1)
