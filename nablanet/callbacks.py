"""Callbacks of the training loop: kept importable here; they live in `nablanet.training`.

See `nablanet.training.callbacks` (the callbacks) and `nablanet.training.history`
(`RunHistory`, `TrainState`).
"""

from nablanet.training.callbacks import (
    MONITORS,
    Callback,
    EarlyStopping,
    EpochLogger,
    LearningRateSchedule,
    ProgressBar,
)
from nablanet.training.history import RunHistory, TrainState

__all__ = [
    "MONITORS",
    "Callback",
    "EarlyStopping",
    "EpochLogger",
    "LearningRateSchedule",
    "ProgressBar",
    "RunHistory",
    "TrainState",
]
