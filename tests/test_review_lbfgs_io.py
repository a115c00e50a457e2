"""Review findings: warm-start L-BFGS refits, the stacked classifier's model file."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

import nablanet
from nablanet import MLPClassifier, StackedAutoencoderClassifier


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_warm_start_lbfgs_refit_of_a_converged_model(iris):
    """L-BFGS stops at once from a converged point: no epoch is recorded and `_commit`
    read ``train_loss[-1]`` of an empty list (IndexError). scikit-learn returns with
    n_iter_ = 0 and the same loss."""
    X, y = iris
    est = MLPClassifier((3,), solver="lbfgs", max_iter=5000, tol=1e-3, warm_start=True,
                        random_state=0).fit(X, y)
    theta = est.net_.theta.copy()
    est.fit(X, y)
    np.testing.assert_array_equal(est.net_.theta, theta)
    assert np.isfinite(est.loss_)


def test_stacked_autoencoder_fit_does_not_crash(iris):
    """The same crash inside StackedAutoencoderClassifier's fine-tuning (3 seeds of 30)."""
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # UFLDL's weight decay (the default before it became 1e-3) reproduces the case
        est = StackedAutoencoderClassifier(hidden_layer_sizes=(3,), max_iter=10,
                                           weight_decay=3e-3, random_state=3).fit(X / 8, y)
    # The case that crashed: fine-tuning's L-BFGS stopped at once, recording no iteration.
    assert est.n_iter_ == 0 and est.mlp_.loss_curve_ == []
    assert np.isfinite(est.mlp_.loss_)
    P = est.predict_proba(X / 8)
    assert P.shape == (150, 3) and np.isfinite(P).all()
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    assert set(est.predict(X / 8)) <= set(est.classes_)


def test_warm_start_lbfgs_n_iter_is_this_fits_count(iris):
    """scikit-learn's L-BFGS sets n_iter_ to the iterations of the call (it is not
    cumulative, unlike sgd/adam's)."""
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier((3,), solver="lbfgs", max_iter=5, warm_start=True,
                            random_state=0).fit(X, y)
        est.fit(X, y)
    assert est.n_iter_ == 5


def test_stacked_autoencoder_file_keeps_feature_names(iris, tmp_path):
    """Fitted on a DataFrame, the loaded classifier lost feature_names_in_: a DataFrame
    with its columns in another order is then used silently (the original refuses it)."""
    X, y = iris
    df = pd.DataFrame(X / 8, columns=list("abcd"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = StackedAutoencoderClassifier(hidden_layer_sizes=(3,), max_iter=10,
                                           random_state=0).fit(df, y)
    est.save(tmp_path / "s.npz")
    loaded = nablanet.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(df[list("dcba")])
