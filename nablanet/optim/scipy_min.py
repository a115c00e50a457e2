"""Whole-run minimizers through ``scipy.optimize``: L-BFGS and nonlinear conjugate gradient.

UFLDL's "advanced optimization": once the gradient has been checked, hand ``J(θ)`` and
``∂J/∂θ`` on the whole training set to a quasi-Newton or conjugate gradient method, which
chooses its own step sizes by line search. No learning rate to tune.

The wrapper adds what a training loop needs around `scipy.optimize.minimize`: float64
internally whatever the dtype of ``theta``, the answer written back into ``theta`` in place,
a per-iteration callback that can stop the run, and a stop at the first non-finite ``J`` or
gradient instead of a line search that wanders through NaNs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import scipy.optimize

from nablanet._blas import SCIPY
from nablanet._checks import integer, number
from nablanet.optim._inplace import FloatArray, check_theta

Objective = Callable[[np.ndarray[Any, np.dtype[np.float64]]], tuple[float, Any]]
"""``fun(theta) -> (J, grad)``: the objective and its gradient at a float64 vector."""

IterationCallback = Callable[[int, float], bool | None]
"""``callback(iteration, J) -> bool | None``; a true value stops the run."""


class Status(StrEnum):
    """Why a whole-run minimizer stopped."""

    CONVERGED = "converged"  # the method's own convergence test was met
    MAX_ITER = "max_iter"  # the iteration or evaluation limit was reached
    DIVERGED = "diverged"  # J or its gradient stopped being finite
    STOPPED = "stopped"  # the callback asked to stop
    FAILED = "failed"  # the line search could make no more progress


@dataclass(frozen=True)
class MinimizeResult:
    """What a whole-run minimizer did. The solution itself is in ``theta``.

    Attributes
    ----------
    J : float
        The objective at the solution written into ``theta`` (computed in float64; for a
        float32 ``theta`` the stored point is that solution rounded to float32). NaN or inf
        only when the objective was already non-finite at the starting point.
    grad_norm : float
        max_i |∂J/∂θ_i| there: the infinity norm that ``tol`` is compared with.
    n_iter : int
        Iterations completed.
    n_fun : int
        Evaluations of ``fun`` (each gives J and the gradient).
    success : bool
        True when the method's own convergence test was met (for `LBFGS` that is
        ``grad_norm <= tol`` *or* the ``ftol`` test on the decrease of J); False when it
        stopped on an iteration or evaluation limit, a callback, a non-finite value or a
        failed line search.
    message : str
        Why it stopped, in words.
    status : Status
        Why it stopped, as data: what callers branch on (``success`` is
        ``status == Status.CONVERGED``).
    """

    J: float
    grad_norm: float
    n_iter: int
    n_fun: int
    success: bool
    message: str
    status: Status


class _NonFinite(Exception):
    """Raised inside the objective to take control back from scipy."""


class _Run:
    """One minimization: counts calls and iterations, keeps the best finite point."""

    def __init__(self, fun: Objective, x0: FloatArray, callback: IterationCallback | None) -> None:
        self.fun = fun
        self.callback = callback
        self.n_fun = 0
        self.n_iter = 0
        self.stopped_by_callback = False
        # Best finite evaluation so far. Each accepted iterate of a line-search method is
        # one of the evaluated points and J decreases along them, so this point is at least
        # as good as the last finite iterate.
        self.x_best = x0.copy()
        self.J_best = math.inf
        self.grad_norm_best = math.nan
        self.J_nonfinite = math.nan  # the offending value, for the message

    def objective(self, x: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[float, FloatArray]:
        J, grad = self.fun(x)
        self.n_fun += 1
        J = float(J)
        # scipy upcasts a float32 gradient itself; doing it here lets us check it once.
        g = np.asarray(grad, dtype=np.float64)
        if g.shape != x.shape:
            raise ValueError(f"fun returned a gradient of shape {g.shape} for x of {x.shape}")
        if not (math.isfinite(J) and np.isfinite(g).all()):
            self.J_nonfinite = J
            raise _NonFinite
        if J < self.J_best:
            self.x_best[...] = x
            self.J_best = J
            self.grad_norm_best = float(np.max(np.abs(g)))
        return J, g

    def on_iteration(self, intermediate_result: scipy.optimize.OptimizeResult) -> None:
        # scipy >= 1.11 passes the iterate to a callback with exactly this parameter name,
        # and ends the run cleanly when it raises StopIteration.
        self.n_iter += 1
        if self.callback is not None and self.callback(self.n_iter, float(intermediate_result.fun)):
            self.stopped_by_callback = True
            raise StopIteration


def _minimize(
    fun: Objective,
    theta: FloatArray,
    callback: IterationCallback | None,
    method: str,
    options: dict[str, Any],
) -> MinimizeResult:
    check_theta(theta)
    x0 = np.array(theta, dtype=np.float64)  # a copy, float64 whatever theta's dtype
    run = _Run(fun, x0, callback)
    try:
        # scipy's own BLAS (its wheels bundle a second OpenBLAS) on one thread meanwhile:
        # the minimizer's vector work gains nothing from threads, and an idle OpenBLAS
        # pool spinning after each call beside NumPy's doubled the time per iteration here.
        with SCIPY.hold():
            res = scipy.optimize.minimize(
                run.objective,
                x0,
                jac=True,
                method=method,
                callback=run.on_iteration,
                options=options,
            )
    except _NonFinite:
        if math.isfinite(run.J_best):
            theta[...] = run.x_best
            return MinimizeResult(
                J=run.J_best,
                grad_norm=run.grad_norm_best,
                n_iter=run.n_iter,
                n_fun=run.n_fun,
                success=False,
                message=(
                    f"stopped: non-finite J or gradient at evaluation {run.n_fun} "
                    f"(J={run.J_nonfinite}); "
                    "theta holds the best finite point evaluated"
                ),
                status=Status.DIVERGED,
            )
        # Nothing finite was ever seen: theta is left as it was.
        return MinimizeResult(
            J=run.J_nonfinite,
            grad_norm=math.nan,
            n_iter=0,
            n_fun=run.n_fun,
            success=False,
            message=f"stopped: non-finite J or gradient at the initial point (J={run.J_nonfinite})",
            status=Status.DIVERGED,
        )
    theta[...] = res.x
    if run.stopped_by_callback:
        message, status = f"stopped by the callback after iteration {run.n_iter}", Status.STOPPED
    else:
        message, status = str(res.message), _status(res)
    return MinimizeResult(
        J=float(res.fun),
        grad_norm=float(np.max(np.abs(res.jac))),
        n_iter=int(res.nit),
        n_fun=run.n_fun,
        success=status == Status.CONVERGED,
        message=message,
        status=status,
    )


def _status(res: scipy.optimize.OptimizeResult) -> Status:
    """The status of a run that scipy ended itself.

    scipy's own codes: 0 success, 1 iteration or evaluation limit, anything else a line
    search that failed (L-BFGS-B: 2; CG: 2 precision loss, 3 NaN, which cannot reach here).
    """
    if res.success:
        return Status.CONVERGED
    return Status.MAX_ITER if int(res.status) == 1 else Status.FAILED


@dataclass
class LBFGS:
    """Limited-memory BFGS (scipy's L-BFGS-B, without bounds).

    Parameters
    ----------
    max_iter : int, default 200
        Maximum number of iterations (scipy's ``maxiter``).
    tol : float, default 1e-5
        Converged when max_i |∂J/∂θ_i| <= tol (scipy's ``gtol``, the infinity norm of the
        gradient; the projected gradient of L-BFGS-B is the gradient when there are no
        bounds).
    max_fun : int, default 15000
        Maximum number of evaluations of ``fun`` (scipy's ``maxfun``). Checked between
        iterations, so the last line search can overrun it by a few evaluations.
    memory : int, default 10
        Number of (s, y) correction pairs kept to approximate the inverse Hessian
        (scipy's ``maxcor``).
    ftol : float, default 2.220446049250313e-09
        L-BFGS-B also stops, and reports success, when the relative decrease
        (J_k − J_{k+1}) / max(|J_k|, |J_{k+1}|, 1) <= ftol, which can happen before the
        gradient reaches ``tol`` (on Rosenbrock from (−1.2, 1) it stops with
        max|g| ≈ 5e-5). The default is scipy's (``factr`` = 1e7 times machine epsilon), the
        one scikit-learn's MLP uses, so that nablanet's estimators stop where it does. Set
        ``ftol=0`` to stop only on ``tol``, the limits or a line search that can make no
        more progress.

    Notes
    -----
    Nocedal & Wright, *Numerical Optimization*, Algorithm 7.5: the search direction is
    d = −H g, with H the inverse-Hessian approximation built from the last ``memory``
    pairs s = θ_{k+1} − θ_k, y = g_{k+1} − g_k by the two-loop recursion, and the step
    along d satisfies the strong Wolfe conditions.
    """

    max_iter: int = 200
    tol: float = 1e-5
    max_fun: int = 15000
    memory: int = 10
    ftol: float = 2.220446049250313e-09

    def __post_init__(self) -> None:
        integer(self.max_iter, "max_iter")
        integer(self.max_fun, "max_fun")
        integer(self.memory, "memory")
        number(self.tol, "tol", low=0.0)
        number(self.ftol, "ftol", low=0.0)

    def minimize(
        self,
        fun: Objective,
        theta: FloatArray,
        callback: IterationCallback | None = None,
        max_iter: int | None = None,
    ) -> MinimizeResult:
        """Minimize ``fun`` starting from ``theta``; write the solution into ``theta``.

        Parameters
        ----------
        fun : callable ``fun(x) -> (J, grad)``
            ``x`` is a float64 ndarray of shape (n_params,); ``J`` a float and ``grad`` an
            array of shape (n_params,) (any float dtype; it is read as float64).
        theta : ndarray of shape (n_params,)
            The starting point, float32 or float64; overwritten in place with the solution
            (the final iterate, or after a non-finite value the best finite point).
        callback : callable ``callback(iteration, J) -> bool | None``, optional
            Called after each iteration with the iteration number (1, 2, ...) and J at the
            new iterate. A true return value stops the run there.
        max_iter : int, optional
            The iteration limit of this call (default: ``self.max_iter``).

        Returns
        -------
        MinimizeResult
        """
        options = {
            "maxiter": _limit(self.max_iter, max_iter),
            "maxfun": int(self.max_fun),
            "gtol": float(self.tol),
            "maxcor": int(self.memory),
            "ftol": float(self.ftol),
        }
        return _minimize(fun, theta, callback, "L-BFGS-B", options)


@dataclass
class ConjugateGradient:
    """Nonlinear conjugate gradient (scipy's ``CG``: Polak–Ribière with restarts).

    Parameters
    ----------
    max_iter : int, default 200
        Maximum number of iterations (scipy's ``maxiter``).
    tol : float, default 1e-5
        Converged when max_i |∂J/∂θ_i| <= tol (scipy's ``gtol`` with ``norm=inf``, the same
        test as `LBFGS`).

    Notes
    -----
    Nocedal & Wright, *Numerical Optimization*, section 5.2: d_0 = −g_0,
    d_{k+1} = −g_{k+1} + β d_k with β = max(0, g_{k+1}ᵀ(g_{k+1} − g_k) / g_kᵀg_k)
    (PR+), the step along d chosen by a Wolfe line search. Needs only a few vectors of
    memory, but usually more evaluations than L-BFGS.
    """

    max_iter: int = 200
    tol: float = 1e-5

    def __post_init__(self) -> None:
        integer(self.max_iter, "max_iter")
        number(self.tol, "tol", low=0.0)

    def minimize(
        self,
        fun: Objective,
        theta: FloatArray,
        callback: IterationCallback | None = None,
        max_iter: int | None = None,
    ) -> MinimizeResult:
        """Minimize ``fun`` starting from ``theta``; write the solution into ``theta``.

        Parameters
        ----------
        fun : callable ``fun(x) -> (J, grad)``
            ``x`` is a float64 ndarray of shape (n_params,); ``J`` a float and ``grad`` an
            array of shape (n_params,) (any float dtype; it is read as float64).
        theta : ndarray of shape (n_params,)
            The starting point, float32 or float64; overwritten in place with the solution
            (the final iterate, or after a non-finite value the best finite point).
        callback : callable ``callback(iteration, J) -> bool | None``, optional
            Called after each iteration with the iteration number (1, 2, ...) and J at the
            new iterate. A true return value stops the run there.
        max_iter : int, optional
            The iteration limit of this call (default: ``self.max_iter``).

        Returns
        -------
        MinimizeResult
        """
        options = {
            "maxiter": _limit(self.max_iter, max_iter),
            "gtol": float(self.tol),
            "norm": math.inf,
        }
        return _minimize(fun, theta, callback, "CG", options)


def _limit(own: int, override: int | None) -> int:
    return int(own) if override is None else integer(override, "max_iter")

