"""Sparse input (CSR, CSC) to the estimators, as scikit-learn's MLP takes it.

A fit on a sparse matrix equals the fit on its dense form up to the order of floating-point
sums; predictions, probabilities, transform and score agree the same way; the data set
reaches the training loop sparse (never densified by the estimator).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_classification

from nablanet import MLPClassifier, MLPRegressor
from nablanet.estimators import _training


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y  # about half of the entries are 0


@pytest.fixture(scope="module")
def wide():
    X, y = make_classification(n_samples=300, n_features=2000, n_informative=20,
                               random_state=0)
    rng = np.random.default_rng(0)
    X[rng.random(X.shape) > 0.01] = 0.0  # 1% density
    return X, y


def fit_both(cls, X, y, fmt, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = cls(random_state=0, **params).fit(X, y)
        sparse = cls(random_state=0, **params).fit(sp.csr_matrix(X).asformat(fmt), y)
    return dense, sparse


CASES = {
    "adam-minibatch": {"hidden_layer_sizes": (20,), "max_iter": 10},
    "sgd-early-stopping": {"hidden_layer_sizes": (20,), "solver": "sgd", "max_iter": 10,
                           "early_stopping": True, "learning_rate_init": 0.05},
    "lbfgs": {"hidden_layer_sizes": (20,), "solver": "lbfgs", "max_iter": 20},
    "two-layers-float32": {"hidden_layer_sizes": (20, 10), "max_iter": 5, "dtype": "float32"},
}


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("case", CASES)
def test_sparse_fit_equals_dense_fit(digits, case, fmt):
    X, y = digits
    params = CASES[case]
    dense, sparse = fit_both(MLPClassifier, X, y, fmt, **params)
    rtol = 1e-4 if params.get("dtype") == "float32" else 1e-9
    np.testing.assert_allclose(sparse.net_.theta, dense.net_.theta, rtol=rtol, atol=rtol)
    assert sparse.n_iter_ == dense.n_iter_
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=rtol)
    Xs = sp.csr_matrix(X).asformat(fmt)
    np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X), rtol=rtol,
                               atol=rtol)
    assert np.mean(sparse.predict(Xs) == dense.predict(X)) > 0.99
    np.testing.assert_allclose(sparse.transform(Xs), dense.transform(X), rtol=rtol, atol=rtol)
    assert sparse.score(Xs, y) == pytest.approx(dense.score(X, y), abs=0.01)


def test_sparse_regression_and_sample_weights(wide):
    X, y = wide
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = MLPRegressor(hidden_layer_sizes=(10,), max_iter=5, random_state=0).fit(
            X, y, sample_weight=w)
        sparse = MLPRegressor(hidden_layer_sizes=(10,), max_iter=5, random_state=0).fit(
            sp.csr_matrix(X), y, sample_weight=w)
    np.testing.assert_allclose(sparse.net_.theta, dense.net_.theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.predict(sp.csc_matrix(X)), dense.predict(X), rtol=1e-9)


def test_partial_fit_on_sparse_batches(wide):
    X, y = wide
    dense = MLPClassifier(hidden_layer_sizes=(10,), random_state=0)
    sparse = MLPClassifier(hidden_layer_sizes=(10,), random_state=0)
    for rows in np.array_split(np.arange(len(y)), 3):
        dense.partial_fit(X[rows], y[rows], classes=[0, 1])
        sparse.partial_fit(sp.csr_matrix(X[rows]), y[rows], classes=[0, 1])
    np.testing.assert_allclose(sparse.net_.theta, dense.net_.theta, rtol=1e-9, atol=1e-12)


def test_the_training_loop_receives_the_data_sparse(wide, monkeypatch):
    X, y = wide
    seen = []
    real = _training.train

    def spy(net, X, Y, **kwargs):
        seen.append(X)
        return real(net, X, Y, **kwargs)

    monkeypatch.setattr(_training, "train", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=2).fit(sp.csc_matrix(X), y)
    assert len(seen) == 1 and sp.issparse(seen[0]) and seen[0].format == "csr"


def test_non_finite_sparse_data_is_refused(wide):
    X, y = wide
    Xs = sp.csr_matrix(X)
    Xs.data[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier(max_iter=2).fit(Xs, y)
