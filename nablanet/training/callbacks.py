"""Callbacks: what the training loop does besides descending.

A callback sees the loop's explicit `TrainState` at the start and end of every epoch
and may stop training by returning True from `on_epoch_end`. Early stopping, learning
rate schedules, logging and the progress bar are all callbacks, so the loop itself
has no flags for them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from nablanet._checks import integer, number, one_of
from nablanet.training.history import TrainState

Array = NDArray[Any]

#: What `EarlyStopping` may watch.
MONITORS = ("val_loss", "train_loss", "val_score")


class Callback:
    """Base class: every hook does nothing. Subclass and override what you need."""

    def on_train_begin(self, state: TrainState) -> None:
        """Call before the first epoch of each run."""

    def on_epoch_begin(self, state: TrainState) -> None:
        """Call before each epoch; may set ``state.learning_rate``."""

    def on_epoch_end(self, state: TrainState) -> bool | None:
        """Call after each epoch's history is recorded; return True to stop the run."""
        return None

    def on_train_end(self, state: TrainState) -> None:
        """Call after each run, before the run's final loss is measured."""


class LearningRateSchedule(Callback):
    """Set the learning rate of each epoch from a schedule.

    Parameters
    ----------
    schedule : callable ``schedule(epoch, loss) -> float``
        See `nablanet.optim.schedules`; ``loss`` is the latest monitored loss (None
        before the first epoch).
    """

    def __init__(self, schedule: Callable[[int, float | None], float]) -> None:
        self.schedule = schedule

    def on_train_begin(self, state: TrainState) -> None:
        reset = getattr(self.schedule, "reset", None)
        if callable(reset):
            reset()

    def on_epoch_begin(self, state: TrainState) -> None:
        loss = state.monitored_loss() if state.history.train_loss else None
        state.learning_rate = float(self.schedule(state.epoch, loss))


class EarlyStopping(Callback):
    """Stop when the monitored quantity has not improved for ``patience`` epochs.

    Parameters
    ----------
    patience : int, default 10
        Epochs without an improvement of at least ``min_delta`` before stopping.
    min_delta : float, default 1e-4
        The smallest change that counts as an improvement.
    monitor : {"val_loss", "train_loss", "val_score"}, default "val_loss"
        "val_loss" falls back to the training loss when there is no validation data.
        "val_score" is maximised; the losses are minimised.
    restore_best : bool, default True
        Put the best weights seen back into the network when the run ends.
    """

    def __init__(
        self,
        patience: int = 10,
        min_delta: float = 1e-4,
        monitor: str = "val_loss",
        restore_best: bool = True,
    ) -> None:
        self.monitor = one_of(monitor, MONITORS, "monitor")
        self.patience = integer(patience, "patience", low=1)
        self.min_delta = number(min_delta, "min_delta", low=0.0)
        self.restore_best = restore_best
        self.best = math.inf
        self.best_epoch = -1
        self.best_theta: Array | None = None
        self.wait = 0

    def _value(self, state: TrainState) -> float:
        h = state.history
        if self.monitor == "val_score":
            if not state.has_validation or math.isnan(h.val_score[-1]):
                raise ValueError(
                    "EarlyStopping(monitor='val_score') needs validation data and a score "
                    "function (train(..., score=accuracy))"
                )
            return -h.val_score[-1]  # maximise the score = minimise its negative
        if self.monitor == "val_loss" and state.has_validation:
            return h.val_loss[-1]
        return h.train_loss[-1]

    def on_train_begin(self, state: TrainState) -> None:
        self.best, self.best_epoch, self.best_theta, self.wait = math.inf, -1, None, 0

    def on_epoch_end(self, state: TrainState) -> bool:
        value = self._value(state)
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best:
                if self.best_theta is None:
                    self.best_theta = state.net.theta.copy()
                else:
                    np.copyto(self.best_theta, state.net.theta)
            return False
        self.wait += 1
        return self.wait >= self.patience

    def on_train_end(self, state: TrainState) -> None:
        if self.restore_best and self.best_theta is not None:
            state.net.theta[...] = self.best_theta


class ProgressBar(Callback):
    """A tqdm progress bar over epochs showing the loss and validation score.

    Parameters
    ----------
    force : bool, default False
        Show the bar even when standard error is not a terminal.
    """

    def __init__(self, force: bool = False) -> None:
        self.force = force
        self._bar: Any = None

    def on_train_begin(self, state: TrainState) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=state.total_epochs,
            desc=f"run {state.run + 1}" if state.run else "training",
            unit="epoch",
            disable=not (self.force or sys.stderr.isatty()),
            leave=True,
        )

    def on_epoch_end(self, state: TrainState) -> None:
        h = state.history
        info = {"loss": f"{h.train_loss[-1]:.4g}"}
        if state.has_validation:
            info["val_loss"] = f"{h.val_loss[-1]:.4g}"
            if not math.isnan(h.val_score[-1]):
                info["val_score"] = f"{h.val_score[-1]:.4f}"
        self._bar.set_postfix(info, refresh=False)
        self._bar.update(1)

    def on_train_end(self, state: TrainState) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class EpochLogger(Callback):
    """Write one line per epoch to a stream (for logs and pipes, where a bar is noise).

    Parameters
    ----------
    stream : text stream, default sys.stderr
    every : int, default 1
        Log every this many epochs (and the last).
    """

    def __init__(self, stream: IO[str] | None = None, every: int = 1) -> None:
        self.stream = stream
        self.every = max(1, every)

    def on_epoch_end(self, state: TrainState) -> None:
        h = state.history
        last = state.epoch + 1 == state.total_epochs
        if (state.epoch + 1) % self.every and not last:
            return
        parts = [f"run {state.run + 1}", f"epoch {state.epoch + 1}", f"loss {h.train_loss[-1]:.6g}"]
        if state.has_validation:
            parts.append(f"val_loss {h.val_loss[-1]:.6g}")
            if not math.isnan(h.val_score[-1]):
                parts.append(f"val_score {h.val_score[-1]:.4f}")
        parts.append(f"lr {h.learning_rate[-1]:.3g}")
        parts.append(f"{h.epoch_time[-1]:.3f}s")
        stream = self.stream if self.stream is not None else sys.stderr
        stream.write("  ".join(parts) + "\n")
        stream.flush()
