"""Pooling layers: the mean (UFLDL) or the maximum (Nielsen) of each p×q block (docs/math.md §8).

A pooling layer has no parameters and no activation (f is the identity, so ``buf.D`` is
None). Its windows do not overlap: the stride is the window's size. Where the input's
height or width is not a multiple of the window, the last rows or columns that do not
fill a window are left out, as PyTorch's ``avg_pool2d`` and ``max_pool2d`` do by
default (``ceil_mode=False``): they take no part in the output and receive a zero
gradient.

The passes are compiled loops (`nablanet.kernels.conv`), run in chunks of examples on as
many threads as BLAS may use (`nablanet.layers.chunks`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablanet import kernels
from nablanet.activations import get_activation
from nablanet.layers.base import Array, Buffers, Layer, Shape
from nablanet.layers.chunks import run_chunks
from nablanet.layers.conv import feature_maps, pair


class _Pool2D(Layer):
    """What both poolings share: shapes, no parameters, the identity as activation."""

    has_derivative = False  # f is the identity: δ is ∂J/∂a itself, no f'(z) factor
    splits_batch = True  # its passes run in chunks of examples (`nablanet.layers.chunks`)

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = pair(size, "size")
        self.activation = get_activation("identity")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.size})"

    def build(self, input_shape: Shape) -> Shape:
        """Size the layer for maps (C, H, W); returns (C, ⌊H/p⌋, ⌊W/q⌋).

        Raises
        ------
        ValueError
            For an input that is not (C, H, W), or smaller than one window.
        """
        name = type(self).__name__
        if len(input_shape) != 3:
            raise ValueError(
                f"{name} needs inputs of shape (channels, height, width), got {input_shape}"
            )
        C, H, W = (int(n) for n in input_shape)
        p, q = self.size
        if p > H or q > W:
            raise ValueError(f"{name}'s window {p}x{q} is larger than its input {H}x{W}")
        self.input_shape = (C, H, W)
        self.output_shape = (C, H // p, W // q)
        return self.output_shape

    @property
    def n_weights(self) -> int:
        """0: pooling learns nothing."""
        return 0

    @property
    def n_biases(self) -> int:
        """0."""
        return 0

    def weight_view(self, block: Array) -> Array:
        """The empty block itself."""
        return block

    def bias_view(self, block: Array) -> Array:
        """The empty block itself."""
        return block

    def initialize(self, W: Array, init: str, rng: np.random.Generator) -> None:
        """Nothing to initialise."""

    def to_spec(self) -> dict[str, Any]:
        """``{"kind": <class name>, "size": [p, q]}``."""
        return {"kind": type(self).__name__, "size": list(self.size)}

    def _maps(self, a_in: Any) -> Array:
        return feature_maps(a_in, self.input_shape, type(self).__name__)

    def _out(self, buf: Buffers, m: int) -> Array:
        return buf.Z.reshape(m, *self.output_shape)

    @staticmethod
    def _activate(buf: Buffers, activate: bool) -> None:
        # f is the identity: a is z (a copy only where the network keeps them apart).
        if activate and buf.A is not buf.Z:
            np.copyto(buf.A, buf.Z)


class MeanPool2D(_Pool2D):
    """The mean of each p×q block of every feature map (UFLDL's ``cnnPool``).

    Parameters
    ----------
    size : int or (int, int)
        (p, q), the window and the stride.

    Notes
    -----
    z[k, r, c] = (1/pq) Σ_{u<p, v<q} a_in[k, rp + u, cq + v]. Backward, each Δ entry is
    spread evenly over its block, Δ/(pq) on each input (UFLDL's ``kron(Δ, ones(p, q))/pq``;
    docs/math.md §8).
    """

    def forward(
        self, a_in: Any, W: Array, b: Array, buf: Buffers, derivative: bool, activate: bool
    ) -> None:
        """Forward (§8): z = the block means (a = z)."""
        x = self._maps(a_in)
        out, (p, q) = self._out(buf, x.shape[0]), self.size
        run_chunks(lambda j, s: kernels.mean_pool(x[s], out[s], p, q), x.shape[0])
        self._activate(buf, activate)

    def backward(
        self, a_in: Any, W: Array, buf: Buffers, dW: Array, db: Array, grad_in: Array | None
    ) -> None:
        """∂J/∂a_in = Δ spread evenly over each block (zero on rows or columns left out)."""
        if grad_in is None:
            return
        m = buf.delta.shape[0]
        Delta = buf.delta.reshape(m, *self.output_shape)
        g, (p, q) = grad_in.reshape(m, *self.input_shape), self.size
        run_chunks(lambda j, s: kernels.mean_unpool(Delta[s], g[s], p, q), m)


class MaxPool2D(_Pool2D):
    """The maximum of each p×q block of every feature map (Nielsen's chapter 6).

    Parameters
    ----------
    size : int or (int, int)
        (p, q), the window and the stride.

    Notes
    -----
    z[k, r, c] = max_{u<p, v<q} a_in[k, rp + u, cq + v]. Backward, each Δ entry goes
    whole to the input that was the maximum, and the others of the block get 0
    (docs/math.md §8). Ties: the first maximum in row-major order within the block gets
    it, as in PyTorch's CPU ``max_pool2d``, whose test (greater, or NaN) this is: a NaN
    counts as the maximum and propagates.
    The positions are kept in ``buf.scratch`` between the two passes.
    """

    def scratch(self, m: int, dtype: np.dtype[Any]) -> Array:
        """Where each output's maximum lies in its block (u·q + v), int32 of (m, C, Ho, Wo)."""
        return np.empty((m, *self.output_shape), dtype=np.int32)

    def forward(
        self, a_in: Any, W: Array, b: Array, buf: Buffers, derivative: bool, activate: bool
    ) -> None:
        """Forward (§8): z = the block maxima (a = z), their positions into ``buf.scratch``."""
        x = self._maps(a_in)
        m = x.shape[0]
        if not isinstance(buf.scratch, np.ndarray) or buf.scratch.shape[0] != m:
            buf.scratch = self.scratch(m, x.dtype)
        out, where, (p, q) = self._out(buf, m), buf.scratch, self.size
        run_chunks(lambda j, s: kernels.max_pool(x[s], out[s], where[s], p, q), m)
        self._activate(buf, activate)

    def backward(
        self, a_in: Any, W: Array, buf: Buffers, dW: Array, db: Array, grad_in: Array | None
    ) -> None:
        """∂J/∂a_in = Δ routed to each block's maximum, 0 elsewhere."""
        if grad_in is None:
            return
        m = buf.delta.shape[0]
        Delta = buf.delta.reshape(m, *self.output_shape)
        g = grad_in.reshape(m, *self.input_shape)
        where, (p, q) = buf.scratch, self.size
        run_chunks(lambda j, s: kernels.max_unpool(Delta[s], where[s], g[s], p, q), m)
