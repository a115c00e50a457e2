"""Batch gradient descent: the simplest update rule, θ ← θ − α ∇J(θ)."""

from __future__ import annotations

from dataclasses import dataclass

from nablanet import kernels
from nablanet.optim._inplace import (
    FloatArray,
    check_grad,
    check_theta,
    positive,
    step_learning_rate,
)


@dataclass
class GradientDescentState:
    """State of `GradientDescent`: only a step counter (the rule has no memory).

    Attributes
    ----------
    t : int
        Number of steps taken.
    """

    t: int = 0


@dataclass
class GradientDescent:
    """Gradient descent with a fixed (or scheduled) learning rate.

    Parameters
    ----------
    learning_rate : float, default 0.1
        The step size α (> 0).

    Notes
    -----
    One step is

        θ ← θ − α g,    g = ∂J/∂θ,

    one pass over ``theta`` (`nablanet.kernels.axpy`). With ``g`` the gradient over the whole
    training set this is batch gradient descent; over a minibatch it is plain SGD.
    """

    learning_rate: float = 0.1

    def __post_init__(self) -> None:
        self.learning_rate = positive(self.learning_rate, "learning_rate")

    def init(self, theta: FloatArray) -> GradientDescentState:
        """Return the initial state for ``theta``.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            float32 or float64. Only checked; nothing is allocated.

        Returns
        -------
        GradientDescentState
        """
        check_theta(theta)
        return GradientDescentState()

    def step(
        self,
        theta: FloatArray,
        grad: FloatArray,
        state: GradientDescentState,
        learning_rate: float | None = None,
    ) -> None:
        """Take one step, updating ``theta`` and ``state`` in place.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            The parameters, updated in place.
        grad : ndarray of shape (n_params,)
            ∂J/∂θ at ``theta``, same dtype.
        state : GradientDescentState
            From `init`.
        learning_rate : float, optional
            Overrides ``self.learning_rate`` for this step (a schedule's value).
        """
        alpha = step_learning_rate(self.learning_rate, learning_rate)
        check_grad(theta, grad)
        kernels.axpy(theta.dtype.type(-alpha), grad, theta)
        state.t += 1
