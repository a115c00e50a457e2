"""Fused loops compiled by numba, where NumPy's passes cost more than the arithmetic.

Each kernel computes exactly the formula its docstring gives (the NumPy version stands
beside it in `activations`, `losses` or `optim.adam`, and the tests compare the two; the
momentum kernel is checked against the formula by hand and against ``torch.optim.SGD``),
but in one loop over memory and one call:

- `adam_kernel`, `momentum_kernel`: Adam's update is nine NumPy passes over the parameter
  vector per step, momentum's three or four;
- `rectifier_kernel`: a hidden relu / leaky relu layer's bias, activation and derivative
  are three NumPy passes (24 µs for 200 × 100 here), one compiled pass takes 7 µs;
- `axpy_kernel`: y ← αx + y in one pass (NumPy needs a temporary and two passes; BLAS's
  axpy would bring scipy's second OpenBLAS thread pool into the training loop): gradient
  descent's step and weight decay's gradient λW;
- `softmax_kernel`, `softmax_cross_entropy_kernel`, `sigmoid_cross_entropy_kernel`: the
  output layer of a classifier is a handful of arrays of shape (m, k) with k ≈ 10, where
  NumPy's per-call cost and its slow reductions along short rows dominate.

Each ``*_kernel()`` getter returns the compiled loop or its NumPy twin (the same formula
as whole-array passes, defined beside it), depending on `compiled_kernels`. Loading numba
and its cached kernels costs about half a second of CPU in a fresh process, more than a
small fit spends in all the passes the kernels save; so the training loop turns them on
only for a fit whose epochs are large enough to repay the loading (`use_compiled`), and
predictions, which the kernels barely speed up next to their matrix products, never load
numba. The choice depends on the sizes of an epoch only, never on what the process has
loaded, so a fit gives the same bits in a fresh process and in a warm one. The twins of
the kernels without transcendental functions (Adam, momentum, rectifier, axpy) round
exactly as the loops do; those with exp and log agree to rounding (NumPy's exp is not
libm's). So inside a fit that compiles, its validation scores take the compiled softmax,
while the same score computed after the fit takes the twin: they can differ in the last
bits, never in a label unless two classes tie to rounding.

Compilation happens on first use and is cached on disk by numba.
``error_model="numpy"`` lets the loops vectorise (no Python division checks).

The optimizer kernels flush subnormal moments to zero. A weight whose gradient is always
0 (a border pixel that is 0 in every image) has its moment decay geometrically, as
β₁ᵗ m, into the subnormal range after about 800 steps, where every arithmetic operation on
it costs ~100 cycles: measured on Fashion-MNIST, Adam's step went from 38 to 160-320 µs.
A moment below the smallest normal number (``tiny``, 1.2e-38 in float32) moves no weight
(its update is < 1e-30 α), so setting it to 0 changes nothing else; the comparison is a
branch-free select, so the loop still vectorises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

import numpy as np

Kernel = Callable[..., Any]

#: One epoch's work (array entries the kernels would touch in one pass over the training
#: rows) from which a fit compiles them: loading numba and the kernels costs about 0.5 s of
#: CPU in a fresh process, and they save 2-7 ns per entry (measured on digits and
#: Fashion-MNIST shapes), so at this size they repay the loading within about 25 epochs.
#: Digits' default fit (~4e5 per epoch) stays below; Fashion-MNIST (~6e7) is above.
#: Per epoch, not per fit: the iteration limit, restarts and early stopping do not enter
#: the choice, so they cannot change the last bits of a fit's weights.
COMPILE_AT = 5e6

#: True or False where `compiled_kernels` forces the choice; None leaves it to each fit.
_FORCED: ContextVar[bool | None] = ContextVar("nablanet_forced_kernels", default=None)
#: What the getters below return now: a forced choice, or the running fit's own.
_COMPILED: ContextVar[bool] = ContextVar("nablanet_compiled_kernels", default=False)


@contextmanager
def compiled_kernels(enabled: bool = True) -> Iterator[None]:
    """Use the compiled kernels (or, with ``enabled=False``, their NumPy twins) inside.

    By default a fit decides for itself (`use_compiled`) and everything else (a
    prediction, a gradient check, a call of ``loss_and_grad``) uses the NumPy twins;
    this forces the choice, fits included, e.g. for a loop of your own over many steps.
    The setting belongs to the current thread (a context variable), so a fit in one
    thread does not change the arithmetic of a prediction in another.

    Examples
    --------
    >>> import nablanet
    >>> with nablanet.compiled_kernels():  # doctest: +SKIP
    ...     for X_batch, Y_batch in batches:
    ...         J, grad = net.loss_and_grad(X_batch, Y_batch)
    """
    forced, token = _FORCED.set(bool(enabled)), _COMPILED.set(bool(enabled))
    try:
        yield
    finally:
        _COMPILED.reset(token)
        _FORCED.reset(forced)


@contextmanager
def fit_kernels(enabled: bool) -> Iterator[None]:
    """A fit's own choice (`use_compiled`), for that fit only.

    Unlike `compiled_kernels` it forces nothing: a smaller fit started inside (from a
    callback, say) still makes its own choice.
    """
    token = _COMPILED.set(enabled)
    try:
        yield
    finally:
        _COMPILED.reset(token)


def use_compiled(elements: float) -> bool:
    """Whether a fit whose epoch touches ``elements`` array entries should compile kernels.

    The choice forced by `compiled_kernels` if any; else whether an epoch's work is large
    enough to repay loading the kernels (`COMPILE_AT`).
    """
    forced = _FORCED.get()
    return elements >= COMPILE_AT if forced is None else forced


def adam_kernel() -> Kernel:
    """`_adam`, compiled or as its NumPy twin (see `compiled_kernels`)."""
    return _adam() if _COMPILED.get() else _adam_numpy


@cache
def _adam() -> Kernel:
    """Return ``kernel(theta, grad, m, v, b1, c1, b2, c2, alpha_t, eps_t, tiny)``.

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
    rounding. The scalars must have the arrays' dtype, so that float32 stays float32.
    """
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def kernel(theta: Any, grad: Any, m: Any, v: Any, b1: Any, c1: Any, b2: Any, c2: Any,
               alpha_t: Any, eps_t: Any, tiny: Any) -> None:  # pragma: no cover - compiled
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

    return kernel


def momentum_kernel() -> Kernel:
    """`_momentum`, compiled or as its NumPy twin (see `compiled_kernels`)."""
    return _momentum() if _COMPILED.get() else _momentum_numpy


@cache
def _momentum() -> Kernel:
    """Return ``kernel(theta, grad, v, mu, alpha, nesterov, tiny)``.

    Notes
    -----
    For each coordinate i (scikit-learn's formulation of classical and Nesterov momentum)::

        v_i ← μ v_i − α g_i                       (flushed to 0 below ``tiny``)
        θ_i ← θ_i + v_i            or, with Nesterov,  θ_i ← θ_i + μ v_i − α g_i
    """
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def kernel(theta: Any, grad: Any, v: Any, mu: Any, alpha: Any, nesterov: bool,
               tiny: Any) -> None:  # pragma: no cover - compiled
        for i in range(theta.shape[0]):
            g = grad[i]
            v_i = mu * v[i] - alpha * g
            v_i = v_i if abs(v_i) >= tiny else v_i - v_i
            v[i] = v_i
            if nesterov:
                theta[i] += mu * v_i - alpha * g
            else:
                theta[i] += v_i

    return kernel


def rectifier_kernel() -> Kernel:
    """`_rectifier`, compiled or as its NumPy twin (see `compiled_kernels`)."""
    return _rectifier() if _COMPILED.get() else _rectifier_numpy


@cache
def _rectifier() -> Kernel:
    """Return ``kernel(za, b, d, slope, one)``: a (leaky) relu layer in one pass.

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
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def kernel(za: Any, b: Any, d: Any, slope: Any, one: Any) -> None:  # pragma: no cover
        zero = one - one
        for i in range(za.shape[0]):
            for k in range(za.shape[1]):
                x = za[i, k] + b[k]
                negative = slope * x if slope != zero else zero
                za[i, k] = negative if x <= zero else x  # NaN <= 0 is False: NaN stays
                d[i, k] = one if x > zero else slope

    return kernel


def axpy_kernel() -> Kernel:
    """`_axpy`, compiled or as its NumPy twin (see `compiled_kernels`)."""
    return _axpy() if _COMPILED.get() else _axpy_numpy


@cache
def _axpy() -> Kernel:
    """Return ``kernel(alpha, x, y)``: y ← α x + y in place (α of y's dtype)."""
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def kernel(alpha: Any, x: Any, y: Any) -> None:  # pragma: no cover - compiled
        for i in range(y.shape[0]):
            y[i] += alpha * x[i]

    return kernel


def softmax_kernel() -> Kernel:
    """`_softmax`, compiled or as its NumPy twin (see `compiled_kernels`)."""
    return _softmax() if _COMPILED.get() else _softmax_numpy


@cache
def _softmax() -> Kernel:
    """Return ``kernel(z, out)``: ``out[i] = softmax(z[i])`` for each row; out may be z.

    Notes
    -----
    a_k = e^{z_k − max z} / Σ_j e^{z_j − max z}: subtracting the row maximum leaves the
    result unchanged and keeps exp from overflowing.
    """
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def kernel(z: Any, out: Any) -> None:  # pragma: no cover - compiled
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

    return kernel


def softmax_cross_entropy_kernel() -> Kernel:
    """`_softmax_cross_entropy`, compiled or as its NumPy twin (see `compiled_kernels`)."""
    return _softmax_cross_entropy() if _COMPILED.get() else _softmax_cross_entropy_numpy


@cache
def _softmax_cross_entropy() -> Kernel:
    """Return ``kernel(z, a, y, w, delta) -> J`` for cross-entropy after softmax.

    Notes
    -----
    Per row i, from the weighted inputs z, one exponential per entry::

        a_i  = softmax(z_i)
        C_i  = lse(z_i) Σ_k y_ik − Σ_k y_ik z_ik   (log-sum-exp: finite when a_ik underflows)
        δ_ik = w_i (a_ik Σ_j y_ij − y_ik)         (w_i (a − y) for one-hot or probability rows)

    and returns J = Σ_i w_i C_i, summed in float64.
    """
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def kernel(z: Any, a: Any, y: Any, w: Any, delta: Any) -> float:  # pragma: no cover
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
            J += w[i] * ((np.log(total) + z_max) * y_sum - yz)
            for k in range(z.shape[1]):
                delta[i, k] = w[i] * (a[i, k] * y_sum - y[i, k])
        return J

    return kernel


def sigmoid_cross_entropy_kernel() -> Kernel:
    """`_sigmoid_cross_entropy`, compiled or as its NumPy twin (see `compiled_kernels`)."""
    return _sigmoid_cross_entropy() if _COMPILED.get() else _sigmoid_cross_entropy_numpy


@cache
def _sigmoid_cross_entropy() -> Kernel:
    """Return ``kernel(z, a, y, w, delta) -> J`` for binary cross-entropy after sigmoid.

    Notes
    -----
    Per entry, with softplus(z) = log(1 + e^z) = max(z, 0) + log(1 + e^{−|z|})::

        a_ik = σ(z_ik)     (as e^z / (1 + e^z) for z < 0: no overflow, no cancellation)
        C_i  = Σ_k softplus(z_ik) − y_ik z_ik
        δ_ik = w_i (a_ik − y_ik)

    and returns J = Σ_i w_i C_i, summed in float64.
    """
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def kernel(z: Any, a: Any, y: Any, w: Any, delta: Any) -> float:  # pragma: no cover
        J = 0.0
        for i in range(z.shape[0]):
            c = 0.0
            for k in range(z.shape[1]):
                zk = z[i, k]
                e = np.exp(-abs(zk))  # in (0, 1]: never overflows
                a[i, k] = 1.0 / (1.0 + e) if zk >= 0 else e / (1.0 + e)
                c += max(zk, 0.0) + np.log1p(e) - y[i, k] * zk
                delta[i, k] = w[i] * (a[i, k] - y[i, k])
            J += w[i] * c
        return J

    return kernel


def warm_cache() -> None:
    """Compile every kernel for float32 and float64 into numba's on-disk cache.

    Run once at install (the Makefile does), so that the first fit large enough to use
    the kernels loads them (about 0.5 s) instead of compiling them (a few seconds).
    """
    for dtype in (np.float32, np.float64):
        r, one = dtype, np.ones(1, dtype)
        vec, mat, row = np.ones(4, dtype), np.ones((2, 3), dtype), np.ones(3, dtype)
        _adam()(vec.copy(), vec, vec.copy(), vec.copy(), r(0.9), r(0.1), r(0.999),
                r(0.001), r(1e-3), r(1e-8), r(1e-30))
        _momentum()(vec.copy(), vec, vec.copy(), r(0.9), r(0.1), False, r(1e-30))
        _rectifier()(mat.copy(), row, mat.copy(), r(0.0), r(1.0))
        _axpy()(r(0.5), vec, vec.copy())
        _softmax()(mat, mat.copy())
        for fused in (_softmax_cross_entropy, _sigmoid_cross_entropy):
            fused()(mat, mat.copy(), mat, one.repeat(2), mat.copy())


# --- NumPy twins: the same formulas as whole-array passes (used without compiling) ----


def _adam_numpy(theta: Any, grad: Any, m: Any, v: Any, b1: Any, c1: Any, b2: Any, c2: Any,
                alpha_t: Any, eps_t: Any, tiny: Any) -> None:
    m *= b1
    m += c1 * grad
    m[np.abs(m) < tiny] = 0  # NaN compares False: it stays, as in the loop
    v *= b2
    v += c2 * grad * grad
    v[v < tiny] = 0
    theta -= alpha_t * m / (np.sqrt(v) + eps_t)


def _momentum_numpy(theta: Any, grad: Any, v: Any, mu: Any, alpha: Any, nesterov: bool,
                    tiny: Any) -> None:
    v *= mu
    v -= alpha * grad
    v[np.abs(v) < tiny] = 0
    if nesterov:
        theta += mu * v - alpha * grad
    else:
        theta += v


def _rectifier_numpy(za: Any, b: Any, d: Any, slope: Any, one: Any) -> None:
    za += b
    np.greater(za, 0, out=d)  # 1 where x > 0, else 0 (NaN included)
    d *= one - slope  # then 1 or slope: (1 − s) + s rounds to 1 for the slope used (0.01)
    d += slope
    if slope:
        np.maximum(za, slope * za, out=za)  # s x < x exactly when x > 0, as 0 < s < 1
    else:
        np.maximum(za, 0, out=za)  # an exact +0 for x <= 0, −∞ included; NaN stays


def _axpy_numpy(alpha: Any, x: Any, y: Any) -> None:
    y += alpha * x


def _softmax_numpy(z: Any, out: Any) -> None:
    np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out *= 1.0 / out.sum(axis=1, keepdims=True)


def _softmax_cross_entropy_numpy(z: Any, a: Any, y: Any, w: Any, delta: Any) -> float:
    # Each row's cost in float64, as the loop accumulates it (a confident float32 row's
    # cost of 1e-12 would round to 0 in float32).
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
    delta *= w[:, None]
    return float(np.dot(w.astype(np.float64), C[:, 0]))


def _sigmoid_cross_entropy_numpy(z: Any, a: Any, y: Any, w: Any, delta: Any) -> float:
    # The cost first (in float64, as the loop sums it): ``a`` may be written over z.
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    C = (np.maximum(z, 0).astype(np.float64) + np.log1p(e) - y * z).sum(axis=1)
    np.copyto(a, np.where(z >= 0, 1 / (1 + e), e / (1 + e)))
    np.subtract(a, y, out=delta)
    delta *= w[:, None]
    return float(np.dot(w.astype(np.float64), C))
