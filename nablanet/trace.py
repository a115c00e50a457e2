"""What one forward (and backward) pass computed, layer by layer: `Trace` (docs/math.md §6).

`nablanet.network.Network.trace` runs the same code as training, and `trace_of` reads
what it left in the work buffers: for teaching and diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.layers import Layer
from nablanet.workspace import Workspace

Array = NDArray[Any]


@dataclass
class Trace:
    """Every quantity of one forward (and backward) pass, one entry per weight layer.

    The convention is that of docs/math.md §6: ``delta`` holds each example's own error
    δ_i = ∂C_i/∂z_i, and ``Delta`` the matrix that BP3 and BP4 consume, whose row i is
    w_i δ_i with w_i example i's share of the mean cost (``sample_weight``: 1/m each, or
    s_i / Σ s). Then ``db[l] = 1ᵀ Delta[l]`` and ``dW[l] = Delta[l]ᵀ a[l] + λ W[l]``.

    Entry l of ``z``, ``delta``, ``Delta``, ``dW`` and ``db`` belongs to the weight layer
    ``W[l]`` (0 = the first); ``a`` starts with the input. In the mathematics' numbering
    (layer 1 is the input, n_l the output) ``z[l]`` is z^(l+2), ``a[l]`` is a^(l+1) and
    ``dW[l]`` is ∂J/∂W^(l+1) in UFLDL's notation, ∂J/∂w^(l+2) in Nielsen's (docs/math.md,
    "Notation"). `layer` looks a layer up by the mathematics' number instead.

    Attributes
    ----------
    z : list of ndarray
        ``z[l]`` of shape (m, s_{l+2}): weighted inputs of weight layer l's outputs
        (for any layer, ``(m, *layer.output_shape)``: a feature map keeps its shape).
    a : list of ndarray
        ``a[0]`` is the input X (of shape ``(m, *input_shape)``); ``a[l+1] = f(z[l])``.
    delta : list of ndarray
        ``delta[l]`` of shape (m, s_{l+2}): δ_i = ∂C_i/∂z_i for the units of ``z[l]``,
        one row per example, not weighted (empty without targets). With a sparsity
        penalty a hidden row also carries the penalty's term. NaN in a row of sample
        weight 0: only w_i δ_i is computed, and J does not depend on that row.
    Delta : list of ndarray
        ``Delta[l]``, the same shape: rows w_i δ_i, what BP3 and BP4 sum (empty without
        targets).
    sample_weight : ndarray of shape (m,) or None
        w_i, each example's share of J; sums to 1 (None without targets).
    dW, db : list of ndarray
        ∂J/∂W[l] and ∂J/∂b[l], of the shapes of W[l] and b[l], weight decay included
        (empty without targets).
    J : float or None
        The cost, weight decay included (None without targets).
    """

    z: list[Array]
    a: list[Array]
    delta: list[Array] = field(default_factory=list)
    dW: list[Array] = field(default_factory=list)
    db: list[Array] = field(default_factory=list)
    J: float | None = None
    Delta: list[Array] = field(default_factory=list)
    sample_weight: Array | None = None

    def layer(self, l: int, notation: str = "nielsen") -> TraceLayer:
        """The quantities of layer ``l`` as numbered in the mathematics (1 = the input).

        Parameters
        ----------
        l : int
            The layer's number, 1 (input) to n_l (output).
        notation : {"nielsen", "ufldl"}
            Which weights belong to layer l: Nielsen's w^l enter it (from layer l − 1),
            UFLDL's W^(l) leave it (to layer l + 1). z, a and δ are the same in both.

        Returns
        -------
        TraceLayer
            z, a, delta, Delta, dW and db of that layer; None where the notation gives
            the layer none (the input has no z; Nielsen's input and UFLDL's output have
            no weights) or the trace has no targets.
        """
        n_l = len(self.a)
        if notation not in _NOTATIONS:
            raise ValueError(f"notation must be one of {', '.join(_NOTATIONS)}, got {notation!r}")
        if not (isinstance(l, int | np.integer) and 1 <= l <= n_l):
            raise ValueError(f"layer number l must be an integer from 1 to {n_l}, got {l!r}")
        units = l - 2  # index into z, delta, Delta for layers 2 .. n_l
        weights = l - 2 if notation == "nielsen" else l - 1  # w^l enters, W^(l) leaves

        def pick(values: list[Array], k: int) -> Array | None:
            return values[k] if values and 0 <= k < len(values) else None

        return TraceLayer(
            l=int(l),
            notation=notation,
            z=pick(self.z, units),
            a=self.a[l - 1],
            delta=pick(self.delta, units),
            Delta=pick(self.Delta, units),
            dW=pick(self.dW, weights),
            db=pick(self.db, weights),
        )


#: The mathematics' two numberings of weights, for `Trace.layer`.
_NOTATIONS = ("nielsen", "ufldl")


@dataclass(frozen=True)
class TraceLayer:
    """One layer of a `Trace`, by the mathematics' number (see `Trace.layer`).

    Attributes
    ----------
    l : int
        The layer's number, 1 (input) to n_l (output).
    notation : str
        "nielsen" (dW is ∂J/∂w^l, the weights into layer l) or "ufldl" (dW is
        ∂J/∂W^(l), the weights out of layer l).
    z, a, delta, Delta : ndarray or None
        z^l, a^l, δ^l (per example) and Δ^l (rows w_i δ_i) of shape (m, s_l).
    dW, db : ndarray or None
        The gradient of J for that notation's weights and biases of layer l.
    """

    l: int
    notation: str
    z: Array | None
    a: Array
    delta: Array | None
    Delta: Array | None
    dW: Array | None
    db: Array | None


def trace_of(
    layers: list[Layer],
    input_shape: tuple[int, ...],
    X: Any,
    ws: Workspace,
    share: Array | None = None,
    grads: tuple[list[Array], list[Array]] | None = None,
    J: float | None = None,
) -> Trace:
    """The `Trace` of the pass whose buffers ``ws`` holds (Z kept: ``keep_z``); no copy.

    Without ``share`` the forward quantities only. With it (each example's share w_i of
    J, the weights BP1 gave Δ's rows), also Δ and δ_i, Δ's row i divided by w_i, and
    ``grads``, the views (dW, db) of the gradient, and J.
    """
    z, a = _shaped(layers, ws, "Z"), [_as_examples(X, input_shape), *_shaped(layers, ws, "A")]
    if share is None or grads is None:
        return Trace(z=z, a=a)
    Delta = _shaped(layers, ws, "delta")
    with np.errstate(divide="ignore", invalid="ignore"):  # w_i = 0: NaN, documented
        delta = [D / share.reshape(-1, *[1] * (D.ndim - 1)) for D in Delta]
    dW, db = grads
    return Trace(z=z, a=a, delta=delta, dW=dW, db=db, J=J, Delta=Delta, sample_weight=share)


def _shaped(layers: list[Layer], ws: Workspace, name: str) -> list[Array]:
    """Each layer's buffer ``name`` ("Z", "A" or "delta") as ``(m, *output_shape)``; no copy."""
    out = []
    for layer, buf in zip(layers, ws.buffers, strict=True):
        value = getattr(buf, name)
        shape = (value.shape[0], *layer.output_shape)
        out.append(value if value.shape == shape else value.reshape(shape))
    return out


def _as_examples(X: Any, input_shape: tuple[int, ...]) -> Any:
    """X as ``(m, *input_shape)``; flat and sparse inputs as they are.

    scipy keeps sparse matrices 2-D; their rows hold the examples' values in that order.
    """
    if len(input_shape) == 1 or not isinstance(X, np.ndarray):
        return X
    return X.reshape(X.shape[0], *input_shape)
