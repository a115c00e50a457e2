"""The optimizer a stochastic fit leaves behind, for the next ``partial_fit`` to go on with.

scikit-learn keeps its optimizer between ``partial_fit`` calls (``_optimizer``): Adam's
moments and step count, SGD's velocity, and the learning rate in force all carry over,
while every ``fit`` (warm or not) builds a new one. `KeptOptimizer` is that object for
nablanet's training loop: it is a step optimizer (``init``/``step``) whose ``init`` hands
the loop a copy of the kept state instead of zeros, and it records the state each run
reaches, so that the estimator keeps the one of the run it keeps, and only when the fit
succeeds (a fit is all or nothing: `_transaction`).

The update rule (`SGD` or `Adam`) is built from the estimator's parameters at every call,
so a changed ``momentum`` or ``beta_1`` applies from the next step on; the state is kept
only while it fits: same rule, same θ length and dtype.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.optim import SGD, Adam, AdamState, SGDState

Array = NDArray[Any]
State = SGDState | AdamState

#: The arrays of each state that a model file holds.
STATE_ARRAYS: dict[type, tuple[str, ...]] = {SGDState: ("velocity",), AdamState: ("m", "v")}


@dataclass
class KeptOptimizer:
    """A step optimizer that starts from a kept state, as scikit-learn's ``_optimizer``.

    Parameters
    ----------
    rule : SGD or Adam
        The update rule (hyperparameters only).
    state : SGDState, AdamState or None
        The state to go on from; None starts from zeros (a new optimizer).
    learning_rate : float
        The rate the next epoch starts from (scikit-learn's ``_optimizer.learning_rate``:
        "adaptive" divides it, "invscaling" lowers it after every epoch).

    Attributes
    ----------
    runs : list of SGDState or AdamState
        The state of each run of the current training call, in order (one per restart).
    """

    rule: SGD | Adam
    state: State | None
    learning_rate: float
    runs: list[State] = field(default_factory=list, repr=False)

    def init(self, theta: Array) -> State:
        """A copy of the kept state when it fits ``theta`` and the rule, else a fresh one."""
        kept = self.state
        if kept is not None and fits(kept, self.rule, theta):
            state = copy.deepcopy(kept)
        else:
            state = self.rule.init(theta)
        self.runs.append(state)
        return state

    def step(
        self, theta: Array, grad: Array, state: State, learning_rate: float | None = None
    ) -> None:
        """One step of the rule (see `SGD.step`, `Adam.step`)."""
        self.rule.step(theta, grad, state, learning_rate)  # type: ignore[arg-type]

    def __getstate__(self) -> dict[str, Any]:
        # A pickle holds what resuming needs: not the runs of the last call.
        return dict(self.__dict__, runs=[])


def state_names(rule: SGD | Adam) -> tuple[str, ...]:
    """The names of the arrays of ``rule``'s state."""
    return STATE_ARRAYS[AdamState if isinstance(rule, Adam) else SGDState]


def fits(state: State, rule: SGD | Adam, theta: Array) -> bool:
    """Whether ``state`` belongs to ``rule``'s kind and to a θ like ``theta``."""
    if not isinstance(state, AdamState if isinstance(rule, Adam) else SGDState):
        return False
    return all(
        getattr(state, name).shape == theta.shape and getattr(state, name).dtype == theta.dtype
        for name in state_names(rule)
    )


def state_arrays(state: State) -> tuple[dict[str, Array], int]:
    """The arrays of ``state`` by name, and its step count (for a model file)."""
    return {name: getattr(state, name) for name in STATE_ARRAYS[type(state)]}, int(state.t)


def state_from_arrays(rule: SGD | Adam, theta: Array, arrays: dict[str, Array], t: int) -> State:
    """Rebuild the state of ``rule`` for ``theta`` from checked arrays and step count."""
    state = rule.init(theta)
    for name, values in arrays.items():
        np.copyto(getattr(state, name), values)
    state.t = t
    return state
