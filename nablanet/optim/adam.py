"""Adam (Kingma & Ba, 2015) and its decoupled weight decay variant AdamW.

References
----------
D. P. Kingma and J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
Algorithm 1. I. Loshchilov and F. Hutter, "Decoupled Weight Decay Regularization",
ICLR 2019, Algorithm 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nablanet._fused import adam_kernel
from nablanet.optim._inplace import (
    TINY,
    FloatArray,
    axpy,
    check_grad,
    check_state,
    check_theta,
    in_unit_interval,
    non_negative,
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
    work : ndarray of shape (n_params,)
        Scratch buffer, allocated once here so that a step allocates nothing.
    decay : slice or ndarray of shape (n_params,)
        The coordinates that weight decay shrinks: a slice, or a 0/1 array of theta's dtype
        made from a boolean mask (unused when ``weight_decay == 0``).
    t : int
        Number of steps taken (the t of the bias corrections).
    """

    m: FloatArray
    v: FloatArray
    work: FloatArray
    decay: slice | FloatArray
    t: int = 0


@dataclass(eq=False)  # decay_mask may be an array, which has no single truth value
class Adam:
    """Adam, or AdamW when ``weight_decay > 0``.

    Parameters
    ----------
    learning_rate : float, default 1e-3
        The step size α (> 0).
    beta_1, beta_2 : float, default 0.9, 0.999
        Decay rates of the moment estimates, in [0, 1).
    epsilon : float, default 1e-8
        ε (> 0), added to √v̂ to keep the division finite.
    weight_decay : float, default 0.0
        λ (>= 0) of decoupled weight decay. 0 gives plain Adam.
    decay_mask : slice, ndarray of bool of shape (n_params,), or None
        The coordinates of ``theta`` that weight decay shrinks; None means all. With
        nablanet's layout (weights first, then biases) ``slice(0, n_weights)`` skips the
        biases, and costs one pass over the weights only.

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

    With ``weight_decay = λ > 0`` this is AdamW: before the step above, the selected
    coordinates shrink,

        θ ← θ − α λ θ,

    decoupled from the gradient (so, unlike an L2 term in J, the decay is not rescaled by
    1/√v̂). This is the convention of ``torch.optim.AdamW`` and optax's ``adamw``; the paper
    writes η_t λ θ, with the schedule multiplier η_t but without α. In float32, a per-step
    decay α λ below about 6e-8 is lost to rounding, as in any float32 implementation.

    Cost per step: one fused pass over θ, g, m and v (a numba kernel in a fit large
    enough to repay compiling it, else its NumPy twin: `nablanet._fused`), plus one pass
    over the decayed slice (or two over the whole vector for a boolean mask).
    """

    learning_rate: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    weight_decay: float = 0.0
    decay_mask: slice | np.ndarray[Any, np.dtype[np.bool_]] | None = None

    def __post_init__(self) -> None:
        self.learning_rate = positive(self.learning_rate, "learning_rate")
        self.beta_1 = in_unit_interval(self.beta_1, "beta_1")
        self.beta_2 = in_unit_interval(self.beta_2, "beta_2")
        self.epsilon = positive(self.epsilon, "epsilon")
        self.weight_decay = non_negative(self.weight_decay, "weight_decay")
        mask = self.decay_mask
        if not (mask is None or isinstance(mask, slice)):
            if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.ndim == 1):
                raise ValueError(
                    "decay_mask must be a slice, a 1-D boolean ndarray or None, got "
                    f"{type(mask).__name__}"
                    + (f" of dtype {mask.dtype}" if isinstance(mask, np.ndarray) else "")
                )

    def init(self, theta: FloatArray) -> AdamState:
        """Return the initial state: zero moments and a work buffer like ``theta``.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            float32 or float64.

        Returns
        -------
        AdamState

        Raises
        ------
        ValueError
            If ``decay_mask`` does not fit ``theta``.
        """
        check_theta(theta)
        return AdamState(
            m=np.zeros_like(theta),
            v=np.zeros_like(theta),
            work=np.empty_like(theta),
            decay=self._resolve_mask(theta),
        )

    def _resolve_mask(self, theta: FloatArray) -> slice | FloatArray:
        mask = self.decay_mask
        n = theta.shape[0]
        if mask is None:
            return slice(None)
        if isinstance(mask, slice):
            return slice(*mask.indices(n))  # basic slicing: theta[...] is a view
        if mask.shape != theta.shape:
            raise ValueError(f"decay_mask has shape {mask.shape}, theta has {theta.shape}")
        return mask.astype(theta.dtype)

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
        m, v, work = state.m, state.v, state.work
        check_state(theta, m=m, v=v)
        state.t += 1
        t = state.t

        lam = alpha * self.weight_decay
        if lam > 0.0:
            # Decoupled decay uses θ_{t−1}, so it goes before the Adam step.
            if isinstance(state.decay, slice):
                w = theta[state.decay]  # a view: weights first in nablanet's layout
                np.multiply(w, 1.0 - lam, out=w)
            else:
                np.multiply(state.decay, theta, out=work)
                axpy(-lam, work, theta)

        root_c2 = math.sqrt(1.0 - b2**t)
        alpha_t = alpha * root_c2 / (1.0 - b1**t)
        eps_t = self.epsilon * root_c2
        # One fused pass (nablanet._fused); scalars in theta's dtype.
        real = theta.dtype.type
        adam_kernel()(
            theta, grad, m, v, real(b1), real(1.0 - b1), real(b2), real(1.0 - b2),
            real(alpha_t), real(eps_t), TINY[theta.dtype],
        )
