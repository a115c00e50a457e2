"""The buffer contracts of the activations, which the network's hot loop relies on.

The network hands each f' and each fused hidden layer its own work buffers and reads the
result from them, not from a return value: a derivative that returned a fresh array and
left ``out`` alone would leave stale numbers in backpropagation. (Mutation testing,
`make mutate`, found these contracts untested.) Reference values are the textbook
formulas of tests/reference.py.
"""

import numpy as np
import pytest
from reference import textbook

from nablanet import compiled_kernels
from nablanet.activations import ACTIVATIONS, LEAKY_SLOPE, get_activation

ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]


def textbook_derivative(name, z):
    """f'(z) from z, written out without nablanet (z kept away from relu's kink)."""
    a = textbook(name, z)
    return {
        "sigmoid": a * (1.0 - a),
        "tanh": 1.0 - a**2,
        "relu": np.where(z > 0, 1.0, 0.0),
        "leaky_relu": np.where(z > 0, 1.0, LEAKY_SLOPE),
        "identity": np.ones_like(z),
    }[name]


def away_from_zero(seed, shape=(6, 5)):
    z = np.random.default_rng(seed).uniform(-4.0, 4.0, size=shape)
    z[np.abs(z) < 0.05] += 0.1
    return z


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_is_written_into_the_buffer_it_is_given(name):
    act = get_activation(name)
    z = away_from_zero(seed=1)
    a = textbook(name, z)
    out = np.full_like(a, np.nan)
    result = act.derivative(a, out)
    assert result is out
    np.testing.assert_allclose(out, textbook_derivative(name, z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_fused_rectifier_layer_writes_f_over_z_and_f_prime_into_d(name, compiled):
    """layer(za, b, d): za ← f(za + b) in place and d ← f'(za + b), compiled or not."""
    act = ACTIVATIONS[name]
    z = away_from_zero(seed=2)
    b = np.random.default_rng(3).uniform(-1.0, 1.0, size=z.shape[1])
    x = z + b
    x[np.abs(x) < 0.05] += 0.1  # keep z + b away from the kink, where f' jumps
    z = x - b
    za, d = z.copy(), np.full_like(z, np.nan)
    with compiled_kernels(compiled):
        assert act.layer(za, b, d) is None
    np.testing.assert_allclose(za, textbook(name, x), rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(d, textbook_derivative(name, x))


@pytest.mark.parametrize("compiled", [False, True])
def test_softmax_of_one_vector_is_that_row_of_a_matrix(compiled):
    z = np.random.default_rng(4).normal(size=7)
    out = np.full_like(z, np.nan)
    with compiled_kernels(compiled):
        result = ACTIVATIONS["softmax"].f(z, out)
    assert result is out and out.shape == (7,)
    np.testing.assert_allclose(out, textbook("softmax", z[None, :])[0], rtol=1e-14)
