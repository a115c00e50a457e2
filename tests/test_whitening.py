"""PCA and ZCA whitening: covariances, symmetry, inverses, scikit-learn's checks."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.utils.estimator_checks import parametrize_with_checks

from nablanet.estimators.whitening import PCAWhitening, ZCAWhitening


def correlated(m=500, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(5, 5))
    return rng.normal(size=(m, 5)) @ A + rng.normal(size=5)


def cov(X):
    Xc = X - X.mean(axis=0)
    return Xc.T @ Xc / X.shape[0]


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_pca_whitened_covariance_is_lambda_over_lambda_plus_eps(eps):
    X = correlated()
    pca = PCAWhitening(n_components=5, epsilon=eps).fit(X)
    lam = np.linalg.eigvalsh(cov(X))[::-1]
    np.testing.assert_allclose(pca.explained_variance_, lam, rtol=1e-10)
    np.testing.assert_allclose(cov(pca.transform(X)), np.diag(lam / (lam + eps)), atol=1e-10)


def test_zca_is_symmetric_and_rotates_pca_back():
    X = correlated(seed=1)
    zca = ZCAWhitening(epsilon=0.1).fit(X)
    pca = PCAWhitening(n_components=5, epsilon=0.1).fit(X)
    np.testing.assert_allclose(zca.whitening_, zca.whitening_.T, atol=1e-12)
    U = pca.components_.T
    np.testing.assert_allclose(zca.transform(X), pca.transform(X) @ U.T, atol=1e-10)
    lam = zca.explained_variance_
    C = cov(zca.transform(X))
    np.testing.assert_allclose(C, U @ np.diag(lam / (lam + 0.1)) @ U.T, atol=1e-10)
    zca0 = ZCAWhitening(epsilon=0.0).fit(X)
    np.testing.assert_allclose(cov(zca0.transform(X)), np.eye(5), atol=1e-9)


def test_inverse_transforms():
    X = correlated(seed=2)
    zca = ZCAWhitening(epsilon=0.1).fit(X)
    np.testing.assert_allclose(zca.inverse_transform(zca.transform(X)), X, atol=1e-9)
    pca = PCAWhitening(n_components=5).fit(X)
    np.testing.assert_allclose(pca.inverse_transform(pca.transform(X)), X, atol=1e-9)


def test_retained_variance_picks_the_fewest_components():
    X = load_digits().data
    pca = PCAWhitening(n_components=0.99).fit(X)
    lam = pca.explained_variance_
    share = np.cumsum(lam) / lam.sum()
    k = pca.n_components_
    assert share[k - 1] >= 0.99 > share[k - 2]
    assert pca.transform(X).shape == (X.shape[0], k)


def test_refusals():
    X = correlated()
    with pytest.raises(ValueError, match="epsilon must be a number"):
        ZCAWhitening(epsilon=-1).fit(X)
    with pytest.raises(ValueError, match="n_components must be"):
        PCAWhitening(n_components=9).fit(X)
    with pytest.raises(ValueError, match="full rank"):
        ZCAWhitening(epsilon=0.0).fit(np.ones((4, 3)))


@parametrize_with_checks([ZCAWhitening(), PCAWhitening()])
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def test_a_failed_fit_leaves_nothing_half_done():
    X = correlated()
    zca = ZCAWhitening(epsilon=0.1).fit(X)
    zca.set_params(epsilon=0.0)
    with pytest.raises(ValueError, match="full rank"):
        zca.fit(np.ones((4, 5)))  # fails after the means were computed
    assert not hasattr(zca, "whitening_") and not hasattr(zca, "mean_")
    assert not hasattr(zca, "n_features_in_")


def test_pca_with_epsilon_zero_refuses_a_kept_component_of_zero_variance():
    """λ = 0 kept with ε = 0 divided by zero in transform (inf/NaN): refused at fit, as
    ZCAWhitening refuses it; dropping that component is fine."""
    X = correlated()
    X = np.column_stack([X, 0.3 * X[:, 0] + X[:, 1]])  # dependent: eigh gives λ ≈ 1e-15
    with pytest.raises(ValueError, match="epsilon = 0 needs every kept component"):
        PCAWhitening(n_components=X.shape[1], epsilon=0.0).fit(X)
    with pytest.raises(ValueError, match="epsilon = 0 needs every kept component"):
        PCAWhitening(n_components=1.0, epsilon=0.0).fit(np.ones((4, 3)))
    pca = PCAWhitening(n_components=X.shape[1] - 1, epsilon=0.0).fit(X)
    assert np.isfinite(pca.transform(X)).all()


def test_zca_with_epsilon_zero_refuses_a_dependent_feature():
    """eigh gives a dependent feature's variance as ~1e-15, not 0: that counts as 0."""
    X = correlated()
    with pytest.raises(ValueError, match="full rank"):
        ZCAWhitening(epsilon=0.0).fit(np.column_stack([X, 0.3 * X[:, 0] + X[:, 1]]))


def test_whitening_saves_and_loads_exactly(tmp_path):
    """Fails on main: save refused ZCAWhitening/PCAWhitening (no _to_state)."""
    from sklearn.datasets import load_wine

    from nablanet import load

    X = load_wine().data
    for est in (ZCAWhitening(epsilon=0.01).fit(X), PCAWhitening(n_components=0.9).fit(X)):
        est.save(tmp_path / "w.npz")
        back = load(tmp_path / "w.npz")
        assert type(back) is type(est) and back.get_params() == est.get_params()
        np.testing.assert_array_equal(back.transform(X), est.transform(X))
        np.testing.assert_array_equal(back.inverse_transform(back.transform(X)),
                                      est.inverse_transform(est.transform(X)))
