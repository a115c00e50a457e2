"""A large batch's J and ∂J/∂θ in fixed parts of rows (`nablanet.network_parts`).

Each part sums its rows' w_i C_i and w_i ∇C_i with the whole batch's shares, on one BLAS
thread; the parts' sums are added in order and the weight decay once. The same numbers as
one pass up to the order of additions, and the same bits on any number of threads.
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from nablanet import Network, check_gradient
from nablanet.layers import Conv2D, Dense
from nablanet.network_parts import PartedPass


def _digits(dtype=np.float64):
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(dtype), np.eye(10, dtype=dtype)[y]


def _net(dtype=np.float64, **kw):
    return Network([64, 100, 10], activation="relu", output_activation="softmax",
                   weight_decay=1e-3, seed=0, dtype=dtype, **kw)


def test_the_whole_batch_goes_in_fixed_parts():
    parted = PartedPass.for_rows(_net(), 1797)
    assert parted is not None
    bounds = [(s.start, s.stop) for s in parted.parts]
    assert bounds == [(a, min(a + 257, 1797)) for a in range(0, 1797, 257)]  # 7 of 256 or more


@pytest.mark.parametrize("weighted", [False, True])
def test_parts_give_the_one_pass_numbers_up_to_the_order_of_additions(weighted):
    X, Y = _digits()
    s = np.random.default_rng(0).uniform(0, 2, len(X)) if weighted else None
    net = _net()
    J0, g0 = net.loss_and_grad(X, Y, sample_weight=s)
    grad = np.empty(net.n_params)
    J = PartedPass.for_rows(net, len(X))(X, Y, net.theta, grad, s)
    assert J == pytest.approx(J0, rel=1e-13)
    np.testing.assert_allclose(grad, g0, rtol=0, atol=1e-13 * np.abs(g0).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parts_are_the_same_bits_on_one_and_several_threads(dtype):
    X, Y = _digits(dtype)
    net = _net(dtype)
    parted = PartedPass.for_rows(net, len(X))
    results = []
    for n in (1, 2, 3):
        grad = np.empty(net.n_params, dtype)
        with threadpool_limits(limits=n):
            results.append((parted(X, Y, net.theta, grad), grad))
    for J, grad in results[1:]:
        assert J == results[0][0]
        np.testing.assert_array_equal(grad, results[0][1])


def test_the_parted_gradient_passes_a_numerical_check():
    X, Y = _digits()
    net = Network([64, 7, 10], activation="tanh", output_activation="softmax",
                  weight_decay=1e-2, seed=1)
    X = np.repeat(X[:300], 2, axis=0)  # 600 rows, enough for 2 parts with few weights
    Y = np.repeat(Y[:300], 2, axis=0)
    net_big = Network([64, 700, 10], activation="tanh", output_activation="softmax", seed=1)
    assert PartedPass.for_rows(net_big, 600) is not None
    parted = PartedPass(net, PartedPass.for_rows(net_big, 600).parts)  # the same 2 parts

    def fun(theta):
        grad = np.empty(net.n_params)
        return parted(X, Y, theta, grad), grad

    result = check_gradient(fun, net.theta.copy(), seed=0)
    assert result.passed, result


def _sparse_autoencoder(dtype=np.float64):
    # UFLDL's: sigmoid units, a KL penalty on the hidden layer's mean activation ρ̂ (a mean
    # over every row: the parts' Σ w_i a_i are added before any δ term is formed)
    return Network([64, 30, 64], sparsity=(0.05, 3.0), weight_decay=1e-3, seed=0,
                   dtype=dtype)


@pytest.mark.parametrize("weighted", [False, True])
def test_a_sparsity_penalty_in_parts_gives_the_one_pass_numbers(weighted):
    X, _ = _digits()
    s = np.random.default_rng(1).uniform(0, 2, len(X)) if weighted else None
    net = _sparse_autoencoder()
    parted = PartedPass.for_rows(net, len(X))
    assert parted is not None and len(parted.parts) > 1
    J0, g0 = net.loss_and_grad(X, X, sample_weight=s)
    grad = np.empty(net.n_params)
    assert parted(X, X, net.theta, grad, s) == pytest.approx(J0, rel=1e-13)
    np.testing.assert_allclose(grad, g0, rtol=0, atol=1e-13 * np.abs(g0).max())
    for n in (1, 2, 3):  # and the same bits on any number of threads
        again = np.empty(net.n_params)
        with threadpool_limits(limits=n):
            parted(X, X, net.theta, again, s)
        np.testing.assert_array_equal(again, grad)


def test_a_parted_sparse_autoencoder_passes_a_numerical_check():
    X, _ = _digits()
    X = X[:600]
    net = Network([64, 5, 64], sparsity=(0.1, 3.0), weight_decay=1e-2, seed=2)
    parted = PartedPass(net, [slice(0, 300), slice(300, 600)])

    def fun(theta):
        grad = np.empty(net.n_params)
        return parted(X, X, theta, grad), grad

    result = check_gradient(fun, net.theta.copy(), seed=0)
    assert result.passed, result


def test_no_parts_for_convolutions_or_little_work():
    conv = Network([Conv2D(4, 3), Dense(10, "softmax")], input_shape=(1, 8, 8), seed=0)
    assert PartedPass.for_rows(conv, 1797) is None  # its layers split the batch themselves
    assert PartedPass.for_rows(Network([4, 3, 2]), 5000) is None  # OpenBLAS: one thread anyway
    # too few rows for two parts: one, still on one BLAS thread (the same bits on any count)
    assert PartedPass.for_rows(_net(), 256).parts == [slice(0, 256)]
