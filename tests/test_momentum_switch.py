"""MomentumSwitchSGD: UFLDL's minFuncSGD, momentum 0.5 then 0.95 from iteration 20."""

from __future__ import annotations

import numpy as np
import pytest

import nablanet
from nablanet import Network
from nablanet.optim.momentum_switch import MomentumSwitchSGD
from nablanet.optim.schedules import StepDecay


def min_func_sgd(theta, grads, alphas, mom_increase=20, momentum=0.95):
    """UFLDL's minFuncSGD.m update, written out: v = mom v + α g; θ = θ − v."""
    theta, velocity, mom = theta.copy(), np.zeros_like(theta), 0.5
    path = []
    for it, (g, alpha) in enumerate(zip(grads, alphas, strict=True), start=1):
        if it == mom_increase:
            mom = momentum
        velocity = mom * velocity + alpha * g
        theta = theta - velocity
        path.append(theta.copy())
    return path


def test_matches_ufldl_min_func_sgd_across_the_switch_and_a_halved_rate():
    rng = np.random.default_rng(0)
    theta0 = rng.normal(size=5)
    grads = rng.normal(size=(30, 5))
    alphas = [0.1] * 12 + [0.05] * 18  # α halved after an "epoch" of 12 steps
    expected = min_func_sgd(theta0, grads, alphas)
    opt = MomentumSwitchSGD(learning_rate=0.1)
    theta = theta0.copy()
    state = opt.init(theta)
    for k, (g, alpha) in enumerate(zip(grads, alphas, strict=True)):
        opt.step(theta, g.copy(), state, alpha)
        np.testing.assert_allclose(theta, expected[k], rtol=1e-13, atol=1e-15)
    assert state.t == 30


def test_momentum_of_each_step():
    opt = MomentumSwitchSGD(momentum=0.9, initial_momentum=0.3, switch_at=3)
    assert [opt.momentum_at(t) for t in (1, 2, 3, 4)] == [0.3, 0.3, 0.9, 0.9]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"initial_momentum": 1.0}, "initial_momentum"),
        ({"initial_momentum": -0.5}, "initial_momentum"),
        ({"switch_at": 0}, "switch_at must be an integer >= 1"),
        ({"switch_at": 2.5}, "switch_at must be an integer >= 1"),
        ({"momentum": 1.5}, "momentum"),
    ],
)
def test_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MomentumSwitchSGD(**kwargs)


def test_drives_train_with_ufldl_schedule():
    """In ``nablanet.train`` with α halved each epoch, as UFLDL's CNN exercise trains."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    Y = np.eye(10)[y[:300]]
    net = Network([64, 10], output_activation="softmax", seed=0)
    J0 = net.cost(X, Y)
    history = nablanet.train(
        net, X, Y, optimizer=MomentumSwitchSGD(learning_rate=0.1), epochs=3, batch_size=32,
        learning_rate=StepDecay(0.1, step_size=1, gamma=0.5), seed=0,
    )
    assert history.best.learning_rate == [0.1, 0.05, 0.025]
    assert net.cost(X, Y) < 0.6 * J0
