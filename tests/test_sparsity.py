"""The sparsity penalty inside backpropagation: against UFLDL's recipe, and gradient checks."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import nablanet.workspace as workspace_module
from nablanet import Network, load, save
from nablanet.gradcheck import check_gradient
from nablanet.sparsity import Sparsity

UFLDL_EPS = 1e-4
UFLDL_THRESHOLD = 1e-9


def ufldl_sparse_autoencoder_cost(theta, visible, hidden, lam, rho, beta, X):
    """UFLDL's sparseAutoencoderCost written straightforwardly (samples as rows).

    theta is UFLDL's own unrolled order [W1(:); W2(:); b1; b2] with column-major W.
    """
    n1, n2 = hidden * visible, 2 * hidden * visible
    W1 = theta[:n1].reshape(visible, hidden).T
    W2 = theta[n1:n2].reshape(hidden, visible).T
    b1, b2 = theta[n2 : n2 + hidden], theta[n2 + hidden :]
    m = X.shape[0]
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    a2 = sig(X @ W1.T + b1)
    a3 = sig(a2 @ W2.T + b2)
    rho_hat = a2.mean(axis=0)
    kl = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    J = 0.5 * np.sum((a3 - X) ** 2) / m + lam / 2 * (np.sum(W1**2) + np.sum(W2**2))
    J += beta * kl.sum()
    d3 = -(X - a3) * a3 * (1 - a3)
    sparse = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    d2 = (d3 @ W2 + sparse) * a2 * (1 - a2)
    W1g, W2g = d2.T @ X / m + lam * W1, d3.T @ a2 / m + lam * W2
    b1g, b2g = d2.mean(axis=0), d3.mean(axis=0)
    grad = np.concatenate([W1g.T.ravel(), W2g.T.ravel(), b1g, b2g])
    return J, grad


def test_matches_ufldl_recipe_cost_and_gradient():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.1, 0.9, size=(20, 8))
    net = Network([8, 5, 8], weight_decay=1e-4, sparsity=(0.01, 3.0), seed=3)
    # nablanet's theta stores each W column-major: exactly UFLDL's W(:) order.
    J, grad = net.loss_and_grad(X, X)
    J_ref, grad_ref = ufldl_sparse_autoencoder_cost(net.theta, 8, 5, 1e-4, 0.01, 3.0, X)
    assert J == pytest.approx(J_ref, rel=1e-12)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-10, atol=1e-14)


def test_tanh_maps_mean_activation_to_unit_interval():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(12, 4))
    plain = Network([4, 3, 4], activation="tanh", output_activation="identity", seed=2)
    net = Network([4, 3, 4], activation="tanh", output_activation="identity", seed=2,
                  sparsity=(0.2, 0.5))
    rho_hat = (np.tanh(X @ net.W[0].T + net.b[0]).mean(axis=0) + 1) / 2
    kl = 0.2 * np.log(0.2 / rho_hat) + 0.8 * np.log(0.8 / (1 - rho_hat))
    assert net.cost(X, X) == pytest.approx(plain.cost(X, X) + 0.5 * kl.sum(), rel=1e-12)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("hidden", [(5,), (5, 4)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dropout", [False, True])
def test_gradient_check(activation, hidden, weighted, dropout):
    rng = np.random.default_rng(len(hidden) + 2 * weighted + 4 * dropout)
    m = 10
    X = rng.uniform(0.1, 0.9, size=(m, 6))
    penalties = [Sparsity(0.05, 3.0), Sparsity(0.3, 0.7)][: len(hidden)]
    net = Network([6, *hidden, 6], activation=activation, weight_decay=1e-3,
                  sparsity=penalties, seed=4)
    s = rng.uniform(0.2, 2.0, m) if weighted else None
    masks = [(rng.random((m, h)) < 0.7) / 0.7 for h in hidden] if dropout else None

    def fun(theta):
        return net.loss_and_grad(X, X, theta, sample_weight=s, dropout_masks=masks)

    report = check_gradient(fun, net.theta.copy(), eps=UFLDL_EPS, tol=UFLDL_THRESHOLD)
    assert report.relative_difference < UFLDL_THRESHOLD, report
    # the penalty is really in the gradient
    _, without = Network([6, *hidden, 6], activation=activation, weight_decay=1e-3,
                         seed=4).loss_and_grad(X, X, sample_weight=s, dropout_masks=masks)
    assert not np.allclose(fun(net.theta)[1], without)


def test_check_gradient_method_includes_the_penalty():
    rng = np.random.default_rng(5)
    X = rng.uniform(0.1, 0.9, size=(10, 64))
    net = Network([64, 5, 64], weight_decay=1e-4, sparsity=(0.01, 3.0), seed=0)
    assert net.check_gradient(X, X, tol=UFLDL_THRESHOLD).passed


def test_penalty_only_on_the_chosen_layer():
    rng = np.random.default_rng(6)
    X = rng.uniform(0.1, 0.9, size=(10, 5))
    net = Network([5, 4, 3, 5], sparsity=[None, (0.1, 2.0)], seed=1)
    plain = Network([5, 4, 3, 5], seed=1)
    a3 = 1 / (1 + np.exp(-(plain.hidden(X, 0) @ net.W[1].T + net.b[1])))
    rho_hat = a3.mean(axis=0)
    kl = 0.1 * np.log(0.1 / rho_hat) + 0.9 * np.log(0.9 / (1 - rho_hat))
    assert net.cost(X, X) == pytest.approx(plain.cost(X, X) + 2.0 * kl.sum(), rel=1e-12)


def test_cost_trace_and_loss_and_grad_agree_and_chunks_do_not_change_rho_hat(monkeypatch):
    rng = np.random.default_rng(7)
    X = rng.uniform(0.1, 0.9, size=(23, 6))
    s = rng.uniform(0.5, 1.5, 23)
    net = Network([6, 4, 6], weight_decay=1e-3, sparsity=(0.05, 3.0), seed=2)
    J, grad = net.loss_and_grad(X, X, sample_weight=s)
    tr = net.trace(X, X, sample_weight=s)
    assert tr.J == pytest.approx(J, rel=1e-14)
    np.testing.assert_allclose(np.concatenate([d.T.ravel() for d in tr.dW]),
                               grad[: net.n_weights], rtol=1e-13)
    assert net.cost(X, X, sample_weight=s) == pytest.approx(J, rel=1e-13)
    monkeypatch.setattr(workspace_module, "CHUNK_ROWS", 5)  # ρ̂ summed over 5 chunks
    assert net.cost(X, X, sample_weight=s) == pytest.approx(J, rel=1e-13)
    assert net.diagnose(X, X).J == pytest.approx(net.loss_and_grad(X, X)[0], rel=1e-13)


def test_dropout_does_not_change_rho_hat():
    """ρ̂ is the units' own mean activation: a mask of ones changes nothing, nor does J."""
    rng = np.random.default_rng(8)
    X = rng.uniform(0.1, 0.9, size=(9, 5))
    net = Network([5, 4, 5], sparsity=(0.05, 3.0), seed=2)
    ones = [np.ones((9, 4))]
    J0, g0 = net.loss_and_grad(X, X)
    J1, g1 = net.loss_and_grad(X, X, dropout_masks=ones)
    assert J0 == J1
    np.testing.assert_array_equal(g0, g1)


def test_refusals():
    with pytest.raises(ValueError, match="bounded hidden units"):
        Network([3, 2, 3], activation="relu", sparsity=(0.1, 3.0))
    with pytest.raises(ValueError, match=r"target must be a number in \(0, 1\)"):
        Network([3, 2, 3], sparsity=(1.0, 3.0))
    with pytest.raises(ValueError, match=r"weight must be a number in \[0, inf\)"):
        Network([3, 2, 3], sparsity=(0.1, -1.0))
    with pytest.raises(ValueError, match="one entry"):
        Network([3, 2, 3], sparsity=[None, None])


def test_save_load_and_pickle_keep_the_penalty(tmp_path):
    rng = np.random.default_rng(9)
    X = rng.uniform(0.1, 0.9, size=(7, 4))
    net = Network([4, 3, 2, 4], activation=["sigmoid", "tanh"],
                  sparsity=[(0.05, 3.0), None], seed=1)
    save(net, tmp_path / "m.npz")
    for other in (load(tmp_path / "m.npz"), pickle.loads(pickle.dumps(net)), net.copy()):
        assert other.sparsity == net.sparsity
        assert other.cost(X, X) == net.cost(X, X)


def test_no_penalty_leaves_the_hot_path_alone():
    net = Network([3, 2, 3])
    assert net._penalty() is None
    assert net.sparsity == [None]


def test_a_fully_saturated_unit_gives_a_large_finite_cost():
    net = Network([2, 1, 2], sparsity=(0.01, 3.0), seed=0)
    net.W[0][...] = 1e4  # the hidden unit is 1 on every example: ρ̂ = 1
    X = np.array([[0.5, 0.5], [0.2, 0.9]])
    J, grad = net.loss_and_grad(X, X)
    assert np.isfinite(J) and J > 3.0 * 20 and np.isfinite(grad).all()


def test_summary_names_the_penalty():
    text = Network([4, 3, 2, 4], sparsity=[None, (0.05, 3.0)]).summary()
    assert "sparsity on hidden 2: ρ=0.05, β=3" in text and "hidden 1:" not in text
