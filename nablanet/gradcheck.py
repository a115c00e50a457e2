"""Numerical gradient checking (docs/math.md §7; UFLDL "Gradient checking").

Stands apart from the network on purpose: everything here needs only a function of a
flat parameter vector, ``fun(theta) -> J`` or ``fun(theta) -> (J, grad)``, so it can
check any cost, not only ours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]


def _value(fun: Callable[[Array], Any], theta: Array) -> float:
    out = fun(theta)
    J = out[0] if isinstance(out, tuple) else out
    return float(J)


def numerical_gradient(
    fun: Callable[[Array], Any],
    theta: Any,
    eps: float = 1e-4,
    indices: Any = None,
) -> Array:
    """Central-difference estimate of the gradient of ``fun`` at ``theta``.

    Parameters
    ----------
    fun : callable
        ``fun(theta)`` returns J, or a pair ``(J, grad)`` of which J is used.
    theta : array-like of shape (n,)
        The point; converted to float64 and never modified.
    eps : float, default 1e-4
        The step ε (UFLDL's value).
    indices : array-like of int, optional
        Estimate only these coordinates (the others are left at 0).

    Returns
    -------
    ndarray of shape (n,), float64

    Notes
    -----
    ``g_i ≈ (J(θ + ε e_i) − J(θ − ε e_i)) / (2ε)``; the error is O(ε²). Costs two
    evaluations of ``fun`` per coordinate: a debugging tool, never part of training.
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    point = np.array(theta, dtype=np.float64).ravel()
    g = np.zeros_like(point)
    coords = range(point.size) if indices is None else np.asarray(indices, dtype=np.intp)
    for i in coords:
        saved = point[i]
        point[i] = saved + eps
        J_plus = _value(fun, point)
        point[i] = saved - eps
        J_minus = _value(fun, point)
        point[i] = saved
        g[i] = (J_plus - J_minus) / (2.0 * eps)
    return g


@dataclass(frozen=True)
class GradientCheckReport:
    """The outcome of `check_gradient`.

    Attributes
    ----------
    relative_difference : float
        ``‖g_num − g‖ / ‖g_num + g‖`` over the checked coordinates (0 when both are 0).
    passed : bool
        ``relative_difference <= tol``.
    tol : float
    eps : float
    n_checked, n_params : int
        Coordinates compared, and the size of θ.
    worst : list of (int, float, float)
        The coordinates that differ most: ``(index, analytic, numerical)``.
    """

    relative_difference: float
    passed: bool
    tol: float
    eps: float
    n_checked: int
    n_params: int
    worst: list[tuple[int, float, float]]

    def _repr_html_(self) -> str:
        """Jupyter's display: the same verdict and table as ``print``."""
        import html  # this module imports nothing of nablanet, so no shared helper

        return (
            '<div class="nablanet"><strong>Gradient check</strong>'
            f'<pre style="white-space: pre-wrap">{html.escape(str(self))}</pre></div>'
        )

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"gradient check {verdict}: relative difference {self.relative_difference:.3e} "
            f"(tolerance {self.tol:.0e}, eps {self.eps:.0e}, "
            f"{self.n_checked} of {self.n_params} coordinates)",
            f"  {'index':>8}  {'backprop':>14}  {'numerical':>14}  {'abs diff':>10}",
        ]
        for i, g, n in self.worst:
            lines.append(f"  {i:>8}  {g:>14.6e}  {n:>14.6e}  {abs(g - n):>10.2e}")
        return "\n".join(lines)


def check_gradient(
    fun: Callable[[Array], tuple[Any, Any]],
    theta: Any,
    *,
    eps: float = 1e-4,
    tol: float = 1e-7,
    n_coords: int | None = None,
    seed: int | np.random.Generator | None = 0,
    n_worst: int = 5,
) -> GradientCheckReport:
    """Check a claimed gradient against central differences.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> (J, grad)`` with ``grad`` of the shape of ``theta``.
    theta : array-like of shape (n,)
        Where to check, in float64.
    eps : float, default 1e-4
    tol : float, default 1e-7
        The check passes when the relative difference is at most this.
    n_coords : int, optional
        Check this many coordinates drawn without replacement (large networks).
    seed : int or Generator, optional
        Draws those coordinates.
    n_worst : int, default 5
        How many of the most different coordinates the report lists.

    Returns
    -------
    GradientCheckReport

    Notes
    -----
    A correct backpropagation in float64 gives a relative difference around 1e-9 or
    smaller on a small network; a wrong one is typically above 1e-3.
    """
    point = np.array(theta, dtype=np.float64).ravel()
    _, grad = fun(point.copy())
    grad = np.asarray(grad, dtype=np.float64).ravel()
    if grad.shape != point.shape:
        raise ValueError(f"fun returned a gradient of shape {grad.shape}, expected {point.shape}")
    if n_coords is None or n_coords >= point.size:
        idx = np.arange(point.size)
    else:
        if n_coords < 1:
            raise ValueError(f"n_coords must be at least 1, got {n_coords}")
        idx = np.sort(np.random.default_rng(seed).choice(point.size, n_coords, replace=False))
    g_num = numerical_gradient(fun, point, eps, idx)[idx]
    g = grad[idx]
    denom = float(np.linalg.norm(g_num + g))
    diff = float(np.linalg.norm(g_num - g))
    rel = diff / denom if denom > 0 else diff
    order = np.argsort(-np.abs(g_num - g))[:n_worst]
    worst = [(int(idx[k]), float(g[k]), float(g_num[k])) for k in order]
    return GradientCheckReport(rel, rel <= tol, tol, eps, idx.size, point.size, worst)
