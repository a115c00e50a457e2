"""Argument checks and constants shared by the step optimizers.

A step optimizer is a handful of passes over the flat parameter vector; the kernels that
make each pass read and write memory once are in `nablanet.kernels`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._checks import number

FloatArray = NDArray[np.floating[Any]]

#: The smallest normal number of each dtype, below which the kernels flush moments to zero
#: (looked up once: ``np.finfo`` costs microseconds per call, the step itself ~40 µs).
TINY = {np.dtype(t): np.finfo(t).tiny for t in (np.float32, np.float64)}


def check_theta(theta: Any) -> None:
    """Check that ``theta`` is a writable, non-empty 1-D float32 or float64 ndarray.

    Raises
    ------
    TypeError
        If ``theta`` is not an ndarray.
    ValueError
        If it is not 1-D, is empty, is read-only or has another dtype.
    """
    if not isinstance(theta, np.ndarray):
        raise TypeError(f"theta must be a NumPy ndarray, got {type(theta).__name__}")
    if theta.ndim != 1 or theta.size == 0:
        raise ValueError(f"theta must be a non-empty 1-D vector, got shape {theta.shape}")
    if theta.dtype not in (np.float32, np.float64):
        raise ValueError(f"theta must be float32 or float64, got {theta.dtype}")
    if not theta.flags.writeable:
        raise ValueError("theta must be writable: the optimizers update it in place")


def check_grad(theta: FloatArray, grad: FloatArray) -> None:
    """Check that ``grad`` matches ``theta`` in shape and dtype (cheap: run every step).

    A float64 gradient for a float32 ``theta`` would be silently cast (and copied) on every
    step, so it is refused instead.

    Raises
    ------
    ValueError
        On a shape or dtype mismatch.
    """
    if grad.shape != theta.shape or grad.dtype != theta.dtype:
        raise ValueError(
            f"grad must match theta: got grad {grad.dtype}{list(grad.shape)} for "
            f"theta {theta.dtype}{list(theta.shape)}"
        )


def check_state(theta: FloatArray, **moments: FloatArray) -> None:
    """Check that each optimizer state array matches ``theta`` in shape and dtype.

    The compiled kernels index the state by θ's length: a state from ``init`` on another
    vector would be read and written out of bounds, so it is refused instead.

    Raises
    ------
    ValueError
        Naming the first state array that does not match.
    """
    for name, array in moments.items():
        if array.shape != theta.shape or array.dtype != theta.dtype:
            raise ValueError(
                f"optimizer state {name!r} is {array.dtype}{list(array.shape)} but theta is "
                f"{theta.dtype}{list(theta.shape)}: use the state that init(theta) returned"
            )


def positive(value: Any, name: str) -> float:
    """``value`` as a float if it is a finite number > 0 (see `nablanet._checks.number`)."""
    return number(value, name, low=0.0, low_open=True)


def non_negative(value: Any, name: str) -> float:
    """``value`` as a float if it is a finite number >= 0 (see `nablanet._checks.number`)."""
    return number(value, name, low=0.0)


def in_unit_interval(value: Any, name: str) -> float:
    """``value`` as a float if it lies in [0, 1) (see `nablanet._checks.number`)."""
    return number(value, name, low=0.0, high=1.0, high_open=True)


def step_learning_rate(default: float, override: float | None) -> float:
    """Return this step's learning rate: ``override`` (from a schedule) or ``default``.

    A schedule may legitimately reach 0 (a cosine schedule's floor), so 0 is accepted here,
    unlike in the optimizers' constructors.

    Raises
    ------
    ValueError
        If the rate is negative or NaN.
    """
    if override is None:
        return default
    alpha = float(override)
    if not alpha >= 0.0:  # also catches NaN
        raise ValueError(f"learning_rate must be >= 0, got {override!r}")
    return alpha
