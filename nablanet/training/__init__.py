"""Training: the loop, one run, its divergence guard, the records (History) and callbacks.

``train(net, X, Y, ...)`` trains a `Network` in place and returns a `History`. The names
below are the package's public face (the callbacks' one home; ``nablanet.callbacks`` is a
deprecated alias).
"""

from nablanet.training.blas_threads import adaptive_threads
from nablanet.training.callbacks import (
    MONITORS,
    Callback,
    EarlyStopping,
    EpochLogger,
    LearningRateSchedule,
    ProgressBar,
)
from nablanet.training.guard import EXPLOSION_FACTOR
from nablanet.training.history import History, RunHistory, TrainingDiverged, TrainState
from nablanet.training.loop import accuracy, run_seeds, train
from nablanet.training.run import Score

__all__ = [
    "EXPLOSION_FACTOR",
    "MONITORS",
    "Callback",
    "EarlyStopping",
    "EpochLogger",
    "History",
    "LearningRateSchedule",
    "ProgressBar",
    "RunHistory",
    "Score",
    "TrainState",
    "TrainingDiverged",
    "accuracy",
    "adaptive_threads",
    "run_seeds",
    "train",
]
