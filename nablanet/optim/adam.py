"""Adam (Kingma & Ba, 2015); AdamW, Adam composed with decoupled weight decay, is in `adamw`.

References
----------
D. P. Kingma and J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
Algorithm 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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
class AdamState:
    """State of `Adam`.

    Attributes
    ----------
    m : ndarray of shape (n_params,)
        Biased first-moment estimate (Kingma & Ba's m_t), same dtype as ``theta``.
    v : ndarray of shape (n_params,)
        Biased second raw-moment estimate (v_t).
    t : int
        Number of steps taken (the t of the bias corrections).
    """

    m: FloatArray
    v: FloatArray
    t: int = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Pickled when Adam also did AdamW's decay: its scratch buffer and decay mask
        # were state here (an AdamW state keeps them: `AdamWState`).
        if type(self) is AdamState:
            state = {k: v for k, v in state.items() if k not in ("work", "decay")}
        self.__dict__.update(state)


@dataclass(eq=False)  # compared by identity, as AdamW must be (a mask array has no ==)
class Adam:
    """Adam: a step from the bias-corrected moments of the gradient.

    Parameters
    ----------
    learning_rate : float, default 1e-3
        The step size α (> 0).
    beta_1, beta_2 : float, default 0.9, 0.999
        Decay rates of the moment estimates, in [0, 1).
    epsilon : float, default 1e-8
        ε (> 0), added to √v̂ to keep the division finite.

    See Also
    --------
    nablanet.optim.AdamW : Adam composed with decoupled weight decay.

    Notes
    -----
    Algorithm 1 of Kingma & Ba, with g = ∂J/∂θ and t the step number:

        m ← β₁ m + (1 − β₁) g
        v ← β₂ v + (1 − β₂) g²
        m̂ = m / (1 − β₁ᵗ),   v̂ = v / (1 − β₂ᵗ)
        θ ← θ − α m̂ / (√v̂ + ε)

    The bias corrections are folded into two scalars, exactly (not the approximation of
    Kingma & Ba's section 2, which moves ε):

        θ ← θ − α_t m / (√v + ε_t),   α_t = α √(1 − β₂ᵗ) / (1 − β₁ᵗ),   ε_t = ε √(1 − β₂ᵗ)

    so m̂ and v̂ are never formed. After the first step every coordinate with g ≠ 0 has moved
    by α g / (|g| + ε) ≈ α sign(g).

    Cost per step: one fused pass over θ, g, m and v (`nablanet.kernels.adam`: a numba
    loop in a fit large enough to repay compiling it, else its NumPy twin).
    """

    learning_rate: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8

    def __post_init__(self) -> None:
        self.learning_rate = positive(self.learning_rate, "learning_rate")
        self.beta_1 = in_unit_interval(self.beta_1, "beta_1")
        self.beta_2 = in_unit_interval(self.beta_2, "beta_2")
        self.epsilon = positive(self.epsilon, "epsilon")

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Pickled when Adam took a weight_decay flag: with decay, that was AdamW.
        state = dict(state)
        if type(self) is Adam:
            weight_decay = state.pop("weight_decay", 0.0)
            state.pop("decay_mask", None)
            if weight_decay:
                raise ValueError(
                    f"this Adam was pickled with weight_decay={weight_decay!r}, which is "
                    "AdamW now: build nablanet.optim.AdamW(..., weight_decay=...) instead"
                )
        self.__dict__.update(state)

    def init(self, theta: FloatArray) -> AdamState:
        """Return the initial state: zero moments like ``theta``.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            float32 or float64.

        Returns
        -------
        AdamState
        """
        check_theta(theta)
        return AdamState(m=np.zeros_like(theta), v=np.zeros_like(theta))

    def step(
        self,
        theta: FloatArray,
        grad: FloatArray,
        state: AdamState,
        learning_rate: float | None = None,
    ) -> None:
        """Take one step, updating ``theta`` and ``state`` in place.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            The parameters, updated in place.
        grad : ndarray of shape (n_params,)
            ∂J/∂θ at ``theta``, same dtype.
        state : AdamState
            From `init`; its moments are updated in place.
        learning_rate : float, optional
            Overrides ``self.learning_rate`` for this step (a schedule's value).
        """
        alpha = step_learning_rate(self.learning_rate, learning_rate)
        b1, b2 = self.beta_1, self.beta_2
        check_grad(theta, grad)
        m, v = state.m, state.v
        check_state(theta, m=m, v=v)
        state.t += 1
        t = state.t

        root_c2 = math.sqrt(1.0 - b2**t)
        alpha_t = alpha * root_c2 / (1.0 - b1**t)
        eps_t = self.epsilon * root_c2
        # One fused pass (`nablanet.kernels.adam`); scalars in theta's dtype.
        real = theta.dtype.type
        kernels.adam(
            theta, grad, m, v, real(b1), real(1.0 - b1), real(b2), real(1.0 - b2),
            real(alpha_t), real(eps_t), TINY[theta.dtype],
        )
