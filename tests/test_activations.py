"""Activations f and their derivatives f' (docs/math.md §1), checked against the textbook.

Every reference value here is computed independently of nablanet: the textbook formula
for f, and a float64 central difference of f for f'.
"""

import math
import warnings

import numpy as np
import pytest
from reference import textbook

from nablanet.activations import (
    ACTIVATIONS,
    LEAKY_SLOPE,
    Activation,
    get_activation,
    jacobian_vector,
)

ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
ALL = [*ELEMENTWISE, "softmax"]


# --- textbook formulas, written out without nablanet ---------------------------------


def moderate_z(seed=0, shape=(7, 5)):
    z = np.random.default_rng(seed).uniform(-6.0, 6.0, size=shape)
    # keep clear of the relu kink at 0 so that central differences are meaningful
    z[np.abs(z) < 0.05] += 0.1
    return z


# --- f against the textbook -------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_f_matches_textbook_formula(name):
    z = moderate_z()
    np.testing.assert_allclose(get_activation(name)(z), textbook(name, z), rtol=1e-13, atol=1e-15)


def test_sigmoid_known_values():
    sig = get_activation("sigmoid")
    z = np.array([[0.0, 1.0, -2.0, math.log(3.0)]])
    expected = [0.5, 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(2)), 0.75]  # σ(ln 3) = 3/4
    np.testing.assert_allclose(sig(z)[0], expected, rtol=1e-15)


def test_leaky_slope_is_documented_value():
    assert LEAKY_SLOPE == 0.01
    np.testing.assert_allclose(
        get_activation("leaky_relu")(np.array([[-3.0, 2.0]])), [[-0.03, 2.0]]
    )


# --- f' (written from a = f(z)) against a central difference of f ----------------------


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_from_output_matches_central_difference(name):
    act = get_activation(name)
    z = moderate_z(seed=1)
    h = 1e-6
    numeric = (textbook(name, z + h) - textbook(name, z - h)) / (2 * h)
    a = act(z)
    analytic = act.derivative(a, np.empty_like(a))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_max_derivative_is_the_largest_slope(name):
    act = get_activation(name)
    z = np.linspace(-10, 10, 2001)[None, :]  # includes z = 0 where sigmoid/tanh peak
    a = act(z)
    d = act.derivative(a, np.empty_like(a))
    assert d.max() == pytest.approx(act.max_derivative, rel=1e-12)


def test_elementwise_flag():
    assert [n for n in ALL if not get_activation(n).elementwise] == ["softmax"]
    assert get_activation("softmax").derivative is None


def test_saturating_flag():
    assert {n for n, a in ACTIVATIONS.items() if a.saturating} == {"sigmoid", "tanh", "softmax"}


# --- numerical stability for |z| up to 1e4 ---------------------------------------------

EXTREME = np.array([[-1e4, -1e3, -50.0, -1.0, 0.0, 1.0, 50.0, 1e3, 1e4]])

LIMITS = {
    "sigmoid": [0.0, 0.0, None, None, 0.5, None, None, 1.0, 1.0],
    "tanh": [-1.0, -1.0, -1.0, None, 0.0, None, 1.0, 1.0, 1.0],
    "relu": [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 50.0, 1e3, 1e4],
    "leaky_relu": [-100.0, -10.0, -0.5, -0.01, 0.0, 1.0, 50.0, 1e3, 1e4],
    "identity": list(EXTREME[0]),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_stable_for_huge_z(name, dtype):
    act = get_activation(name)
    z = EXTREME.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow/invalid warning fails
        a = act(z)
        d = act.derivative(a, np.empty_like(a))
    assert a.dtype == dtype
    assert np.isfinite(a).all() and np.isfinite(d).all()
    for got, want in zip(a[0], LIMITS[name], strict=True):
        if want is not None:
            assert got == pytest.approx(want, rel=1e-6, abs=1e-30)
    if act.saturating:  # flat ends: f' -> 0 at |z| = 1e4
        assert d[0, 0] == 0.0 and d[0, -1] == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_stable_for_huge_rows(dtype):
    z = np.array(
        [
            [1e4, 0.0, -1e4],
            [1e4, 1e4, -1e4],
            [-1e4, -1e4, -1e4],
            [1e4 + 1.0, 1e4, 1e4 - 1.0],
        ],
        dtype=dtype,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = get_activation("softmax")(z)
    assert np.isfinite(a).all()
    e = math.e
    expected = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.0],
        [1 / 3, 1 / 3, 1 / 3],
        # differences (1, 0, -1) survive: e^1, e^0, e^-1 over their sum
        [e / (e + 1 + 1 / e), 1 / (e + 1 + 1 / e), (1 / e) / (e + 1 + 1 / e)],
    ]
    np.testing.assert_allclose(a, expected, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=0)


# --- out= may be z itself ---------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_out_may_alias_z(name):
    act = get_activation(name)
    z = moderate_z(seed=2)
    expected = textbook(name, z)
    buf = z.copy()
    result = act.f(buf, buf)
    assert result is buf
    np.testing.assert_allclose(buf, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", ALL)
def test_out_separate_buffer_leaves_z_alone(name):
    act = get_activation(name)
    z = moderate_z(seed=3)
    z0 = z.copy()
    out = np.full_like(z, np.nan)
    assert act.f(z, out) is out
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_allclose(out, textbook(name, z0), rtol=1e-13, atol=1e-15)


# --- softmax --------------------------------------------------------------------------


def test_softmax_rows_sum_to_one_and_are_positive():
    z = np.random.default_rng(4).normal(scale=20.0, size=(50, 7))
    a = get_activation("softmax")(z)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert (a >= 0).all()


def test_softmax_invariant_to_adding_a_constant_per_row():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(6, 4))
    c = rng.uniform(-500, 500, size=(6, 1))
    sm = get_activation("softmax")
    np.testing.assert_allclose(sm(z + c), sm(z), rtol=1e-12, atol=1e-15)


def test_softmax_jacobian_vector_matches_explicit_jacobian():
    rng = np.random.default_rng(6)
    z, g = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    sm = get_activation("softmax")
    a = sm(z)
    got = jacobian_vector(sm, a, g, np.empty_like(g))
    for i in range(5):
        # ∂a_i/∂z_j = a_i (δ_ij - a_j); δ = Jᵀ g (J is symmetric)
        jac = np.diag(a[i]) - np.outer(a[i], a[i])
        np.testing.assert_allclose(got[i], jac.T @ g[i], rtol=1e-12, atol=1e-15)


def test_softmax_jacobian_vector_matches_central_difference():
    """δ_j = Σ_i g_i ∂a_i/∂z_j, estimated by perturbing z_j of a scalar gᵀ softmax(z)."""
    rng = np.random.default_rng(7)
    z, g = rng.normal(size=(1, 5)), rng.normal(size=(1, 5))
    sm = get_activation("softmax")
    got = jacobian_vector(sm, sm(z), g, np.empty_like(g))
    h = 1e-6
    numeric = np.empty(5)
    for j in range(5):
        e = np.zeros((1, 5))
        e[0, j] = h
        numeric[j] = (g @ textbook("softmax", z + e).T - g @ textbook("softmax", z - e).T)[0, 0] / (
            2 * h
        )
    np.testing.assert_allclose(got[0], numeric, rtol=1e-7, atol=1e-10)


def test_jacobian_vector_out_may_alias_g():
    rng = np.random.default_rng(8)
    z, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    for name in ALL:
        act = get_activation(name)
        a = act(z)
        expected = jacobian_vector(act, a, g, np.empty_like(g))
        buf = g.copy()
        assert jacobian_vector(act, a, buf, buf) is buf
        np.testing.assert_allclose(buf, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_jacobian_vector_elementwise_is_g_times_fprime(name):
    rng = np.random.default_rng(9)
    z, g = moderate_z(seed=9, shape=(3, 4)), rng.normal(size=(3, 4))
    act = get_activation(name)
    h = 1e-6
    fprime = (textbook(name, z + h) - textbook(name, z - h)) / (2 * h)
    np.testing.assert_allclose(
        jacobian_vector(act, act(z), g, np.empty_like(g)), g * fprime, rtol=1e-7, atol=1e-9
    )


def test_source_diagonal_softmax_derivative_gives_a_different_delta():
    """The softmax trap (docs/math.md §1): f(z) − f(z)² is only the Jacobian's diagonal.

    With squared error C = ½‖a − y‖², g = ∂C/∂a = a − y. The diagonal-only δ = g ⊙ (a − a²)
    disagrees with the true ∂C/∂z (central difference), the full-Jacobian δ agrees.
    """
    z = np.array([[0.3, -1.2, 2.0, 0.5]])
    y = np.array([[0.0, 1.0, 0.0, 0.0]])
    sm = get_activation("softmax")
    a = sm(z)
    g = a - y
    full = jacobian_vector(sm, a, g, np.empty_like(g))
    diagonal_only = g * (a - a * a)

    def C(zz):
        r = textbook("softmax", zz) - y
        return 0.5 * float((r * r).sum())

    h = 1e-6
    numeric = np.array(
        [(C(z + h * np.eye(4)[j]) - C(z - h * np.eye(4)[j])) / (2 * h) for j in range(4)]
    )
    np.testing.assert_allclose(full[0], numeric, rtol=1e-7, atol=1e-10)
    rel = np.linalg.norm(diagonal_only[0] - numeric) / np.linalg.norm(numeric)
    assert rel > 0.1, rel  # the trap is not a rounding matter: it is plainly wrong


# --- lookup by name -------------------------------------------------------------------


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="unknown activation 'swish'") as info:
        get_activation("swish")
    for name in [*ALL, "logistic", "linear"]:
        assert name in str(info.value)


@pytest.mark.parametrize("bad", [3, None, ["sigmoid"]])
def test_non_string_activation_raises_value_error(bad):
    with pytest.raises(ValueError, match="unknown activation"):
        get_activation(bad)


def test_aliases():
    assert get_activation("logistic") is ACTIVATIONS["sigmoid"]
    assert get_activation("linear") is ACTIVATIONS["identity"]


def test_activation_object_passes_through():
    act = ACTIVATIONS["tanh"]
    assert get_activation(act) is act
    assert isinstance(act, Activation) and act.name == "tanh"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_of_one_row_is_the_same_bits_as_that_row_in_a_batch(dtype):
    # One row takes whole-array reductions (a single prediction's latency); a batch
    # reduces along its rows: the same arithmetic in the same order.
    rng = np.random.default_rng(0)
    softmax = get_activation("softmax")
    for k in (2, 3, 8, 9, 10, 17, 100):
        Z = (rng.normal(size=(50, k)) * rng.uniform(0.1, 40, size=(50, 1))).astype(dtype)
        batch = softmax.f(Z, np.empty_like(Z))
        for i in range(len(Z)):
            row = softmax.f(Z[i : i + 1], np.empty_like(Z[i : i + 1]))
            np.testing.assert_array_equal(row, batch[i : i + 1])
