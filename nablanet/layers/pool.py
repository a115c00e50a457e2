"""Pooling layers: the mean (UFLDL) or the maximum (Nielsen) of each p×q block (docs/math.md §8).

A pooling layer has no parameters and no activation (f is the identity, so ``buf.D`` is
None). Its windows do not overlap: the stride is the window's size. Where the input's
height or width is not a multiple of the window, the last rows or columns that do not
fill a window are left out, as PyTorch's ``avg_pool2d`` and ``max_pool2d`` do by
default (``ceil_mode=False``): they take no part in the output and receive a zero
gradient.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from nablanet.activations import get_activation
from nablanet.layers.base import Array, Buffers, Layer, Shape
from nablanet.layers.conv import feature_maps, pair


class _Pool2D(Layer):
    """What both poolings share: shapes, no parameters, the identity as activation."""

    has_derivative = False  # f is the identity: δ is ∂J/∂a itself, no f'(z) factor

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
        mean_pool_kernel()(x, self._out(buf, x.shape[0]), *self.size)
        self._activate(buf, activate)

    def backward(
        self, a_in: Any, W: Array, buf: Buffers, dW: Array, db: Array, grad_in: Array | None
    ) -> None:
        """∂J/∂a_in = Δ spread evenly over each block (zero on rows or columns left out)."""
        if grad_in is None:
            return
        m = buf.delta.shape[0]
        Delta = buf.delta.reshape(m, *self.output_shape)
        mean_unpool_kernel()(Delta, grad_in.reshape(m, *self.input_shape), *self.size)


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
        max_pool_kernel()(x, self._out(buf, m), buf.scratch, *self.size)
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
        max_unpool_kernel()(Delta, buf.scratch, g, *self.size)


# --- compiled passes: one loop over memory each --------------------------------------


@cache
def mean_pool_kernel() -> Any:
    """``mean_pool(x, out, p, q)``: out[i, k, r, c] = mean of x[i, k, rp:rp+p, cq:cq+q]."""
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def mean_pool(x, out, p, q):
        m, C, Ho, Wo = out.shape
        scale = out.dtype.type(1.0 / (p * q))
        for i in range(m):
            for k in range(C):
                for r in range(Ho):
                    for c in range(Wo):
                        out[i, k, r, c] = 0
                    for u in range(p):
                        h = r * p + u
                        for c in range(Wo):
                            s = out[i, k, r, c]
                            for v in range(q):
                                s += x[i, k, h, c * q + v]
                            out[i, k, r, c] = s
                    for c in range(Wo):
                        out[i, k, r, c] *= scale

    return mean_pool


@cache
def mean_unpool_kernel() -> Any:
    """``mean_unpool(delta, g, p, q)``: g[i, k, h, w] = delta[i, k, h//p, w//q] / (pq)."""
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def mean_unpool(delta, g, p, q):
        m, C, H, W = g.shape
        Ho, Wo = delta.shape[2], delta.shape[3]
        scale = g.dtype.type(1.0 / (p * q))
        for i in range(m):
            for k in range(C):
                for h in range(H):
                    r = h // p
                    if r >= Ho:
                        for w in range(W):
                            g[i, k, h, w] = 0
                        continue
                    for c in range(Wo):
                        d = delta[i, k, r, c] * scale
                        for v in range(q):
                            g[i, k, h, c * q + v] = d
                    for w in range(Wo * q, W):
                        g[i, k, h, w] = 0

    return mean_unpool


@cache
def max_pool_kernel() -> Any:
    """``max_pool(x, out, where, p, q)``: block maxima, and where each lies (u·q + v)."""
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def max_pool(x, out, where, p, q):
        m, C, Ho, Wo = out.shape
        for i in range(m):
            for k in range(C):
                for r in range(Ho):
                    # Row by row of the blocks (memory in order), the running maxima in
                    # `out` and their positions in `where`: twice as fast as block by block.
                    for c in range(Wo):
                        out[i, k, r, c] = x[i, k, r * p, c * q]
                        where[i, k, r, c] = 0
                    for u in range(p):
                        h = r * p + u
                        for c in range(Wo):
                            best = out[i, k, r, c]
                            at = where[i, k, r, c]
                            for v in range(q):
                                val = x[i, k, h, c * q + v]
                                # PyTorch's test: strictly greater, so the first maximum
                                # wins a tie; a NaN always wins, and so propagates.
                                if val > best or val != val:
                                    best = val
                                    at = u * q + v
                            out[i, k, r, c] = best
                            where[i, k, r, c] = at

    return max_pool


@cache
def max_unpool_kernel() -> Any:
    """``max_unpool(delta, where, g, p, q)``: each delta entry to its block's maximum."""
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def max_unpool(delta, where, g, p, q):
        m, C, Ho, Wo = delta.shape
        g[...] = 0
        for i in range(m):
            for k in range(C):
                for r in range(Ho):
                    for c in range(Wo):
                        at = where[i, k, r, c]
                        g[i, k, r * p + at // q, c * q + at % q] = delta[i, k, r, c]

    return max_unpool


def warm_cache() -> None:
    """Compile the poolings' loops for float32 and float64 into numba's on-disk cache.

    For an install step, as `nablanet.layers.conv.warm_cache`.
    """
    for dtype in (np.float32, np.float64):
        x = np.zeros((1, 1, 2, 2), dtype)
        out = np.zeros((1, 1, 1, 1), dtype)
        where = np.zeros((1, 1, 1, 1), np.int32)
        mean_pool_kernel()(x, out, 2, 2)
        mean_unpool_kernel()(out, x, 2, 2)
        max_pool_kernel()(x, out, where, 2, 2)
        max_unpool_kernel()(out, where, x, 2, 2)
