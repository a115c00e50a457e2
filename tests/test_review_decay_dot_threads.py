"""Review finding (fixed): full-batch steps in parts: J is NOT the same bits whatever the
BLAS thread count.

What is wrong: `PartedPass.__call__` (nablanet/network_parts.py, the line
``J = float(np.sum(self.costs)) + net.weight_decay_cost(theta)``) adds the weight decay
cost outside `run_parts`, i.e. outside the one-BLAS-thread hold. `weight_decay_cost` is
``np.dot(weights, weights)``, and OpenBLAS's ddot splits a vector of more than 10 000
entries among its threads and adds the partial sums in another order: the decay term, so
J, changes in its last bits with the thread count (n_weights = 29 600 below). The
commit (and tests/test_blas_threads.py, whose network has only 7 400 weights) claims the
same bits whatever the count; the L-BFGS fit's recorded losses then differ by thread count.

What is right: the same J on 1, 2 and 3 threads: compute the decay term with BLAS held to
one thread (e.g. inside `holding_blas()`/`one_blas_thread()`, or with a fixed-order sum
that does not call BLAS).
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from nablanet import Network, train
from nablanet.network_parts import PartedPass


def _digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, np.eye(10)[y]


def _net(seed):
    return Network([64, 400, 10], activation="relu", output_activation="softmax",
                   weight_decay=1e-3, seed=seed)


def test_parted_J_is_the_same_bits_on_one_and_two_threads():
    X, Y = _digits()
    for seed in (3, 5):  # two initialisations whose ‖W‖² rounds differently on 2 threads
        net = _net(seed)
        parted = PartedPass.for_rows(net, len(X))
        assert parted is not None
        Js = []
        for n in (1, 2, 3):
            grad = np.empty(net.n_params)
            with threadpool_limits(limits=n):
                Js.append(parted(X, Y, net.theta, grad))
        assert Js[1] == Js[0] and Js[2] == Js[0], Js


def test_an_lbfgs_fit_records_the_same_losses_whatever_the_threads():
    X, Y = _digits()

    def fit(n):
        net = _net(3)
        with threadpool_limits(limits=n):
            history = train(net, X, Y, optimizer="lbfgs", epochs=4)
        return list(history.runs[0].train_loss), net.theta.copy()

    (loss1, theta1), (loss2, theta2) = fit(1), fit(2)
    assert loss2 == loss1
    np.testing.assert_array_equal(theta2, theta1)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_estimators_lbfgs_loss_is_the_same_bits_whatever_the_threads():
    # The claim of the change: an estimator's L-BFGS fit is the same bits on any count.
    # alpha is divided by m for the network's weight decay: a large alpha makes the decay
    # term a visible part of J; 400 hidden units give 29 600 weights (> OpenBLAS's 10 000).
    from nablanet.estimators.classifier import MLPClassifier

    X, y = load_digits(return_X_y=True)
    losses = []
    for n in (1, 2, 3):
        with threadpool_limits(limits=n):
            est = MLPClassifier(hidden_layer_sizes=(400,), solver="lbfgs", alpha=10.0,
                                max_iter=15, random_state=0).fit(X, y)
        losses.append(est.loss_)
    assert losses[1] == losses[0] and losses[2] == losses[0], losses
