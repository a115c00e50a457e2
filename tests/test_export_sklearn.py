"""Conversion of fitted MLPs between scikit-learn and nablanet, both ways."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.neural_network as sknn
from export_helpers import fit, scaled
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler

import nablanet
from nablanet import MLPClassifier, MLPRegressor, Network
from nablanet.export.sklearn import from_sklearn, to_sklearn

IRIS, DIGITS, DIABETES = scaled(load_iris), scaled(load_digits), scaled(load_diabetes)


def multilabel():
    X, y = DIGITS
    return X, np.column_stack([y % 2 == 0, y >= 5, np.isin(y, [0, 6, 8, 9])]).astype(int)


def same_classifier(a, b, X):
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=0, atol=1e-12)


CASES = {
    "iris": (IRIS, {}),
    "digits": (DIGITS, {"hidden_layer_sizes": (32, 16), "activation": "tanh"}),
    "binary": ((IRIS[0], IRIS[1] == 2), {"activation": "logistic"}),
    "strings": ((IRIS[0], np.array(["setosa", "versicolor", "virginica"])[IRIS[1]]), {}),
    "multilabel": (multilabel(), {"hidden_layer_sizes": (24,)}),
}


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
@pytest.mark.parametrize("case", list(CASES))
def test_classifier_from_sklearn(case, solver):
    (X, y), params = CASES[case]
    sk = fit(sknn.MLPClassifier(**{"hidden_layer_sizes": (16,), **params}, solver=solver,
                                max_iter=40, alpha=1e-3, random_state=0), X, y)
    assert sk.score(X, y) > 0.6
    est = from_sklearn(sk)
    assert type(est) is MLPClassifier
    same_classifier(est, sk, X)
    assert est.score(X, y) == sk.score(X, y)
    np.testing.assert_array_equal(est.classes_, sk.classes_)
    assert est.get_params()["alpha"] == 1e-3 and est.activation == sk.activation
    assert est.n_iter_ == sk.n_iter_ and est.loss_ == sk.loss_
    assert est.loss_curve_ == list(getattr(sk, "loss_curve_", []))
    assert est.out_activation_ == sk.out_activation_ and est.n_outputs_ == sk.n_outputs_
    for ours, theirs in zip(est.coefs_ + est.intercepts_, sk.coefs_ + sk.intercepts_,
                            strict=True):
        np.testing.assert_array_equal(ours, theirs)
    back = to_sklearn(est)
    assert type(back) is sknn.MLPClassifier
    same_classifier(back, sk, X)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_from_sklearn(solver, n_outputs):
    X, y = DIABETES
    Y = y if n_outputs == 1 else np.column_stack([y, 100 * X[:, 2]])
    sk = fit(sknn.MLPRegressor(hidden_layer_sizes=(16,), solver=solver, max_iter=50,
                               random_state=0), X, Y)
    est = from_sklearn(sk)
    assert type(est) is MLPRegressor
    assert est.predict(X).shape == sk.predict(X).shape
    np.testing.assert_allclose(est.predict(X), sk.predict(X), rtol=0, atol=1e-12)
    back = to_sklearn(est)
    np.testing.assert_allclose(back.predict(X), sk.predict(X), rtol=0, atol=1e-12)


def test_converted_model_saves_loads_and_refits(tmp_path):
    X, y = IRIS
    sk = fit(sknn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0), X, y)
    est = from_sklearn(sk)
    nablanet.save(est, tmp_path / "model.npz")
    loaded = nablanet.load(tmp_path / "model.npz")
    same_classifier(loaded, sk, X)
    assert loaded.n_iter_ == sk.n_iter_
    fit(loaded.set_params(solver="lbfgs", max_iter=100), X, y)  # it trains like any other
    assert loaded.score(X, y) > 0.8


def test_feature_names_and_float32_weights_are_kept():
    pd = pytest.importorskip("pandas")

    X, y = IRIS
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    sk = fit(sknn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0), frame, y)
    est = from_sklearn(sk)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"]
    same_classifier(est, sk, frame)
    sk32 = fit(sknn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
               X.astype(np.float32), y)
    assert sk32.coefs_[0].dtype == np.float32
    est32 = from_sklearn(sk32)
    assert est32.net_.dtype == np.float32
    np.testing.assert_allclose(est32.predict_proba(X), sk32.predict_proba(X), atol=1e-6)


def test_from_sklearn_refuses_what_it_cannot_convert():
    X, y = DIABETES
    with pytest.raises(NotFittedError, match="instance is not fitted yet"):
        from_sklearn(sknn.MLPClassifier())
    with pytest.raises(TypeError, match="MLPClassifier or MLPRegressor"):
        from_sklearn(StandardScaler().fit(X))
    ours = fit(MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0), X, y)
    with pytest.raises(TypeError, match="MLPClassifier or MLPRegressor"):
        from_sklearn(ours)


def test_a_poisson_regressor_converts_both_ways_with_the_same_predictions():
    X, y = DIABETES
    counts = np.round(y / 50)  # small counts, 0 to 7
    sk = fit(sknn.MLPRegressor(loss="poisson", hidden_layer_sizes=(6,), max_iter=20,
                               random_state=0), X, counts)
    est = from_sklearn(sk)
    assert est.loss == "poisson" and est.out_activation_ == "exp"
    np.testing.assert_allclose(est.predict(X), sk.predict(X), rtol=1e-12)
    back = to_sklearn(est)
    assert back.loss == "poisson" and back.out_activation_ == "exp"
    np.testing.assert_allclose(back.predict(X), est.predict(X), rtol=1e-12)


def test_to_sklearn_names_every_setting_it_cannot_express():
    X, y = IRIS
    est = fit(MLPClassifier((8, 6), activation=["tanh", "leaky_relu"], output_activation="tanh",
                            dropout=0.2, restarts=2, max_iter=5, random_state=0), X, y)
    with pytest.raises(ValueError, match="scikit-learn's MLPClassifier cannot express") as info:
        to_sklearn(est)
    message = str(info.value)
    for words in ["'leaky_relu'", "one activation per hidden layer", "3 tanh units",
                  "3 softmax units", "loss 'squared_error'", "dropout=0.2", "restarts=2"]:
        assert words in message


@pytest.mark.parametrize(
    "params, words",
    [
        ({"output_activation": "sigmoid"}, "3 sigmoid units"),
        ({"loss": "squared_error"}, "loss 'squared_error'"),
        ({"dtype": "float32"}, "dtype='float32'"),
    ],
)
def test_to_sklearn_refuses_a_single_setting(params, words):
    X, y = IRIS
    est = fit(MLPClassifier((8,), max_iter=5, random_state=0, **params), X, y)
    with pytest.raises(ValueError, match="cannot express") as info:
        to_sklearn(est)
    assert words in str(info.value)


def test_to_sklearn_refuses_scaled_regressor_and_two_softmax_units():
    X, y = DIABETES
    est = fit(MLPRegressor((8,), max_iter=5, random_state=0, output_activation="sigmoid"), X, y)
    with pytest.raises(ValueError, match="1 sigmoid units .*1 identity units"):
        to_sklearn(est)
    X, y = IRIS
    est = fit(MLPClassifier((8,), max_iter=5, random_state=0, output_activation="softmax"),
              X, y == 2)
    with pytest.raises(ValueError, match="2 softmax units .*1 logistic units"):
        to_sklearn(est)


def test_to_sklearn_of_a_one_class_classifier_is_scikit_learns_own():
    # scikit-learn fits one class with one logistic unit and log loss, as nablanet does:
    # the export predicts as the original; a softmax output (two units) is refused, and
    # the refusal names scikit-learn's real output.
    X, y = IRIS
    one = np.full(len(y), "setosa")
    est = fit(MLPClassifier((4,), max_iter=5, random_state=0), X, one)
    sk = to_sklearn(est)
    assert sk.out_activation_ == "logistic" and sk.n_outputs_ == 1
    np.testing.assert_array_equal(sk.predict(X), one)
    np.testing.assert_allclose(sk.predict_proba(X), est.predict_proba(X), rtol=1e-12)
    own = fit(sknn.MLPClassifier((4,), max_iter=5, random_state=0), X, one)
    assert own.out_activation_ == sk.out_activation_ and own.n_outputs_ == sk.n_outputs_
    est = fit(MLPClassifier((4,), max_iter=5, random_state=0, output_activation="softmax"),
              X, one)
    with pytest.raises(ValueError, match=r"2 softmax units \(scikit-learn uses 1 logistic units"):
        to_sklearn(est)


def test_to_sklearn_of_a_nablanet_model():
    X, y = DIGITS
    est = fit(MLPClassifier((16,), activation="logistic", solver="lbfgs", max_iter=50,
                            random_state=0), X, y)
    sk = to_sklearn(est)
    assert sk.activation == "logistic" and sk.out_activation_ == "softmax"
    same_classifier(sk, est, X)
    assert sk.score(X, y) == est.score(X, y)
    with pytest.raises(NotFittedError, match="instance is not fitted yet"):
        to_sklearn(MLPClassifier())
    with pytest.raises(TypeError, match="got Network"):
        to_sklearn(Network([2, 3, 1]))
    softmax = nablanet.SoftmaxRegression(max_iter=5, random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="got SoftmaxRegression"):
        to_sklearn(softmax)


def test_top_level_names():
    assert nablanet.from_sklearn is from_sklearn and nablanet.to_sklearn is to_sklearn


def test_to_sklearn_of_an_early_stopped_model_continues_training_in_scikit_learn():
    """scikit-learn's early stopping ends by restoring its best weights (``_best_coefs``,
    set at its initialisation): a warm-started fit that finds no better validation score
    must give back the converted weights, not fail."""
    X, y = IRIS
    est = fit(MLPClassifier((5,), activation="tanh", early_stopping=True, max_iter=30,
                            random_state=0), X, y)
    sk = to_sklearn(est)
    coefs = [c.copy() for c in sk.coefs_]
    # a step too small to change the validation score: no improvement on the best one
    sk.set_params(warm_start=True, max_iter=1, learning_rate_init=1e-12)
    sk.best_validation_score_ = 1.0
    fit(sk, X, y)
    for before, after in zip(coefs, sk.coefs_, strict=True):
        np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize("activation", ["tanh", "leaky_relu"])
def test_a_network_without_hidden_layers_converts_both_ways(activation):
    """With no hidden layer, the output layer is the network's only activation."""
    X, y = IRIS
    sk = fit(sknn.MLPClassifier(hidden_layer_sizes=(), max_iter=20, random_state=0), X, y)
    est = from_sklearn(sk)
    same_classifier(est, sk, X)
    same_classifier(to_sklearn(est), sk, X)
    ours = fit(MLPClassifier((), activation=activation, max_iter=20, random_state=0), X, y)
    back = to_sklearn(ours)
    assert back.activation in ("tanh", "relu")  # unused, but one scikit-learn accepts
    same_classifier(back, ours, X)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_an_estimator_from_its_parts_converts_to_scikit_learn(kind):
    # to_sklearn copied loss_, which an estimator from_network has not (no fit yet)
    X, _ = load_iris(return_X_y=True)
    if kind == "classifier":
        net = Network([4, 5, 3], activation="relu", output_activation="softmax", seed=0)
        est = MLPClassifier.from_network(net, classes=[0, 1, 2], hidden_layer_sizes=(5,))
    else:
        net = Network([4, 5, 1], activation="tanh", output_activation="identity", seed=0)
        est = MLPRegressor.from_network(net, hidden_layer_sizes=(5,))
    sk = to_sklearn(est)
    assert not hasattr(sk, "loss_")
    assert sk.activation == ("relu" if kind == "classifier" else "tanh")
    if kind == "classifier":
        np.testing.assert_allclose(sk.predict_proba(X), est.predict_proba(X), rtol=1e-12)
    else:
        np.testing.assert_allclose(sk.predict(X), est.predict(X), rtol=1e-12)
