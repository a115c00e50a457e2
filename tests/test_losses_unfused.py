"""A canonical pair's fused kernel against the loss's own two steps (nablanet.losses).

softmax + cross-entropy and sigmoid + binary cross-entropy train through one fused kernel
(`nablanet.kernels`); their `per_example` and `canonical_delta` functions, the definition
the kernel must agree with, run only for a loss without one. Here the same loss with the
kernel removed must give the same J and δ as with it, and write δ into the buffer it is
handed. (Mutation testing, `make mutate`, found this path unchecked.)
"""

import dataclasses

import numpy as np
import pytest

from nablanet.activations import ACTIVATIONS
from nablanet.losses import LOSSES

PAIRS = [("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy")]


def batch(k, seed=0, m=9):
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0, size=(m, k))
    Y = np.eye(k)[rng.integers(0, k, m)] if k > 1 else rng.integers(0, 2, (m, 1)) * 1.0
    w = rng.uniform(0.5, 2.0, size=m)
    return z, Y, w / w.sum()


@pytest.mark.parametrize("output, loss", PAIRS)
def test_unfused_loss_gives_the_fused_kernels_cost_and_delta(output, loss):
    activation, fused = ACTIVATIONS[output], LOSSES[loss]
    unfused = dataclasses.replace(fused, fused=None)
    z, Y, w = batch(4 if output == "softmax" else 3, seed=1)
    results = []
    for each in (fused, unfused):
        a, delta = np.full_like(z, np.nan), np.full_like(z, np.nan)
        J = each.cost_and_delta(activation, z.copy(), a, Y, w, delta)
        results.append((J, a, delta))
    (J, a, delta), (J_u, a_u, delta_u) = results
    assert J_u == pytest.approx(J, rel=1e-13)
    np.testing.assert_allclose(a_u, a, rtol=1e-13)
    # δ = w_i (a - y) for a canonical pair, written into the buffer handed in
    np.testing.assert_allclose(delta_u, w[:, None] * (a - Y), rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(delta_u, delta, rtol=1e-12, atol=1e-16)
