"""Layers of a network (the contract is in `nablanet.layers.base`)."""

from nablanet.layers.base import Buffers, Layer

__all__ = ["Buffers", "Layer"]
