"""Tests of nablanet.optim: hand-worked steps, convergence, in-place updates, dtypes."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from optional import import_torch

from nablanet import compiled_kernels
from nablanet.optim import (
    LBFGS,
    MINIMIZERS,
    OPTIMIZERS,
    SGD,
    Adam,
    AdamState,
    AdamW,
    ConjugateGradient,
    GradientDescent,
    MinimizeResult,
    Status,
    get_optimizer,
    is_minimizer,
)
from nablanet.optim.schedules import Cosine

# The worked example used by the hand-checked steps: three coordinates, the third with a
# zero first gradient.
THETA0 = [1.0, -2.0, 0.5]
G1 = [0.5, -1.0, 0.0]
G2 = [0.5, 1.0, 2.0]


def two_steps(opt, g1=G1, g2=G2, dtype=np.float64):
    theta = np.array(THETA0, dtype=dtype)
    state = opt.init(theta)
    opt.step(theta, np.array(g1, dtype=dtype), state)
    after_1 = theta.copy()
    opt.step(theta, np.array(g2, dtype=dtype), state)
    return after_1, theta, state


# --- test problems ----------------------------------------------------------------------


def rosenbrock(theta):
    """J = (1 − x)² + 100 (y − x²)², minimum 0 at (1, 1)."""
    x, y = float(theta[0]), float(theta[1])
    J = (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2
    grad = np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)])
    return J, grad


ROSENBROCK_START = (-1.2, 1.0)


def quadratic(n=10, seed=0):
    """J = ½ θᵀAθ − bᵀθ with A symmetric positive definite, eigenvalues 1..10."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = Q @ np.diag(np.linspace(1.0, 10.0, n)) @ Q.T
    b = rng.standard_normal(n)

    def fun(theta):
        Atheta = A @ theta
        return 0.5 * theta @ Atheta - b @ theta, Atheta - b

    return fun, np.linalg.solve(A, b)


def descend(opt, fun, theta0, n_steps, schedule=None, dtype=np.float64):
    theta = np.array(theta0, dtype=dtype)
    state = opt.init(theta)
    grad = np.empty_like(theta)
    for k in range(n_steps):
        grad[...] = fun(theta)[1]
        opt.step(theta, grad, state, None if schedule is None else schedule(k, None))
    return theta


# --- gradient descent -------------------------------------------------------------------


def test_gradient_descent_two_steps_by_hand():
    # θ ← θ − α g with α = 0.1
    after_1, after_2, state = two_steps(GradientDescent(learning_rate=0.1))
    np.testing.assert_allclose(after_1, [0.95, -1.9, 0.5], rtol=0, atol=1e-15)
    np.testing.assert_allclose(after_2, [0.90, -2.0, 0.3], rtol=0, atol=1e-15)
    assert state.t == 2


def test_learning_rate_argument_overrides_for_one_step():
    opt = GradientDescent(learning_rate=0.1)
    theta = np.array([1.0, 1.0])
    state = opt.init(theta)
    opt.step(theta, np.array([1.0, -1.0]), state, learning_rate=0.5)
    np.testing.assert_allclose(theta, [0.5, 1.5])
    opt.step(theta, np.array([1.0, -1.0]), state)  # back to 0.1
    np.testing.assert_allclose(theta, [0.4, 1.6])
    assert opt.learning_rate == 0.1


# --- momentum -----------------------------------------------------------------------------


def test_sgd_momentum_two_steps_by_hand():
    # v ← μ v − α g, θ ← θ + v with μ = 0.9, α = 0.1
    # step 1: v = −0.1 g1 = (−0.05, 0.1, 0)         θ = (0.95, −1.9, 0.5)
    # step 2: v = 0.9 v − 0.1 g2 = (−0.095, −0.01, −0.2)  θ = (0.855, −1.91, 0.3)
    after_1, after_2, state = two_steps(SGD(learning_rate=0.1, momentum=0.9))
    np.testing.assert_allclose(after_1, [0.95, -1.9, 0.5], rtol=0, atol=1e-15)
    np.testing.assert_allclose(after_2, [0.855, -1.91, 0.3], rtol=0, atol=1e-15)
    np.testing.assert_allclose(state.velocity, [-0.095, -0.01, -0.2], rtol=0, atol=1e-15)


def test_sgd_nesterov_two_steps_by_hand():
    # v ← μ v − α g, θ ← θ + μ v − α g (new v), μ = 0.9, α = 0.1
    # step 1: v = (−0.05, 0.1, 0); θ = θ0 + 0.9 v − 0.1 g1 = (0.905, −1.81, 0.5)
    # step 2: v = (−0.095, −0.01, −0.2); the step 0.9 v − 0.1 g2 = (−0.1355, −0.109, −0.38)
    #         gives θ = (0.7695, −1.919, 0.12)
    after_1, after_2, _ = two_steps(SGD(learning_rate=0.1, momentum=0.9, nesterov=True))
    np.testing.assert_allclose(after_1, [0.905, -1.81, 0.5], rtol=0, atol=1e-15)
    np.testing.assert_allclose(after_2, [0.7695, -1.919, 0.12], rtol=0, atol=1e-15)


def test_sgd_without_momentum_is_gradient_descent():
    _, sgd, _ = two_steps(SGD(learning_rate=0.1, momentum=0.0))
    _, gd, _ = two_steps(GradientDescent(learning_rate=0.1))
    np.testing.assert_allclose(sgd, gd, rtol=0, atol=1e-15)


# --- Adam ---------------------------------------------------------------------------------


def adam_reference(theta, grads, alpha, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    """Kingma & Ba, Algorithm 1, written out literally (bias-corrected m̂ and v̂)."""
    theta = np.array(theta, dtype=float)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        g = np.asarray(g, dtype=float)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = m / (1 - beta_1**t)
        v_hat = v / (1 - beta_2**t)
        theta = theta - alpha * m_hat / (np.sqrt(v_hat) + epsilon)
    return theta


def test_adam_first_step_moves_each_coordinate_by_alpha_times_sign():
    # m̂ = g and v̂ = g² after one step, so Δθ = −α g / (|g| + ε) ≈ −α sign(g);
    # the coordinate with g = 0 does not move.
    after_1, _, state = two_steps(Adam(learning_rate=0.1))
    alpha, eps = 0.1, 1e-8
    expected = [1.0 - alpha * 0.5 / (0.5 + eps), -2.0 + alpha * 1.0 / (1.0 + eps), 0.5]
    np.testing.assert_allclose(after_1, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(after_1, [0.9, -1.9, 0.5], rtol=0, atol=3e-9)


def test_adam_second_step_by_hand():
    # Step 2, with g2 = (0.5, 1, 2), worked out:
    #   coordinate 0: g1 = g2 = 0.5, so m̂ = 0.5, v̂ = 0.25, Δθ = −α
    #   coordinate 1: m = 0.9·(−0.1) + 0.1·1 = 0.01, m̂ = 0.01/0.19 = 1/19;
    #                 v = 0.999·0.001 + 0.001 = 0.001999, v̂ = 1, Δθ = −α/19
    #   coordinate 2: m = 0.2, m̂ = 0.2/0.19 = 20/19; v = 0.004, v̂ = 0.004/0.001999,
    #                 Δθ = −α (20/19) / √(4/1.999)
    _, after_2, state = two_steps(Adam(learning_rate=0.1))
    alpha = 0.1
    expected = [
        0.9 - alpha,
        -1.9 - alpha / 19,
        0.5 - alpha * (20 / 19) / math.sqrt(4 / 1.999),
    ]
    np.testing.assert_allclose(after_2, expected, rtol=0, atol=1e-8)
    np.testing.assert_allclose(after_2, [0.8, -1.905263158, 0.425586318], rtol=0, atol=1e-8)
    assert state.t == 2
    np.testing.assert_allclose(state.m, [0.095, 0.01, 0.2], rtol=1e-13)
    np.testing.assert_allclose(state.v, [0.00049975, 0.001999, 0.004], rtol=1e-13)


def test_adam_matches_algorithm_1_over_many_steps():
    rng = np.random.default_rng(1)
    grads = rng.standard_normal((25, 6)) * np.array([1e-3, 1e-1, 1.0, 10.0, 1e3, 0.0])
    theta0 = rng.standard_normal(6)
    opt = Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    theta = theta0.copy()
    state = opt.init(theta)
    for g in grads:
        opt.step(theta, g.copy(), state)
    expected = adam_reference(theta0, grads, 0.01, 0.8, 0.99, 1e-6)
    np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=1e-14)


def test_adamw_decays_only_the_masked_coordinates():
    # λ = 0.5, α = 0.1: θ ← θ − αλθ = 0.95 θ on the decayed coordinates, then the Adam
    # step of the first test (−α sign g, none for the zero gradient).
    eps_shift = 0.1 * 1e-8  # α ε/(|g|+ε) differences, below the tolerance
    for mask in (slice(0, 2), np.array([True, True, False])):
        after_1, _, _ = two_steps(AdamW(learning_rate=0.1, weight_decay=0.5, decay_mask=mask))
        np.testing.assert_allclose(after_1, [0.95 - 0.1, -1.9 + 0.1, 0.5], atol=10 * eps_shift)
    after_1, _, _ = two_steps(AdamW(learning_rate=0.1, weight_decay=0.5))  # all coordinates
    np.testing.assert_allclose(after_1, [0.85, -1.8, 0.475], atol=10 * eps_shift)
    after_1, _, _ = two_steps(
        AdamW(learning_rate=0.1, weight_decay=0.5, decay_mask=np.array([False, True, True]))
    )
    np.testing.assert_allclose(after_1, [0.9, -1.8, 0.475], atol=10 * eps_shift)


def test_adamw_on_a_vector_slice_and_mask_agree():
    rng = np.random.default_rng(2)
    theta0 = rng.standard_normal(50)
    grads = rng.standard_normal((10, 50))
    mask = np.zeros(50, dtype=bool)
    mask[:30] = True
    results = []
    for decay_mask in (slice(0, 30), mask):
        opt = AdamW(learning_rate=0.05, weight_decay=0.1, decay_mask=decay_mask)
        theta = theta0.copy()
        state = opt.init(theta)
        for g in grads:
            opt.step(theta, g.copy(), state)
        results.append(theta)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-14)
    # The undecayed tail equals plain Adam's.
    np.testing.assert_allclose(
        results[0][30:], adam_reference(theta0, grads, 0.05)[30:], rtol=1e-12
    )


def adamw_reference(theta, grads, alpha, weight_decay, mask):
    """Loshchilov & Hutter's Algorithm 2 as torch writes it: θ ← θ − αλθ, then Adam's step."""
    theta = np.array(theta, dtype=float)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        theta = theta - alpha * weight_decay * theta * mask
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        theta = theta - alpha * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return theta


@pytest.mark.parametrize("decay_mask", [None, slice(0, 20), np.arange(30) % 3 == 0])
def test_adamw_is_decoupled_decay_then_adam_as_written_by_hand(decay_mask):
    rng = np.random.default_rng(11)
    theta0 = rng.standard_normal(30)
    grads = rng.standard_normal((12, 30))
    mask = np.ones(30) if decay_mask is None else np.zeros(30)
    if decay_mask is not None:
        mask[decay_mask] = 1.0
    opt = AdamW(learning_rate=0.05, weight_decay=0.3, decay_mask=decay_mask)
    theta = theta0.copy()
    state = opt.init(theta)
    for g in grads:
        opt.step(theta, g.copy(), state)
    expected = adamw_reference(theta0, grads, 0.05, 0.3, mask)
    np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=1e-14)
    assert state.t == 12
    moved = np.abs(theta - adam_reference(theta0, grads, 0.05))
    assert (moved[mask == 1] > 1e-3).all() and (moved[mask == 0] < 1e-12).all()


def test_adam_has_no_weight_decay_flag_adamw_is_its_own_rule():
    with pytest.raises(TypeError, match="weight_decay"):
        Adam(0.01, weight_decay=0.1)
    assert isinstance(get_optimizer("adamw"), AdamW)
    assert AdamW().weight_decay == 0.01  # torch.optim.AdamW's default
    theta = np.zeros(3)
    with pytest.raises(TypeError, match="AdamW needs the state that AdamW.init returned"):
        AdamW().step(theta, np.ones(3), Adam().init(theta))
    assert np.array_equal(theta, np.zeros(3))  # refused before any change


def test_adam_pickled_with_a_weight_decay_flag_loads_or_says_it_is_adamw_now():
    # What a pickle written when Adam took weight_decay / decay_mask holds (its
    # state had AdamW's scratch buffer and decay slice too).
    old = {"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8,
           "weight_decay": 0.0, "decay_mask": None}
    adam = Adam.__new__(Adam)
    adam.__setstate__(old)
    assert vars(adam) == vars(Adam(0.01))
    state = AdamState.__new__(AdamState)
    state.__setstate__({"m": np.ones(2), "v": np.ones(2), "work": np.empty(0),
                        "decay": slice(0, 2, 1), "t": 3})
    assert set(vars(state)) == {"m", "v", "t"} and state.t == 3
    with pytest.raises(ValueError, match=r"weight_decay=0\.1, which is AdamW now"):
        Adam.__new__(Adam).__setstate__(dict(old, weight_decay=0.1))


def test_adamw_with_zero_weight_decay_is_adam():
    rng = np.random.default_rng(3)
    theta0 = rng.standard_normal(20)
    grads = rng.standard_normal((5, 20))
    out = []
    for opt in (Adam(0.01), AdamW(0.01, weight_decay=0.0, decay_mask=slice(0, 10))):
        theta = theta0.copy()
        state = opt.init(theta)
        for g in grads:
            opt.step(theta, g.copy(), state)
        out.append(theta)
    np.testing.assert_array_equal(out[0], out[1])


def test_adamw_decay_mask_must_fit_theta():
    opt = AdamW(weight_decay=0.1, decay_mask=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        opt.init(np.zeros(4))
    with pytest.raises(ValueError, match="decay_mask"):
        AdamW(decay_mask=np.ones(3))  # not boolean
    with pytest.raises(ValueError, match="decay_mask"):
        AdamW(decay_mask=[0, 1])


# --- convergence ----------------------------------------------------------------------------
#
# On the quadratic (eigenvalues 1..10) the error of gradient descent contracts by at least
# max|1 − αλ| per step, 0.9 for α = 0.1: 300 steps give 0.9³⁰⁰ ≈ 2e-14 times the initial
# error (about 1). Heavy-ball momentum with μ = 0.9 contracts by about √μ ≈ 0.95 per step.
#
# Rosenbrock's Hessian at (1, 1) has eigenvalues 0.4 and 1001.6: α must stay below
# 2/1001.6 ≈ 2e-3 for stability, and the error along the valley then shrinks by
# 1 − 0.4 α per step (1 − 0.4 α/(1 − μ) with momentum). α = 1.5e-3 for 40 000 steps, and
# α = 2e-4 with μ = 0.9 for 25 000 steps, leave errors below 1e-8 after the trip along the
# valley; the tests ask for 1e-6.


def test_gradient_descent_converges_on_quadratic():
    fun, solution = quadratic()
    theta = descend(GradientDescent(0.1), fun, np.zeros(10), 300)
    np.testing.assert_allclose(theta, solution, rtol=0, atol=1e-10)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_converges_on_quadratic(nesterov):
    fun, solution = quadratic()
    theta = descend(SGD(0.05, 0.9, nesterov=nesterov), fun, np.zeros(10), 600)
    np.testing.assert_allclose(theta, solution, rtol=0, atol=1e-10)


def test_gradient_descent_converges_on_rosenbrock():
    theta = descend(GradientDescent(1.5e-3), rosenbrock, ROSENBROCK_START, 40_000)
    np.testing.assert_allclose(theta, [1.0, 1.0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_converges_on_rosenbrock(nesterov):
    theta = descend(SGD(2e-4, 0.9, nesterov=nesterov), rosenbrock, ROSENBROCK_START, 25_000)
    np.testing.assert_allclose(theta, [1.0, 1.0], rtol=0, atol=1e-6)


# Adam with a constant α does not converge to a point: once the gradients are tiny for a
# while, v̂ shrinks, the step α m̂/(√v̂ + ε) is again of size α, and the iterate jumps within
# about α of the minimum. So (1) with constant α we check it stays within α of the minimum,
# and (2) with α annealed to 0 (cosine), it converges.


def test_adam_stays_within_alpha_of_minimum_with_constant_rate():
    alpha = 0.01
    opt = Adam(alpha)
    theta = np.array(ROSENBROCK_START)
    state = opt.init(theta)
    grad = np.empty(2)
    worst = 0.0
    for k in range(20_000):
        grad[...] = rosenbrock(theta)[1]
        opt.step(theta, grad, state)
        if k >= 5_000:
            worst = max(worst, float(np.abs(theta - 1.0).max()))
    assert worst < alpha


@pytest.mark.parametrize(
    ("fun", "theta0", "solution", "alpha", "n_steps"),
    [
        (*quadratic()[:1], np.zeros(10), quadratic()[1], 0.1, 2_000),
        (rosenbrock, ROSENBROCK_START, np.ones(2), 0.05, 10_000),
    ],
    ids=["quadratic", "rosenbrock"],
)
def test_adam_converges_with_annealed_rate(fun, theta0, solution, alpha, n_steps):
    theta = descend(Adam(alpha), fun, theta0, n_steps, schedule=Cosine(alpha, n_steps))
    np.testing.assert_allclose(theta, solution, rtol=0, atol=1e-8)


# --- in place, dtypes, no allocation ----------------------------------------------------------

STEP_OPTIMIZERS = [
    GradientDescent(0.1),
    SGD(0.1, 0.9),
    SGD(0.1, 0.9, nesterov=True),
    Adam(0.1),
    AdamW(0.1, weight_decay=0.1, decay_mask=slice(0, 500)),
    AdamW(0.1, weight_decay=0.1, decay_mask=np.arange(1000) % 3 == 0),
]
IDS = ["gd", "sgd", "nesterov", "adam", "adamw-slice", "adamw-mask"]


@pytest.mark.parametrize("opt", STEP_OPTIMIZERS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_updates_theta_in_place_and_keeps_dtype(opt, dtype):
    rng = np.random.default_rng(4)
    theta = rng.standard_normal(1000).astype(dtype)
    W = theta[:500].reshape(20, 25)  # a view, as the network holds its weights
    before = theta.copy()
    state = opt.init(theta)
    grad = rng.standard_normal(1000).astype(dtype)
    opt.step(theta, grad, state)
    opt.step(theta, grad, state)
    assert theta.dtype == dtype
    assert np.shares_memory(W, theta)
    np.testing.assert_array_equal(W.ravel(), theta[:500])
    assert not np.array_equal(theta, before)
    for value in vars(state).values():
        if isinstance(value, np.ndarray):
            assert value.dtype == dtype


@pytest.mark.parametrize("opt", STEP_OPTIMIZERS, ids=IDS)
def test_float32_step_matches_float64_step(opt):
    rng = np.random.default_rng(5)
    theta64 = rng.standard_normal(1000)
    grad64 = rng.standard_normal(1000)
    theta32 = theta64.astype(np.float32)
    grad32 = grad64.astype(np.float32)
    s64, s32 = opt.init(theta64), opt.init(theta32)
    for _ in range(3):
        opt.step(theta64, grad64, s64)
        opt.step(theta32, grad32, s32)
    np.testing.assert_allclose(theta32, theta64, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda n: GradientDescent(0.1),
        lambda n: SGD(0.1, 0.9),
        lambda n: SGD(0.1, 0.9, nesterov=True),
        lambda n: Adam(0.1),
        lambda n: AdamW(0.1, weight_decay=0.1, decay_mask=slice(0, n // 2)),
        lambda n: AdamW(0.1, weight_decay=0.1, decay_mask=np.arange(n) % 3 == 0),
    ],
    ids=IDS,
)
def test_step_allocates_no_array(make):
    # The compiled kernels: what a fit large enough for allocations to matter uses
    # (small fits take the NumPy twins, which allocate temporaries).
    n = 100_000  # 400 kB in float32: any temporary of that size would show
    rng = np.random.default_rng(6)
    theta = rng.standard_normal(n).astype(np.float32)
    grad = rng.standard_normal(n).astype(np.float32)
    opt = make(n)
    state = opt.init(theta)
    with compiled_kernels():
        opt.step(theta, grad, state)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            opt.step(theta, grad, state, learning_rate=0.05)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    assert peak < 4_000


def test_float32_state_is_not_upcast_by_numpy_float64_hyperparameters():
    opt = Adam(np.float64(0.1), np.float64(0.9), np.float64(0.999), np.float64(1e-8))
    theta = np.ones(4, dtype=np.float32)
    state = opt.init(theta)
    opt.step(theta, np.ones(4, dtype=np.float32), state, learning_rate=np.float64(0.01))
    assert type(opt.learning_rate) is float
    assert theta.dtype == state.m.dtype == state.v.dtype == np.float32


def test_non_contiguous_theta_is_still_updated_in_place():
    buffer = np.zeros(20)
    theta = buffer[::2]
    opt = SGD(0.1, 0.5, nesterov=True)
    state = opt.init(theta)
    opt.step(theta, np.ones(10), state)
    np.testing.assert_allclose(buffer[::2], -0.1 - 0.05)  # θ + μ v − α g with v = −0.1
    np.testing.assert_array_equal(buffer[1::2], 0.0)


def test_step_refuses_gradient_of_other_dtype_or_shape():
    for opt in (GradientDescent(), SGD(), Adam()):
        theta = np.zeros(3, dtype=np.float32)
        state = opt.init(theta)
        with pytest.raises(ValueError, match="grad must match theta"):
            opt.step(theta, np.zeros(3), state)
        with pytest.raises(ValueError, match="grad must match theta"):
            opt.step(theta, np.zeros(4, dtype=np.float32), state)


@pytest.mark.parametrize("make", [Adam, lambda: SGD(0.1, 0.9), lambda: SGD(0.1, 0.9, True)])
def test_step_refuses_state_of_another_vector(make):
    # The compiled kernels index the state by theta's length: a state from init on a
    # shorter (or float64) vector must be refused, never read or written out of bounds.
    opt = make()
    small = opt.init(np.zeros(4, dtype=np.float32))
    theta = np.zeros(200_000, dtype=np.float32)
    with pytest.raises(ValueError, match=r"optimizer state '(m|velocity)' is float32\[4\]"):
        opt.step(theta, np.ones_like(theta), small)
    wrong_dtype = opt.init(np.zeros(200_000))
    with pytest.raises(ValueError, match="use the state that init"):
        opt.step(theta, np.ones_like(theta), wrong_dtype)
    np.testing.assert_array_equal(theta, 0.0)  # nothing was updated


def test_init_refuses_bad_theta():
    with pytest.raises(ValueError, match="float32 or float64"):
        Adam().init(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="1-D"):
        SGD().init(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="theta must be a NumPy ndarray, got list"):
        GradientDescent().init([0.0, 1.0])
    frozen = np.zeros(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        GradientDescent().init(frozen)


def test_one_optimizer_drives_independent_runs():
    opt = Adam(0.1)
    a, b = np.zeros(3), np.zeros(3)
    sa, sb = opt.init(a), opt.init(b)
    opt.step(a, np.ones(3), sa)
    opt.step(a, np.ones(3), sa)
    opt.step(b, np.ones(3), sb)
    assert (sa.t, sb.t) == (2, 1)
    np.testing.assert_allclose(b, -0.1, rtol=1e-7)


# --- hyperparameter validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: GradientDescent(0.0), "learning_rate"),
        (lambda: GradientDescent(-1.0), "learning_rate"),
        (lambda: SGD(0.1, momentum=1.0), "momentum"),
        (lambda: SGD(0.1, momentum=-0.1), "momentum"),
        (lambda: SGD(0.1, nesterov="yes"), "nesterov"),
        (lambda: Adam(learning_rate=math.nan), "learning_rate"),
        (lambda: Adam(beta_1=1.0), "beta_1"),
        (lambda: Adam(beta_2=-0.5), "beta_2"),
        (lambda: Adam(epsilon=0.0), "epsilon"),
        (lambda: AdamW(weight_decay=-1e-4), "weight_decay"),
        (lambda: LBFGS(max_iter=0), "max_iter"),
        (lambda: LBFGS(tol=-1.0), "tol"),
        (lambda: LBFGS(memory=2.5), "memory"),
        (lambda: ConjugateGradient(max_iter=True), "max_iter"),
    ],
)
def test_bad_hyperparameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_negative_step_learning_rate_raises():
    opt = GradientDescent()
    theta = np.zeros(2)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.step(theta, np.zeros(2), opt.init(theta), learning_rate=-0.1)


# --- lookup by name -----------------------------------------------------------------------------


def test_get_optimizer_by_name():
    assert isinstance(get_optimizer("adam", learning_rate=0.01), Adam)
    assert get_optimizer("sgd", momentum=0.5).momentum == 0.5
    assert isinstance(get_optimizer("gd"), GradientDescent)
    assert isinstance(get_optimizer("lbfgs", max_iter=10), LBFGS)
    assert isinstance(get_optimizer("cg"), ConjugateGradient)
    assert get_optimizer("adamw", weight_decay=0.5).weight_decay == 0.5
    assert set(OPTIMIZERS) == {"gd", "sgd", "adam", "adamw"}
    assert set(MINIMIZERS) == {"lbfgs", "cg"}


def test_unknown_optimizer_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown optimizer 'adm'") as excinfo:
        get_optimizer("adm")
    assert str(excinfo.value) == "unknown optimizer 'adm'; valid: adam, adamw, cg, gd, lbfgs, sgd"


# --- L-BFGS and conjugate gradient ----------------------------------------------------------------


@pytest.mark.parametrize(
    "opt", [LBFGS(tol=1e-8, ftol=0.0), ConjugateGradient(tol=1e-8)], ids=["lbfgs", "cg"]
)
def test_minimizers_converge_on_rosenbrock(opt):
    theta = np.array(ROSENBROCK_START)
    view = theta[:1]
    result = opt.minimize(rosenbrock, theta)
    assert isinstance(result, MinimizeResult)
    assert result.success, result.message
    np.testing.assert_allclose(theta, [1.0, 1.0], rtol=0, atol=1e-6)
    assert result.grad_norm < 1e-5
    assert np.shares_memory(view, theta) and view[0] == theta[0]
    # The result describes the point left in theta.
    J, grad = rosenbrock(theta)
    assert result.J == pytest.approx(J, abs=1e-15)
    assert result.grad_norm == pytest.approx(np.abs(grad).max(), abs=1e-12)
    assert 0 < result.n_iter < result.n_fun


@pytest.mark.parametrize("opt", [LBFGS(), ConjugateGradient()], ids=["lbfgs", "cg"])
def test_minimizers_converge_on_quadratic(opt):
    # Stopping at max|g| <= tol = 1e-5 leaves an error of at most |A⁻¹g| <= √n·1e-5/λ_min.
    fun, solution = quadratic()
    theta = np.zeros(10)
    result = opt.minimize(fun, theta)
    assert result.success, result.message
    np.testing.assert_allclose(theta, solution, rtol=0, atol=4e-5)


def test_lbfgs_with_ftol_zero_stops_on_the_gradient_tolerance():
    theta = np.array(ROSENBROCK_START)
    result = LBFGS(tol=1e-6, ftol=0.0).minimize(rosenbrock, theta)
    assert result.success and result.grad_norm <= 1e-6


def test_lbfgs_writes_solution_into_float32_theta():
    fun, solution = quadratic()
    theta = np.zeros(10, dtype=np.float32)
    W = theta[:4]
    seen = []

    def fun64(x):
        seen.append(x.dtype)
        return fun(x)

    result = LBFGS(tol=1e-9, ftol=0.0).minimize(fun64, theta)
    assert result.success, result.message
    assert theta.dtype == np.float32 and np.shares_memory(W, theta)
    assert set(seen) == {np.dtype(np.float64)}
    np.testing.assert_allclose(theta, solution, rtol=1e-6, atol=1e-6)


def test_lbfgs_accepts_float32_gradient():
    fun, solution = quadratic()
    theta = np.zeros(10)
    result = LBFGS().minimize(lambda x: (fun(x)[0], fun(x)[1].astype(np.float32)), theta)
    assert result.n_iter > 0
    np.testing.assert_allclose(theta, solution, atol=1e-4)


@pytest.mark.parametrize("opt", [LBFGS(), ConjugateGradient()], ids=["lbfgs", "cg"])
@pytest.mark.parametrize("bad", ["nan_J", "inf_J", "nan_grad"])
def test_non_finite_objective_stops_and_keeps_best_finite_point(opt, bad):
    n_finite = 12  # evaluations that succeed before the objective "diverges"
    evaluated = []

    def fun(x):
        if len(evaluated) >= n_finite:
            J, grad = rosenbrock(x)
            if bad == "nan_J":
                return math.nan, grad
            if bad == "inf_J":
                return math.inf, grad
            return J, np.array([math.nan, 0.0])
        J, grad = rosenbrock(x)
        evaluated.append((J, x.copy()))
        return J, grad

    theta = np.array(ROSENBROCK_START)
    result = opt.minimize(fun, theta)
    assert not result.success
    assert "non-finite" in result.message
    assert result.n_fun == n_finite + 1
    assert np.isfinite(theta).all()
    J_best, x_best = min(evaluated, key=lambda e: e[0])
    np.testing.assert_array_equal(theta, x_best)
    assert result.J == J_best < rosenbrock(ROSENBROCK_START)[0]
    assert result.grad_norm == np.abs(rosenbrock(x_best)[1]).max()


def test_non_finite_at_the_start_leaves_theta_alone():
    theta = np.array([3.0, 4.0])
    result = LBFGS().minimize(lambda x: (math.nan, np.zeros(2)), theta)
    np.testing.assert_array_equal(theta, [3.0, 4.0])
    assert not result.success and math.isnan(result.J)
    assert "initial point" in result.message
    assert (result.n_iter, result.n_fun) == (0, 1)


@pytest.mark.parametrize("opt", [LBFGS(), ConjugateGradient()], ids=["lbfgs", "cg"])
def test_callback_sees_each_iteration_and_can_stop(opt):
    calls = []

    def callback(iteration, J):
        calls.append((iteration, J))
        return True if iteration == 3 else None

    theta = np.array(ROSENBROCK_START)
    result = opt.minimize(rosenbrock, theta, callback=callback)
    assert [it for it, _ in calls] == [1, 2, 3]
    assert result.n_iter == 3
    assert not result.success and "callback" in result.message
    # theta is the iterate the callback saw last, J decreasing along the iterates.
    assert rosenbrock(theta)[0] == pytest.approx(calls[-1][1], rel=1e-12)
    assert result.J == pytest.approx(calls[-1][1], rel=1e-12)
    Js = [J for _, J in calls]
    assert Js == sorted(Js, reverse=True)


def test_lbfgs_iteration_limit():
    theta = np.array(ROSENBROCK_START)
    result = LBFGS(max_iter=5).minimize(rosenbrock, theta)
    assert result.n_iter == 5 and not result.success


@pytest.mark.parametrize("opt", [LBFGS(), ConjugateGradient()], ids=["lbfgs", "cg"])
def test_every_way_of_stopping_has_its_status(opt):
    # The status is data a caller branches on; the message is for people.
    converged = opt.minimize(rosenbrock, np.array(ROSENBROCK_START))
    assert converged.status == Status.CONVERGED and converged.success
    limited = opt.minimize(rosenbrock, np.array(ROSENBROCK_START), max_iter=3)
    assert limited.status == Status.MAX_ITER and not limited.success
    assert limited.n_iter == 3  # the call's limit overrides the minimizer's own
    stopped = opt.minimize(rosenbrock, np.array(ROSENBROCK_START), callback=lambda i, J: i == 2)
    assert stopped.status == Status.STOPPED and stopped.n_iter == 2
    theta = np.array([3.0, 4.0])
    diverged = opt.minimize(lambda x: (math.nan, np.zeros(2)), theta)
    assert diverged.status == Status.DIVERGED
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1, got True"):
        opt.minimize(rosenbrock, theta, max_iter=True)


def test_a_line_search_that_cannot_progress_is_failed_not_converged():
    # A gradient that points the wrong way: no step along -g decreases J.
    def wrong(x):
        return float(x @ x), -2.0 * x

    result = LBFGS().minimize(wrong, np.array([1.0, 2.0]))
    assert result.status == Status.FAILED and not result.success


def test_the_kind_of_optimizer_is_what_it_can_do():
    class Delegating:  # any object with minimize() is a Minimizer, whatever its class
        def minimize(self, fun, theta, callback=None, max_iter=None):
            return LBFGS().minimize(fun, theta, callback, max_iter)

    assert is_minimizer(Delegating()) and is_minimizer(LBFGS())
    assert not is_minimizer(Adam()) and not is_minimizer(SGD())


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: LBFGS(max_iter=True), "max_iter must be an integer >= 1, got True"),
        (lambda: LBFGS(tol=-1.0), r"tol must be a number in \[0, inf\), got -1.0"),
        (lambda: ConjugateGradient(tol=math.nan), r"tol must be a number in \[0, inf\)"),
        (lambda: Adam(learning_rate=0.0), r"learning_rate must be a number in \(0, inf\)"),
        (lambda: Adam(beta_1=True), r"beta_1 must be a number in \[0, 1\), got True"),
        (lambda: SGD(momentum=1.0), r"momentum must be a number in \[0, 1\), got 1.0"),
        (lambda: get_optimizer("adamax"), "unknown optimizer 'adamax'; valid: adam, adamw, cg, gd"),
    ],
)
def test_settings_are_checked_with_one_wording(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# --- against torch.optim, when it is installed ------------------------------------------


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_matches_torch(nesterov):
    torch = import_torch()
    rng = np.random.default_rng(7)
    theta0 = rng.standard_normal(8)
    grads = rng.standard_normal((6, 8))
    p = torch.tensor(theta0.copy(), requires_grad=True)
    torch_opt = torch.optim.SGD([p], lr=0.05, momentum=0.9, nesterov=nesterov)
    opt = SGD(0.05, 0.9, nesterov=nesterov)
    theta = theta0.copy()
    state = opt.init(theta)
    for g in grads:
        p.grad = torch.tensor(g.copy())
        torch_opt.step()
        opt.step(theta, g.copy(), state)
    np.testing.assert_allclose(theta, p.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_matches_torch(weight_decay):
    torch = import_torch()
    rng = np.random.default_rng(8)
    theta0 = rng.standard_normal(8)
    grads = rng.standard_normal((6, 8))
    p = torch.tensor(theta0.copy(), requires_grad=True)
    torch_opt = torch.optim.AdamW(
        [p], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay
    )
    opt = AdamW(0.01, weight_decay=weight_decay)
    theta = theta0.copy()
    state = opt.init(theta)
    for g in grads:
        p.grad = torch.tensor(g.copy())
        torch_opt.step()
        opt.step(theta, g.copy(), state)
    np.testing.assert_allclose(theta, p.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_lbfgs_runs_scipys_own_blas_on_one_thread_and_restores_it():
    # Two spinning OpenBLAS pools (NumPy's and scipy's) on the same cores slowed every
    # cost evaluation; during minimize scipy's pool is held to one thread.
    from threadpoolctl import ThreadpoolController

    def scipy_threads():
        libs = [c for c in ThreadpoolController().lib_controllers if "scipy.libs" in c.filepath]
        return [c.num_threads for c in libs]

    before = scipy_threads()
    if not before:
        pytest.skip("scipy shares NumPy's BLAS here")
    seen = []

    def fun(x):
        seen.append(scipy_threads())
        return 0.5 * float(x @ x), x.copy()

    LBFGS(max_iter=5).minimize(fun, np.ones(10))
    assert seen and all(t == [1] for t in seen)
    assert scipy_threads() == before
