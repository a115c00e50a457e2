"""Activation layers in one pass, each loop with its NumPy twin under it.

A hidden relu / leaky relu layer's bias, activation and derivative are three NumPy passes
(24 µs for 200 × 100 here); one compiled pass takes 7 µs, and its twin rounds exactly as
it does. The output layer of a classifier is an array of shape (m, k) with k ≈ 10, where
NumPy's per-call cost and its slow reductions along short rows dominate: softmax is one
loop per row (its twin agrees to rounding: NumPy's exp is not libm's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablanet.kernels.choice import Kernel

# --- rectifier: a (leaky) relu hidden layer -------------------------------------------


def _rectifier_loop(za: Any, b: Any, d: Any, slope: Any,
                    one: Any) -> None:  # pragma: no cover - compiled
    """``rectifier(za, b, d, slope, one)``: a (leaky) relu layer in one pass.

    Notes
    -----
    For each entry, with x = z_ik + b_k::

        a_ik = x if x > 0 else slope · x        (written over z: ``za`` is z in, a out)
        d_ik = f'(x) = 1 if x > 0 else slope

    slope is 0 for relu, whose negative side is then written as an exact 0 (not 0 · x,
    which is −0.0, or NaN for x = −∞); a NaN x stays NaN, as ``np.maximum`` keeps it.
    ``one`` and ``slope`` have the arrays' dtype. Updating z in place (not into a second
    array that might alias it) is what lets the loop vectorise.
    """
    zero = one - one
    for i in range(za.shape[0]):
        for k in range(za.shape[1]):
            x = za[i, k] + b[k]
            negative = slope * x if slope != zero else zero
            za[i, k] = negative if x <= zero else x  # NaN <= 0 is False: NaN stays
            d[i, k] = one if x > zero else slope


def _rectifier_numpy(za: Any, b: Any, d: Any, slope: Any, one: Any) -> None:
    za += b
    np.greater(za, 0, out=d)  # 1 where x > 0, else 0 (NaN included)
    d *= one - slope  # then 1 or slope: (1 − s) + s rounds to 1 for the slope used (0.01)
    d += slope
    if slope:
        np.maximum(za, slope * za, out=za)  # s x < x exactly when x > 0, as 0 < s < 1
    else:
        np.maximum(za, 0, out=za)  # an exact +0 for x <= 0, −∞ included; NaN stays


rectifier = Kernel("rectifier", _rectifier_loop, _rectifier_numpy)


# --- softmax: a_k = e^{z_k − max z} / Σ_j e^{z_j − max z}, row by row -----------------


def _softmax_loop(z: Any, out: Any) -> None:  # pragma: no cover - compiled
    """``softmax(z, out)``: ``out[i] = softmax(z[i])`` for each row; out may be z.

    Notes
    -----
    a_k = e^{z_k − max z} / Σ_j e^{z_j − max z}: subtracting the row maximum leaves the
    result unchanged and keeps exp from overflowing.
    """
    for i in range(z.shape[0]):
        z_max = z[i, 0]
        for k in range(1, z.shape[1]):
            z_max = max(z_max, z[i, k])
        total = 0.0
        for k in range(z.shape[1]):
            e = np.exp(z[i, k] - z_max)
            out[i, k] = e
            total += e
        inv = 1.0 / total
        for k in range(z.shape[1]):
            out[i, k] *= inv


def _softmax_numpy(z: Any, out: Any) -> None:
    if z.shape[0] == 1:  # one prediction: whole-array reductions, a third cheaper, same bits
        np.subtract(z, z.max(), out=out)
        np.exp(out, out=out)
        out *= 1.0 / out.sum()
        return
    np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out *= 1.0 / out.sum(axis=1, keepdims=True)


softmax = Kernel("softmax", _softmax_loop, _softmax_numpy)
