"""Stochastic gradient descent with (Nesterov) momentum, as scikit-learn writes it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nablanet import kernels
from nablanet.optim._inplace import (
    TINY,
    FloatArray,
    check_grad,
    check_state,
    check_theta,
    in_unit_interval,
    positive,
    step_learning_rate,
)


@dataclass
class SGDState:
    """State of `SGD`.

    Attributes
    ----------
    velocity : ndarray of shape (n_params,)
        The velocity v, same dtype as ``theta``; zero at the start.
    t : int
        Number of steps taken.
    """

    velocity: FloatArray
    t: int = 0


@dataclass
class SGD:
    """Gradient descent with momentum, optionally Nesterov's.

    Parameters
    ----------
    learning_rate : float, default 0.01
        The step size α (> 0).
    momentum : float, default 0.9
        μ, in [0, 1). With 0 this is plain gradient descent (at three passes instead of one).
    nesterov : bool, default False
        Use Nesterov's accelerated gradient in the form below.

    Notes
    -----
    scikit-learn's formulation (``sklearn.neural_network._stochastic_optimizers``), so that
    the scikit-learn–compatible estimators follow the same path:

        v ← μ v − α g
        θ ← θ + v                  (classical momentum)
        θ ← θ + μ v − α g          (Nesterov, with the v just updated)

    With a constant α this equals ``torch.optim.SGD`` (dampening 0), whose buffer is
    b = −v/α. When α changes between steps the two differ: here the old velocity keeps the
    old rate, as in scikit-learn.

    Passes over the arrays per step: 3 (classical) or 4 (Nesterov).
    """

    learning_rate: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False

    def __post_init__(self) -> None:
        self.learning_rate = positive(self.learning_rate, "learning_rate")
        self.momentum = in_unit_interval(self.momentum, "momentum")
        if not isinstance(self.nesterov, bool | np.bool_):
            raise ValueError(f"nesterov must be True or False, got {self.nesterov!r}")
        self.nesterov = bool(self.nesterov)

    def init(self, theta: FloatArray) -> SGDState:
        """Return the initial state: a zero velocity shaped and typed like ``theta``.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            float32 or float64.

        Returns
        -------
        SGDState
        """
        check_theta(theta)
        return SGDState(velocity=np.zeros_like(theta))

    def momentum_at(self, step: int) -> float:
        """μ of step ``step`` (counted from 1): ``momentum`` throughout.

        A schedule of μ overrides it (`nablanet.optim.momentum_switch.MomentumSwitchSGD`).
        """
        return self.momentum

    def step(
        self,
        theta: FloatArray,
        grad: FloatArray,
        state: SGDState,
        learning_rate: float | None = None,
    ) -> None:
        """Take one step, updating ``theta`` and ``state`` in place.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            The parameters, updated in place.
        grad : ndarray of shape (n_params,)
            ∂J/∂θ at ``theta``, same dtype.
        state : SGDState
            From `init`; its velocity is updated in place.
        learning_rate : float, optional
            Overrides ``self.learning_rate`` for this step (a schedule's value).
        """
        alpha = step_learning_rate(self.learning_rate, learning_rate)
        mu = self.momentum_at(state.t + 1)
        check_grad(theta, grad)
        check_state(theta, velocity=state.velocity)
        # One fused pass (`nablanet.kernels.momentum`): v = μ v − α g, then θ = θ + v, or
        # with Nesterov θ = θ + μ v − α g; scalars in theta's dtype.
        real = theta.dtype.type
        kernels.momentum(
            theta, grad, state.velocity, real(mu), real(alpha), self.nesterov,
            TINY[theta.dtype],
        )
        state.t += 1
