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


#: The one default threshold of a gradient check (see `check_gradient`'s Notes).
TOLERANCE = 1e-7


def check_gradient(
    fun: Callable[[Array], tuple[Any, Any]],
    theta: Any,
    *,
    eps: float = 1e-4,
    tol: float = TOLERANCE,
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
        The check passes when the relative difference is at most this (`TOLERANCE`,
        the one default everywhere: see Notes for what it allows).
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
    The relative difference ``‖g_num − g‖ / ‖g_num + g‖`` of a correct gradient is not 0,
    and what it is depends on three things:

    - the central difference's own error, (ε²/6) ∂³J/∂θ_i³ per coordinate: O(ε²), larger
      where J curves sharply (saturated units, large weights, large inputs);
    - kinks: relu, leaky relu or a max are not differentiable at 0, and a coordinate
      whose step ±ε moves some z across 0 gets a one-sided slope, wrong by O(1) there;
    - rounding: J is computed in float64 (unit roundoff 1.1e-16), and dividing its
      difference by 2ε turns an error of a few ulps of J into about 1e-16 · |J| / ε.

    With ε = 1e-4 a correct smooth network (sigmoid, tanh, softmax) in float64 typically
    gives 1e-9 to 1e-10 (UFLDL's own check: 2.1e-12); a bug typically gives 1e-3 or
    more (weight decay added to the biases, checked at random biases: 2e-3 to 4e-3 on
    a 64-25-10 digits network), less when it touches one coordinate of many, but still
    far above 1e-7. Check at a generic point: at biases of 0 that bug adds λ · 0 and
    hides. The default ``tol`` of 1e-7 sits between the two with
    room for sharper curvature and an occasional kink; a result between 1e-9 and 1e-7
    passes, and is worth a second look on a network with relu units (check at another
    point, or with a smaller ``n_coords`` sample that avoids z = 0).
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
