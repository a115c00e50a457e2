"""Optimizers on the flat parameter vector, in increasing complexity.

Two kinds, both of which see only ``theta`` (one contiguous 1-D float32/float64 vector,
updated in place because other objects hold views into it) and its gradient:

- step optimizers (`GradientDescent`, `SGD`, `Adam`, `AdamW`): ``state = opt.init(theta)``, then
  ``opt.step(theta, grad, state, learning_rate)`` once per (mini)batch. The optimizer holds
  only hyperparameters, the state holds the arrays, so one optimizer can drive several
  independent runs;
- whole-run minimizers (`LBFGS`, `ConjugateGradient`): ``opt.minimize(fun, theta)`` with
  ``fun(theta) -> (J, grad)`` on the full batch, line searches by scipy. Each returns a
  `MinimizeResult` whose ``status`` (a `Status`) says why it stopped.

Which kind an object is, is a question of what it can do (`is_minimizer`), not of its class.

Learning-rate schedules are in `nablanet.optim.schedules`.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeGuard, runtime_checkable

from nablanet._checks import lookup
from nablanet.optim._inplace import FloatArray
from nablanet.optim.adam import Adam, AdamState
from nablanet.optim.adamw import AdamW, AdamWState
from nablanet.optim.gd import GradientDescent, GradientDescentState
from nablanet.optim.momentum import SGD, SGDState
from nablanet.optim.scipy_min import (
    LBFGS,
    ConjugateGradient,
    IterationCallback,
    MinimizeResult,
    Objective,
    Status,
)


class StepOptimizer(Protocol):
    """An update rule applied once per (mini)batch: explicit state, in-place step."""

    @property
    def learning_rate(self) -> float:
        """The default step size, used when `step` is given none."""
        ...

    def init(self, theta: FloatArray) -> Any:
        """Return fresh state for ``theta`` (arrays of its dtype, counters at 0)."""
        ...

    def step(
        self, theta: FloatArray, grad: FloatArray, state: Any, learning_rate: float | None = None
    ) -> None:
        """Update ``theta`` and ``state`` in place from ``grad``."""
        ...


@runtime_checkable
class Minimizer(Protocol):
    """A method that runs the whole optimization itself from ``fun(theta) -> (J, grad)``."""

    def minimize(
        self,
        fun: Objective,
        theta: FloatArray,
        callback: IterationCallback | None = None,
        max_iter: int | None = None,
    ) -> MinimizeResult:
        """Minimize ``fun`` from ``theta``, writing the solution into ``theta``.

        ``max_iter`` overrides the minimizer's own iteration limit for this call.
        """
        ...


def is_minimizer(opt: object) -> TypeGuard[Minimizer]:
    """Whether ``opt`` runs a whole minimization itself (has ``minimize``)."""
    return isinstance(opt, Minimizer)


OPTIMIZERS: dict[str, type[StepOptimizer]] = {
    "gd": GradientDescent,
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
}
"""Step optimizers by name."""

MINIMIZERS: dict[str, type[Minimizer]] = {
    "lbfgs": LBFGS,
    "cg": ConjugateGradient,
}
"""Whole-run minimizers by name."""


def get_optimizer(name: str, **kwargs: Any) -> StepOptimizer | Minimizer:
    """Return a new optimizer from its name.

    Parameters
    ----------
    name : str
        A key of `OPTIMIZERS` (``'gd'``, ``'sgd'``, ``'adam'``, ``'adamw'``) or `MINIMIZERS`
        (``'lbfgs'``, ``'cg'``).
    **kwargs
        Passed to the class (``learning_rate=``, ``momentum=``, ``max_iter=``, ...).

    Returns
    -------
    StepOptimizer or Minimizer

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    table: dict[str, type[StepOptimizer] | type[Minimizer]] = {**OPTIMIZERS, **MINIMIZERS}
    return lookup(table, name, "optimizer")(**kwargs)


__all__ = [
    "LBFGS",
    "MINIMIZERS",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "AdamState",
    "AdamW",
    "AdamWState",
    "ConjugateGradient",
    "GradientDescent",
    "GradientDescentState",
    "IterationCallback",
    "Minimizer",
    "MinimizeResult",
    "Objective",
    "SGDState",
    "Status",
    "StepOptimizer",
    "get_optimizer",
    "is_minimizer",
]
