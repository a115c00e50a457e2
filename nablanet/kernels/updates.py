"""Optimizer updates on the flat parameter vector, each loop with its NumPy twin under it.

Adam's update is nine NumPy passes over θ per step, momentum's three or four, and
y ← αx + y (gradient descent's step, weight decay's gradient λW) needs a temporary and two
(BLAS's axpy would bring scipy's second OpenBLAS thread pool into the training loop); each
loop here is one pass. The twins round exactly as the loops do: no transcendental
functions, the same operations in the same order.

The scalars must have the arrays' dtype, so that float32 stays float32.

Subnormal moments are flushed to zero. A weight whose gradient is always 0 (a border pixel
that is 0 in every image) has its moment decay geometrically, as β₁ᵗ m, into the subnormal
range after about 800 steps, where every arithmetic operation on it costs ~100 cycles:
measured on Fashion-MNIST, Adam's step went from 38 to 160-320 µs. A moment below the
smallest normal number (``tiny``, 1.2e-38 in float32) moves no weight (its update is
< 1e-30 α), so setting it to 0 changes nothing else; the comparison is a branch-free
select, so the loop still vectorises.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablanet.kernels.choice import Kernel

# --- Adam: one step of Kingma & Ba's Algorithm 1 --------------------------------------


def _adam_loop(theta: Any, grad: Any, m: Any, v: Any, b1: Any, c1: Any, b2: Any, c2: Any,
               alpha_t: Any, eps_t: Any, tiny: Any) -> None:  # pragma: no cover - compiled
    """``adam(theta, grad, m, v, b1, c1, b2, c2, alpha_t, eps_t, tiny)``, in place.

    Notes
    -----
    For each coordinate i, Kingma & Ba's Algorithm 1 with the bias corrections folded
    into the scalars α_t and ε_t (see `nablanet.optim.Adam`)::

        m_i ← β₁ m_i + (1 − β₁) g_i
        v_i ← β₂ v_i + (1 − β₂) g_i²
        θ_i ← θ_i − α_t m_i / (√v_i + ε_t)

    with m_i and v_i below ``tiny`` (the dtype's smallest normal number) flushed to 0.
    c1 = 1 − β₁ and c2 = 1 − β₂ are passed in rather than computed here: in float32,
    1 − float32(0.999) is off by 1e-5 relative, while float32(1 − 0.999) is exact to
    rounding.
    """
    for i in range(theta.shape[0]):
        g = grad[i]
        m_i = b1 * m[i] + c1 * g
        v_i = b2 * v[i] + c2 * g * g
        # Flush subnormals (see the module docstring); x - x keeps the dtype and a NaN.
        m_i = m_i if abs(m_i) >= tiny else m_i - m_i
        v_i = v_i if v_i >= tiny else v_i - v_i
        m[i] = m_i
        v[i] = v_i
        theta[i] -= alpha_t * m_i / (np.sqrt(v_i) + eps_t)


def _adam_numpy(theta: Any, grad: Any, m: Any, v: Any, b1: Any, c1: Any, b2: Any, c2: Any,
                alpha_t: Any, eps_t: Any, tiny: Any) -> None:
    m *= b1
    m += c1 * grad
    m[np.abs(m) < tiny] = 0  # NaN compares False: it stays, as in the loop
    v *= b2
    v += c2 * grad * grad
    v[v < tiny] = 0
    theta -= alpha_t * m / (np.sqrt(v) + eps_t)


adam = Kernel("adam", _adam_loop, _adam_numpy)


# --- momentum: scikit-learn's classical and Nesterov momentum ------------------------


def _momentum_loop(theta: Any, grad: Any, v: Any, mu: Any, alpha: Any, nesterov: bool,
                   tiny: Any) -> None:  # pragma: no cover - compiled
    """``momentum(theta, grad, v, mu, alpha, nesterov, tiny)``, in place.

    Notes
    -----
    For each coordinate i (scikit-learn's formulation of classical and Nesterov momentum)::

        v_i ← μ v_i − α g_i                       (flushed to 0 below ``tiny``)
        θ_i ← θ_i + v_i            or, with Nesterov,  θ_i ← θ_i + μ v_i − α g_i
    """
    for i in range(theta.shape[0]):
        g = grad[i]
        v_i = mu * v[i] - alpha * g
        v_i = v_i if abs(v_i) >= tiny else v_i - v_i
        v[i] = v_i
        if nesterov:
            theta[i] += mu * v_i - alpha * g
        else:
            theta[i] += v_i


def _momentum_numpy(theta: Any, grad: Any, v: Any, mu: Any, alpha: Any, nesterov: bool,
                    tiny: Any) -> None:
    v *= mu
    v -= alpha * grad
    v[np.abs(v) < tiny] = 0
    if nesterov:
        theta += mu * v - alpha * grad
    else:
        theta += v


momentum = Kernel("momentum", _momentum_loop, _momentum_numpy)


# --- axpy: y ← α x + y -----------------------------------------------------------------


def _axpy_loop(alpha: Any, x: Any, y: Any) -> None:  # pragma: no cover - compiled
    """``axpy(alpha, x, y)``: y ← α x + y in place (α of y's dtype)."""
    for i in range(y.shape[0]):
        y[i] += alpha * x[i]


def _axpy_numpy(alpha: Any, x: Any, y: Any) -> None:
    y += alpha * x


axpy = Kernel("axpy", _axpy_loop, _axpy_numpy)
