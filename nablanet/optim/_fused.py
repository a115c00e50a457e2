"""One-pass update kernels compiled by numba.

Adam written with NumPy ufuncs is nine passes over the parameter vector (see the
formulas in `nablanet.optim.adam`); per minibatch that costs as much as the matrix
products of a small network. Here the same formulas run as one loop that reads θ, g,
m, v once and writes θ, m, v once, in the dtype of the arrays.

Compilation happens on first use (cached on disk by numba), so importing nablanet
stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any


@cache
def adam_kernel() -> Callable[..., None]:
    """Return the compiled kernel ``kernel(theta, grad, m, v, b1, c1, b2, c2, alpha_t, eps_t)``.

    Notes
    -----
    For each coordinate i, exactly Kingma & Ba's Algorithm 1 with the bias corrections
    folded into the scalars α_t and ε_t (see `Adam`)::

        m_i ← β₁ m_i + (1 − β₁) g_i
        v_i ← β₂ v_i + (1 − β₂) g_i²
        θ_i ← θ_i − α_t m_i / (√v_i + ε_t)

    with c1 = 1 − β₁ and c2 = 1 − β₂ passed in rather than computed here: in float32,
    1 − float32(0.999) is off by 1e-5 relative, while float32(1 − 0.999) is exact to
    rounding. The scalars must have the arrays' dtype, so that float32 stays float32.
    ``error_model="numpy"`` lets the loop vectorise (no Python division checks).
    """
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def kernel(theta: Any, grad: Any, m: Any, v: Any, b1: Any, c1: Any, b2: Any, c2: Any,
               alpha_t: Any, eps_t: Any) -> None:  # pragma: no cover - compiled
        for i in range(theta.shape[0]):
            g = grad[i]
            m_i = b1 * m[i] + c1 * g
            v_i = b2 * v[i] + c2 * g * g
            m[i] = m_i
            v[i] = v_i
            theta[i] -= alpha_t * m_i / (v_i**0.5 + eps_t)

    return kernel
