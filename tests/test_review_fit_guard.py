"""Review findings: warm-start learning rate, the divergence guard's reference cost."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from nablanet.estimators import MLPClassifier, MLPRegressor
from nablanet.training import TrainingDiverged


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16, y[:400]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_warm_start_fit_uses_the_new_learning_rate_init(digits, solver):
    """scikit-learn builds a new optimizer on a warm-start fit: learning_rate_init counts.

    nablanet kept the previous fit's rate, so the second fit below ran at 1e-3 whatever
    was set; its losses matched those of a rate of 1e8 to the last digit.
    """
    X, y = digits
    runs = []
    for rate in (1e-3, 0.5):
        est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0,
                            solver=solver, warm_start=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
            est.set_params(learning_rate_init=rate)
            est.fit(X, y)
        runs.append(est.loss_curve_[3:])
    assert runs[0] != runs[1]


@pytest.mark.parametrize("batch_size", [400, 200])
def test_huge_cell_in_the_first_batch_is_refused(digits, batch_size):
    """A 1e308 cell in the first minibatch made the first cost (2.5e304) the guard's
    reference: the fit 'succeeded' with loss_ = 2.5e304. In a later batch it is caught."""
    X, y = digits
    X = X.copy()
    X[0, 0] = 1e308
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0,
                        batch_size=batch_size, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TrainingDiverged, match="X holds a value of 1e"):
            est.fit(X, y)


def test_no_false_alarm_when_the_first_batch_has_zero_targets():
    """Unscaled, zero-inflated targets and small batches: a first batch of zeros gives a
    first cost near 0, the limit is then 1e4 and the first batch with targets of ~500
    'diverges' (2 seeds in 40 here; scikit-learn trains all 40)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = np.where(rng.random(300) < 0.5, 0.0, rng.uniform(100, 1000, 300))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in (24, 25):
            est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, batch_size=5,
                               random_state=seed, learning_rate_init=1e-3).fit(X, y)
            # Both epochs ran, and the cost fell: nothing was taken for a divergence.
            assert est.n_iter_ == 2 and len(est.loss_curve_) == 2
            assert np.isfinite(est.loss_curve_).all()
            assert est.loss_curve_[1] < est.loss_curve_[0]


def test_invscaling_partial_fit_counts_samples_seen(digits):
    """scikit-learn's 'invscaling' rate is α₀ / (t_ + 1)^power_t with t_ the samples seen.
    nablanet used (n_iter_ · m + 1) with m the rows of the current call: after a
    partial_fit of 400 rows, a call with 10 rows ran at 0.5/√11 = 0.151, not 0.5/√401."""
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate="invscaling",
                        learning_rate_init=0.5, random_state=0)
    est.partial_fit(X, y, classes=np.arange(10))
    est.partial_fit(X[:10], y[:10])
    assert est.history_.runs[-1].learning_rate[0] == pytest.approx(0.5 / (400 + 1) ** 0.5)


def test_minibatch_with_zero_total_sample_weight_is_not_a_divergence():
    """A minibatch whose sample weights are all 0 gives J = 0/0 = NaN: the guard called it
    a divergence and advised checking 'the data's scale and the starting weights'. With
    many zero weights (masking) random batches hit this often. Either such a batch adds
    nothing, or the error names sample_weight as the cause."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:200] / 16, y[:200]
    s = np.ones(len(y))
    s[:20] = 0.0
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0, batch_size=10,
                        shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(X, y, sample_weight=s)
        except (TrainingDiverged, ValueError) as exc:
            assert "sample_weight" in str(exc)
