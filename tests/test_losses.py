"""Losses C(a, y) per example and their output error δ = ∂C/∂z (docs/math.md §4, §6)."""

import math
import warnings

import numpy as np
import pytest

from nablanet import Network
from nablanet.activations import ACTIVATIONS, get_activation
from nablanet.losses import LOSSES, get_loss

# Every (output activation, loss) pair the library accepts.
VALID_PAIRS = [
    ("sigmoid", "squared_error"),
    ("tanh", "squared_error"),
    ("relu", "squared_error"),
    ("leaky_relu", "squared_error"),
    ("identity", "squared_error"),
    ("softmax", "squared_error"),
    ("softmax", "cross_entropy"),
    ("sigmoid", "binary_cross_entropy"),
]


def direct_softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def targets(activation, loss, shape, rng):
    if activation == "softmax":
        return np.eye(shape[1])[rng.integers(0, shape[1], size=shape[0])]
    if activation == "tanh":
        return rng.choice([-1.0, 1.0], size=shape)
    if activation == "sigmoid":
        return rng.integers(0, 2, size=shape).astype(float)
    return rng.normal(size=shape)


# --- values against the direct formulas ------------------------------------------------


def test_squared_error_value():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 3))
    a = get_activation("sigmoid")(z)
    Y = rng.uniform(size=(6, 3))
    expected = [0.5 * sum((a[i, k] - Y[i, k]) ** 2 for k in range(3)) for i in range(6)]
    np.testing.assert_allclose(get_loss("squared_error").per_example(z, a, Y), expected, rtol=1e-14)


def test_squared_error_hand_value():
    # ½ ((0.5 - 1)² + (2 - 0)²) = ½ (0.25 + 4) = 2.125
    z = np.array([[0.0, 2.0]])
    a = np.array([[0.5, 2.0]])
    C = get_loss("squared_error").per_example(z, a, np.array([[1.0, 0.0]]))
    assert C[0] == 2.125


def test_cross_entropy_value():
    rng = np.random.default_rng(1)
    z = rng.normal(scale=3.0, size=(6, 4))
    Y = rng.dirichlet(np.ones(4), size=6)  # probability rows
    a = direct_softmax(z)
    expected = -(Y * np.log(a)).sum(axis=1)
    np.testing.assert_allclose(get_loss("cross_entropy").per_example(z, a, Y), expected, rtol=1e-13)


def test_cross_entropy_hand_value():
    # z = (0, ln 3): softmax = (1/4, 3/4); y picks class 0: −log(1/4) = log 4
    z = np.array([[0.0, math.log(3.0)]])
    C = get_loss("cross_entropy").per_example(z, direct_softmax(z), np.array([[1.0, 0.0]]))
    assert C[0] == pytest.approx(math.log(4.0), rel=1e-15)


def test_binary_cross_entropy_value():
    rng = np.random.default_rng(2)
    z = rng.normal(scale=3.0, size=(6, 3))
    Y = rng.uniform(size=(6, 3))
    a = 1.0 / (1.0 + np.exp(-z))
    expected = -(Y * np.log(a) + (1 - Y) * np.log(1 - a)).sum(axis=1)
    np.testing.assert_allclose(
        get_loss("binary_cross_entropy").per_example(z, a, Y), expected, rtol=1e-12
    )


# --- finite and exact when outputs saturate ---------------------------------------------


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args)


def test_binary_cross_entropy_exact_at_saturation():
    z = np.array([[-1000.0, 1000.0, -1000.0, 1000.0]])
    Y = np.array([[1.0, 0.0, 0.0, 1.0]])
    a = _quiet(get_activation("sigmoid"), z)  # (0, 1, 0, 1): log a would be -inf
    per_unit = [
        _quiet(get_loss("binary_cross_entropy").per_example, z[:, [k]], a[:, [k]], Y[:, [k]])[0]
        for k in range(4)
    ]
    # −log σ(−1000) = 1000 (y=1), −log(1 − σ(1000)) = 1000 (y=0), the right answers cost ~0
    assert per_unit == [1000.0, 1000.0, 0.0, 0.0]


def test_cross_entropy_exact_at_saturation():
    z = np.array([[1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0]])
    Y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    a = _quiet(get_activation("softmax"), z)  # (1, 0, 0): log a_1 = -inf naively
    C = _quiet(get_loss("cross_entropy").per_example, z, a, Y)
    # log-sum-exp(z) = 1000 (+ log(1 + e^-1000 + e^-2000), which rounds away)
    # row 0: 1000 − (−1000) = 2000; row 1: 1000 − 1000 = 0
    assert C.tolist() == [2000.0, 0.0]


@pytest.mark.parametrize(
    ("output", "loss", "Y", "expected"),
    [
        # z = (−1000, 1000), y = (1, 1): −log σ(−1000) − log σ(1000) = 1000 + 0
        ("sigmoid", "binary_cross_entropy", [[1.0, 1.0]], 1000.0),
        # z = (−1000, 1000), y = (1, 0): lse(z) − z_0 = 1000 − (−1000) = 2000
        ("softmax", "cross_entropy", [[1.0, 0.0]], 2000.0),
    ],
)
def test_network_cost_finite_when_output_saturates(output, loss, Y, expected):
    net = Network([2, 2], activation=[], output_activation=output, loss=loss, seed=0)
    net.W[0][...] = [[1000.0, 0.0], [-1000.0, 0.0]]
    X = np.array([[-1.0, 0.0]])  # z = (−1000, 1000)
    J, grad = net.loss_and_grad(X, np.array(Y))
    assert J == expected
    assert np.isfinite(grad).all()


# --- output_delta = ∂C/∂z, checked by central differences through f and C -------------


@pytest.mark.parametrize(("activation", "loss"), VALID_PAIRS)
def test_output_delta_matches_central_difference(activation, loss):
    rng = np.random.default_rng(3)
    act, L = get_activation(activation), get_loss(loss)
    z = rng.normal(scale=1.5, size=(5, 3))
    z[np.abs(z) < 0.05] += 0.1  # relu kink
    Y = targets(activation, loss, z.shape, rng)
    a = act(z)
    delta = L.output_delta(act, a, Y, np.empty_like(a))

    def C(zz):
        return L.per_example(zz, act(zz), Y)

    h = 1e-6
    numeric = np.empty_like(z)
    for k in range(z.shape[1]):
        e = np.zeros_like(z)
        e[:, k] = h
        numeric[:, k] = (C(z + e) - C(z - e)) / (2 * h)  # row i only depends on row i of z
    np.testing.assert_allclose(delta, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    ("activation", "loss"),
    [
        ("softmax", "cross_entropy"),
        ("sigmoid", "binary_cross_entropy"),
        ("identity", "squared_error"),
    ],
)
def test_canonical_pairs_give_a_minus_y(activation, loss):
    rng = np.random.default_rng(4)
    z = rng.normal(size=(4, 3))
    Y = targets(activation, loss, z.shape, rng)
    act = get_activation(activation)
    a = act(z)
    np.testing.assert_array_equal(get_loss(loss).output_delta(act, a, Y, np.empty_like(a)), a - Y)


def test_output_delta_may_write_into_a_buffer_of_its_own_and_returns_it():
    act, L = get_activation("softmax"), get_loss("squared_error")
    a = act(np.array([[0.1, 0.2, 0.3]]))
    a0 = a.copy()
    out = np.empty_like(a)
    assert L.output_delta(act, a, np.array([[0.0, 1.0, 0.0]]), out) is out
    np.testing.assert_array_equal(a, a0)


def test_cross_entropy_delta_consistent_or_rejected_for_unnormalised_targets():
    act, L = get_activation("softmax"), get_loss("cross_entropy")
    z = np.array([[0.2, -0.4, 1.0]])
    Y = np.array([[0.5, 0.5, 0.5]])  # sums to 1.5
    try:
        delta = L.output_delta(act, act(z), Y, np.empty_like(z))
    except ValueError:
        return  # refusing such targets is also a fix
    h = 1e-6
    numeric = np.array(
        [
            (L.per_example(z + h * e, None, Y) - L.per_example(z - h * e, None, Y))[0] / (2 * h)
            for e in np.eye(3)[:, None, :]
        ]
    )
    np.testing.assert_allclose(delta[0], numeric, rtol=1e-6)


# --- which pairs are allowed -----------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "loss", "needs"),
    [
        ("sigmoid", "cross_entropy", "softmax"),
        ("identity", "cross_entropy", "softmax"),
        ("softmax", "binary_cross_entropy", "sigmoid"),
        ("tanh", "binary_cross_entropy", "sigmoid"),
    ],
)
def test_invalid_pairs_raise_when_building_a_network(output, loss, needs):
    with pytest.raises(ValueError, match=f"loss '{loss}' needs a {needs} output layer"):
        Network([3, 4, 2], output_activation=output, loss=loss)


@pytest.mark.parametrize(("activation", "loss"), VALID_PAIRS)
def test_valid_pairs_build(activation, loss):
    net = Network([3, 4, 2], output_activation=activation, loss=loss, seed=0)
    assert net.loss.name == loss and net.activations[-1].name == activation


def test_default_loss():
    assert ACTIVATIONS["softmax"].default_loss == "cross_entropy"
    for name in ["sigmoid", "tanh", "identity", "relu"]:
        assert ACTIVATIONS[name].default_loss == "squared_error"
    assert Network([2, 3], output_activation="softmax").loss.name == "cross_entropy"
    assert Network([2, 3]).loss.name == "squared_error"


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match="unknown loss 'hinge'") as info:
        get_loss("hinge")
    for name in [*LOSSES, "mse", "log_loss", "squared_loss"]:
        assert name in str(info.value)


def test_loss_aliases_and_pass_through():
    assert get_loss("mse") is LOSSES["squared_error"]
    assert get_loss("squared_loss") is LOSSES["squared_error"]
    assert get_loss("log_loss") is LOSSES["cross_entropy"]
    assert get_loss(LOSSES["binary_cross_entropy"]) is LOSSES["binary_cross_entropy"]
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss(None)
