"""How a network shows itself: ``repr``, the `summary` table and Jupyter's HTML."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nablanet._html import as_html
from nablanet.activations import Activation
from nablanet.layers import Layer
from nablanet.losses import Loss
from nablanet.sparsity import Sparsity


class NetworkDisplay:
    """``__repr__``, `summary` and ``_repr_html_`` for `nablanet.network.Network`."""

    if TYPE_CHECKING:  # what the network gives this mixin
        layers: list[Layer]
        activations: list[Activation]
        loss: Loss
        weight_decay: float
        dtype: np.dtype[Any]
        n_params: int
        n_weights: int
        _sparsity: list[Sparsity | None]

        layer_sizes: tuple[int, ...]

    def __repr__(self) -> str:
        acts = ", ".join(a.name for a in self.activations)
        sizes = "-".join(map(str, self.layer_sizes))
        return (
            f"Network({sizes}, activations=[{acts}], loss={self.loss.name}, "
            f"weight_decay={self.weight_decay:g}, n_params={self.n_params}, "
            f"dtype={self.dtype.name})"
        )

    def _repr_html_(self) -> str:
        """Jupyter's display: the `summary` table."""
        return as_html(repr(self), self.summary())

    def summary(self) -> str:
        """A table of the layers: units (or output shape), activation and parameter count."""
        rows = [f"{'layer':<8}{'units':>8}  {'activation':<12}{'params':>10}"]
        rows.append(f"{'input':<8}{self.layer_sizes[0]:>8}  {'-':<12}{0:>10}")
        for l, layer in enumerate(self.layers):
            units = "x".join(map(str, layer.output_shape))
            name = "output" if l == len(self.layers) - 1 else f"hidden {l + 1}"
            params = layer.n_weights + layer.n_biases
            rows.append(f"{name:<8}{units:>8}  {layer.activation.name:<12}{params:>10}")
        rows.append(
            f"loss {self.loss.name}, weight decay λ={self.weight_decay:g}, "
            f"{self.n_params} parameters ({self.n_weights} weights), {self.dtype.name}"
        )
        for l, p in enumerate(self._sparsity):
            if p is not None:
                rows.append(f"sparsity on hidden {l + 1}: ρ={p.target:g}, β={p.weight:g}")
        return "\n".join(rows)
