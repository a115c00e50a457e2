"""Deprecated alias of `nablanet.data`, where the data sets and readers live.

Importing it warns (`DeprecationWarning`); every name resolves to its one home in
`nablanet.data`. Write ``from nablanet.data import load_digits`` instead.
"""

from __future__ import annotations

import warnings
from typing import Any

from nablanet import data

warnings.warn(
    "nablanet.datasets is deprecated: import its names from nablanet.data "
    "(e.g. `from nablanet.data import load_digits`)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = list(data.__all__)


def __getattr__(name: str) -> Any:
    return getattr(data, name)


def __dir__() -> list[str]:
    return sorted(__all__)
