"""AdamW (Loshchilov & Hutter, 2019): decoupled weight decay, then Adam's step.

Two rules composed: `decay` shrinks the chosen coordinates of θ by a factor of its own,
outside the gradient, and `Adam` takes its step unchanged.

References
----------
I. Loshchilov and F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
Algorithm 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nablanet import kernels
from nablanet.optim._inplace import (
    FloatArray,
    check_grad,
    check_state,
    non_negative,
    step_learning_rate,
)
from nablanet.optim.adam import Adam, AdamState

#: Which coordinates decay: a slice of θ, or a 0/1 array of θ's dtype from a boolean mask.
DecayTarget = slice | FloatArray
DecayMask = slice | np.ndarray[Any, np.dtype[np.bool_]] | None


def check_decay_mask(mask: Any) -> None:
    """Raise ValueError unless ``mask`` is a slice, a 1-D boolean ndarray or None."""
    if mask is None or isinstance(mask, slice):
        return
    if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.ndim == 1):
        raise ValueError(
            "decay_mask must be a slice, a 1-D boolean ndarray or None, got "
            f"{type(mask).__name__}"
            + (f" of dtype {mask.dtype}" if isinstance(mask, np.ndarray) else "")
        )


def decay_target(mask: DecayMask, theta: FloatArray) -> DecayTarget:
    """The coordinates of ``theta`` that ``mask`` selects, in the form `decay` takes.

    Raises
    ------
    ValueError
        If a boolean mask does not have ``theta``'s shape.
    """
    n = theta.shape[0]
    if mask is None:
        return slice(None)
    if isinstance(mask, slice):
        return slice(*mask.indices(n))  # basic slicing: theta[...] is a view
    if mask.shape != theta.shape:
        raise ValueError(f"decay_mask has shape {mask.shape}, theta has {theta.shape}")
    return mask.astype(theta.dtype)


def decay(theta: FloatArray, target: DecayTarget, work: FloatArray, lam: float) -> None:
    """Decoupled weight decay: θ_i ← θ_i − λ θ_i on the ``target`` coordinates, in place.

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
    target : slice or ndarray of shape (n_params,)
        From `decay_target`.
    work : ndarray of shape (n_params,)
        Scratch for a 0/1 target (a slice needs none).
    lam : float
        The factor, α λ in AdamW.
    """
    if isinstance(target, slice):
        decayed = theta[target]  # a view (with nablanet's layout, the weights)
        np.multiply(decayed, 1.0 - lam, out=decayed)
    else:
        np.multiply(target, theta, out=work)
        kernels.axpy(theta.dtype.type(-lam), work, theta)


@dataclass
class AdamWState(AdamState):
    """State of `AdamW`: Adam's moments and step count, and what the decay needs.

    Attributes
    ----------
    decay : slice or ndarray of shape (n_params,)
        The coordinates that weight decay shrinks (`decay_target`).
    work : ndarray of shape (n_params,)
        Scratch for a boolean mask's decay, allocated once so that a step allocates nothing.
    """

    decay: DecayTarget = field(default_factory=lambda: slice(None))
    work: FloatArray = field(default_factory=lambda: np.empty(0))


@dataclass(eq=False)  # decay_mask may be an array, which has no single truth value
class AdamW(Adam):
    """Adam composed with decoupled weight decay (`decay` before each `Adam` step).

    Parameters
    ----------
    learning_rate, beta_1, beta_2, epsilon : float
        Adam's (see `Adam`).
    weight_decay : float, default 0.01
        λ (>= 0), as ``torch.optim.AdamW``'s default. 0 gives Adam's steps.
    decay_mask : slice, ndarray of bool of shape (n_params,), or None
        The coordinates of ``theta`` that weight decay shrinks; None means all. With
        nablanet's layout (weights first, then biases) ``slice(0, n_weights)`` skips the
        biases, and costs one pass over the weights only. ``train(..., optimizer="adamw")``
        builds AdamW with that mask: by name, as everywhere in nablanet, the biases are
        never decayed.

    Notes
    -----
    Each step first shrinks the selected coordinates,

        θ ← θ − α λ θ,

    decoupled from the gradient (so, unlike an L2 term in J, the decay is not rescaled by
    1/√v̂), then takes Adam's step from θ_{t−1}'s gradient. This is the convention of
    ``torch.optim.AdamW`` and optax's ``adamw``; the paper writes η_t λ θ, with the
    schedule multiplier η_t but without α. In float32, a per-step decay α λ below about
    6e-8 is lost to rounding, as in any float32 implementation.

    Cost per step: Adam's, plus one pass over the decayed slice (or two over the whole
    vector for a boolean mask).
    """

    weight_decay: float = 0.01
    decay_mask: DecayMask = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.weight_decay = non_negative(self.weight_decay, "weight_decay")
        check_decay_mask(self.decay_mask)

    def init(self, theta: FloatArray) -> AdamWState:
        """Return the initial state: Adam's, with the decayed coordinates and scratch.

        Raises
        ------
        ValueError
            If ``decay_mask`` does not fit ``theta``.
        """
        adam = super().init(theta)
        return AdamWState(
            m=adam.m, v=adam.v, decay=decay_target(self.decay_mask, theta),
            work=np.empty_like(theta),
        )

    def step(
        self,
        theta: FloatArray,
        grad: FloatArray,
        state: AdamState,
        learning_rate: float | None = None,
    ) -> None:
        """Decay, then take Adam's step, updating ``theta`` and ``state`` in place.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
        grad : ndarray of shape (n_params,)
        state : AdamWState
            From `init`.
        learning_rate : float, optional
            Overrides ``self.learning_rate`` for this step (a schedule's value).
        """
        if not isinstance(state, AdamWState):
            raise TypeError(
                f"AdamW needs the state that AdamW.init returned, got {type(state).__name__}"
            )
        alpha = step_learning_rate(self.learning_rate, learning_rate)
        check_grad(theta, grad)  # before θ changes: a refused step changes nothing
        check_state(theta, m=state.m, v=state.v)
        lam = alpha * self.weight_decay
        if lam > 0.0:
            decay(theta, state.decay, state.work, lam)  # from θ_{t−1}: before Adam's step
        super().step(theta, grad, state, learning_rate)
