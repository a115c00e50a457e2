"""The copies of convolution and pooling layers: compiled loops with no NumPy twin.

A convolution's im2col copy (patches into columns), its transpose col2im, and the four
passes of mean and max pooling. Each is one loop over memory in order; written as NumPy
passes through strided views they took several times longer (issue 22's first try spent
~90 ms a batch there), so unlike the other kernels they have no twin: every call runs the
compiled loop (`Loop`), whatever `nablanet.kernels.choice` says. They release the GIL
(``nogil=True``), so threads running them on slices of a batch run at once.

Shapes: x and g are feature maps (m, C, H, W); cols are (m, C·kh·kw (+ 1), Ho·Wo), row
(k, u, v) = (k·kh + u)·kw + v holding, at column r·Wo + c, the input under filter entry
(u, v) when the filter sits at output position (r, c) (docs/math.md §8).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nablanet.kernels.choice import Kernel


class Loop(Kernel):
    """A compiled loop with no NumPy twin: every call runs the loop (numba, cached on disk).

    Parameters
    ----------
    name : str
        The loop's name in this module.
    loop : callable
        The loop in plain Python over scalars (see `Kernel`).
    """

    def __init__(self, name: str, loop: Callable[..., Any]) -> None:
        super().__init__(name, loop, loop)
        self.__module__ = __name__

    def __call__(self, *args: Any) -> Any:
        """Run the compiled loop."""
        loop = self._compiled
        return (self.compiled if loop is None else loop)(*args)


# --- im2col and col2im: patches into columns and back ---------------------------------


def _im2col_loop(  # pragma: no cover - compiled
    x: Any, cols: Any, kh: Any, kw: Any, sh: Any, sw: Any, pt: Any, pl: Any, Ho: Any, Wo: Any
) -> None:
    """``im2col(x, cols, kh, kw, sh, sw, pad_top, pad_left, Ho, Wo)``: patches into columns.

    ``cols[i, (k·kh + u)·kw + v, r·Wo + c] = x_pad[i, k, r·sh + u, c·sw + v]``, zero where
    the position falls in the padding. Row (k, u, v) of the columns is contiguous, so the
    copy writes memory in order; rows of cols beyond C·kh·kw (the bias's row of ones) are
    left as they are.
    """
    m, C, H, W = x.shape
    zero = cols.dtype.type(0)
    for i in range(m):
        for k in range(C):
            for u in range(kh):
                for v in range(kw):
                    row = (k * kh + u) * kw + v
                    for r in range(Ho):
                        h = r * sh + u - pt
                        base = r * Wo
                        if h < 0 or h >= H:
                            for c in range(Wo):
                                cols[i, row, base + c] = zero
                        else:
                            for c in range(Wo):
                                w = c * sw + v - pl
                                if 0 <= w < W:
                                    cols[i, row, base + c] = x[i, k, h, w]
                                else:
                                    cols[i, row, base + c] = zero


im2col = Loop("im2col", _im2col_loop)


def _col2im_loop(  # pragma: no cover - compiled
    dcols: Any, g: Any, kh: Any, kw: Any, sh: Any, sw: Any, pt: Any, pl: Any, Ho: Any, Wo: Any
) -> None:
    """``col2im(dcols, g, kh, kw, sh, sw, pad_top, pad_left, Ho, Wo)``: im2col's transpose.

    ``g`` (m, C, H, W) is overwritten with the sum, over every column entry, of the entry
    added at the input position it was copied from (entries from the padding are dropped).
    """
    m, C, H, W = g.shape
    g[...] = 0
    for i in range(m):
        for k in range(C):
            for u in range(kh):
                for v in range(kw):
                    row = (k * kh + u) * kw + v
                    for r in range(Ho):
                        h = r * sh + u - pt
                        if 0 <= h < H:
                            base = r * Wo
                            for c in range(Wo):
                                w = c * sw + v - pl
                                if 0 <= w < W:
                                    g[i, k, h, w] += dcols[i, row, base + c]


col2im = Loop("col2im", _col2im_loop)


def _unit_stride_im2col_loop(  # pragma: no cover - compiled
    x: Any, cols: Any, kh: Any, kw: Any, Ho: Any, Wo: Any
) -> None:
    """``unit_stride_im2col(x, cols, kh, kw, Ho, Wo)``: `im2col` for stride 1, no padding.

    Without a bounds test per entry: twice as fast, and the common case (UFLDL's and
    Nielsen's networks).
    """
    m, C = x.shape[:2]
    for i in range(m):
        for k in range(C):
            for u in range(kh):
                for v in range(kw):
                    row = (k * kh + u) * kw + v
                    for r in range(Ho):
                        base = r * Wo
                        for c in range(Wo):
                            cols[i, row, base + c] = x[i, k, r + u, c + v]


unit_stride_im2col = Loop("unit_stride_im2col", _unit_stride_im2col_loop)


def _unit_stride_col2im_loop(  # pragma: no cover - compiled
    dcols: Any, g: Any, kh: Any, kw: Any, Ho: Any, Wo: Any
) -> None:
    """``unit_stride_col2im(dcols, g, kh, kw, Ho, Wo)``: `col2im` for stride 1, no padding."""
    m, C = g.shape[:2]
    g[...] = 0
    for i in range(m):
        for k in range(C):
            for u in range(kh):
                for v in range(kw):
                    row = (k * kh + u) * kw + v
                    for r in range(Ho):
                        base = r * Wo
                        for c in range(Wo):
                            g[i, k, r + u, c + v] += dcols[i, row, base + c]


unit_stride_col2im = Loop("unit_stride_col2im", _unit_stride_col2im_loop)


# --- pooling: one pass over memory each ----------------------------------------------


def _mean_pool_loop(x: Any, out: Any, p: Any, q: Any) -> None:  # pragma: no cover - compiled
    """``mean_pool(x, out, p, q)``: out[i, k, r, c] = mean of x[i, k, rp:rp+p, cq:cq+q]."""
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


mean_pool = Loop("mean_pool", _mean_pool_loop)


def _mean_unpool_loop(delta: Any, g: Any, p: Any, q: Any) -> None:  # pragma: no cover - compiled
    """``mean_unpool(delta, g, p, q)``: g[i, k, h, w] = delta[i, k, h//p, w//q] / (pq).

    Rows and columns of g that no block covers get 0.
    """
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


mean_unpool = Loop("mean_unpool", _mean_unpool_loop)


def _max_pool_loop(  # pragma: no cover - compiled
    x: Any, out: Any, where: Any, p: Any, q: Any
) -> None:
    """``max_pool(x, out, where, p, q)``: block maxima, and where each lies (u·q + v).

    Ties go to the first maximum in row-major order within the block, and a NaN counts as
    the maximum: PyTorch's CPU ``max_pool2d`` test (greater, or NaN).
    """
    m, C, Ho, Wo = out.shape
    for i in range(m):
        for k in range(C):
            for r in range(Ho):
                # Row by row of the blocks (memory in order), the running maxima in `out`
                # and their positions in `where`: twice as fast as block by block.
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
                            if val > best or val != val:
                                best = val
                                at = u * q + v
                        out[i, k, r, c] = best
                        where[i, k, r, c] = at


max_pool = Loop("max_pool", _max_pool_loop)


def _max_unpool_loop(  # pragma: no cover - compiled
    delta: Any, where: Any, g: Any, p: Any, q: Any
) -> None:
    """``max_unpool(delta, where, g, p, q)``: each delta entry to its block's maximum.

    The other entries of each block get 0.
    """
    m, C, Ho, Wo = delta.shape
    g[...] = 0
    for i in range(m):
        for k in range(C):
            for r in range(Ho):
                for c in range(Wo):
                    at = where[i, k, r, c]
                    g[i, k, r * p + at // q, c * q + at % q] = delta[i, k, r, c]


max_unpool = Loop("max_unpool", _max_unpool_loop)

#: Every loop of this module, by name.
LOOPS: dict[str, Loop] = {
    k.__name__: k
    for k in (im2col, col2im, unit_stride_im2col, unit_stride_col2im, mean_pool, mean_unpool,
              max_pool, max_unpool)
}


def warm_cache() -> None:
    """Compile every loop of this module for float32 and float64 into numba's disk cache.

    Compiled cold they take ~25 s at a convolutional network's first step; loaded from
    the cache, a fraction of a second.
    """
    for dtype in (np.float32, np.float64):
        x = np.zeros((1, 1, 3, 3), dtype)
        cols = np.zeros((1, 5, 4), dtype)
        im2col(x, cols, 2, 2, 1, 1, 0, 0, 2, 2)
        col2im(cols, x, 2, 2, 1, 1, 0, 0, 2, 2)
        unit_stride_im2col(x, cols, 2, 2, 2, 2)
        unit_stride_col2im(cols, x, 2, 2, 2, 2)
        out = np.zeros((1, 1, 1, 1), dtype)
        where = np.zeros((1, 1, 1, 1), np.int32)
        mean_pool(x, out, 2, 2)
        mean_unpool(out, x, 2, 2)
        max_pool(x, out, where, 2, 2)
        max_unpool(out, where, x, 2, 2)
