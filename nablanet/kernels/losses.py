"""A classifier's output layer, cost and weighted δ in one loop, each with its NumPy twin.

The output layer of a classifier is a handful of arrays of shape (m, k) with k ≈ 10, where
NumPy's per-call cost and its slow reductions along short rows dominate. Each loop computes
every exponential once. The twins agree with the loops to rounding (NumPy's exp and log are
not libm's); both sum each row's cost in float64, so a confident float32 row's cost of
1e-12 is not rounded away.

``sample_weight`` holds each example's weight w_i in J (1/m, or its sample weight over their
sum), of the arrays' dtype; δ comes out already weighted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablanet.kernels.choice import Kernel

# --- cross-entropy after softmax -------------------------------------------------------


def _softmax_cross_entropy_loop(z: Any, a: Any, y: Any, sample_weight: Any,
                                delta: Any) -> float:  # pragma: no cover - compiled
    """``softmax_cross_entropy(z, a, y, sample_weight, delta) -> J``.

    Notes
    -----
    Per row i, from the weighted inputs z, one exponential per entry::

        a_i  = softmax(z_i)
        C_i  = lse(z_i) Σ_k y_ik − Σ_k y_ik z_ik   (log-sum-exp: finite when a_ik underflows)
        δ_ik = w_i (a_ik Σ_j y_ij − y_ik)         (w_i (a − y) for one-hot or probability rows)

    with w_i = ``sample_weight[i]``, and returns J = Σ_i w_i C_i, summed in float64.
    """
    J = 0.0
    for i in range(z.shape[0]):
        z_max = z[i, 0]
        for k in range(1, z.shape[1]):
            z_max = max(z_max, z[i, k])
        total = 0.0
        for k in range(z.shape[1]):
            e = np.exp(z[i, k] - z_max)
            a[i, k] = e
            total += e
        inv = 1.0 / total
        y_sum = 0.0
        yz = 0.0
        for k in range(z.shape[1]):
            a[i, k] *= inv
            y_sum += y[i, k]
            yz += y[i, k] * z[i, k]
        J += sample_weight[i] * ((np.log(total) + z_max) * y_sum - yz)
        for k in range(z.shape[1]):
            delta[i, k] = sample_weight[i] * (a[i, k] * y_sum - y[i, k])
    return J


def _softmax_cross_entropy_numpy(z: Any, a: Any, y: Any, sample_weight: Any,
                                 delta: Any) -> float:
    # Each row's cost in float64, as the loop accumulates it.
    z_max = z.max(axis=1, keepdims=True)
    np.subtract(z, z_max, out=a)
    np.exp(a, out=a)
    total = a.sum(axis=1, keepdims=True, dtype=np.float64)
    a *= 1.0 / total
    y_sum = y.sum(axis=1, keepdims=True, dtype=np.float64)
    yz = (y * z).sum(axis=1, keepdims=True, dtype=np.float64)
    C = (np.log(total) + z_max) * y_sum - yz
    np.multiply(a, y_sum, out=delta)
    delta -= y
    delta *= sample_weight[:, None]
    return float(np.dot(sample_weight.astype(np.float64), C[:, 0]))


softmax_cross_entropy = Kernel(
    "softmax_cross_entropy", _softmax_cross_entropy_loop, _softmax_cross_entropy_numpy
)


# --- binary cross-entropy after sigmoid ------------------------------------------------


def _sigmoid_cross_entropy_loop(z: Any, a: Any, y: Any, sample_weight: Any,
                                delta: Any) -> float:  # pragma: no cover - compiled
    """``sigmoid_cross_entropy(z, a, y, sample_weight, delta) -> J``.

    Notes
    -----
    Per entry, with softplus(z) = log(1 + e^z) = max(z, 0) + log(1 + e^{−|z|})::

        a_ik = σ(z_ik)     (as e^z / (1 + e^z) for z < 0: no overflow, no cancellation)
        C_i  = Σ_k softplus(z_ik) − y_ik z_ik
        δ_ik = w_i (a_ik − y_ik)

    with w_i = ``sample_weight[i]``, and returns J = Σ_i w_i C_i, summed in float64.
    """
    J = 0.0
    for i in range(z.shape[0]):
        c = 0.0
        for k in range(z.shape[1]):
            zk = z[i, k]
            e = np.exp(-abs(zk))  # in (0, 1]: never overflows
            a[i, k] = 1.0 / (1.0 + e) if zk >= 0 else e / (1.0 + e)
            c += max(zk, 0.0) + np.log1p(e) - y[i, k] * zk
            delta[i, k] = sample_weight[i] * (a[i, k] - y[i, k])
        J += sample_weight[i] * c
    return J


def _sigmoid_cross_entropy_numpy(z: Any, a: Any, y: Any, sample_weight: Any,
                                 delta: Any) -> float:
    # The cost first (in float64, as the loop sums it): ``a`` may be written over z.
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    C = (np.maximum(z, 0).astype(np.float64) + np.log1p(e) - y * z).sum(axis=1)
    np.copyto(a, np.where(z >= 0, 1 / (1 + e), e / (1 + e)))
    np.subtract(a, y, out=delta)
    delta *= sample_weight[:, None]
    return float(np.dot(sample_weight.astype(np.float64), C))


sigmoid_cross_entropy = Kernel(
    "sigmoid_cross_entropy", _sigmoid_cross_entropy_loop, _sigmoid_cross_entropy_numpy
)
