"""The flat parameter vector θ, its W/b views and the initialisers (docs/math.md §2, §5)."""

import math

import numpy as np
import pytest

from nablanet.layout import (
    INITIALIZERS,
    Layout,
    get_initializer,
    glorot_uniform,
    he_normal,
    initialize,
    small_normal,
    ufldl_uniform,
)

# (sizes, weights, biases) worked out by hand
COUNTS = [
    ((2, 2, 1), 2 * 2 + 1 * 2, 2 + 1),  # 6, 3
    ((3, 5, 4, 2), 5 * 3 + 4 * 5 + 2 * 4, 5 + 4 + 2),  # 43, 11
    ((784, 25, 10), 784 * 25 + 10 * 25, 35),  # 19850, 35: the UFLDL digits net
    ((4, 1), 4, 1),
]


@pytest.mark.parametrize(("sizes", "n_weights", "n_biases"), COUNTS)
def test_counts(sizes, n_weights, n_biases):
    lay = Layout(sizes)
    assert lay.n_weights == n_weights
    assert lay.n_biases == n_biases
    assert lay.n_params == n_weights + n_biases
    # docs/math.md §2: Σ_l s_{l+1}(s_l + 1)
    assert lay.n_params == sum(sizes[l + 1] * (sizes[l] + 1) for l in range(len(sizes) - 1))
    assert lay.n_layers == len(sizes) - 1


def test_literal_counts():
    assert Layout((2, 2, 1)).n_params == 9
    assert Layout((784, 25, 10)).n_params == 19885


def test_shapes_are_out_by_in():
    assert Layout((3, 5, 4, 2)).shapes == [(5, 3), (4, 5), (2, 4)]


def test_views_share_memory_with_theta():
    lay = Layout((3, 5, 4, 2))
    theta = np.zeros(lay.n_params)
    W, b = lay.views(theta)
    for arr in [*W, *b]:
        assert np.shares_memory(arr, theta)
    W[1][2, 3] = 7.0
    b[2][1] = -3.0
    assert np.count_nonzero(theta) == 2
    # a view written through is seen by every other view
    W2, b2 = lay.views(theta)
    assert W2[1][2, 3] == 7.0 and b2[2][1] == -3.0


def test_order_is_weights_first_then_biases_each_w_column_major():
    lay = Layout((2, 3, 1))
    # weights: W(1) 3x2 = 6 entries, W(2) 1x3 = 3 entries; biases: 3 + 1
    theta = np.array(
        [11, 21, 31, 12, 22, 32]  # W(1) column by column: W_ij = weight from input j to unit i
        + [1, 2, 3]  # W(2)
        + [-1, -2, -3]  # b(1)
        + [-9],  # b(2)
        dtype=float,
    )
    W, b = lay.views(theta)
    np.testing.assert_array_equal(W[0], [[11, 12], [21, 22], [31, 32]])
    np.testing.assert_array_equal(W[1], [[1, 2, 3]])
    np.testing.assert_array_equal(b[0], [-1, -2, -3])
    np.testing.assert_array_equal(b[1], [-9])
    # weight decay is the slice theta[:n_weights]
    np.testing.assert_array_equal(theta[: lay.n_weights], [11, 21, 31, 12, 22, 32, 1, 2, 3])
    # W(l)ᵀ is C-contiguous: the products of the hot path read it without striding
    assert all(W_l.T.flags.c_contiguous for W_l in W)


def test_views_reject_wrong_theta():
    lay = Layout((2, 3, 1))
    with pytest.raises(ValueError, match=r"theta must have shape \(13,\)"):
        lay.views(np.zeros(12))
    with pytest.raises(ValueError, match="theta must have shape"):
        lay.views(np.zeros((13, 1)))


@pytest.mark.parametrize(
    ("sizes", "match"),
    [
        ((3,), "at least an input and an output layer"),
        ((), "at least an input and an output layer"),
        ((3, 0, 2), "integers >= 1"),
        ((3, -1), "integers >= 1"),
        ((2.5, 3), "integers >= 1"),
        ((3, 2.0), "integers >= 1"),
        ((True, 3), "integers >= 1"),
        ((3, False), "integers >= 1"),
        (("3", 2), "integers >= 1"),
    ],
)
def test_bad_sizes_raise(sizes, match):
    with pytest.raises(ValueError, match=match):
        Layout(sizes)


def test_numpy_integer_sizes_accepted():
    assert Layout((np.int64(3), np.int32(2))).n_params == 8


# --- initialisers --------------------------------------------------------------------

FAN_IN, FAN_OUT = 60, 40  # 2400 weights per draw


def _draws(init, n=20, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([init(FAN_IN, FAN_OUT, rng).ravel() for _ in range(n)])  # 48000


@pytest.mark.parametrize(
    ("init", "r"),
    [
        (ufldl_uniform, math.sqrt(6.0 / (FAN_IN + FAN_OUT + 1))),  # UFLDL's ε_init
        (glorot_uniform, math.sqrt(6.0 / (FAN_IN + FAN_OUT))),
    ],
)
def test_uniform_initialisers_bounds_and_spread(init, r):
    w = _draws(init)
    assert init(FAN_IN, FAN_OUT, np.random.default_rng(0)).shape == (FAN_OUT, FAN_IN)
    assert np.abs(w).max() <= r
    assert np.abs(w).max() > 0.99 * r  # it fills the whole interval
    assert abs(w.mean()) < 0.02 * r
    # uniform on ±r has variance r²/3; 48000 draws estimate it to well within 3%
    assert w.var() == pytest.approx(r * r / 3, rel=0.03)


@pytest.mark.parametrize(
    ("init", "std"), [(he_normal, math.sqrt(2.0 / FAN_IN)), (small_normal, 0.01)]
)
def test_normal_initialisers_std(init, std):
    w = _draws(init)
    assert abs(w.mean()) < 0.02 * std
    assert w.std() == pytest.approx(std, rel=0.02)
    # a normal, not a uniform: some draws beyond 3σ (≈ 0.27 % of 48000 ≈ 130)
    assert 60 < np.count_nonzero(np.abs(w) > 3 * std) < 250


def test_initialize_biases_zero_and_weights_random():
    lay = Layout((5, 7, 3))
    theta = np.full(lay.n_params, np.nan)
    initialize(lay, theta, "ufldl", np.random.default_rng(0))
    assert np.isfinite(theta).all()
    np.testing.assert_array_equal(theta[lay.n_weights :], 0.0)
    w = theta[: lay.n_weights]
    assert np.count_nonzero(w) == w.size
    assert len(np.unique(w)) == w.size  # symmetry broken: no two weights alike
    W, _ = lay.views(theta)
    for W_l in W:  # each layer within its own fan-in/fan-out bound
        out_units, in_units = W_l.shape
        assert np.abs(W_l).max() <= math.sqrt(6.0 / (in_units + out_units + 1))


def test_initialize_reproducible_by_seed_and_seeds_differ():
    lay = Layout((4, 6, 2))

    def draw(seed, init="glorot"):
        theta = np.empty(lay.n_params)
        initialize(lay, theta, init, np.random.default_rng(seed))
        return theta

    for init in INITIALIZERS:
        np.testing.assert_array_equal(draw(1, init), draw(1, init))
        assert not np.allclose(draw(1, init), draw(2, init))


def test_initialize_one_name_per_layer():
    lay = Layout((50, 40, 30))
    theta = np.empty(lay.n_params)
    initialize(lay, theta, ["normal", "he"], np.random.default_rng(0))
    W, _ = lay.views(theta)
    assert W[0].std() == pytest.approx(0.01, rel=0.1)
    assert W[1].std() == pytest.approx(math.sqrt(2.0 / 40), rel=0.1)


def test_initialize_wrong_number_of_names():
    lay = Layout((5, 7, 3))
    with pytest.raises(ValueError, match=r"one name per weight layer \(2\)"):
        initialize(lay, np.empty(lay.n_params), ["he"], np.random.default_rng(0))


def test_unknown_initialiser_lists_valid_names():
    with pytest.raises(ValueError, match="unknown init 'xavier'") as info:
        get_initializer("xavier")
    for name in INITIALIZERS:
        assert name in str(info.value)
