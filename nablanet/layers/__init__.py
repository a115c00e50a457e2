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

from typing import Any

from nablanet.layers.base import Buffers, Layer
from nablanet.layers.conv import Conv2D
from nablanet.layers.dense import Dense
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


__all__ = [
    "LAYERS", "Buffers", "Conv2D", "Dense", "Layer", "MaxPool2D", "MeanPool2D", "layer_from_spec",
]
