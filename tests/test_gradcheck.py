"""Numerical gradient checking (docs/math.md §7): functions of a flat vector only."""

import numpy as np
import pytest

from nablanet import Network
from nablanet.gradcheck import GradientCheckReport, check_gradient, numerical_gradient


def ufldl_h(x):
    """UFLDL's example: h(x) = x₁² + 3 x₁ x₂, gradient (2x₁ + 3x₂, 3x₁)."""
    return x[0] ** 2 + 3 * x[0] * x[1], np.array([2 * x[0] + 3 * x[1], 3 * x[0]])


def test_ufldl_example():
    report = check_gradient(ufldl_h, [4.0, 10.0], eps=1e-4)
    # at (4, 10) the gradient is (2·4 + 3·10, 3·4) = (38, 12); a quadratic's central
    # difference is exact but for rounding, which UFLDL's run shows as ≈ 2.1e-12
    assert 0 < report.relative_difference < 1e-10
    assert report.passed
    assert report.n_checked == report.n_params == 2
    assert report.eps == 1e-4 and report.tol == 1e-7
    g = numerical_gradient(ufldl_h, [4.0, 10.0])
    np.testing.assert_allclose(g, [38.0, 12.0], rtol=1e-9)


def test_numerical_gradient_of_a_curved_function():
    # J = Σ sin(θ_i) θ_i²; the O(ε²) error at ε = 1e-4 is about 1e-8 relative
    theta = np.linspace(-2, 2, 9)
    g = numerical_gradient(lambda t: float(np.sum(np.sin(t) * t**2)), theta)
    np.testing.assert_allclose(g, np.cos(theta) * theta**2 + 2 * theta * np.sin(theta), atol=1e-7)


def test_wrong_gradient_fails_and_names_the_coordinate():
    def wrong(x):
        J, g = ufldl_h(x)
        g[1] += 1.0  # 13 instead of 12
        return J, g

    report = check_gradient(wrong, [4.0, 10.0])
    assert not report.passed
    assert report.relative_difference > 1e-3
    index, analytic, numerical = report.worst[0]
    assert index == 1
    assert analytic == pytest.approx(13.0) and numerical == pytest.approx(12.0, rel=1e-9)


def quadratic(n=20, bad=None):
    """J = ½ θᵀAθ + cᵀθ with A symmetric positive definite; optionally a wrong coordinate."""
    rng = np.random.default_rng(0)
    B = rng.normal(size=(n, n))
    A, c = B @ B.T / n + np.eye(n), rng.normal(size=n)

    def fun(theta):
        g = A @ theta + c
        if bad is not None:
            g = g.copy()
            g[bad] *= 1.5
        return 0.5 * theta @ A @ theta + c @ theta, g

    return fun


def test_wrong_coordinate_found_among_many():
    report = check_gradient(quadratic(bad=7), np.random.default_rng(1).normal(size=20))
    assert not report.passed
    assert report.worst[0][0] == 7
    assert len(report.worst) == 5
    # the other coordinates are right, so they differ by rounding only
    assert all(abs(g - n) < 1e-6 for i, g, n in report.worst[1:])


def test_subset_of_coordinates_reproducible_by_seed():
    fun, theta = quadratic(), np.random.default_rng(2).normal(size=20)

    def checked(seed):
        r = check_gradient(fun, theta, n_coords=5, seed=seed, n_worst=5)
        assert r.n_checked == 5 and r.n_params == 20 and r.passed
        return sorted(i for i, _, _ in r.worst), r.relative_difference

    assert checked(3) == checked(3)
    assert len({tuple(checked(s)[0]) for s in range(6)}) > 1  # seeds pick different subsets
    # n_coords at least the size: every coordinate
    assert check_gradient(fun, theta, n_coords=50).n_checked == 20


def test_subset_finds_a_wrong_coordinate_when_it_is_drawn():
    fun = quadratic(bad=7)
    theta = np.random.default_rng(2).normal(size=20)
    for seed in range(50):
        r = check_gradient(fun, theta, n_coords=5, seed=seed, n_worst=5)
        drawn = {i for i, _, _ in r.worst}
        assert r.passed == (7 not in drawn)


def test_numerical_gradient_accepts_J_or_pair():
    fun = quadratic()
    theta = np.random.default_rng(3).normal(size=20)
    g_pair = numerical_gradient(fun, theta)
    g_scalar = numerical_gradient(lambda t: fun(t)[0], theta)
    np.testing.assert_array_equal(g_pair, g_scalar)
    g = fun(theta)[1]
    np.testing.assert_allclose(g_pair, g, rtol=0, atol=1e-9 * np.abs(g).max())


def test_numerical_gradient_indices_leave_others_zero():
    fun = quadratic()
    theta = np.random.default_rng(4).normal(size=20)
    g = numerical_gradient(fun, theta, indices=[2, 5])
    assert np.count_nonzero(g) == 2
    g_true = fun(theta)[1]
    np.testing.assert_allclose(g[[2, 5]], g_true[[2, 5]], rtol=0, atol=1e-9 * np.abs(g_true).max())


def test_theta_not_modified_and_float64():
    seen = []

    def fun(t):
        seen.append(t.dtype)
        return ufldl_h(t)

    theta = np.array([4.0, 10.0])
    numerical_gradient(fun, theta)
    check_gradient(fun, theta)
    np.testing.assert_array_equal(theta, [4.0, 10.0])
    theta32 = np.array([4.0, 10.0], dtype=np.float32)
    check_gradient(fun, theta32)
    assert theta32.dtype == np.float32 and theta32.tolist() == [4.0, 10.0]
    assert set(seen) == {np.dtype(np.float64)}


def test_bad_arguments():
    with pytest.raises(ValueError, match="eps must be positive"):
        numerical_gradient(ufldl_h, [4.0, 10.0], eps=0.0)
    with pytest.raises(ValueError, match="n_coords must be at least 1"):
        check_gradient(quadratic(), np.zeros(20), n_coords=0)
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\), expected \(2,\)"):
        check_gradient(lambda t: (0.0, np.zeros(3)), [1.0, 2.0])


def test_report_text():
    good = check_gradient(ufldl_h, [4.0, 10.0])
    text = str(good)
    assert "PASSED" in text and "FAILED" not in text
    assert "relative difference 2.1" in text and "e-12" in text
    assert "tolerance 1e-07" in text and "eps 1e-04" in text and "2 of 2 coordinates" in text
    assert "3.800000e+01" in text and "1.200000e+01" in text  # backprop and numerical values

    def wrong(x):
        J, g = ufldl_h(x)
        return J, g + np.array([0.0, 1.0])

    bad = str(check_gradient(wrong, [4.0, 10.0]))
    assert "FAILED" in bad and "PASSED" not in bad
    assert "1.300000e+01" in bad


def test_report_is_plain_data():
    r = GradientCheckReport(0.5, False, 1e-7, 1e-4, 1, 3, [(2, 1.0, 3.0)])
    assert "FAILED" in str(r) and "1 of 3 coordinates" in str(r)
    assert "2.00e+00" in str(r)  # |1 − 3|


def test_network_check_gradient_float32_runs_in_float64():
    net = Network([4, 5, 3], activation="tanh", output_activation="softmax", seed=0)
    net = net.astype(np.float32)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 4))
    Y = np.eye(3)[rng.integers(0, 3, size=6)]
    before = net.theta.copy()
    report = net.check_gradient(X, Y)
    assert report.passed and report.relative_difference < 1e-7, str(report)
    assert report.n_checked == net.n_params
    assert net.theta.dtype == np.float32
    np.testing.assert_array_equal(net.theta, before)
    # for contrast: differencing the float32 cost itself is hopeless at ε = 1e-4
    _, g32 = net.loss_and_grad(X, Y)
    g_num32 = numerical_gradient(lambda t: net.loss_and_grad(X, Y, t.astype(np.float32))[0], before)
    rel32 = np.linalg.norm(g_num32 - g32) / np.linalg.norm(g_num32 + g32)
    assert rel32 > 1e-5


def test_network_check_gradient_subset_and_sample_weight():
    net = Network([3, 4, 2], activation="sigmoid", weight_decay=0.1, seed=1)
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(5, 3)), rng.integers(0, 2, size=(5, 2)).astype(float)
    r = net.check_gradient(X, Y, n_coords=6, seed=3, sample_weight=np.arange(1.0, 6.0))
    assert r.passed and r.n_checked == 6 and r.n_params == net.n_params


def test_one_default_threshold_and_what_a_correct_smooth_network_gives():
    """The docstring's figures: a correct smooth network in float64 gives about 1e-9 to
    1e-10, far below the one default threshold 1e-7; a bug gives 1e-4 or more."""
    import inspect

    from sklearn.datasets import load_digits

    from nablanet import Network
    from nablanet.gradcheck import TOLERANCE

    assert TOLERANCE == 1e-7
    assert inspect.signature(check_gradient).parameters["tol"].default == TOLERANCE
    assert inspect.signature(Network.check_gradient).parameters["tol"].default == TOLERANCE
    d = load_digits()
    X, Y = d.data[:20] / 16.0, np.eye(10)[d.target[:20]]
    for hidden, out in [("sigmoid", "sigmoid"), ("tanh", "softmax"), ("sigmoid", "softmax")]:
        net = Network([64, 25, 10], activation=hidden, output_activation=out,
                      weight_decay=1e-3, seed=0)
        net.b[0][...] = np.random.default_rng(0).normal(size=25)  # a generic point
        report = net.check_gradient(X, Y)
        assert 1e-12 < report.relative_difference < 1e-8 and report.passed
        assert report.tol == TOLERANCE
        # a plausible bug, weight decay on the biases, at this generic point
        def decayed_biases(t, net=net):
            J, g = net.loss_and_grad(X, Y, t)
            g[net.n_weights:] += net.weight_decay * t[net.n_weights:]
            return J, g

        assert check_gradient(decayed_biases, net.theta.copy()).relative_difference > 1e-4
