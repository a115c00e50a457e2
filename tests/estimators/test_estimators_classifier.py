"""MLPClassifier's own behaviour (nablanet/estimators/classifier.py): the output follows
the target, labels of any type, probabilities, multi-label targets, and the source's
conventions (tanh outputs code the classes −1/+1 with threshold 0)."""

import numpy as np
import pytest

from nablanet import MLPClassifier

no_convergence_warning = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


@no_convergence_warning
@pytest.mark.parametrize(
    ("target", "activation"),
    [("binary", "logistic"), ("multiclass", "softmax"), ("multilabel", "logistic")],
)
def test_output_activation_follows_the_target(iris, target, activation):
    X, y = iris
    Y = {"binary": (y == 1).astype(int), "multiclass": y,
         "multilabel": np.column_stack([y == 0, y == 1, y > 0]).astype(int)}[target]
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, Y)
    assert est.out_activation_ == activation
    assert est.n_outputs_ == (1 if target == "binary" else 3)



# --- classification -----------------------------------------------------------------------


def test_binary_classification_with_string_labels(cancer):
    X, y = cancer
    labels = np.array(["malignant", "benign"])[y]
    est = MLPClassifier(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=200,
                        random_state=0).fit(X[:400], labels[:400])
    assert est.classes_.tolist() == ["benign", "malignant"]
    pred = est.predict(X[400:])
    assert set(pred) <= {"benign", "malignant"}
    assert est.score(X[400:], labels[400:]) > 0.93
    P = est.predict_proba(X[400:])
    assert P.shape == (169, 2)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(pred, est.classes_[P.argmax(axis=1)])
    with np.errstate(divide="ignore"):  # a saturated sigmoid gives probabilities 0 and 1
        np.testing.assert_allclose(est.predict_log_proba(X[400:]), np.log(P))


@no_convergence_warning
def test_multiclass_probabilities_and_score(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=300,
                        random_state=0).fit(X, y)
    P = est.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(est.predict_log_proba(X), np.log(P))
    assert est.score(X, y) == np.mean(est.predict(X) == y) > 0.95


@no_convergence_warning
def test_multilabel_indicator_targets(iris):
    X, y = iris
    Y = np.column_stack([y == 0, y == 1, y > 0]).astype(int)
    est = MLPClassifier(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=300,
                        random_state=0).fit(X, Y)
    pred = est.predict(X)
    assert pred.shape == (150, 3) and set(np.unique(pred)) <= {0, 1}
    assert est.score(X, Y) > 0.9  # subset accuracy
    P = est.predict_proba(X)
    assert P.shape == (150, 3) and ((P >= 0) & (P <= 1)).all()
    np.testing.assert_array_equal(pred, (P > 0.5).astype(int))


# --- the source's conventions: tanh codes −1/+1 ------------------------------------------------


def test_tanh_outputs_code_classes_minus_one_plus_one(cancer):
    X, y = cancer
    est = MLPClassifier(output_activation="tanh", solver="lbfgs", max_iter=300, alpha=1e-2,
                        random_state=0).fit(X[:400], y[:400])
    assert est.out_activation_ == "tanh" and est.net_.loss.name == "squared_error"
    out = est.net_.forward(X[400:])[:, 0]
    assert out.min() < -0.5 and out.max() > 0.5  # the −1/+1 code, not 0/1
    np.testing.assert_array_equal(est.predict(X[400:]), (out > 0).astype(int))
    assert est.score(X[400:], y[400:]) > 0.93
    # the targets it trained on are −1/+1: its training cost is smallest for that code
    Y_pm = np.where(y[:400] == 1, 1.0, -1.0)[:, None]
    Y_01 = y[:400, None].astype(float)
    assert est.net_.cost(X[:400], Y_pm) < est.net_.cost(X[:400], Y_01)
    P = est.predict_proba(X[400:])
    np.testing.assert_allclose(P[:, 1], (out + 1) / 2)


@no_convergence_warning
def test_sigmoid_outputs_with_squared_error(cancer):
    X, y = cancer
    est = MLPClassifier(loss="squared_error", solver="lbfgs", max_iter=300,
                        random_state=0).fit(X[:400], y[:400])
    assert est.net_.loss.name == "squared_error" and est.out_activation_ == "logistic"
    assert est.score(X[400:], y[400:]) > 0.93


