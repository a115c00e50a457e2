"""One dispatcher for the fused loops: ``kernels.axpy(alpha, x, y)`` runs compiled or in NumPy.

Where NumPy's passes cost more than the arithmetic, a kernel does the work in one loop over
memory and one call. Each kernel is a `Kernel`: a loop that numba compiles on first use
(cached on disk) and, right under it, its NumPy twin, the same formula as whole-array
passes. Calling the kernel runs one or the other, as `nablanet.kernels.choice` decides (by
default the twins; a fit large enough to repay loading numba, or `compiled_kernels`, the
loops). Both write their results into the arrays passed in.

By kind:

- `updates`: `adam`, `momentum` and `axpy` (y ← αx + y), the optimizers' steps;
- `activations`: `rectifier` (a relu / leaky relu layer's bias, activation and derivative)
  and `softmax`;
- `losses`: `softmax_cross_entropy` and `sigmoid_cross_entropy`, a classifier's output
  layer, cost and weighted δ;
- `conv`: the copies of convolution and pooling layers (`im2col`, `col2im`, `mean_pool`,
  `max_pool`, and their transposes): compiled loops with no twin (`Loop`), run whatever
  the choice, as NumPy has no fast equivalent.

The twins of the kernels without transcendental functions (Adam, momentum, rectifier,
axpy) round exactly as the loops do; those with exp and log agree to rounding (NumPy's exp
is not libm's). So inside a fit that compiles, its validation scores take the compiled
softmax, while the same score computed after the fit takes the twin: they can differ in
the last bits, never in a label unless two classes tie to rounding.
"""

from __future__ import annotations

import numpy as np

from nablanet.kernels import conv
from nablanet.kernels.activations import rectifier, softmax
from nablanet.kernels.choice import (
    Choice,
    Kernel,
    compiled_kernels,
    current,
    fit_kernels,
    use_compiled,
)
from nablanet.kernels.conv import (
    LOOPS,
    Loop,
    col2im,
    im2col,
    max_pool,
    max_unpool,
    mean_pool,
    mean_unpool,
    unit_stride_col2im,
    unit_stride_im2col,
)
from nablanet.kernels.losses import sigmoid_cross_entropy, softmax_cross_entropy
from nablanet.kernels.updates import adam, axpy, momentum

#: Every kernel, by name.
KERNELS: dict[str, Kernel] = {
    k.__name__: k
    for k in (adam, momentum, axpy, rectifier, softmax, softmax_cross_entropy,
              sigmoid_cross_entropy)
}


def warm_cache() -> None:
    """Compile every kernel and every `Loop` for float32 and float64 into numba's disk cache.

    Run once at install (the Makefile does), so that the first fit large enough to use
    the kernels loads them (about 0.5 s) instead of compiling them (a few seconds), and a
    convolutional network's first step does not pay ~25 s compiling its loops.
    """
    for dtype in (np.float32, np.float64):
        r, one = dtype, np.ones(1, dtype)
        vec, mat, row = np.ones(4, dtype), np.ones((2, 3), dtype), np.ones(3, dtype)
        adam.compiled(vec.copy(), vec, vec.copy(), vec.copy(), r(0.9), r(0.1), r(0.999),
                      r(0.001), r(1e-3), r(1e-8), r(1e-30))
        momentum.compiled(vec.copy(), vec, vec.copy(), r(0.9), r(0.1), False, r(1e-30))
        rectifier.compiled(mat.copy(), row, mat.copy(), r(0.0), r(1.0))
        axpy.compiled(r(0.5), vec, vec.copy())
        softmax.compiled(mat, mat.copy())
        for fused in (softmax_cross_entropy, sigmoid_cross_entropy):
            fused.compiled(mat, mat.copy(), mat, one.repeat(2), mat.copy())
    conv.warm_cache()


__all__ = [
    "KERNELS",
    "LOOPS",
    "Choice",
    "Kernel",
    "Loop",
    "adam",
    "axpy",
    "col2im",
    "compiled_kernels",
    "current",
    "fit_kernels",
    "im2col",
    "max_pool",
    "max_unpool",
    "mean_pool",
    "mean_unpool",
    "momentum",
    "rectifier",
    "sigmoid_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
    "unit_stride_col2im",
    "unit_stride_im2col",
    "use_compiled",
    "warm_cache",
]
