"""Costs C(a, y) per example and the output-layer error δ = ∂C/∂z they start backprop with.

Each loss carries its value and its output delta side by side (docs/math.md §4, §6), as
Nielsen's cost classes do. The training cost J averages C over the m examples; weight
decay is added by the network, not here.

Which pairs make ``δ = a - y`` valid
------------------------------------
- cross-entropy with softmax outputs: ∂C/∂z_k = a_k - y_k when each row of y sums to
  1 (the softmax Jacobian and -y/a cancel; in general a_k Σ_j y_j - y_k, which is what
  is computed);
- binary cross-entropy with sigmoid outputs: a(1 - a) cancels the same way;
- squared error with identity outputs: f' = 1;
- Poisson deviance with exponential outputs (the log link): a = e^z, ∂C/∂a = 1 − y/a
  and f' = a, so δ = a − y.

For every other pair δ is computed honestly as ``∂C/∂a`` backpropagated through the
output activation (`nablanet.activations.jacobian_vector`), which for softmax is the
full Jacobian — never the diagonal ``f(z) - f(z)²`` the source gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import xlogy

from nablanet import kernels
from nablanet._checks import lookup
from nablanet.activations import ACTIVATIONS, Activation, jacobian_vector
from nablanet.kernels import Kernel

Array = NDArray[Any]


@dataclass(frozen=True, kw_only=True)
class Loss:
    """A per-example cost with its gradient with respect to the output activations.

    Attributes
    ----------
    name : str
        Key in `LOSSES`.
    per_example : callable ``per_example(z, a, Y) -> C``
        C_i for each row, shape (m,). Computed from z where that avoids log(0).
    gradient : callable ``gradient(a, Y, out) -> out`` or None
        ∂C/∂a. None where the loss is only defined after the output activations whose
        canonical loss it is (``Activation.canonical_loss``; see the module notes).
    canonical_delta : callable ``canonical_delta(a, Y, out) -> out``
        δ after those activations; ``a - y`` unless the loss says otherwise.
    fused : Kernel ``fused(z, a, Y, sample_weight, delta) -> J``, optional
        The canonical activation, weighted δ and Σ w C in one loop, compiled in a large fit
        or its NumPy twin (`nablanet.kernels`), used by `cost_and_delta` in training.
    """

    name: str
    per_example: Callable[[Array, Array, Array], Array]
    gradient: Callable[[Array, Array, Array], Array] | None
    canonical_delta: Callable[[Array, Array, Array], Array] = np.subtract
    fused: Kernel | None = None

    def is_canonical(self, activation: Activation) -> bool:
        """Whether ``activation``'s Jacobian cancels against ∂C/∂a (δ = a − y)."""
        return activation.canonical_loss == self.name

    def check_output(self, activation: Activation) -> None:
        """Raise ValueError if this loss cannot follow ``activation``."""
        if self.gradient is None and not self.is_canonical(activation):
            allowed = sorted(a.name for a in ACTIVATIONS.values() if self.is_canonical(a))
            raise ValueError(
                f"loss {self.name!r} needs a {' or '.join(allowed)} output layer, "
                f"got {activation.name!r}"
            )

    def cost_and_delta(
        self,
        activation: Activation,
        z: Array,
        a: Array,
        Y: Array,
        sample_weight: Array,
        delta: Array,
    ) -> float:
        """The output layer of a training step: a = f(z), δ^(n_l) and the data cost.

        Parameters
        ----------
        activation : Activation
            The output layer's activation f.
        z : ndarray of shape (m, k)
            Weighted inputs of the output layer.
        a : ndarray of shape (m, k)
            Overwritten with f(z); a buffer of its own (the cost is computed from z).
        Y : ndarray of shape (m, k)
            Targets.
        sample_weight : ndarray of shape (m,)
            Each example's weight w_i in J: 1/m, or its sample weight over their sum.
        delta : ndarray of shape (m, k)
            Overwritten with w_i ∂C_i/∂z_i: already weighted, so the gradients that
            backpropagation builds from it are averages.

        Returns
        -------
        float
            Σ_i w_i C_i.

        Notes
        -----
        For a canonical pair with a fused kernel (softmax with cross-entropy, sigmoid
        with binary cross-entropy) this is one loop that computes each exponential once
        (or, outside a large fit, its NumPy twin); otherwise `per_example` and
        `output_delta`.
        """
        if self.fused is not None and self.is_canonical(activation):
            return float(self.fused(z, a, Y, sample_weight, delta))
        activation.f(z, a)
        J = float(np.dot(sample_weight, self.per_example(z, a, Y)))
        self.output_delta(activation, a, Y, delta)
        delta *= sample_weight[:, None]
        return J

    def output_delta(self, activation: Activation, a: Array, Y: Array, out: Array) -> Array:
        """Write δ^(n_l) = ∂C/∂z for each example into ``out`` and return it.

        Parameters
        ----------
        activation : Activation
            The output layer's activation.
        a : ndarray of shape (m, k)
            Output activations.
        Y : ndarray of shape (m, k)
            Targets.
        out : ndarray of shape (m, k)

        Notes
        -----
        Not divided by m: the caller scales by 1/m (or by sample weights).
        """
        if self.is_canonical(activation):
            return self.canonical_delta(a, Y, out)
        assert self.gradient is not None  # losses without one have canonical-only outputs
        self.gradient(a, Y, out)
        return jacobian_vector(activation, a, out, out)


# --- squared error:  C = ½‖a - y‖²,  ∂C/∂a = a - y  (docs/math.md §4; the source's cost) ---


def _squared_error(z: Array, a: Array, Y: Array) -> Array:
    r = a - Y
    return 0.5 * np.einsum("ij,ij->i", r, r)


def _squared_error_gradient(a: Array, Y: Array, out: Array) -> Array:
    return np.subtract(a, Y, out=out)


# --- cross-entropy with softmax:  C = -Σ_k y_k log a_k = Σ_k y_k (lse(z) - z_k) -------


def _log_sum_exp(z: Array) -> Array:
    """Return log Σ_k e^{z_k} per row, shifted by the row maximum so that exp cannot overflow."""
    z_max = z.max(axis=1)
    shifted = np.exp(z - z_max[:, None])
    return np.log(shifted.sum(axis=1)) + z_max


def _cross_entropy(z: Array, a: Array, Y: Array) -> Array:
    # log a_k = z_k - logsumexp(z): finite even when a_k underflows to 0.
    return _log_sum_exp(z) * Y.sum(axis=1) - np.einsum("ij,ij->i", Y, z)


def _cross_entropy_delta(a: Array, Y: Array, out: Array) -> Array:
    # ∂C/∂z_k = a_k Σ_j y_j - y_k: the familiar a - y when the row of Y sums to 1
    # (one-hot or a probability row), and still exact when it does not.
    np.multiply(a, Y.sum(axis=1, keepdims=True), out=out)
    return np.subtract(out, Y, out=out)


# --- binary cross-entropy with sigmoid:  C = Σ_k softplus(z_k) - y_k z_k --------------


def _binary_cross_entropy(z: Array, a: Array, Y: Array) -> Array:
    # -y log σ(z) - (1-y) log(1-σ(z)) = log(1 + e^z) - y z; logaddexp keeps it finite.
    return (np.logaddexp(0.0, z) - Y * z).sum(axis=1)


# --- half Poisson deviance with exp:  C = Σ_k y_k log(y_k / a_k) − y_k + a_k ----------


def _poisson(z: Array, a: Array, Y: Array) -> Array:
    # log a = z: finite where a underflows to 0; y log y is 0 at y = 0 (xlogy). It is
    # scikit-learn's "poisson" loss (half the deviance), 0 where a = y.
    return (xlogy(Y, Y) - Y * z - Y + a).sum(axis=1)


LOSSES: dict[str, Loss] = {
    "squared_error": Loss(
        name="squared_error", per_example=_squared_error, gradient=_squared_error_gradient
    ),
    "cross_entropy": Loss(
        name="cross_entropy",
        per_example=_cross_entropy,
        gradient=None,
        canonical_delta=_cross_entropy_delta,
        fused=kernels.softmax_cross_entropy,
    ),
    "binary_cross_entropy": Loss(
        name="binary_cross_entropy",
        per_example=_binary_cross_entropy,
        gradient=None,
        canonical_delta=np.subtract,
        fused=kernels.sigmoid_cross_entropy,
    ),
    "poisson": Loss(name="poisson", per_example=_poisson, gradient=None),
}

#: Names used elsewhere for the same losses.
ALIASES = {"squared_loss": "squared_error", "mse": "squared_error", "log_loss": "cross_entropy"}


def get_loss(name: str | Loss) -> Loss:
    """Look up a loss by name (or pass one through).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    if isinstance(name, Loss):
        return name
    return lookup(LOSSES, name, "loss", ALIASES)
