"""to_torch: a torch.nn.Sequential with the network's weights and outputs."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from export_helpers import fit
from optional import import_torch
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler

import nablanet
from nablanet import MLPClassifier, MLPRegressor, Network
from nablanet.activations import LEAKY_SLOPE
from nablanet.export.torch import to_torch

torch = import_torch()

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]


def outputs(seq, X):
    with torch.no_grad():
        return seq(torch.from_numpy(X)).numpy()




@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("output", [*HIDDEN, "softmax"])
def test_every_activation(output, dtype):
    rng = np.random.default_rng(0)
    net = Network([5, 7, 6, 5, 3], activation=["sigmoid", "tanh", "relu"],
                  output_activation=output, seed=2, dtype=dtype)
    net.theta = rng.normal(size=net.n_params)
    X = rng.normal(size=(40, 5)).astype(dtype) * 2
    seq = to_torch(net)
    assert next(seq.parameters()).dtype == (torch.float64 if dtype == np.float64 else
                                            torch.float32)
    # float32: both sides round each of a few hundred operations to ~6e-8
    tol = {"rtol": 0, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(outputs(seq, X), net.forward(X), **tol)


@pytest.mark.parametrize("hidden", HIDDEN)
def test_hidden_activations_and_weights(hidden):
    net = Network([4, 6, 2], activation=hidden, output_activation="identity", seed=0)
    net.b[0][:] = np.linspace(-1, 1, 6)
    seq = to_torch(net)
    np.testing.assert_array_equal(seq[0].weight.detach().numpy(), net.W[0])
    np.testing.assert_array_equal(seq[0].bias.detach().numpy(), net.b[0])
    X = np.random.default_rng(1).normal(size=(30, 4)) * 3
    np.testing.assert_allclose(outputs(seq, X), net.forward(X), rtol=0, atol=1e-12)
    # weights are copied: changing the network leaves the Sequential as it was
    net.W[0][...] = 0.0
    assert seq[0].weight.abs().sum() > 0


def test_leaky_relu_slope():
    seq = to_torch(Network([2, 3, 1], activation="leaky_relu", seed=0))
    assert isinstance(seq[1], torch.nn.LeakyReLU) and seq[1].negative_slope == LEAKY_SLOPE


def test_classifier_network_outputs():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    est = fit(MLPClassifier((16,), solver="lbfgs", max_iter=100, random_state=0), X, y)
    seq = to_torch(est)
    np.testing.assert_allclose(outputs(seq, X), est.predict_proba(X), rtol=0, atol=1e-12)
    assert (outputs(seq, X).argmax(axis=1) == est.predict(X)).all()
    binary = fit(MLPClassifier((8,), solver="lbfgs", max_iter=50, random_state=0), X, y == 2)
    np.testing.assert_allclose(outputs(to_torch(binary), X)[:, 0],
                               binary.predict_proba(X)[:, 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("output", [None, "sigmoid", "tanh"])
def test_regressor_predicts_targets(output):
    X, y = load_diabetes(return_X_y=True)
    est = fit(MLPRegressor((8,), solver="lbfgs", max_iter=50, random_state=0,
                           output_activation=output), X, y)
    seq = to_torch(est)
    np.testing.assert_allclose(outputs(seq, X)[:, 0], est.predict(X), rtol=1e-12)
    est32 = fit(MLPRegressor((8,), solver="lbfgs", max_iter=50, random_state=0, dtype="float32",
                             output_activation=output), X, y)
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(outputs(to_torch(est32), X32)[:, 0], est32.predict(X32),
                               rtol=1e-6)


def test_errors(monkeypatch):
    with pytest.raises(NotFittedError, match="instance is not fitted yet"):
        to_torch(MLPClassifier())
    with pytest.raises(TypeError, match="nablanet Network or estimator"):
        to_torch(StandardScaler())
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(ImportError, match=r"pip install torch==2\.13\.0"):
        to_torch(Network([2, 2, 1], seed=0))


def test_top_level_name():
    assert nablanet.to_torch is to_torch


def test_methods_of_the_estimators_and_the_function_for_a_network():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    net = Network([4, 5, 3], activation="tanh", output_activation="softmax", seed=0)
    # No method on the network: export sits above it (nablanet.to_torch is the one way).
    assert not hasattr(net, "to_torch")
    assert np.allclose(outputs(to_torch(net), X), net.forward(X), rtol=0, atol=1e-12)
    clf = fit(MLPClassifier(hidden_layer_sizes=(5,), random_state=0), X, y)
    assert np.allclose(outputs(clf.to_torch(), X), clf.predict_proba(X), rtol=0, atol=1e-12)
    sk = clf.to_sklearn()
    assert np.array_equal(sk.predict(X), clf.predict(X))
