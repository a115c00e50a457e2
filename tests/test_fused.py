"""The compiled kernels (nablanet.kernels) and their NumPy twins against the formulas.

Every test here runs twice: with the compiled kernels and with the NumPy twins.
"""

import numpy as np
import pytest

from nablanet import compiled_kernels, kernels
from nablanet.activations import get_activation
from nablanet.losses import get_loss
from nablanet.optim import SGD, Adam


@pytest.fixture(autouse=True, params=[True, False], ids=["compiled", "numpy"])
def implementation(request):
    with compiled_kernels(request.param):
        yield request.param


def logits(dtype, scale=3.0, shape=(40, 7), seed=0):
    z = np.random.default_rng(seed).normal(scale=scale, size=shape)
    z[0] = [1000.0, -1000.0, 0.0, 5.0, -5.0, 999.0, 1.0]  # saturated row
    return z.astype(dtype)


def tol(dtype):
    return {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-6, "atol": 1e-6}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_kernel_matches_the_formula(dtype):
    z = logits(dtype)
    z64 = z.astype(np.float64)
    expected = np.exp(z64 - z64.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    out = np.empty_like(z)
    kernels.softmax(z, out)
    np.testing.assert_allclose(out, expected, **tol(dtype))
    kernels.softmax(z, z)  # in place
    np.testing.assert_array_equal(z, out)


def weights(n, seed=4):
    w = np.random.default_rng(seed).random(n) + 0.1
    return w / w.sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_kernel_matches_per_example_and_delta(dtype):
    z = logits(dtype)
    rng = np.random.default_rng(1)
    Y = rng.dirichlet(np.ones(7), size=40).astype(dtype)
    Y[1] *= 3.0  # an unnormalised row: δ = a Σy − y still holds
    w = weights(40).astype(dtype)
    a, delta = np.empty_like(z), np.empty_like(z)
    J = kernels.softmax_cross_entropy(z, a, Y, w, delta)
    z64, Y64 = z.astype(np.float64), Y.astype(np.float64)
    a64 = get_activation("softmax")(z64)
    C = get_loss("cross_entropy").per_example(z64, a64, Y64)
    np.testing.assert_allclose(a, a64, **tol(dtype))
    np.testing.assert_allclose(J, w @ C, rtol=1e-5 if dtype == np.float32 else 1e-12)
    expected = w[:, None] * (a64 * Y64.sum(1, keepdims=True) - Y64)
    np.testing.assert_allclose(delta, expected, **tol(dtype))
    # The saturated row's cost comes from z, not log(a): finite although a_k = 0.
    only_first = np.eye(40, dtype=dtype)[0]
    J0 = kernels.softmax_cross_entropy(z, a, Y, only_first, delta)
    assert np.isfinite(J0) and J0 > 100
    np.testing.assert_allclose(J0, C[0], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_kernel_matches_per_example_and_delta(dtype):
    z = logits(dtype)
    Y = (np.random.default_rng(2).random(z.shape) > 0.5).astype(dtype)
    w = weights(40).astype(dtype)
    a, delta = np.empty_like(z), np.empty_like(z)
    J = kernels.sigmoid_cross_entropy(z, a, Y, w, delta)
    z64 = z.astype(np.float64)
    a64 = get_activation("sigmoid")(z64)
    C = (np.logaddexp(0.0, z64) - Y * z64).sum(1)
    np.testing.assert_allclose(a, a64, **tol(dtype))
    assert a[0, 0] == 1.0 and a[0, 1] == 0.0  # z = ±1000 saturates without overflow
    np.testing.assert_allclose(J, w @ C, rtol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(delta, w[:, None] * (a64 - Y), **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_fused_hidden_layer_equals_bias_activation_and_derivative(dtype, name):
    act = get_activation(name)
    z = logits(dtype)
    z[5, :3] = 0.0  # f'(0) is the left derivative, as the NumPy formula has it
    b = np.random.default_rng(7).normal(size=z.shape[1]).astype(dtype)
    b[:3] = 0.0
    za, d = z.copy(), np.empty_like(z)
    act.layer(za, b, d)
    expected_a = act(z + b)
    np.testing.assert_array_equal(za, expected_a)
    np.testing.assert_array_equal(d, act.derivative(expected_a, np.empty_like(z)))
    assert set(np.unique(d)) <= {dtype(1.0), dtype(0.0 if name == "relu" else 0.01)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_fused_hidden_layer_extreme_values_match_numpy(dtype, name):
    # relu(-inf) is 0 (not 0 * -inf = NaN), a negative input gives +0.0 (not -0.0), and
    # NaN propagates as np.maximum propagates it: the divergence checks rely on that.
    act = get_activation(name)
    z = np.array([[-np.inf, np.nan, -1.0, -0.0, 0.0, 2.0, np.inf]], dtype)
    b = np.zeros(z.shape[1], dtype)
    za, d = z.copy(), np.empty_like(z)
    act.layer(za, b, d)
    expected = act(z + b)  # as the NumPy passes compute it (-0.0 + 0.0 is +0.0)
    np.testing.assert_array_equal(za, expected)
    np.testing.assert_array_equal(np.signbit(za[:, 2:]), np.signbit(expected[:, 2:]))
    np.testing.assert_array_equal(d, act.derivative(expected, np.empty_like(z)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_on_a_strided_theta_equals_a_contiguous_one(dtype):
    rng = np.random.default_rng(3)
    theta0 = rng.normal(size=500).astype(dtype)
    grads = rng.normal(size=(5, 500)).astype(dtype)
    opt = Adam(0.01)
    fused = theta0.copy()
    strided = np.zeros(1000, dtype)[::2]
    strided[...] = theta0
    s1, s2 = opt.init(fused), opt.init(strided)
    for g in grads:
        opt.step(fused, g, s1)
        opt.step(strided, g, s2)
    np.testing.assert_allclose(fused, strided, **tol(dtype))
    np.testing.assert_allclose(s1.v, s2.v, **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "make", [lambda: Adam(0.01), lambda: SGD(0.1, momentum=0.9), lambda: SGD(0.1, 0.9, True)]
)
def test_optimizers_flush_subnormal_moments_to_zero(dtype, make):
    # A weight whose gradient is always 0 sees its moment decay geometrically; once the
    # moment is subnormal it must become exactly 0 (not linger, slowing every later step).
    # The other coordinates take their ordinary update.
    opt = make()
    theta = np.array([1.0, -2.0, 0.5], dtype)
    state = opt.init(theta)
    moment = state.m if isinstance(opt, Adam) else state.velocity
    tiny = np.finfo(dtype).tiny
    moment[...] = [tiny / 4, -tiny * 4, 0.25]  # subnormal, normal, normal
    if isinstance(opt, Adam):
        state.v[...] = [tiny / 4, 1e-4, 1e-4]
    grad = np.zeros(3, dtype)
    reference = theta.copy()
    ref_state = opt.init(reference)
    ref_moment = ref_state.m if isinstance(opt, Adam) else ref_state.velocity
    ref_moment[...] = moment
    if isinstance(opt, Adam):
        ref_state.v[...] = state.v
    opt.step(theta, grad, state)
    assert moment[0] == 0.0 and theta[0] == 1.0
    if isinstance(opt, Adam):
        assert state.v[0] == 0.0
    # The normal moment -4·tiny times β (0.9) is still normal and is kept.
    assert moment[1] == dtype(-tiny * 4) * dtype(0.9) and moment[1] != 0.0
    # The third coordinate moved by the textbook update, as a NumPy evaluation gives it.
    b = dtype(0.9)
    if isinstance(opt, Adam):
        m3 = b * dtype(0.25)
        v3 = dtype(0.999) * dtype(1e-4)
        alpha_t = 0.01 * np.sqrt(1 - 0.999) / (1 - 0.9)
        expected = 0.5 - alpha_t * m3 / (np.sqrt(v3) + 1e-8 * np.sqrt(1 - 0.999))
    else:
        v3 = b * dtype(0.25)
        expected = 0.5 + (b * v3 if opt.nesterov else v3)
    np.testing.assert_allclose(theta[2], expected, rtol=1e-6)
    assert np.isfinite(theta).all()

