"""Deprecated alias of `nablanet.training`, where the training loop's callbacks live.

Importing it warns (`DeprecationWarning`); every name resolves to its one home in
`nablanet.training`. Write ``from nablanet.training import EarlyStopping`` instead.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from nablanet import training

warnings.warn(
    "nablanet.callbacks is deprecated: import its names from nablanet.training "
    "(e.g. `from nablanet.training import EarlyStopping`)",
    DeprecationWarning,
    stacklevel=2,
)

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


if TYPE_CHECKING:
    from nablanet.training import (
        MONITORS,
        Callback,
        EarlyStopping,
        EpochLogger,
        LearningRateSchedule,
        ProgressBar,
        RunHistory,
        TrainState,
    )


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'nablanet.callbacks' has no attribute {name!r}")
    return getattr(training, name)


def __dir__() -> list[str]:
    return sorted(__all__)
