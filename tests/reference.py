"""Independent reference formulas shared by the tests (docs/math.md §1, written as printed)."""

import numpy as np


def textbook(name, z):
    """f(z) by the formula of docs/math.md §1 (moderate z only: no overflow guards)."""
    z = np.asarray(z, dtype=np.float64)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "identity":
        return z.copy()
    if name == "softmax":
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    raise AssertionError(name)
