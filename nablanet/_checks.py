"""The one set of argument checks: integers, real numbers in ranges, names from tables.

Every public function and estimator checks its scalar arguments through these, so that one
kind of mistake always gets one kind of message:

- ``integer(value, name, low=1)``: an int or NumPy integer (``True`` is refused: a bool is
  an ``int`` to Python but never a count to a user), at least ``low``;
- ``number(value, name, low, high, ...)``: a finite real number (bools refused) in an
  interval, whose message names the interval the same way for every bound
  (``must be a number in (0, inf), got -0.1``);
- ``lookup(table, name, what)``: a name from a table, whose error lists every valid name.

Each returns the checked value converted to a plain Python type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def is_integer(value: Any) -> bool:
    """Whether ``value`` is an integer in the sense of the checks (bools are not)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number in the sense of the checks (bools are not)."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def integer(value: Any, name: str, low: int = 1, high: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[low, high]`` and return it as an int.

    Raises
    ------
    ValueError
        Naming ``name``, the bounds and the value, for a bool, a float, any non-integer
        or an integer out of range.
    """
    if is_integer(value) and value >= low and (high is None or value <= high):
        return int(value)
    bound = f">= {low}" if high is None else f"in [{low}, {high}]"
    raise ValueError(f"{name} must be an integer {bound}, got {value!r}")


def interval(
    low: float | None, high: float | None, low_open: bool = False, high_open: bool = False
) -> str:
    """An interval in the usual notation: ``(0, inf)``, ``[0, 1]``, ``[0, 1)``."""
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    return f"{left}{lo}, {hi}{right}"


def number(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Check that ``value`` is a finite real number in an interval and return it as a float.

    Parameters
    ----------
    value : object
        The argument to check.
    name : str
        Its name, for the message.
    low, high : float, optional
        The bounds (None: unbounded on that side).
    low_open, high_open : bool, default False
        Whether the interval excludes that bound.

    Raises
    ------
    ValueError
        ``"{name} must be a number in {interval}, got {value!r}"`` for a bool, a non-number,
        NaN, an infinity or a value outside the interval.
    """
    ok = is_real(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        where = interval(low, high, low_open, high_open)
        raise ValueError(f"{name} must be a number in {where}, got {value!r}")
    return float(value)


def lookup(table: Mapping[str, T], name: object, what: str, aliases: Mapping[str, str] = {}) -> T:
    """Return ``table[name]`` (following ``aliases``).

    Raises
    ------
    ValueError
        For an unknown name, with a message that lists every valid one.
    """
    key = aliases.get(name, name) if isinstance(name, str) else name
    if isinstance(key, str) and key in table:
        return table[key]
    valid = ", ".join(sorted([*table, *aliases]))
    raise ValueError(f"unknown {what} {name!r}; valid: {valid}")


def one_of(value: Any, valid: Any, what: str) -> str:
    """Check that ``value`` is one of the names ``valid`` and return it.

    Raises
    ------
    ValueError
        For any other value, with a message that lists the valid names.
    """
    return lookup({v: v for v in valid}, value, what)
