"""The divergence guard's rule: the dtype's ceiling, the reference cost, the advice."""

import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris

from nablanet import MLPClassifier, MLPRegressor, Network, TrainingDiverged
from nablanet.training import train
from nablanet.training.guard import ceiling, data_limit


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, np.eye(10)[y[:300]]


def scripted(costs):
    """A network whose costs are ``costs`` in turn (its gradients are the real ones)."""
    values = iter(costs)

    class Scripted(Network):
        def loss_and_grad_into(self, *args, **kwargs):
            J = super().loss_and_grad_into(*args, **kwargs)
            return next(values, J)

    return Scripted([4, 3], output_activation="softmax", seed=0)


def test_the_ceiling_and_the_data_limit_follow_the_dtype():
    assert ceiling(np.float64) == pytest.approx(1.34e154, rel=1e-2)
    assert ceiling(np.float32) == pytest.approx(1.84e19, rel=1e-2)
    assert data_limit(np.float64) == pytest.approx(6.7e7, rel=1e-2)
    assert data_limit(np.float32) == pytest.approx(2896, rel=1e-2)


def test_a_first_cost_beyond_the_ceiling_is_a_divergence():
    """The first cost is no reference when it is already beyond the dtype's ceiling."""
    X, y = load_iris(return_X_y=True)
    net = scripted([1e155])
    with pytest.raises(TrainingDiverged, match=r"beyond 1\.34e\+154") as info:
        train(net, X, np.eye(3)[y], optimizer="gd", learning_rate=1e-9, epochs=2)
    assert "The cost was 1e+155 at the starting weights, before any step" in str(info.value)


def test_data_of_1e100_is_blamed_not_the_learning_rate(digits):
    X, Y = digits
    X = X.copy()
    X[5, 3] = 1e100
    net = Network([64, 8, 10], activation="relu", output_activation="softmax", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TrainingDiverged, match=r"1e\+100 \(row 5, column 3\)") as info:
            train(net, X, Y, optimizer="sgd", learning_rate=0.1, epochs=5)
    message = str(info.value)
    assert "X holds a value of 1e+100 (row 5, column 3)" in message
    assert "smaller learning rate" not in message


def test_adam_partial_fit_with_a_huge_cell_in_the_first_batch_is_refused(digits):
    X, Y = digits
    X = X.copy()
    X[0, 0] = 1e308
    est = MLPClassifier(hidden_layer_sizes=(8,), batch_size=100, shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TrainingDiverged, match=r"X holds a value of 1e\+308 \(row 0"):
            est.partial_fit(X, Y.argmax(axis=1), classes=np.arange(10))


def test_single_row_batches_of_unscaled_zero_inflated_targets_train():
    """The first row's target is 0 (cost near 0); later rows' costs are ~1e5 times it."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = np.where(rng.random(200) < 0.5, 0.0, rng.uniform(100, 1000, 200))
    y[0] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPRegressor(hidden_layer_sizes=(4,), batch_size=1, max_iter=2, shuffle=False,
                           random_state=0, learning_rate_init=1e-4).fit(X, y)
    assert math.isfinite(est.loss_)


def test_lbfgs_divergence_after_a_finite_start_names_the_step_not_the_start():
    X, y = load_iris(return_X_y=True)
    net = scripted([0.9, math.inf, math.inf, math.inf, math.inf, math.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TrainingDiverged, match="LBFGS iteration 1") as info:
            train(net, X, np.eye(3)[y], optimizer="lbfgs", epochs=5)
    message = str(info.value)
    assert "not finite at the starting weights" not in message
    assert message.count("J=inf") == 1
    assert "Check the data's scale and the weight decay" in message


def test_a_minibatch_of_zero_weights_adds_nothing(digits):
    """Its J is 0/0: it is skipped, so the run equals one without those rows."""
    X, Y = digits
    s = np.ones(len(Y))
    s[:50] = 0.0
    nets = [Network([64, 5, 10], output_activation="softmax", seed=0) for _ in range(2)]
    h = train(nets[0], X, Y, optimizer="sgd", batch_size=50, epochs=2, shuffle=False,
              sample_weight=s, learning_rate=0.1)
    ref = train(nets[1], X[50:], Y[50:], optimizer="sgd", batch_size=50, epochs=2,
                shuffle=False, learning_rate=0.1)
    np.testing.assert_array_equal(nets[0].theta, nets[1].theta)
    assert h.best.train_loss == ref.best.train_loss
