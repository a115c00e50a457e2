"""Layers of a network: each one a (forward, backward) pair over views into one flat θ.

The contract, in full in `nablanet.layers.base`:

- a layer is configured by its constructor and sized by ``build(input_shape)``, which
  returns its output shape; it then knows ``n_weights`` and ``n_biases``, how many of θ's
  values it owns, and sees them through ``weight_view`` and ``bias_view`` (no copy);
- ``forward(a_in, W, b, buf, derivative, activate)`` writes z = op(a_in; W, b) and
  a = f(z) (and f'(z) when asked) into its `Buffers`, every quantity an (m, n) matrix;
- ``backward(a_in, W, buf, dW, db, grad_in)`` reads Δ = ∂J/∂z and writes ∂J/∂W, ∂J/∂b
  into its slices of the flat gradient and ∂J/∂a_in into ``grad_in``;
- ``to_spec()`` gives plain JSON values that `layer_from_spec` turns back into the layer.

The network multiplies ``grad_in`` by the layer below's f'(z), adds the sparsity term and
applies dropout masks, the same for every kind of layer.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, cast

from nablanet.layers.base import Array, Buffers, Layer
from nablanet.layers.conv import Conv2D
from nablanet.layers.dense import Dense, dense_stack
from nablanet.layers.pool import MaxPool2D, MeanPool2D

#: Every kind of layer a model file may name, by its spec's ``"kind"``. A model file is
#: untrusted: a kind is looked up here, never imported or evaluated by name.
LAYERS: dict[str, type[Layer]] = {
    "Dense": Dense,
    "Conv2D": Conv2D,
    "MeanPool2D": MeanPool2D,
    "MaxPool2D": MaxPool2D,
}


def layer_from_spec(spec: Any) -> Layer:
    """The layer described by ``spec``, a `Layer.to_spec` dictionary.

    Raises
    ------
    ValueError
        If ``spec`` is not a dictionary with a known ``"kind"`` (the message lists the
        known ones), or the layer refuses one of its values.
    """
    if not isinstance(spec, dict):
        raise ValueError(f"a layer spec must be a dictionary, got {type(spec).__name__}")
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in LAYERS:
        raise ValueError(
            f"unknown layer kind {kind!r:.60}; valid: {', '.join(sorted(LAYERS))}"
        )
    return LAYERS[kind].from_spec(spec)


def network_layers(
    layers: Sequence[int] | Sequence[Layer],
    activation: str | Sequence[str] | None,
    output_activation: str | None,
    init: str | Sequence[str] | None,
    input_shape: Sequence[int] | None,
) -> tuple[list[Layer], tuple[int, ...], str | list[str] | None]:
    """A `Network`'s layers, input shape and ``init`` from either form of its arguments.

    Layers are copied (each network builds its own); sizes become `Dense` layers.
    ``init`` is what a model file records: one name where all layers share it, None
    where they differ (the network then records `Network.init_names`).
    """
    if not (len(layers) and all(isinstance(layer, Layer) for layer in layers)):
        if input_shape is not None:
            raise ValueError("input_shape goes with layers; sizes already start with it")
        sizes = cast(Sequence[int], layers)
        init = "auto" if init is None else init
        stack = dense_stack(sizes, activation or "sigmoid", output_activation or "sigmoid", init)
        return stack, (int(sizes[0]),), init if isinstance(init, str) else list(init)
    if activation is not None or output_activation is not None or init is not None:
        raise ValueError(
            "activation, output_activation and init belong to each layer when the "
            "network is given layers, not sizes"
        )
    if input_shape is None:
        raise ValueError("a network given layers needs input_shape, e.g. (64,)")
    stack = [copy.copy(layer) for layer in layers if isinstance(layer, Layer)]
    names = {layer.init for layer in stack}
    return stack, tuple(input_shape), names.pop() if len(names) == 1 else None


def theta_views(
    layers: Sequence[Layer], theta: Array, n_weights: int
) -> tuple[list[Array], list[Array]]:
    """Each layer's ``(W, b)`` seen through ``theta``: all weights first, then all biases.

    ``n_weights`` is where the biases start (the layers' weights together); no copy.
    A ``theta`` of another shape is refused (ValueError).
    """
    n_params = n_weights + sum(layer.n_biases for layer in layers)
    if theta.ndim != 1 or theta.shape[0] != n_params:
        sizes = (layers[0].n_in, *(layer.n_out for layer in layers))
        raise ValueError(
            f"theta must have shape ({n_params},) for layers {sizes}, got {theta.shape}"
        )
    W, b = [], []
    w_at, b_at = 0, n_weights
    for layer in layers:
        W.append(layer.weight_view(theta[w_at : w_at + layer.n_weights]))
        b.append(layer.bias_view(theta[b_at : b_at + layer.n_biases]))
        w_at += layer.n_weights
        b_at += layer.n_biases
    return W, b


__all__ = [
    "LAYERS", "Buffers", "Conv2D", "Dense", "Layer", "MaxPool2D", "MeanPool2D",
    "layer_from_spec", "network_layers", "theta_views",
]
