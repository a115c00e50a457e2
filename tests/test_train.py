"""The training loop (nablanet/training.py) on real data: scikit-learn's bundled digits and iris.

What the loop promises (docs/math.md §5 and the issue): batch gradient descent reaches the
accuracy the source reports; L-BFGS finds the optimum gradient descent finds; restarts
draw distinct initialisations and keep the best by validation loss (training loss without
validation data); early stopping restores the best weights; inverted dropout is gradient-
checked with a fixed mask and off at evaluation; a non-finite cost stops training with a
clear error and the last finite weights; the same seed gives bit-identical weights.
"""

import io
import math
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from threadpoolctl import threadpool_limits

from nablanet import Network, TrainingDiverged
from nablanet.data import load_digits, one_hot
from nablanet.gradcheck import check_gradient
from nablanet.layers import Conv2D, Dense, MaxPool2D
from nablanet.optim import LBFGS, SGD, AdamW, ConjugateGradient, GradientDescent
from nablanet.optim.schedules import Cosine, ReduceOnPlateau, StepDecay
from nablanet.training import (
    Callback,
    EarlyStopping,
    EpochLogger,
    History,
    LearningRateSchedule,
    ProgressBar,
    accuracy,
    run_seeds,
    train,
)


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # The matrices here are small: BLAS threads only fight the other pytest worker for the
    # two cores (measured: ten times slower per epoch). Results do not depend on it.
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def digits():
    d = load_digits()  # 75/25 stratified split, pixels in [0, 1]
    classes = np.arange(10)
    return d.X_train, one_hot(d.y_train, classes)[0], d.X_test, one_hot(d.y_test, classes)[0]


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, np.eye(3)[y]


def small_net(seed=0, **kwargs):
    kwargs.setdefault("activation", "tanh")
    kwargs.setdefault("output_activation", "softmax")
    return Network([4, 6, 3], seed=seed, **kwargs)


class Recorder(Callback):
    """Keeps the weights at every hook, per run."""

    def __init__(self):
        self.begin, self.end, self.epochs, self.calls = [], [], [], []

    def on_train_begin(self, state):
        self.begin.append(state.net.theta.copy())
        self.epochs.append([])
        self.calls.append(("begin", state.run))

    def on_epoch_begin(self, state):
        self.calls.append(("epoch_begin", state.epoch))

    def on_epoch_end(self, state):
        self.epochs[-1].append(state.net.theta.copy())
        self.calls.append(("epoch_end", state.epoch))

    def on_train_end(self, state):
        self.end.append(state.net.theta.copy())
        self.calls.append(("end", state.run))


# --- the accuracy figures of the issue ------------------------------------------------------


def test_digits_sigmoid_squared_error_batch_gradient_descent_reaches_95_percent(digits):
    X, Y, X_test, Y_test = digits
    net = Network(
        [64, 25, 10],
        activation="sigmoid",
        output_activation="sigmoid",
        loss="squared_error",
        seed=0,
    )
    start = time.perf_counter()
    history = train(net, X, Y, optimizer="gd", learning_rate=4.0, epochs=1500, batch_size=None)
    seconds = time.perf_counter() - start
    acc = accuracy(net, X_test, Y_test)
    print(f"digits 64-25-10 sigmoid/squared error, batch GD lr=4, 1500 epochs: "
          f"test accuracy {acc:.4f} in {seconds:.1f} s")
    assert acc >= 0.95
    assert history.train_loss[-1] < history.train_loss[0] / 10
    assert history.best.stop_reason == "max_epochs" and history.best.n_epochs == 1500


def test_digits_softmax_cross_entropy_adam_reaches_97_percent(digits):
    X, Y, X_test, Y_test = digits
    net = Network(
        [64, 200, 10],
        activation="relu",
        output_activation="softmax",
        loss="cross_entropy",
        weight_decay=1e-4,
        seed=0,
    )
    train(net, X, Y, optimizer="adam", learning_rate=1e-3, epochs=60, batch_size=32, seed=0)
    acc = accuracy(net, X_test, Y_test)
    print(f"digits 64-200-10 relu/softmax/cross-entropy, Adam: test accuracy {acc:.4f}")
    assert acc >= 0.97


# --- L-BFGS against batch gradient descent ----------------------------------------------


def test_lbfgs_reaches_a_tiny_gradient_and_the_optimum_of_gradient_descent(iris):
    X, Y = iris
    rng = np.random.default_rng(0)
    rows = np.sort(np.concatenate([rng.choice(np.arange(k * 50, k * 50 + 50), 12, replace=False)
                                   for k in range(3)]))
    X, Y = X[rows], Y[rows]
    # Strong enough weight decay for a well-conditioned minimum; the cost is not convex,
    # so both methods start from the same weights and should reach the same minimum.
    net = Network([4, 3, 3], activation="tanh", output_activation="softmax",
                  weight_decay=1e-2, seed=1)
    start = net.theta.copy()

    history = train(net, X, Y, optimizer=LBFGS(max_iter=2000, tol=1e-7, ftol=0.0),
                    epochs=2000)
    J_lbfgs, g = net.loss_and_grad(X, Y)
    theta_lbfgs = net.theta.copy()
    assert np.linalg.norm(g) < 1e-5
    assert history.best.stop_reason == "converged"
    assert history.best.n_epochs < 2000
    assert history.train_loss[-1] == pytest.approx(J_lbfgs, rel=1e-12)

    net.theta = start
    train(net, X, Y, optimizer="gd", learning_rate=1.0, epochs=20000)
    J_gd, g_gd = net.loss_and_grad(X, Y)
    assert np.linalg.norm(g_gd) < 1e-8  # gradient descent converged too
    assert J_lbfgs == pytest.approx(J_gd, rel=1e-10)
    np.testing.assert_allclose(theta_lbfgs, net.theta, atol=1e-4)


def test_lbfgs_epochs_is_the_iteration_limit(iris):
    X, Y = iris
    net = small_net()
    history = train(net, X, Y, optimizer="lbfgs", epochs=5)
    assert history.best.n_epochs == 5
    assert history.best.stop_reason == "max_epochs"


def test_conjugate_gradient_lowers_the_cost(iris):
    X, Y = iris
    net = small_net()
    before = net.cost(X, Y)
    history = train(net, X, Y, optimizer=ConjugateGradient(max_iter=50), epochs=50)
    assert net.cost(X, Y) < before / 2
    assert history.train_loss == sorted(history.train_loss, reverse=True)


def test_minimizer_given_by_the_caller_is_not_changed(iris):
    X, Y = iris
    opt = LBFGS(max_iter=200)
    train(small_net(), X, Y, optimizer=opt, epochs=3)
    assert opt.max_iter == 200


# --- restarts ---------------------------------------------------------------------------------


def test_restarts_draw_distinct_starts_and_keep_the_lowest_training_cost(iris):
    X, Y = iris
    net = small_net(seed=0)
    rec = Recorder()
    history = train(net, X, Y, optimizer="adam", learning_rate=0.05, epochs=15, batch_size=32,
                    restarts=4, seed=3, callbacks=[rec])
    assert len(history.runs) == 4 and len(rec.begin) == 4
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.allclose(rec.begin[i], rec.begin[j])
    seeds = [run.seed for run in history.runs]
    assert seeds == run_seeds(3, 4) and len(set(seeds)) == 4
    # Without validation data each run's final loss is the training cost of its weights.
    probe = small_net()
    for run, theta in zip(history.runs, rec.end, strict=True):
        probe.theta = theta
        assert run.final_loss == pytest.approx(probe.cost(X, Y), rel=1e-12)
    finals = [run.final_loss for run in history.runs]
    assert history.best_run == int(np.argmin(finals))
    assert history.best is history.runs[history.best_run]
    np.testing.assert_array_equal(net.theta, rec.end[history.best_run])
    assert net.cost(X, Y) == pytest.approx(min(finals), rel=1e-12)
    assert history.train_loss is history.best.train_loss


def test_restarts_with_validation_data_choose_by_validation_loss(iris):
    X, Y = iris
    order = np.random.default_rng(0).permutation(150)
    tr, va = order[:30], order[30:]
    net = Network([4, 8, 3], activation="tanh", output_activation="softmax", seed=0)
    rec = Recorder()
    history = train(net, X[tr], Y[tr], optimizer="adam", learning_rate=0.05, epochs=60,
                    restarts=4, seed=0, validation_data=(X[va], Y[va]), callbacks=[rec])
    probe = Network([4, 8, 3], activation="tanh", output_activation="softmax")
    train_costs, val_costs = [], []
    for theta in rec.end:
        probe.theta = theta
        train_costs.append(probe.cost(X[tr], Y[tr]))
        val_costs.append(probe.cost(X[va], Y[va]))
    # This seed makes the two criteria disagree, so the test can tell them apart.
    assert np.argmin(train_costs) != np.argmin(val_costs)
    np.testing.assert_allclose([r.final_loss for r in history.runs], val_costs, rtol=1e-12)
    assert history.best_run == int(np.argmin(val_costs))
    assert net.cost(X[va], Y[va]) == pytest.approx(min(val_costs), rel=1e-12)


def test_a_single_run_starts_from_the_networks_own_weights(iris):
    X, Y = iris
    net = small_net(seed=5)
    before = net.theta.copy()
    rec = Recorder()
    history = train(net, X, Y, epochs=2, callbacks=[rec])
    np.testing.assert_array_equal(rec.begin[0], before)
    assert history.runs[0].seed is None and history.best_run == 0


def test_run_seeds_are_distinct_and_derived_from_the_seed():
    assert run_seeds(0, 5) == run_seeds(0, 5)
    assert len(set(run_seeds(0, 5))) == 5
    assert run_seeds(0, 3) != run_seeds(1, 3)


def test_callback_hooks_are_called_in_order_for_each_run(iris):
    X, Y = iris
    rec = Recorder()
    train(small_net(), X, Y, epochs=2, restarts=2, seed=0, callbacks=[rec])
    run = [("epoch_begin", 0), ("epoch_end", 0), ("epoch_begin", 1), ("epoch_end", 1)]
    assert rec.calls == [("begin", 0), *run, ("end", 0), ("begin", 1), *run, ("end", 1)]


# --- early stopping ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def overfit_data(digits):
    X, Y, X_test, Y_test = digits
    return X[:300], Y[:300], X_test[:200], Y_test[:200]


def overfit_net():
    return Network([64, 64, 10], activation="relu", output_activation="softmax", seed=0)


def test_early_stopping_stops_on_validation_loss_and_restores_the_best_weights(overfit_data):
    X, Y, X_val, Y_val = overfit_data
    net = overfit_net()
    stopper = EarlyStopping(patience=5, min_delta=1e-4)
    history = train(net, X, Y, optimizer="adam", learning_rate=0.01, epochs=200, batch_size=32,
                    seed=0, validation_data=(X_val, Y_val), callbacks=[stopper])
    run = history.best
    val = run.val_loss
    assert run.stop_reason == "EarlyStopping"
    assert run.n_epochs < 200
    # the best epoch, by the min_delta rule, then `patience` epochs that did not beat it
    best = 0
    for e in range(1, len(val)):
        if val[e] < val[best] - 1e-4:
            best = e
    assert stopper.best_epoch == best
    assert run.n_epochs == best + 1 + 5
    assert min(val[best + 1:]) >= val[best] - 1e-4
    assert net.cost(X_val, Y_val) == pytest.approx(val[best], rel=1e-12)
    assert run.final_loss == pytest.approx(val[best], rel=1e-12)
    assert np.shares_memory(net.W[0], net.theta)


def test_early_stopping_on_the_validation_score(overfit_data):
    X, Y, X_val, Y_val = overfit_data
    net = overfit_net()
    stopper = EarlyStopping(patience=3, min_delta=0.0, monitor="val_score")
    history = train(net, X, Y, optimizer="adam", learning_rate=0.01, epochs=200, batch_size=32,
                    seed=0, validation_data=(X_val, Y_val), score=accuracy, callbacks=[stopper])
    scores = history.val_score
    best = int(np.argmax(scores))  # the first maximum
    assert history.best.stop_reason == "EarlyStopping"
    assert len(scores) == best + 1 + 3
    assert accuracy(net, X_val, Y_val) == scores[best]


def test_early_stopping_on_the_training_loss(iris):
    X, Y = iris
    stopper = EarlyStopping(patience=2, min_delta=0.05, monitor="train_loss")
    history = train(small_net(), X, Y, optimizer="gd", learning_rate=0.5, epochs=500,
                    callbacks=[stopper])
    # batch descent keeps improving, but by less than min_delta per epoch after a while
    assert history.best.stop_reason == "EarlyStopping"
    assert history.best.n_epochs < 500


def test_early_stopping_on_val_score_needs_validation_data(iris):
    X, Y = iris
    with pytest.raises(ValueError, match="validation data"):
        train(small_net(), X, Y, epochs=3, callbacks=[EarlyStopping(monitor="val_score")])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"patience": 0}, "patience must be an integer >= 1, got 0"),
        ({"min_delta": -1.0}, r"min_delta must be a number in \[0, inf\), got -1.0"),
        ({"monitor": "loss"}, "unknown monitor 'loss'; valid: train_loss, val_loss, val_score"),
    ],
)
def test_early_stopping_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


def test_early_stopping_on_val_score_needs_a_score(overfit_data):
    X, Y, X_val, Y_val = overfit_data
    with pytest.raises(ValueError, match="score"):
        train(overfit_net(), X, Y, epochs=20, validation_data=(X_val, Y_val),
              callbacks=[EarlyStopping(monitor="val_score", patience=2)])


# --- dropout ----------------------------------------------------------------------------------


def test_dropout_gradient_check_with_a_fixed_mask():
    rng = np.random.default_rng(0)
    m, keep = 7, 0.6
    net = Network([5, 6, 4, 3], activation=["tanh", "sigmoid"], output_activation="softmax",
                  weight_decay=1e-3, seed=0)
    X = rng.normal(size=(m, 5))
    Y = np.eye(3)[rng.integers(0, 3, m)]
    masks = [(rng.random((m, k)) < keep) / keep for k in (6, 4)]
    masks[0][:, 2] = 0.0  # unit 2 of the first hidden layer dropped for every example

    def fun(theta):
        return net.loss_and_grad(X, Y, theta, dropout_masks=masks)

    report = check_gradient(fun, net.theta.copy())
    assert report.relative_difference < 1e-7, str(report)
    _, g = fun(net.theta)
    dW, db = net.layout.views(g)
    # a unit dropped everywhere passes no error back: its incoming weights get no gradient
    np.testing.assert_array_equal(dW[0][2], net.weight_decay * net.W[0][2])
    assert db[0][2] == 0.0
    _, g_plain = net.loss_and_grad(X, Y)
    assert not np.allclose(g, g_plain)


def test_inverted_dropout_scales_kept_units():
    # One example, masks of 1/keep everywhere: the same as no dropout with the hidden
    # activations multiplied by 1/keep, i.e. the next layer's weights scaled.
    rng = np.random.default_rng(1)
    net = Network([3, 4, 2], activation="tanh", output_activation="identity", seed=0)
    X = rng.normal(size=(2, 3))
    Y = rng.normal(size=(2, 2))
    J_mask, _ = net.loss_and_grad(X, Y, dropout_masks=[np.full((2, 4), 2.0)])
    scaled = net.copy()
    scaled.W[1][...] *= 2.0
    assert J_mask == pytest.approx(scaled.cost(X, Y), rel=1e-12)


def test_training_with_dropout_learns_and_evaluation_is_deterministic(digits):
    X, Y, X_test, Y_test = digits
    net = Network([64, 64, 10], activation="relu", output_activation="softmax", seed=0)
    history = train(net, X, Y, optimizer="adam", learning_rate=1e-2, epochs=8, batch_size=64,
                    dropout=0.3, seed=0)
    assert history.train_loss[-1] < history.train_loss[0] / 2
    np.testing.assert_array_equal(net.forward(X_test), net.forward(X_test))
    assert accuracy(net, X_test, Y_test) > 0.9
    # the masks changed the path: the same run without dropout ends elsewhere
    plain = Network([64, 64, 10], activation="relu", output_activation="softmax", seed=0)
    train(plain, X, Y, optimizer="adam", learning_rate=1e-2, epochs=8, batch_size=64, seed=0)
    assert not np.allclose(plain.theta, net.theta)


@pytest.mark.parametrize("p", [1.0, 1.5, -0.1, math.nan])
def test_dropout_outside_zero_one_is_refused(iris, p):
    X, Y = iris
    with pytest.raises(ValueError, match="dropout"):
        train(small_net(), X, Y, epochs=1, dropout=p)


@pytest.mark.parametrize("optimizer", ["lbfgs", "cg"])
def test_dropout_with_a_full_batch_minimizer_is_refused(iris, optimizer):
    X, Y = iris
    net = small_net()
    before = net.theta.copy()
    with pytest.raises(ValueError, match="dropout"):
        train(net, X, Y, epochs=3, optimizer=optimizer, dropout=0.2)
    np.testing.assert_array_equal(net.theta, before)


# --- the divergence guard ---------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize(
    ("lr", "batch_size", "dtype", "epoch"),
    [
        (3.0, 64, np.float64, 2),  # diverges in epoch 2: keeps epoch 1's weights
        (1e6, 16, np.float64, 1),  # diverges in epoch 1: keeps the start
        (1e6, 64, np.float32, None),
    ],
)
def test_divergence_stops_with_a_clear_error_and_the_last_finite_weights(
    digits, lr, batch_size, dtype, epoch
):
    X, Y, _, _ = digits
    net = Network([64, 30, 10], activation="relu", output_activation="identity", seed=0,
                  dtype=dtype)
    theta = net.theta
    rec = Recorder()
    with pytest.raises(TrainingDiverged, match="smaller learning rate") as info:
        train(net, X, Y, optimizer="sgd", learning_rate=lr, batch_size=batch_size, epochs=20,
              seed=0, callbacks=[rec])
    finished = len(rec.epochs[0])
    if epoch is not None:
        assert finished == epoch - 1
    message = str(info.value)
    assert f"diverged at epoch {finished + 1} " in message
    assert f"(it was {lr:g})" in message  # the rate that was too large
    assert net.theta is theta and np.isfinite(net.theta).all()
    expected = rec.epochs[0][-1] if finished else rec.begin[0]
    np.testing.assert_array_equal(net.theta, expected)
    if finished:
        assert f"end of epoch {finished}" in message
    else:
        assert "weights it started from" in message
    history = info.value.history
    assert isinstance(history, History) and history.best.n_epochs == finished


def test_divergence_does_not_leak_overflow_warnings(digits):
    X, Y, _, _ = digits
    net = Network([64, 30, 10], activation="relu", output_activation="identity", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(TrainingDiverged, match="smaller learning rate"):
            train(net, X, Y, optimizer="gd", learning_rate=10.0, epochs=200)


def test_a_cost_that_explodes_while_finite_is_divergence(digits):
    # The example: weight decay 0.01 at learning rate 1e3 multiplies W by -9 per
    # step, so J grows about 81-fold per epoch and reaches 3e190 after 100 epochs, finite.
    X, Y, _, _ = digits
    net = Network([64, 25, 10], activation="relu", output_activation="sigmoid",
                  loss="squared_error", weight_decay=0.01, seed=0)
    rec = Recorder()
    with pytest.raises(TrainingDiverged, match="smaller learning rate") as info:
        train(net, X, Y, optimizer="gd", learning_rate=1e3, epochs=100, callbacks=[rec])
    message = str(info.value)
    first = info.value.history.best.train_loss[0]
    assert "more than 10000 times the run's first cost" in message
    assert f"({first:.6g})" in message
    finished = len(rec.epochs[0])
    assert 1 <= finished < 5  # caught within a few epochs, not at overflow
    assert info.value.history.best.n_epochs == finished
    assert all(J <= 1e4 * first for J in info.value.history.best.train_loss)
    np.testing.assert_array_equal(net.theta, rec.epochs[0][-1])  # the last good weights
    assert np.isfinite(net.theta).all()


def test_the_explosion_rule_measures_from_the_first_cost_taken_as_at_least_one(iris):
    X, Y = iris
    costs = iter([1e-6, 0.5, 9e3, 1.5e4])  # ratio 5e5 to the first, but below 1e4 × 1

    class Scripted(Network):
        def loss_and_grad_into(self, *args, **kwargs):
            super().loss_and_grad_into(*args, **kwargs)
            return next(costs)

    net = Scripted([4, 3], output_activation="softmax", seed=0)
    with pytest.raises(TrainingDiverged, match="grew to 15000") as info:
        train(net, X, Y, optimizer="gd", learning_rate=1e-9, epochs=4)
    assert info.value.history.best.train_loss == [1e-6, 0.5, 9e3]

    costs = iter([10.0, 9.9e4, 1.01e5])  # a first cost above 1 scales the limit
    net = Scripted([4, 3], output_activation="softmax", seed=0)
    with pytest.raises(TrainingDiverged, match="grew to 101000"):
        train(net, X, Y, optimizer="gd", learning_rate=1e-9, epochs=3)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.parametrize("batch_size", [None, 50])
@pytest.mark.parametrize("optimizer", ["sgd", "lbfgs"])
def test_divergence_from_huge_data_blames_the_data_not_the_learning_rate(
    digits, batch_size, optimizer
):
    X, Y, _, _ = digits
    X = X.copy()
    X[5, 3] = 1e308
    net = Network([64, 25, 10], activation="relu", output_activation="softmax", seed=0)
    with pytest.raises(TrainingDiverged, match=r"value of 1e\+308 \(row 5, column 3\)") as info:
        train(net, X, Y, optimizer=optimizer, epochs=5, batch_size=batch_size)
    message = str(info.value)
    assert "X holds a value of 1e+308 (row 5, column 3)" in message
    assert "learning rate" not in message.split("X holds")[0]
    assert "smaller learning rate" not in message
    assert np.isfinite(net.theta).all()


def test_train_dispatches_on_what_the_optimizer_can_do_not_on_its_class(iris):
    X, Y = iris
    seen = []

    class Delegating:  # a Minimizer of its own: train must hand it the whole run
        def minimize(self, fun, theta, callback=None, max_iter=None):
            seen.append(max_iter)
            return LBFGS().minimize(fun, theta, callback, max_iter)

    net, reference = small_net(), small_net()
    history = train(net, X, Y, optimizer=Delegating(), epochs=7)
    train(reference, X, Y, optimizer="lbfgs", epochs=7)
    assert seen == [7] and history.best.n_epochs <= 7
    np.testing.assert_array_equal(net.theta, reference.theta)


def test_lbfgs_divergence_is_reported(iris):
    X, Y = iris

    class Exploding(Network):
        calls = 0

        def loss_and_grad_into(self, *args, **kwargs):
            Exploding.calls += 1
            J = super().loss_and_grad_into(*args, **kwargs)
            return math.inf if Exploding.calls > 4 else J

    net = Exploding([4, 6, 3], activation="tanh", output_activation="softmax", seed=0)
    with pytest.raises(TrainingDiverged, match="LBFGS iteration"):
        train(net, X, Y, optimizer="lbfgs", epochs=50)
    assert np.isfinite(net.theta).all()


# --- reproducibility, views, dtypes -----------------------------------------------------------


def adam_run(X, Y, seed, **kwargs):
    net = Network([64, 32, 10], activation="relu", output_activation="softmax", seed=0)
    history = train(net, X, Y, optimizer="adam", learning_rate=1e-2, epochs=3, batch_size=50,
                    shuffle=True, dropout=0.2, seed=seed, **kwargs)
    return net, history


def test_same_seed_gives_bit_identical_weights(digits):
    X, Y, _, _ = digits
    a, ha = adam_run(X, Y, seed=11)
    b, hb = adam_run(X, Y, seed=11)
    assert np.array_equal(a.theta, b.theta)
    assert ha.train_loss == hb.train_loss
    c, _ = adam_run(X, Y, seed=12)
    assert not np.array_equal(a.theta, c.theta)


def test_same_seed_is_reproducible_with_restarts_and_a_validation_split(iris):
    X, Y = iris

    def run(seed):
        net = small_net()
        h = train(net, X, Y, optimizer="sgd", learning_rate=0.1, epochs=5, batch_size=16,
                  restarts=3, validation_fraction=0.2, dropout=0.1, seed=seed)
        return net.theta.copy(), h

    (t1, h1), (t2, h2) = run(4), run(4)
    assert np.array_equal(t1, t2) and h1.best_run == h2.best_run
    assert [r.val_loss for r in h1.runs] == [r.val_loss for r in h2.runs]
    t3, _ = run(5)
    assert not np.array_equal(t1, t3)


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "adam", "lbfgs", "cg"])
def test_parameter_views_survive_training(iris, optimizer):
    X, Y = iris
    net = small_net()
    theta = net.theta
    train(net, X, Y, optimizer=optimizer, epochs=3, batch_size=32, seed=0)
    assert net.theta is theta
    for W, b in zip(net.W, net.b, strict=True):
        assert np.shares_memory(W, net.theta) and np.shares_memory(b, net.theta)
    # and they are the live parameters: writing through theta shows in W
    net.theta[0] = 123.0
    assert net.W[0][0, 0] == 123.0


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_float32_training_stays_float32(iris, optimizer):
    X, Y = iris  # float64 data
    net = small_net(dtype=np.float32)
    history = train(net, X, Y, optimizer=optimizer, epochs=20, batch_size=32,
                    validation_fraction=0.2, seed=0)
    assert net.theta.dtype == np.float32 and net.W[0].dtype == np.float32
    assert np.shares_memory(net.W[0], net.theta)
    assert net.forward(X).dtype == np.float32
    assert all(isinstance(v, float) for v in history.train_loss + history.val_loss)
    assert history.train_loss[-1] < history.train_loss[0]


def test_float32_training_with_dropout(iris):
    X, Y = iris
    net = small_net(dtype=np.float32)
    history = train(net, X, Y, epochs=5, batch_size=32, dropout=0.2, seed=0)
    assert net.theta.dtype == np.float32 and history.train_loss[-1] < history.train_loss[0]


# --- callbacks inside the loop ----------------------------------------------------------------


class StopAtThree(Callback):
    def on_epoch_end(self, state):
        return state.epoch == 2


def test_a_callback_returning_true_stops_the_run(iris):
    X, Y = iris
    history = train(small_net(), X, Y, epochs=50, callbacks=[StopAtThree()])
    assert history.best.n_epochs == 3
    assert history.best.stop_reason == "StopAtThree"


def test_a_callback_stops_lbfgs_too(iris):
    X, Y = iris
    history = train(small_net(), X, Y, optimizer="lbfgs", epochs=100, callbacks=[StopAtThree()])
    assert history.best.stop_reason == "StopAtThree"
    assert history.best.n_epochs <= 3


def test_lbfgs_epochs_count_from_zero_like_descent(iris):
    X, Y = iris
    rec = Recorder()
    history = train(small_net(), X, Y, optimizer="lbfgs", epochs=3, callbacks=[rec])
    assert history.best.n_epochs == 3
    assert [c for c in rec.calls if c[0] == "epoch_end"] == [("epoch_end", e) for e in range(3)]


def test_schedule_as_learning_rate_sets_each_epochs_rate(iris):
    X, Y = iris
    history = train(small_net(), X, Y, optimizer="gd", epochs=5,
                    learning_rate=StepDecay(1.0, step_size=2, gamma=0.5))
    assert history.best.learning_rate == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_schedule_callback_with_cosine(iris):
    X, Y = iris
    schedule = Cosine(0.2, total_epochs=4)
    history = train(small_net(), X, Y, optimizer="sgd", epochs=4, batch_size=50,
                    callbacks=[LearningRateSchedule(schedule)])
    assert history.best.learning_rate == pytest.approx([schedule(e) for e in range(4)])


def test_the_scheduled_rate_is_the_step_the_optimizer_takes(iris):
    X, Y = iris
    net = small_net()
    J0, g0 = net.loss_and_grad(X, Y)
    expected = net.theta - 0.25 * g0
    train(net, X, Y, optimizer=GradientDescent(learning_rate=9.0), epochs=1,
          learning_rate=lambda epoch, loss: 0.25)
    np.testing.assert_allclose(net.theta, expected, rtol=1e-14, atol=1e-15)


def test_plateau_schedule_is_reset_between_restarts(iris):
    X, Y = iris
    plateau = ReduceOnPlateau(1e-6, factor=0.5, patience=1, min_delta=1.0)
    history = train(small_net(), X, Y, optimizer="gd", epochs=4, restarts=2, seed=0,
                    learning_rate=plateau)
    # The first loss improves on "no loss yet"; every later one is a plateau (min_delta=1),
    # so the rate halves from epoch 2 on — in each run, from the initial rate again.
    for run in history.runs:
        assert run.learning_rate == [1e-6, 1e-6, 1e-6 * 0.5, 1e-6 * 0.25]


def test_a_constant_rate_is_recorded(iris):
    X, Y = iris
    history = train(small_net(), X, Y, optimizer=SGD(learning_rate=0.3), epochs=2)
    assert history.best.learning_rate == [0.3, 0.3]  # the optimizer's own by default
    history = train(small_net(), X, Y, optimizer="gd", learning_rate=0.5, epochs=2)
    assert history.best.learning_rate == [0.5, 0.5]


def test_a_numpy_scalar_rate_is_used(iris):
    X, Y = iris
    history = train(small_net(), X, Y, optimizer="gd", learning_rate=np.float32(0.5), epochs=2)
    assert history.best.learning_rate == [0.5, 0.5]


def test_epoch_logger_writes_one_line_per_epoch(iris):
    X, Y = iris
    stream = io.StringIO()
    train(small_net(), X, Y, epochs=4, validation_fraction=0.2, seed=0,
          callbacks=[EpochLogger(stream)])
    lines = stream.getvalue().splitlines()
    assert [line.split("  ")[1] for line in lines] == [f"epoch {e}" for e in range(1, 5)]
    assert all("val_loss" in line for line in lines)


def test_progress_bar_is_off_by_default_and_quiet_off_a_terminal(iris, capsys):
    X, Y = iris
    train(small_net(), X, Y, epochs=3)
    assert capsys.readouterr() == ("", "")
    train(small_net(), X, Y, epochs=3, progress=True)  # stderr is not a terminal here
    assert capsys.readouterr() == ("", "")
    train(small_net(), X, Y, epochs=3, callbacks=[ProgressBar(force=True)])
    out, err = capsys.readouterr()
    assert out == "" and "3/3" in err


# --- validation data and arguments ------------------------------------------------------------


def test_validation_fraction_holds_out_that_share(iris):
    X, Y = iris
    seen = []

    def score(net, X_val, Y_val):
        seen.append(X_val.copy())
        return accuracy(net, X_val, Y_val)

    history = train(small_net(), X, Y, epochs=3, validation_fraction=0.2, score=score, seed=0)
    assert len(seen) == 3 and all(s.shape == (30, 4) for s in seen)
    rows = {tuple(r) for r in X}
    assert all(tuple(r) in rows for r in seen[0])
    assert not any(math.isnan(v) for v in history.val_loss + history.val_score)
    again = []
    train(small_net(), X, Y, epochs=1, validation_fraction=0.2, seed=0,
          score=lambda n, Xv, Yv: again.append(Xv.copy()) or 0.0)
    np.testing.assert_array_equal(again[0], seen[0])  # the split follows the seed


def test_no_validation_records_nan(iris):
    X, Y = iris
    history = train(small_net(), X, Y, epochs=2)
    assert all(math.isnan(v) for v in history.val_loss + history.val_score)
    assert len(history.best.epoch_time) == 2


def test_validation_data_and_fraction_together_raise(iris):
    X, Y = iris
    with pytest.raises(ValueError, match="not both"):
        train(small_net(), X, Y, epochs=1, validation_data=(X, Y), validation_fraction=0.2)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 0.001])
def test_bad_validation_fraction(iris, fraction):
    X, Y = iris
    with pytest.raises(ValueError, match="validation_fraction"):
        train(small_net(), X, Y, epochs=1, validation_fraction=fraction)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -2}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"restarts": 0}, "restarts"),
        ({"restarts": 1.0}, "restarts"),
        ({"optimizer": "newton"}, "valid: adam, adamw, cg, gd, lbfgs, sgd"),
        # a bool is an int to Python, never a count to a user (one wording, from _checks)
        ({"epochs": True}, "epochs must be an integer >= 1, got True"),
        ({"restarts": True}, "restarts must be an integer >= 1, got True"),
        ({"batch_size": False}, "batch_size must be an integer >= 1, got False"),
        ({"dropout": True}, r"dropout must be a number in \[0, 1\), got True"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\), got 1.0"),
    ],
)
def test_bad_arguments_raise(iris, kwargs, match):
    X, Y = iris
    net = small_net()
    before = net.theta.copy()
    with pytest.raises(ValueError, match=match):
        train(net, X, Y, **kwargs)
    np.testing.assert_array_equal(net.theta, before)


def test_mismatched_shapes_raise(iris):
    X, Y = iris
    with pytest.raises(ValueError, match="X has 3 columns, expected 4"):
        train(small_net(), X[:, :3], Y, epochs=1)
    with pytest.raises(ValueError, match="X and Y have different numbers of samples: 150 and 100"):
        train(small_net(), X, Y[:100], epochs=1)


# --- sample weights ---------------------------------------------------------------------------


def test_integer_sample_weights_equal_repeated_rows_for_batch_descent(iris):
    X, Y = iris
    w = np.random.default_rng(0).integers(0, 4, size=150)  # zero weight = row left out
    weighted, repeated = small_net(seed=2), small_net(seed=2)
    h1 = train(weighted, X, Y, optimizer="gd", learning_rate=0.5, epochs=50, sample_weight=w)
    h2 = train(repeated, np.repeat(X, w, axis=0), np.repeat(Y, w, axis=0), optimizer="gd",
               learning_rate=0.5, epochs=50)
    np.testing.assert_allclose(weighted.theta, repeated.theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h1.train_loss, h2.train_loss, rtol=1e-10)
    assert h1.runs[0].final_loss == pytest.approx(weighted.cost(X, Y, sample_weight=w))


def test_bad_sample_weights_raise(iris):
    X, Y = iris
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(150,\), got \(10,\)"):
        train(small_net(), X, Y, epochs=1, sample_weight=np.ones(10))
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        train(small_net(), X, Y, epochs=1, sample_weight=-np.ones(150))


# --- the public name ----------------------------------------------------------------------


def test_from_nablanet_import_train_is_the_function_after_other_imports():
    code = (
        "import nablanet\n"
        "from nablanet import MLPClassifier, TrainingDiverged\n"
        "from nablanet import train\n"
        "assert callable(train), train\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- accuracy ---------------------------------------------------------------------------------


def test_accuracy_thresholds_and_argmax():
    net = Network([1, 1], output_activation="sigmoid", seed=0)
    net.theta = [1.0, 0.0]  # h(x) = sigmoid(x): above 0.5 exactly when x > 0
    X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    assert accuracy(net, X, np.array([[0.0], [1.0], [1.0], [1.0]])) == 0.75
    tanh = Network([1, 1], output_activation="tanh", seed=0)
    tanh.theta = [1.0, 0.0]  # −1/+1 targets, threshold 0 (docs/math.md §4)
    assert accuracy(tanh, X, np.array([[-1.0], [-1.0], [1.0], [-1.0]])) == 0.75
    soft = Network([2, 3], output_activation="softmax", seed=0)
    soft.W[0][...] = np.eye(3, 2)
    X2 = np.array([[5.0, 0.0], [0.0, 5.0], [0.0, 5.0]])
    assert accuracy(soft, X2, np.eye(3)[[0, 1, 2]]) == pytest.approx(2 / 3)


def test_train_reads_images_as_the_network_does(digits):
    # Network reads X as (m, prod(input_shape)) or (m, *input_shape); train read only the first
    X_train, Y_train, _, _ = digits
    X, Y = X_train[:40].reshape(40, 1, 8, 8), Y_train[:40]

    def net():
        return Network([Conv2D(2, 3, activation="tanh"), MaxPool2D(2), Dense(10, "softmax")],
                       input_shape=(1, 8, 8), seed=0)

    flat, square = net(), net()
    h_flat = train(flat, X[:30].reshape(30, -1), Y[:30], epochs=2, batch_size=10, seed=0,
                   validation_data=(X[30:].reshape(10, -1), Y[30:]))
    h_square = train(square, X[:30], Y[:30], epochs=2, batch_size=10, seed=0,
                     validation_data=(X[30:], Y[30:]))
    np.testing.assert_array_equal(square.theta, flat.theta)
    assert h_square.best.val_loss == h_flat.best.val_loss
    assert not np.array_equal(square.theta, net().theta)  # it trained


def test_adamw_by_name_leaves_the_biases_undecayed(iris):
    # nablanet never decays biases (Network's weight_decay); AdamW() alone decays all of θ
    X, Y = iris
    by_name = Network([4, 5, 3], activation="tanh", output_activation="softmax", seed=0)
    masked, everything = by_name.copy(), by_name.copy()
    kwargs = {"learning_rate": 0.05, "epochs": 3, "batch_size": 50, "seed": 1}
    train(by_name, X, Y, optimizer="adamw", **kwargs)
    train(masked, X, Y, optimizer=AdamW(decay_mask=slice(0, masked.n_weights)), **kwargs)
    train(everything, X, Y, optimizer=AdamW(), **kwargs)
    np.testing.assert_array_equal(by_name.theta, masked.theta)
    # the weights' steps are the same either way; only the biases' differ
    n = by_name.n_weights
    assert not np.array_equal(by_name.theta[n:], everything.theta[n:])
