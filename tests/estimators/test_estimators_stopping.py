"""scikit-learn's stopping rule as a callback (nablanet/estimators/_stopping.py).

The witness is scikit-learn itself: its MLP's own ``_update_no_improvement_count`` and its
SGD optimizer's ``trigger_stopping`` replay the same sequences of losses and validation
scores, and every count, rate, best value and the stopping epoch must agree exactly.
"""

import math

import numpy as np
import pytest
import sklearn.neural_network as skl
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

from nablanet import MLPClassifier, MLPRegressor
from nablanet.estimators import ScikitLearnStopping, StoppingState
from nablanet.network import Network
from nablanet.training import RunHistory, TrainState

no_convergence_warning = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def scikit_learn_rule(values, early, adaptive, tol, n, rate):
    """Epochs run, per-epoch (count, rate, best) and the epoch of the best weights."""
    sk = skl.MLPClassifier(tol=tol, n_iter_no_change=n)
    opt = SGDOptimizer([], learning_rate_init=rate,
                       lr_schedule="adaptive" if adaptive else "constant")
    sk._no_improvement_count = 0
    sk.loss_curve_, sk.validation_scores_ = [], []
    sk.best_loss_, sk.best_validation_score_ = math.inf, -math.inf
    sk.coefs_, sk.intercepts_ = [np.zeros(1)], [np.zeros(1)]
    record = []
    for epoch, value in enumerate(values):
        sk.coefs_[0][0] = epoch  # so that the best weights name their epoch
        sk._score = lambda X, y, sample_weight=None, v=value: v
        sk.loss_curve_.append(value)
        sk._update_no_improvement_count(early, None, None, None)
        stop = False
        if sk._no_improvement_count > n:
            stop = opt.trigger_stopping("", False)
            if not stop:
                sk._no_improvement_count = 0
        best = sk.best_validation_score_ if early else sk.best_loss_
        record.append((sk._no_improvement_count, opt.learning_rate, best))
        if stop:
            break
    best_epoch = sk._best_coefs[0][0] if early and hasattr(sk, "_best_coefs") else None
    return len(record), record, best_epoch


def nablanet_rule(values, early, adaptive, tol, n, rate):
    net = Network([1, 1])
    stopping = ScikitLearnStopping(StoppingState.fresh(rate, early), tol=tol,
                                   n_iter_no_change=n, early_stopping=early, adaptive=adaptive)
    h = RunHistory()
    state = TrainState(net, 0, 0, rate, h, early, len(values))
    stopping.on_train_begin(state)
    record = []
    for epoch, value in enumerate(values):
        state.epoch = epoch
        net.theta[...] = epoch
        h.train_loss.append(value)
        h.val_score.append(value)
        stop = stopping.on_epoch_end(state)
        s = stopping.runs[-1]
        best = s.best_validation_score if early else s.best_loss
        record.append((s.no_improvement_count, state.learning_rate, best))
        if stop:
            break
    net.theta[...] = -1.0
    stopping.on_train_end(state)
    best_epoch = net.theta[0] if early and net.theta[0] >= 0 else None
    return len(record), record, best_epoch


def sequences(seed, count=60, length=120):
    """Losses and scores that improve, stall, creep by less than tol, and jump."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        steps = rng.choice([-1e-2, -1e-4, -5e-5, 0.0, 3e-5, 1e-3], size=length)
        values = 1.0 + np.cumsum(steps)
        if rng.random() < 0.3:
            values[rng.integers(length)] = np.nan  # scikit-learn: a NaN resets the count
        yield values.tolist()


@pytest.mark.parametrize("early", [False, True], ids=["train-loss", "validation-score"])
@pytest.mark.parametrize("adaptive", [False, True], ids=["stop", "adaptive"])
@pytest.mark.parametrize("n", [1, 3, 10])
def test_the_rule_is_scikit_learns(early, adaptive, n):
    tol = 1e-4
    for values in sequences(seed=n):
        ours = nablanet_rule(values, early, adaptive, tol, n, rate=1e-3)
        theirs = scikit_learn_rule(values, early, adaptive, tol, n, rate=1e-3)
        assert ours[0] == theirs[0]
        np.testing.assert_array_equal(np.array(ours[1]), np.array(theirs[1]))
        assert ours[2] == theirs[2]


def test_the_state_the_callback_starts_from_is_never_changed():
    start = StoppingState.fresh(0.1, early_stopping=True)
    stopping = ScikitLearnStopping(start, tol=0.0, n_iter_no_change=2, early_stopping=True,
                                   adaptive=False)
    net = Network([1, 1])
    h = RunHistory(val_score=[0.9])
    state = TrainState(net, 0, 0, 0.1, h, True, 1)
    stopping.on_train_begin(state)
    stopping.on_epoch_end(state)
    assert start == StoppingState.fresh(0.1, early_stopping=True)
    assert stopping.runs[-1].validation_scores == [0.9]


@no_convergence_warning
def test_each_restart_starts_the_rule_afresh(iris):
    # Each restart is a run of its own: its counters start where the fit started, and
    # the estimator keeps those of the run it keeps (one validation score per epoch).
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(5,), early_stopping=True, restarts=3,
                        max_iter=60, random_state=0, learning_rate_init=0.05).fit(X, y)
    runs = est.history_.runs
    assert len(runs) == 3
    assert len(est.validation_scores_) == est.n_iter_ == runs[est.history_.best_run].n_epochs
    assert est.best_validation_score_ == max(est.validation_scores_)


@no_convergence_warning
def test_adaptive_rate_is_divided_by_five_and_kept_for_partial_fit(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", learning_rate="adaptive",
                        learning_rate_init=0.1, n_iter_no_change=2, tol=0.5, max_iter=12,
                        random_state=0, warm_start=True).fit(X, y)
    rates = est.history_.best.learning_rate
    assert rates[0] == 0.1 and rates[-1] < 0.1
    for before, after in zip(rates, rates[1:], strict=False):
        assert after in (before, before / 5.0)
    assert est._learning_rate == rates[-1] / 5.0 or est._learning_rate == rates[-1]
    first_rate = est._learning_rate
    est.partial_fit(X, y)  # partial_fit keeps scikit-learn's optimizer: the reduced rate
    assert est.history_.best.learning_rate[0] == first_rate
    # A warm-start fit builds a new optimizer in scikit-learn: learning_rate_init again.
    est.fit(X, y)
    assert est.history_.best.learning_rate[0] == 0.1


@no_convergence_warning
def test_invscaling_counts_every_sample_seen_and_a_fit_restarts_at_the_initial_rate(iris):
    """scikit-learn: α = α₀ / (t_ + 1)^power_t after each epoch, t_ the samples seen over all
    calls; a warm-start fit builds a new optimizer, whose first epoch runs at α₀."""
    X, y = iris
    m = len(X)
    est = MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", learning_rate="invscaling",
                        learning_rate_init=0.5, power_t=0.5, max_iter=3, random_state=0,
                        warm_start=True).fit(X, y)
    assert est.history_.best.learning_rate == pytest.approx(
        [0.5, 0.5 / (m + 1) ** 0.5, 0.5 / (2 * m + 1) ** 0.5])
    est.fit(X, y)
    assert est.history_.best.learning_rate == pytest.approx(
        [0.5, 0.5 / (4 * m + 1) ** 0.5, 0.5 / (5 * m + 1) ** 0.5])
    est.partial_fit(X, y)  # scikit-learn keeps the optimizer: t_ = 6 m
    assert est.history_.best.learning_rate == pytest.approx([0.5 / (6 * m + 1) ** 0.5])


def held_out(X, y, s, seed, stratify):
    """scikit-learn's validation split as an estimator fitted with ``seed`` draws it.

    The fit draws the network's seed from its RandomState first, then splits with it.
    """
    rs = np.random.RandomState(seed)
    rs.randint(np.iinfo(np.int32).max)
    parts = train_test_split(X, y, s, random_state=rs, test_size=0.1,
                             stratify=y if stratify else None)
    return parts[1], parts[3], parts[5]


@no_convergence_warning
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_the_validation_score_is_weighted_by_sample_weight(iris, diabetes, kind):
    # scikit-learn 1.9 scores the held-out rows with their sample weights (accuracy_score
    # or r2_score with sample_weight=); after one epoch the kept weights are that epoch's.
    X, y = iris if kind == "classifier" else diabetes
    s = 1.0 + np.arange(len(y)) % 4
    est = (MLPClassifier if kind == "classifier" else MLPRegressor)(
        hidden_layer_sizes=(5,), early_stopping=True, max_iter=1, random_state=0
    ).fit(X, y, sample_weight=s)
    X_val, y_val, s_val = held_out(X, y, s, 0, stratify=kind == "classifier")
    metric = accuracy_score if kind == "classifier" else r2_score
    weighted = metric(y_val, est.predict(X_val), sample_weight=s_val)
    assert weighted != pytest.approx(metric(y_val, est.predict(X_val)))  # the test tells
    assert est.validation_scores_ == [pytest.approx(weighted, rel=1e-12)]


def test_a_validation_set_of_weight_zero_is_refused(iris):
    # it would score nothing (scikit-learn's metrics refuse all-zero weights mid-fit)
    X, y = iris
    s = np.zeros(len(y))
    _, _, s_val = held_out(X, y, np.arange(len(y)), 0, stratify=True)
    keep = np.setdiff1d(np.arange(len(y)), s_val)
    s[keep] = 1.0
    est = MLPClassifier(hidden_layer_sizes=(5,), early_stopping=True, random_state=0)
    with pytest.raises(ValueError, match="15 rows held out for early stopping all have "
                       "sample weight 0"):
        est.fit(X, y, sample_weight=s)
