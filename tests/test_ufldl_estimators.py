"""SparseAutoencoder and SoftmaxRegression: UFLDL's costs, scikit-learn's checks, model files."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from nablanet import SoftmaxRegression, SparseAutoencoder, load
from nablanet.data import natural_image_patches


@pytest.fixture(scope="module")
def patches():
    return natural_image_patches(400, patch_size=6, seed=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y)


def test_autoencoder_cost_is_ufldl_j(patches):
    ae = SparseAutoencoder(hidden_layer_size=9, max_iter=30, random_state=0).fit(patches)
    net = ae.net_
    a2 = ae.transform(patches)
    rec = ae.inverse_transform(a2)
    rho_hat = a2.mean(axis=0)
    kl = 0.01 * np.log(0.01 / rho_hat) + 0.99 * np.log(0.99 / (1 - rho_hat))
    J = 0.5 * np.sum((rec - patches) ** 2) / len(patches)
    J += 1e-4 / 2 * (np.sum(net.W[0] ** 2) + np.sum(net.W[1] ** 2)) + 3.0 * kl.sum()
    assert net.cost(patches, patches) == pytest.approx(J, rel=1e-10)
    assert ae.loss_curve_[-1] == pytest.approx(J, rel=1e-10)
    assert ae.score(patches) == pytest.approx(-0.5 * np.sum((rec - patches) ** 2) / 400)
    assert ae.components_.shape == (9, 36) and np.shares_memory(ae.components_, net.theta)
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]
    assert ae.check_gradient(patches[:10]).passed  # at a trained point: default tol


def test_autoencoder_learns_sparse_features(patches):
    ae = SparseAutoencoder(hidden_layer_size=16, sparsity_target=0.05, max_iter=150,
                           random_state=1).fit(patches)
    mean_activation = ae.transform(patches).mean(axis=0)
    assert np.all(np.abs(mean_activation - 0.05) < 0.05)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_stochastic_solvers(patches, solver):
    ae = SparseAutoencoder(hidden_layer_size=5, solver=solver, max_iter=3, batch_size=50,
                           learning_rate_init=0.01, random_state=0).fit(patches)
    assert len(ae.loss_curve_) == 3 and np.isfinite(ae.loss_curve_).all()


def test_linear_decoder_and_tanh_units():
    X = load_digits().data[:200] / 16.0
    ae = SparseAutoencoder(hidden_layer_size=10, activation="tanh", output_activation="identity",
                           sparsity_target=0.1, max_iter=20, random_state=0).fit(X)
    assert ae.transform(X).min() >= -1
    assert ae.check_gradient(X[:8]).passed


def test_autoencoder_refusals(patches):
    with pytest.raises(ValueError, match="bounded hidden units"):
        SparseAutoencoder(activation="relu", max_iter=1).fit(patches)
    with pytest.raises(ValueError, match="unknown solver"):
        SparseAutoencoder(solver="newton").fit(patches)
    with pytest.raises(ValueError, match="H must have shape"):
        SparseAutoencoder(5, max_iter=1).fit(patches).inverse_transform(np.zeros((2, 4)))


def test_softmax_regression_is_logistic_regression_at_c_one_over_lambda_m(digits):
    X_train, X_test, y_train, y_test = digits
    lam, m = 1e-3, X_train.shape[0]
    ours = SoftmaxRegression(weight_decay=lam, max_iter=500, random_state=0, tol=1e-10)
    ours.fit(X_train, y_train)
    theirs = LogisticRegression(C=1 / (lam * m), tol=1e-10, max_iter=5000).fit(X_train, y_train)
    # the same convex J: the same minimum, and nearly the same probabilities
    Y = np.eye(10)[y_train]
    J_ours = ours.net_.cost(X_train, Y)
    net = ours.net_.copy()
    net.W[0][...], net.b[0][...] = theirs.coef_, theirs.intercept_
    assert J_ours == pytest.approx(net.cost(X_train, Y), rel=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X_test), theirs.predict_proba(X_test),
                               atol=2e-3)
    assert ours.score(X_test, y_test) >= 0.95


def test_softmax_regression_gradient_and_labels(digits):
    X_train, _, y_train, _ = digits
    labels = np.array(["a", "b", "c"])[y_train % 3]
    clf = SoftmaxRegression(max_iter=5, random_state=0).fit(X_train[:60], labels[:60])
    assert set(clf.predict(X_train[:60])) <= {"a", "b", "c"}
    Y = np.eye(3)[y_train[:10] % 3]
    assert clf.net_.check_gradient(X_train[:10], Y, tol=1e-9).passed


def test_model_files_round_trip(tmp_path, patches, digits):
    X_train, X_test, y_train, _ = digits
    ae = SparseAutoencoder(hidden_layer_size=6, max_iter=5, random_state=0).fit(patches)
    ae.save(tmp_path / "ae.npz")
    back = load(tmp_path / "ae.npz")
    np.testing.assert_array_equal(back.transform(patches), ae.transform(patches))
    assert back.net_.sparsity == ae.net_.sparsity and back.loss_curve_ == ae.loss_curve_
    clf = SoftmaxRegression(max_iter=5, random_state=0).fit(X_train, y_train)
    clf.save(tmp_path / "sm.npz")
    np.testing.assert_array_equal(load(tmp_path / "sm.npz").predict_proba(X_test),
                                  clf.predict_proba(X_test))


@parametrize_with_checks([SparseAutoencoder(5, max_iter=20), SoftmaxRegression(max_iter=50)])
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def test_a_failed_fit_leaves_nothing_half_done(patches):
    ae = SparseAutoencoder(5, max_iter=3, random_state=0).fit(patches)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        ae.fit(np.full((10, 7), np.nan))
    assert not hasattr(ae, "net_") and not hasattr(ae, "n_features_in_")


def test_softmax_regression_saves_float_labels_as_mlp_classifier_does(tmp_path, digits):
    """Float labels (0., 1., 2.) were refused when saving, while MLPClassifier saves them."""
    X_train, X_test, y_train, _ = digits
    y = (y_train % 3).astype(np.float64)
    clf = SoftmaxRegression(max_iter=5, random_state=0).fit(X_train, y)
    clf.save(tmp_path / "sm.npz")
    back = load(tmp_path / "sm.npz")
    assert back.classes_.dtype == np.float64 and back.classes_.tolist() == [0.0, 1.0, 2.0]
    np.testing.assert_array_equal(back.predict(X_test), clf.predict(X_test))


@pytest.mark.parametrize(("changes", "match"), [
    ({"classes": [0, 1.5, 2]}, "holds 1.5, not a int64 label|changes when held"),  # was 1
    ({"classes": [0, 1, 2**63]}, "does not fit dtype int64"),
    ({"classes": [2, 1, 0]}, "distinct labels in sorted order"),
])
def test_softmax_regression_file_labels_are_rebuilt_exactly(tmp_path, digits, changes, match):
    from model_files import header_of, with_header

    from nablanet.io import ModelFileError

    X_train, _, y_train, _ = digits
    path = tmp_path / "sm.npz"
    SoftmaxRegression(max_iter=5, random_state=0).fit(X_train, y_train % 3).save(path)
    with_header(path, {**header_of(path), **changes})
    with pytest.raises(ModelFileError, match=match):
        load(path)

