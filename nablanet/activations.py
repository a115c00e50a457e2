"""Activation functions f and their derivatives f', side by side (docs/math.md §1).

Each derivative is written from the output a = f(z), as the source does
(sigmoid: a(1 - a), tanh: 1 - a²): the forward pass then never has to keep z for
backpropagation, and the training loop can overwrite z with a in place.

Every function writes into ``out`` (which may be ``z`` itself) so that the hot loop
allocates nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet import kernels
from nablanet._checks import lookup

Array = NDArray[Any]

#: Slope of leaky_relu for z < 0.
LEAKY_SLOPE = 0.01


@dataclass(frozen=True, kw_only=True)
class Activation:
    """An activation f with its derivative expressed through a = f(z).

    Attributes
    ----------
    name : str
        Key in `ACTIVATIONS`.
    f : callable ``f(z, out) -> out``
        Applies the activation elementwise (row-wise for softmax). ``out`` may be ``z``.
    derivative : callable ``derivative(a, out) -> out`` or None
        f'(z) written in terms of a = f(z); ``out`` must not be ``a``. None for softmax,
        whose derivative is a Jacobian, not an elementwise factor (see `jacobian_vector`).
    max_derivative : float
        The largest value f' takes; a unit counts as saturated when f'(z) is small
        relative to it.
    saturating : bool
        Whether f flattens out for large |z| (sigmoid, tanh): only such units can saturate.
    output_range : tuple of float
        The values f takes, ``(low, high)`` (infinite where unbounded).
    labels : tuple of float
        How a two-class target is coded for this output, ``(negative, positive)``: 0/1,
        or −1/+1 for tanh (the source's convention). The decision threshold lies halfway.
    default_loss : str
        The loss a `Network` uses when none is named: squared error as in UFLDL, except
        for softmax, whose coupled outputs are meant for cross-entropy.
    canonical_loss : str or None
        The loss whose ∂C/∂a cancels against this activation's Jacobian, so that the
        output error is δ = a − y (softmax: cross-entropy, sigmoid: binary
        cross-entropy, identity: squared error; none for the others).
    default_init : str
        The initialiser "auto" picks for weights feeding these units: He's for
        rectifiers, UFLDL's small uniform range otherwise.
    can_die : bool
        Whether a unit can be "dead": zero output and zero derivative on every input
        (relu; leaky relu keeps a slope).
    layer : callable ``layer(za, b, d)`` or None
        A hidden layer's forward step in one compiled pass (or its NumPy twin, outside
        large fits: `nablanet.kernels.rectifier`): ``za`` ← f(za + b) in place and
        ``d`` ← f'.
        Where it is None (sigmoid, tanh: NumPy's vectorised exp beats a compiled scalar
        one) the network makes the three NumPy passes.
    """

    name: str
    f: Callable[[Array, Array], Array]
    derivative: Callable[[Array, Array], Array] | None
    max_derivative: float
    saturating: bool
    output_range: tuple[float, float]
    labels: tuple[float, float] = (0.0, 1.0)
    default_loss: str = "squared_error"
    canonical_loss: str | None = None
    default_init: str = "ufldl"
    can_die: bool = False
    layer: Callable[[Array, Array, Array], None] | None = None

    @property
    def elementwise(self) -> bool:
        """Whether f'(z) is a per-unit factor (every activation except softmax)."""
        return self.derivative is not None

    @property
    def bounded(self) -> bool:
        """Whether f's range is a bounded interval (regression targets must be scaled)."""
        return bool(np.isfinite(self.output_range).all())

    @property
    def classifier_loss(self) -> str:
        """The loss a classifier pairs with this output: its canonical one, else squared error."""
        return self.canonical_loss or "squared_error"

    @property
    def decision_threshold(self) -> float:
        """The value between the two label codes: 0.5 for 0/1 labels, 0 for −1/+1."""
        return (self.labels[0] + self.labels[1]) / 2.0

    def __call__(self, z: Array) -> Array:
        """Return f(z) in a new array."""
        return self.f(z, np.empty_like(z))


# --- sigmoid:  f = 1 / (1 + e^-z),  f' = a (1 - a) ---------------------------------


def _sigmoid(z: Array, out: Array) -> Array:
    # 1 / (1 + e^-z) in four vectorised passes: three times faster than scipy's expit,
    # whose scalar loop branches per entry, and within 1e-15 of it. Where e^-z overflows
    # (z below about -709, or -88 in float32) 1/(1 + inf) is an exact 0, the limit.
    with np.errstate(over="ignore"):
        np.negative(z, out=out)
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def _sigmoid_derivative(a: Array, out: Array) -> Array:
    np.subtract(1.0, a, out=out)
    return np.multiply(out, a, out=out)


# --- tanh:  f = (e^z - e^-z) / (e^z + e^-z),  f' = 1 - a² -------------------------


def _tanh(z: Array, out: Array) -> Array:
    return np.tanh(z, out=out)


def _tanh_derivative(a: Array, out: Array) -> Array:
    np.multiply(a, a, out=out)
    return np.subtract(1.0, out, out=out)


# --- relu:  f = max(0, z),  f' = 1 if z > 0 else 0  (z > 0 exactly when a > 0) ------


def _relu(z: Array, out: Array) -> Array:
    return np.maximum(z, 0.0, out=out)


def _relu_derivative(a: Array, out: Array) -> Array:
    return np.greater(a, 0.0, out=out)


def _rectifier_layer(za: Array, b: Array, d: Array, slope: float = 0.0) -> None:
    # A relu (slope 0) or leaky relu hidden layer in one pass (compiled in a large fit,
    # else NumPy's passes with the same rounding: `nablanet.kernels.rectifier`).
    real = za.dtype.type
    kernels.rectifier(za, b, d, real(slope), real(1.0))


# --- leaky relu:  f = z if z > 0 else 0.01 z,  f' = 1 or 0.01 (sign(a) = sign(z)) ---


def _leaky_relu(z: Array, out: Array) -> Array:
    # max(z, slope*z) equals z for z > 0 and slope*z otherwise, since 0 < slope < 1.
    return np.maximum(z, LEAKY_SLOPE * z, out=out)


def _leaky_relu_derivative(a: Array, out: Array) -> Array:
    np.greater(a, 0.0, out=out)
    out *= 1.0 - LEAKY_SLOPE
    out += LEAKY_SLOPE
    return out


# --- identity:  f = z,  f' = 1 ------------------------------------------------------


def _identity(z: Array, out: Array) -> Array:
    if out is not z:
        np.copyto(out, z)
    return out


def _identity_derivative(a: Array, out: Array) -> Array:
    out.fill(1.0)
    return out


# --- exp (the log link of Poisson regression):  f = e^z,  f' = e^z = a ----------------


def _exp(z: Array, out: Array) -> Array:
    # e^z overflows to inf above z ≈ 709 (88 in float32); the training guard reports it.
    with np.errstate(over="ignore"):
        return np.exp(z, out=out)


def _exp_derivative(a: Array, out: Array) -> Array:
    np.copyto(out, a)
    return out


# --- softmax (a layer):  a_i = e^z_i / Σ_k e^z_k,  ∂a_i/∂z_j = a_i (δ_ij - a_j) -----


def _softmax(z: Array, out: Array) -> Array:
    # Row by row: e^{z - max z} / Σ e^{z - max z} (the maximum keeps exp from
    # overflowing). One compiled loop in a large fit (`nablanet.kernels.softmax`): NumPy's
    # reductions along rows of ~10 entries cost more than the arithmetic.
    if z.ndim == 1:
        kernels.softmax(z.reshape(1, -1), out.reshape(1, -1))
    else:
        kernels.softmax(z, out)
    return out


def jacobian_vector(activation: Activation, a: Array, g: Array, out: Array) -> Array:
    """Backpropagate ``g = ∂C/∂a`` through the output activation: ``δ = ∂C/∂z``.

    Parameters
    ----------
    activation : Activation
    a : ndarray of shape (m, k)
        Outputs a = f(z), one sample per row.
    g : ndarray of shape (m, k)
        ∂C/∂a for each sample.
    out : ndarray of shape (m, k)
        Where δ is written; may be ``g``.

    Returns
    -------
    ndarray of shape (m, k)

    Notes
    -----
    Elementwise activations: ``δ = g ⊙ f'(z)``. Softmax couples its units through the
    Jacobian ``∂a_i/∂z_j = a_i (δ_ij - a_j)``, so per sample ``δ = a ⊙ (g - gᵀa)``.
    The source's "softmax' = f(z) - f(z)²" is only the diagonal of that Jacobian and
    gives the wrong δ for any loss but cross-entropy.
    """
    if activation.derivative is None:  # softmax
        ga = np.einsum("ij,ij->i", g, a)[:, None]
        np.subtract(g, ga, out=out)
        return np.multiply(out, a, out=out)
    fprime = activation.derivative(a, np.empty_like(a))
    return np.multiply(g, fprime, out=out)


_INF = float("inf")

ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(
        name="sigmoid",
        f=_sigmoid,
        derivative=_sigmoid_derivative,
        max_derivative=0.25,
        saturating=True,
        output_range=(0.0, 1.0),
        canonical_loss="binary_cross_entropy",
    ),
    "tanh": Activation(
        name="tanh",
        f=_tanh,
        derivative=_tanh_derivative,
        max_derivative=1.0,
        saturating=True,
        output_range=(-1.0, 1.0),
        labels=(-1.0, 1.0),
    ),
    "relu": Activation(
        name="relu",
        f=_relu,
        derivative=_relu_derivative,
        max_derivative=1.0,
        saturating=False,
        output_range=(0.0, _INF),
        default_init="he",
        can_die=True,
        layer=_rectifier_layer,
    ),
    "leaky_relu": Activation(
        name="leaky_relu",
        f=_leaky_relu,
        derivative=_leaky_relu_derivative,
        max_derivative=1.0,
        saturating=False,
        output_range=(-_INF, _INF),
        default_init="he",
        layer=partial(_rectifier_layer, slope=LEAKY_SLOPE),
    ),
    "identity": Activation(
        name="identity",
        f=_identity,
        derivative=_identity_derivative,
        max_derivative=1.0,
        saturating=False,
        output_range=(-_INF, _INF),
        canonical_loss="squared_error",
    ),
    "softmax": Activation(
        name="softmax",
        f=_softmax,
        derivative=None,
        max_derivative=0.25,
        saturating=True,
        output_range=(0.0, 1.0),
        default_loss="cross_entropy",
        canonical_loss="cross_entropy",
    ),
    # An output for counts and rates (scikit-learn's "exp", with loss="poisson"): its
    # derivative has no bound, so it is not meant for hidden layers.
    "exp": Activation(
        name="exp",
        f=_exp,
        derivative=_exp_derivative,
        max_derivative=_INF,
        saturating=False,
        output_range=(0.0, _INF),
        canonical_loss="poisson",
    ),
}

#: Other names users know the same functions by (scikit-learn says "logistic").
ALIASES = {"logistic": "sigmoid", "linear": "identity"}


def get_activation(name: str | Activation) -> Activation:
    """Look up an activation by name (or pass one through).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    if isinstance(name, Activation):
        return name
    return lookup(ACTIVATIONS, name, "activation", ALIASES)
