"""Fits that fail or are interrupted (nablanet/estimators/_base.py, _checkpoint.py).

A fit that raises leaves the estimator unfitted; a warm-start fit or a partial_fit that
raises leaves it exactly as it was. Ctrl-C (KeyboardInterrupt, raised here by a callback)
keeps the completed epochs, as scikit-learn's MLP does: a warning, and an estimator whose
n_iter_, t_ and loss_curve_ describe its weights.
"""

import concurrent.futures
import pickle
import threading

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from nablanet import MLPClassifier, MLPRegressor, TrainingDiverged
from nablanet.training import Callback

no_convergence_warning = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def fitted_state(est):
    """Every fitted attribute (pickled, to compare by value), the weights and weight decay."""
    params = est.get_params(deep=False)
    state = {k: pickle.dumps(v) for k, v in vars(est).items() if k not in params and k != "net_"}
    if hasattr(est, "net_"):
        state["theta"] = est.net_.theta.tobytes()
        state["weight_decay"] = est.net_.weight_decay
    return state


def assert_unfitted(est, X):
    with pytest.raises(NotFittedError, match="instance is not fitted yet"):
        check_is_fitted(est)
    with pytest.raises(NotFittedError, match="instance is not fitted yet"):
        est.predict(X)
    assert [k for k in vars(est) if k.endswith("_") or k.startswith("_")] == []


# --- a fit that raises ---------------------------------------------------------------------


def test_a_diverging_fit_leaves_the_estimator_unfitted(digits):
    X, y = digits
    est = MLPClassifier(solver="sgd", learning_rate_init=1e8, random_state=0)
    with pytest.raises(TrainingDiverged, match="more than 10000 times the run's first cost"):
        est.fit(X, y)
    assert_unfitted(est, X)
    with pytest.raises(NotFittedError, match="instance is not fitted yet"):
        est.save("never-written.npz")


@no_convergence_warning
def test_a_failed_fit_of_a_fitted_estimator_leaves_it_unfitted(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(10,), max_iter=2, random_state=0).fit(X, y)
    est.set_params(solver="sgd", learning_rate_init=1e8, max_iter=50)
    with pytest.raises(TrainingDiverged, match="more than 10000 times the run's first cost"):
        est.fit(X, y)
    assert_unfitted(est, X)


def test_a_huge_value_in_the_data_leaves_the_estimator_unfitted(digits):
    X, y = digits
    X = X.copy()
    X[5, 7] = 1e308
    est = MLPRegressor(hidden_layer_sizes=(10,), max_iter=2, random_state=0)
    with pytest.raises(TrainingDiverged, match=r"X holds a value of 1e\+308 \(row 5, column 7\)"):
        est.fit(X, y)
    assert_unfitted(est, X)


# --- a failed continuation changes nothing -------------------------------------------------


@no_convergence_warning
def test_a_diverging_warm_start_fit_changes_nothing(digits):
    X, y = digits
    est = MLPRegressor(hidden_layer_sizes=(10,), max_iter=3, random_state=0,
                       warm_start=True).fit(X, y)
    before, net, view = fitted_state(est), est.net_, est.coefs_[0]
    huge = X.copy()
    huge[5, 7] = 1e308
    with pytest.raises(TrainingDiverged, match=r"X holds a value of 1e\+308 \(row 5, column 7\)"):
        est.fit(huge, y)
    assert fitted_state(est) == before
    assert est.net_ is net and np.shares_memory(view, est.net_.theta)
    est.fit(X, y)  # and it trains on from there
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 6


@pytest.mark.parametrize(
    "spoil, match",
    [
        (lambda X, y: (X[:, :10], y), "X has 10 features, but MLPClassifier is expecting 64"),
        (lambda X, y: (X, np.where(y == 3, 11, y)), r"y has classes not seen in the first fit"),
    ],
    ids=["wrong-width", "unseen-class"],
)
def test_a_refused_partial_fit_changes_nothing(digits, spoil, match):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(10,), random_state=0)
    est.partial_fit(X, y, classes=np.arange(10))
    est.partial_fit(X, y)
    before = fitted_state(est)
    with pytest.raises(ValueError, match=match):
        est.partial_fit(*spoil(X, y))
    assert fitted_state(est) == before


def test_a_diverging_partial_fit_changes_nothing(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(10,), solver="sgd", learning_rate_init=1e8,
                        random_state=0)
    for _ in range(20):  # it diverges within a few epochs
        before = fitted_state(est)
        try:
            est.partial_fit(X, y, classes=np.arange(10))
        except TrainingDiverged:
            break
    else:
        pytest.fail("training did not diverge")
    assert fitted_state(est) == before


class FailAt(Callback):
    """Raise ``error`` at the end of epoch ``epoch`` (any failure inside training)."""

    def __init__(self, epoch, error):
        self.epoch, self.error = epoch, error

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            raise self.error


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_any_failure_during_a_warm_start_fit_changes_nothing(digits, cls, solver):
    X, y = digits
    est = cls(hidden_layer_sizes=(10,), solver=solver, max_iter=3, random_state=0,
              warm_start=True, early_stopping=True)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations|failed to converge"):
        est.fit(X, y)
    before = fitted_state(est)
    est.set_params(callbacks=[FailAt(2, RuntimeError("boom"))])
    with pytest.raises(RuntimeError, match="boom"):
        est.fit(X, y)
    assert fitted_state(est) == before


def test_a_failed_first_partial_fit_leaves_it_unfitted(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(10,), callbacks=[FailAt(0, RuntimeError("boom"))])
    with pytest.raises(RuntimeError, match="boom"):
        est.partial_fit(X, y, classes=np.arange(10))
    assert_unfitted(est, X)


# --- Ctrl-C ------------------------------------------------------------------------------------


class InterruptAt(Callback):
    """Raise KeyboardInterrupt at the end of epoch (or iteration) ``epoch``, counting from 0,
    before the epoch is complete for the estimator."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt(f"Ctrl-C at epoch {self.epoch}")


@no_convergence_warning
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("early_stopping", [False, True], ids=["", "early-stopping"])
def test_ctrl_c_keeps_the_completed_epochs(digits, cls, early_stopping):
    X, y = digits
    k = 4
    settings = {"hidden_layer_sizes": (10,), "random_state": 0, "learning_rate_init": 0.01,
                "early_stopping": early_stopping}
    est = cls(max_iter=50, callbacks=[InterruptAt(k)], **settings)
    with pytest.warns(UserWarning, match="Training interrupted by user."):
        assert est.fit(X, y) is est
    m = len(X) - (round(0.1 * len(X)) if early_stopping else 0)
    assert est.n_iter_ == k and len(est.loss_curve_) == k and est.t_ == k * m
    assert est.loss_ == est.loss_curve_[-1]
    assert est.history_.best.stop_reason == "interrupted"
    if early_stopping:
        assert len(est.validation_scores_) == k
    # the weights are those k full epochs give
    reference = cls(max_iter=k, **settings).fit(X, y)
    np.testing.assert_array_equal(est.net_.theta, reference.net_.theta)
    assert est.loss_curve_ == reference.loss_curve_
    assert est.score(X, y) == reference.score(X, y)


def test_ctrl_c_during_lbfgs_keeps_the_completed_iterations(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(10,), solver="lbfgs", alpha=0.0, random_state=0,
                        callbacks=[InterruptAt(6)])
    with pytest.warns(UserWarning, match="Training interrupted by user."):
        est.fit(X, y)
    assert est.n_iter_ == 6 and len(est.loss_curve_) == 6
    # the loss of the last completed iteration is the cost of the weights kept
    Y = est._encode(y, fit=False, dtype=np.float64)
    assert est.net_.cost(X, Y) == pytest.approx(est.loss_, rel=1e-12)


@no_convergence_warning
def test_ctrl_c_in_a_warm_start_fit_adds_the_completed_epochs(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(10,), max_iter=5, random_state=0,
                        warm_start=True).fit(X, y)
    est.set_params(callbacks=[InterruptAt(2)])
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X, y)
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 7 and est.t_ == 7 * len(X)


def test_ctrl_c_before_any_epoch_completes_raises_and_changes_nothing(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(10,), callbacks=[InterruptAt(0)])
    # Nothing to keep: the estimator raises a KeyboardInterrupt of its own (no message),
    # not the callback's "Ctrl-C at epoch 0".
    with pytest.raises(KeyboardInterrupt, match="^$"):
        est.fit(X, y)
    assert_unfitted(est, X)
    est.set_params(callbacks=None).partial_fit(X, y, classes=np.arange(10))
    before = fitted_state(est)
    est.set_params(callbacks=[InterruptAt(0)])
    with pytest.raises(KeyboardInterrupt, match="^$"):
        est.partial_fit(X, y)
    assert fitted_state(est) == before


@no_convergence_warning
def test_ctrl_c_in_the_middle_of_an_epoch_goes_back_to_its_start(digits, monkeypatch):
    # digits has 1797 rows: 9 minibatches of 200 per epoch. Interrupt at the 5th step of
    # the 4th epoch: the kept weights are those at the end of the 3rd.
    from nablanet.optim import Adam

    X, y = digits
    real_step, calls = Adam.step, []

    def step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3 * 9 + 5:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    settings = {"hidden_layer_sizes": (10,), "random_state": 0}
    with monkeypatch.context() as patch:
        patch.setattr(Adam, "step", step)
        with pytest.warns(UserWarning, match="interrupted"):
            est = MLPClassifier(max_iter=50, **settings).fit(X, y)
    assert est.n_iter_ == 3 and est.t_ == 3 * len(X)
    reference = MLPClassifier(max_iter=3, **settings).fit(X, y)
    np.testing.assert_array_equal(est.net_.theta, reference.net_.theta)


class WaitAt(Callback):
    """Hold the fit at the end of epoch ``epoch`` until ``release`` is set."""

    def __init__(self, epoch):
        self.epoch, self.reached, self.release = epoch, threading.Event(), threading.Event()

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            self.reached.set()
            assert self.release.wait(timeout=60)


@no_convergence_warning
@pytest.mark.parametrize("second", ["fit", "partial_fit"])
def test_a_second_thread_fitting_the_same_estimator_is_refused_harmlessly(digits, second):
    X, y = digits
    wait = WaitAt(1)
    settings = {"hidden_layer_sizes": (10,), "max_iter": 4, "random_state": 0}
    est = MLPClassifier(warm_start=True, **settings).fit(X, y)
    est.set_params(callbacks=[wait])
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(est.fit, X, y)
        assert wait.reached.wait(timeout=60)
        with pytest.raises(RuntimeError, match="being fitted by another thread"):
            getattr(est, second)(X, y)
        wait.release.set()
        first.result()
    # the first fit was not disturbed: as if alone
    reference = MLPClassifier(warm_start=True, **settings).fit(X, y).fit(X, y)
    np.testing.assert_array_equal(est.net_.theta, reference.net_.theta)
    assert est.n_iter_ == 4 and est.loss_curve_ == reference.loss_curve_
