"""Independent checks of the UFLDL pieces against plain NumPy written from the tutorial.

Each reference below is written here from UFLDL's formulas, without nablanet's code:
the sparse autoencoder's J and gradient (``sparseAutoencoderCost``), softmax regression's
cost (``softmaxCost``), PCA/ZCA whitening and ``normalizeData`` of ``sampleIMAGES``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from nablanet import Network, PCAWhitening, SoftmaxRegression, SparseAutoencoder, ZCAWhitening
from nablanet.data.patches import normalize_patches


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _act(name, z):
    """(a, f'(z)) for the activations used here."""
    if name == "sigmoid":
        a = _sigmoid(z)
        return a, a * (1.0 - a)
    if name == "tanh":
        a = np.tanh(z)
        return a, 1.0 - a * a
    return z, np.ones_like(z)  # identity


def ufldl_sparse_autoencoder(W1, b1, W2, b2, X, lam, rho, beta, hidden="sigmoid",
                             output="sigmoid", s=None):
    """UFLDL's sparseAutoencoderCost, samples as rows; returns J, (dW1, db1, dW2, db2).

    J = Σ_i w_i ½‖x̂_i − x_i‖² + (λ/2)(‖W1‖² + ‖W2‖²) + β Σ_j KL(ρ ‖ ρ̂_j), with w_i = 1/m
    (or s_i / Σ s), ρ̂_j = Σ_i w_i p_ij and p = a mapped into [0, 1] ((a + 1)/2 for tanh).
    """
    m = X.shape[0]
    w = np.full(m, 1.0 / m) if s is None else s / s.sum()
    z2 = X @ W1.T + b1
    a2, d2 = _act(hidden, z2)
    z3 = a2 @ W2.T + b2
    a3, d3 = _act(output, z3)
    lo, width = (-1.0, 2.0) if hidden == "tanh" else (0.0, 1.0)
    rho_hat = w @ ((a2 - lo) / width)
    kl = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    J = (w @ (0.5 * ((a3 - X) ** 2).sum(axis=1))
         + lam / 2 * ((W1**2).sum() + (W2**2).sum()) + beta * kl.sum())
    delta3 = w[:, None] * (a3 - X) * d3
    sparsity_term = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) / width
    delta2 = (delta3 @ W2 + w[:, None] * sparsity_term) * d2
    return J, (delta2.T @ X + lam * W1, delta2.sum(axis=0),
               delta3.T @ a2 + lam * W2, delta3.sum(axis=0))


def _random_net(hidden, output, n=7, h=5, lam=3e-3, rho=0.1, beta=3.0, seed=0):
    net = Network([n, h, n], activation=hidden, output_activation=output,
                  loss="squared_error", weight_decay=lam, sparsity=(rho, beta), seed=seed)
    rng = np.random.default_rng(seed)
    for W, b in zip(net.W, net.b, strict=True):  # away from the initialiser's small values
        W[...] = rng.normal(scale=0.5, size=W.shape)
        b[...] = rng.normal(scale=0.3, size=b.shape)
    return net


@pytest.mark.parametrize("hidden, output, weighted", [
    ("sigmoid", "sigmoid", False), ("sigmoid", "sigmoid", True),
    ("tanh", "sigmoid", False), ("tanh", "identity", True), ("sigmoid", "identity", False),
])
def test_sparse_autoencoder_j_and_gradient_match_ufldl(hidden, output, weighted):
    lam, rho, beta = 3e-3, 0.1, 3.0
    net = _random_net(hidden, output, lam=lam, rho=rho, beta=beta)
    rng = np.random.default_rng(1)
    X = rng.uniform(0.1, 0.9, size=(40, 7))
    s = rng.uniform(0.2, 3.0, size=40) if weighted else None
    J_ref, grads_ref = ufldl_sparse_autoencoder(
        net.W[0], net.b[0], net.W[1], net.b[1], X, lam, rho, beta, hidden, output, s)
    J, grad = net.loss_and_grad(X, X, sample_weight=s)
    assert J == pytest.approx(J_ref, rel=1e-12)
    dW, db = net.layout.views(grad)
    for got, want in zip([dW[0], db[0], dW[1], db[1]], grads_ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    # the cost-only path (chunked, no gradient) gives the same J
    assert net.cost(X, X, sample_weight=s) == pytest.approx(J_ref, rel=1e-12)


def test_sparse_autoencoder_estimator_minimises_ufldl_j():
    """The estimator's parameters are UFLDL's λ, ρ, β (λ not divided by m), and its final
    weights are a stationary point of the reference J."""
    rng = np.random.default_rng(2)
    X = rng.uniform(0.1, 0.9, size=(60, 9))
    lam, rho, beta = 1e-3, 0.05, 2.0
    ae = SparseAutoencoder(4, sparsity_target=rho, sparsity_weight=beta, weight_decay=lam,
                           max_iter=300, tol=1e-10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ae.fit(X)
    W1, b1, W2, b2 = ae.net_.W[0], ae.net_.b[0], ae.net_.W[1], ae.net_.b[1]
    J_ref, grads = ufldl_sparse_autoencoder(W1, b1, W2, b2, X, lam, rho, beta)
    assert ae.net_.cost(X, X) == pytest.approx(J_ref, rel=1e-12)
    assert max(np.abs(g).max() for g in grads) < 1e-5
    np.testing.assert_allclose(ae.transform(X), _sigmoid(X @ W1.T + b1), rtol=1e-13)


def test_softmax_regression_cost_decays_weights_only():
    rng = np.random.default_rng(3)
    m, n, k, lam = 30, 4, 3, 0.7  # a large λ makes the decay term visible
    X = rng.normal(size=(m, n))
    y = rng.integers(k, size=m)
    y[:k] = np.arange(k)
    sm = SoftmaxRegression(weight_decay=lam, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sm.fit(X, y)
    net = sm.net_
    net.b[0][...] = rng.normal(size=k)  # a bias in the decay term would show now
    W, b = net.W[0], net.b[0]
    Z = X @ W.T + b
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    Y = np.eye(k)[y]
    J_ref = -np.mean(np.log(P[np.arange(m), y])) + lam / 2 * (W**2).sum()
    J, grad = net.loss_and_grad(X, Y)
    assert J == pytest.approx(J_ref, rel=1e-12)
    dW, db = net.layout.views(grad)
    np.testing.assert_allclose(dW[0], (P - Y).T @ X / m + lam * W, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(db[0], (P - Y).mean(axis=0), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(sm.predict_proba(X), P, rtol=1e-12)


def test_softmax_regression_agrees_with_logistic_regression():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    lam = 1e-2
    sm = SoftmaxRegression(weight_decay=lam, max_iter=1000, tol=1e-10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sm.fit(X, y)
    lr = LogisticRegression(C=1.0 / (lam * len(X)), tol=1e-12, max_iter=10000).fit(X, y)

    def J(W, b):  # softmaxCost, written again: both minimise it
        Z = X @ W.T + b
        log_p = Z - Z.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        return -log_p[np.arange(len(X)), y].mean() + lam / 2 * (W**2).sum()

    # L-BFGS's default ftol ends the fit near max|∂J/∂θ| ~ 5e-6 (not at tol): J agrees to
    # 1e-8, the probabilities to 1e-4
    assert J(sm.coef_, sm.intercept_) == pytest.approx(J(lr.coef_, lr.intercept_), abs=1e-8)
    np.testing.assert_allclose(sm.predict_proba(X), lr.predict_proba(X), atol=1e-4)


def _eig_reference(X):
    Xc = X - X.mean(axis=0)
    sigma = Xc.T @ Xc / len(X)
    lam, U = np.linalg.eigh(sigma)
    return Xc, lam[::-1], U[:, ::-1]


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_pca_and_zca_whitening_covariances(eps):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)) + 3.0
    Xc, lam, U = _eig_reference(X)
    pca = PCAWhitening(n_components=6, epsilon=eps).fit(X)
    Xp = pca.transform(X)
    np.testing.assert_allclose(Xp.T @ Xp / len(X), np.diag(lam / (lam + eps)), atol=1e-10)
    np.testing.assert_allclose(np.abs(Xp), np.abs(Xc @ U / np.sqrt(lam + eps)), atol=1e-9)
    zca = ZCAWhitening(epsilon=eps).fit(X)
    Wz = U @ np.diag(1 / np.sqrt(lam + eps)) @ U.T
    np.testing.assert_allclose(zca.whitening_, Wz, atol=1e-10)
    np.testing.assert_allclose(zca.whitening_, zca.whitening_.T, atol=0)
    Xz = zca.transform(X)
    np.testing.assert_allclose(Xz.T @ Xz / len(X), U @ np.diag(lam / (lam + eps)) @ U.T,
                               atol=1e-10)
    np.testing.assert_allclose(Xz, Xp @ U.T * np.sign(np.sum(Xp * (Xc @ U), axis=0)),
                               atol=1e-9)


def test_pca_whitening_keeps_the_fewest_components_for_the_variance_share():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 5)) * np.array([10.0, 5.0, 1.0, 0.5, 0.1])
    _, lam, _ = _eig_reference(X)
    share = np.cumsum(lam) / lam.sum()
    for target in (0.5, 0.9, 0.99, 0.999):
        expected = int(np.argmax(share >= target)) + 1
        assert PCAWhitening(n_components=target).fit(X).n_components_ == expected


def test_normalize_patches_is_ufldl_normalize_data():
    rng = np.random.default_rng(6)
    P = rng.standard_t(3, size=(300, 16)) + rng.normal(size=(300, 1))
    # normalizeData: patches as columns in UFLDL; here as rows
    X = P - P.mean(axis=1, keepdims=True)
    pstd = 3 * X.std()
    ref = (np.maximum(np.minimum(X, pstd), -pstd) / pstd + 1) * 0.4 + 0.1
    out = normalize_patches(P)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-15)
    assert out.min() == pytest.approx(0.1) and out.max() == pytest.approx(0.9)
    # MATLAB's std divides by N - 1: for 4800 pixels the two agree to 1e-4 relative
    ref_matlab = (np.clip(X, -3 * X.std(ddof=1), 3 * X.std(ddof=1)) / (3 * X.std(ddof=1))
                  + 1) * 0.4 + 0.1
    np.testing.assert_allclose(out, ref_matlab, atol=1e-4)


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh"])
def test_the_reference_gradient_is_the_reference_js_derivative(hidden):
    """Central differences (ε = 1e-4, float64) of the reference J itself: the reference
    gradient above is not merely the same formula as nablanet's."""
    net = _random_net(hidden, "sigmoid")
    rng = np.random.default_rng(7)
    X = rng.uniform(0.1, 0.9, size=(25, 7))
    s = rng.uniform(0.2, 3.0, size=25)
    params = [net.W[0].copy(), net.b[0].copy(), net.W[1].copy(), net.b[1].copy()]

    def J(p):
        return ufldl_sparse_autoencoder(*p, X, 3e-3, 0.1, 3.0, hidden, "sigmoid", s)[0]

    _, grads = ufldl_sparse_autoencoder(*params, X, 3e-3, 0.1, 3.0, hidden, "sigmoid", s)
    eps = 1e-4
    for k, P in enumerate(params):
        numeric = np.empty_like(P)
        for idx in np.ndindex(P.shape):
            old = P[idx]
            P[idx] = old + eps
            up = J(params)
            P[idx] = old - eps
            down = J(params)
            P[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        diff = np.linalg.norm(numeric - grads[k]) / np.linalg.norm(numeric + grads[k])
        assert diff < 1e-8
