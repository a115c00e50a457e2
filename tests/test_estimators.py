"""The scikit-learn estimators: `MLPClassifier` and `MLPRegressor` (nablanet/estimators.py).

Four witnesses: scikit-learn's own estimator checks; scikit-learn's MLPs trained with the
same settings on the same bundled data sets (accuracy / R² at least as good, up to a
margin stated with each case); the behaviour scikit-learn documents (warm_start,
partial_fit, fitted attributes, Pipeline, GridSearchCV, clone); and nablanet's extras and
model files, hostile files included.
"""

import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn.neural_network as skl
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    parametrize_with_checks,
)
from threadpoolctl import threadpool_limits

import nablanet
from nablanet import MLPClassifier, MLPRegressor, ModelFileError
from nablanet import io as nio
from nablanet.callbacks import EarlyStopping
from nablanet.diagnostics import Diagnosis

no_convergence_warning = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # Small matrices: BLAS threads only fight the other pytest worker for the cores.
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y


# --- scikit-learn's estimator checks ----------------------------------------------------------


def expected_failed_checks(estimator):
    # None. check_sample_weight_equivalence_on_dense_data passes with the default solver
    # too: its data has fewer than 200 rows, so batch_size="auto" is the whole set and
    # adam sees the same full-batch gradient for weighted and for repeated rows. The
    # configurations scikit-learn uses for its own MLPs are tested explicitly below.
    return {}


@no_convergence_warning
@parametrize_with_checks(
    [MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)],
    expected_failed_checks=expected_failed_checks,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@no_convergence_warning
@pytest.mark.parametrize(
    "estimator",
    [
        MLPClassifier(solver="lbfgs", max_iter=100),
        MLPRegressor(solver="sgd", tol=1e-2, random_state=42, max_iter=100),
    ],
    ids=["classifier-lbfgs", "regressor-sgd"],
)
def test_sample_weight_equivalence_as_scikit_learn_tests_its_mlp(estimator):
    # sklearn/utils/_test_common/instance_generator.py configures its MLPs exactly so.
    check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)


# --- as good as scikit-learn with the same settings -------------------------------------------

# Each case: scikit-learn's defaults (and a max_iter that lets them converge) behind a
# StandardScaler, one stratified 75/25 split, the mean test score over several
# random_states (initial weights differ by design: see estimators.py's docstring, so single
# seeds are noise). The margin is about one test sample, or for digits one percent (4.5 of
# 450 images; the seed-to-seed spread of either library is about 0.005).
COMPARISONS = {
    "digits": (load_digits, True, {"max_iter": 300}, 5, 0.01),
    "iris": (load_iris, True, {"max_iter": 1000}, 5, 1 / 38),
    "breast_cancer": (load_breast_cancer, True, {"max_iter": 500}, 5, 1 / 143),
    "diabetes": (load_diabetes, False, {"max_iter": 2000}, 3, 0.02),
}


def compare_with_scikit_learn(name):
    loader, classify, params, n_seeds, margin = COMPARISONS[name]
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y if classify else None
    )
    scores = {"scikit-learn": [], "nablanet": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(n_seeds):
            for library, module in (("scikit-learn", skl), ("nablanet", nablanet)):
                cls = module.MLPClassifier if classify else module.MLPRegressor
                model = make_pipeline(StandardScaler(), cls(random_state=seed, **params))
                model.fit(X_train, y_train)
                scores[library].append(model.score(X_test, y_test))
    sk, nn = np.mean(scores["scikit-learn"]), np.mean(scores["nablanet"])
    metric = "accuracy" if classify else "R²"
    print(f"{name} {metric} over {n_seeds} seeds: scikit-learn {sk:.4f} "
          f"{np.round(scores['scikit-learn'], 4).tolist()}, nablanet {nn:.4f} "
          f"{np.round(scores['nablanet'], 4).tolist()}, margin {margin:.4f}")
    return sk, nn, margin


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "diabetes"])
def test_at_least_as_good_as_scikit_learn(name):
    sk, nn, margin = compare_with_scikit_learn(name)
    assert nn >= sk - margin


def test_at_least_as_good_as_scikit_learn_on_iris():
    sk, nn, margin = compare_with_scikit_learn("iris")
    assert nn >= sk - margin


# --- scikit-learn's machinery -----------------------------------------------------------------


@no_convergence_warning
def test_pipeline_and_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", MLPClassifier(solver="lbfgs", max_iter=300, random_state=0))])
    grid = {"mlp__alpha": [1e-4, 1.0], "mlp__hidden_layer_sizes": [(3,), (10,)]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["mlp__alpha"] in (1e-4, 1.0)
    assert search.best_score_ > 0.9
    assert search.score(X, y) > 0.9
    best = search.best_estimator_.named_steps["mlp"]
    assert best.coefs_[0].shape == (4, best.hidden_layer_sizes[0])


EXTRAS = {
    "hidden_layer_sizes": (7, 5),
    "activation": ["relu", "tanh"],
    "output_activation": "tanh",
    "loss": "squared_error",
    "dropout": 0.25,
    "restarts": 3,
    "dtype": np.float32,
    "alpha": 0.01,
}


def test_get_params_and_set_params_with_the_extras():
    stopper = EarlyStopping(patience=3)
    est = MLPClassifier(callbacks=[stopper], **EXTRAS)
    params = est.get_params()
    for key, value in EXTRAS.items():
        assert params[key] == value
    assert params["callbacks"] == [stopper]
    other = MLPClassifier().set_params(**params)
    assert other.get_params() == params
    assert repr(other).startswith("MLPClassifier(")


@no_convergence_warning
def test_clone_gives_an_unfitted_copy_with_the_same_params(iris):
    X, y = iris
    est = MLPClassifier(max_iter=3, random_state=0, **EXTRAS).fit(X, y)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "net_") and not hasattr(twin, "classes_")
    twin.fit(X, y)  # same settings, same random_state: the same model
    np.testing.assert_array_equal(twin.net_.theta, est.net_.theta)


# --- warm_start and partial_fit: continue, do not restart -------------------------------------


@no_convergence_warning
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_warm_start_continues_training(iris, cls):
    X, y = iris
    est = cls(hidden_layer_sizes=(10,), max_iter=20, random_state=0, warm_start=True)
    est.fit(X, y)
    first_curve = list(est.loss_curve_)
    theta = est.net_.theta
    est.fit(X, y)
    assert est.n_iter_ == 40 and len(est.loss_curve_) == 40
    assert est.t_ == 40 * len(X)
    assert est.loss_curve_[:20] == first_curve
    assert est.net_.theta is theta  # the same network, trained further
    fresh = cls(hidden_layer_sizes=(10,), max_iter=20, random_state=0).fit(X, y)
    # The second fit's first epoch picks up where the first fit ended, far below a
    # fresh start's first epoch.
    step = abs(first_curve[-1] - first_curve[-2])
    assert abs(est.loss_curve_[20] - first_curve[-1]) < 3 * step
    assert est.loss_curve_[20] < fresh.loss_curve_[0] - 10 * step
    # without warm_start a second fit starts over
    fresh.fit(X, y)
    assert fresh.n_iter_ == 20 and fresh.loss_curve_[0] == first_curve[0]


def test_partial_fit_continues_one_epoch_at_a_time(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(10,), random_state=0, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    losses = []
    for i in range(1, 6):
        est.partial_fit(X, y, classes=[0, 1, 2] if i == 1 else None)
        assert est.n_iter_ == i and est.t_ == i * len(X)
        losses.append(est.loss_)
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0]
    assert est.loss_curve_ == losses
    with pytest.raises(ValueError, match=r"not seen in the first fit: \[7\]"):
        est.partial_fit(X, np.where(y == 2, 7, y))
    with pytest.raises(ValueError, match="is not the same as on the first call"):
        est.partial_fit(X, y, classes=[0, 1])


def test_partial_fit_may_see_only_some_classes_at_first(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
    est.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert est.classes_.tolist() == [0, 1, 2] and est.n_outputs_ == 3
    est.partial_fit(X[y == 2], y[y == 2])
    assert est.predict_proba(X).shape == (150, 3)


def test_regressor_partial_fit(diabetes):
    X, y = diabetes
    est = MLPRegressor(hidden_layer_sizes=(10,), random_state=0, learning_rate_init=0.05)
    losses = []
    for _ in range(5):
        est.partial_fit(X, y)
        losses.append(est.loss_)
    assert est.n_iter_ == 5 and losses[-1] < losses[0]


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_lbfgs_has_no_partial_fit(iris, cls):
    X, y = iris
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as info:
        cls(solver="lbfgs").partial_fit(X, y)
    assert "lbfgs is not stochastic" in str(info.value.__cause__)


def test_lbfgs_classifier_hides_partial_fit_like_scikit_learn():
    assert not hasattr(skl.MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


# --- fitted attributes ------------------------------------------------------------------------


@no_convergence_warning
def test_fitted_attributes(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(6, 5), max_iter=15, random_state=0).fit(X, y)
    assert [c.shape for c in est.coefs_] == [(4, 6), (6, 5), (5, 3)]
    assert [b.shape for b in est.intercepts_] == [(6,), (5,), (3,)]
    for c, b, W in zip(est.coefs_, est.intercepts_, est.net_.W, strict=True):
        assert np.shares_memory(c, est.net_.theta) and np.shares_memory(b, est.net_.theta)
        np.testing.assert_array_equal(c, W.T)
    est.coefs_[0][0, 0] = 42.0  # a view: writes go to the network
    assert est.net_.W[0][0, 0] == 42.0
    assert est.n_iter_ == 15 and len(est.loss_curve_) == 15
    assert est.loss_ == est.loss_curve_[-1]
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.t_ == 15 * 150
    assert est.n_layers_ == 4 and est.n_outputs_ == 3
    assert est.out_activation_ == "softmax"
    assert est.classes_.tolist() == [0, 1, 2]
    assert est.n_features_in_ == 4
    assert not hasattr(est, "feature_names_in_")  # numpy input has no column names
    assert est.validation_scores_ is None and est.best_validation_score_ is None
    assert len(est.history_.runs) == 1


@no_convergence_warning
def test_early_stopping_attributes(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(10,), max_iter=300, random_state=0,
                        early_stopping=True, learning_rate_init=0.05).fit(X, y)
    assert est.best_loss_ is None
    assert len(est.validation_scores_) == est.n_iter_ < 300
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.best_validation_score_ > 0.8
    assert len(est.validation_loss_curve_) == est.n_iter_
    assert isinstance(est.loss_, float) and est.loss_ == est.loss_curve_[-1]


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


@no_convergence_warning
def test_regressor_attributes_and_multi_output(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, -2.0 * y + 5.0])
    est = MLPRegressor(hidden_layer_sizes=(10,), max_iter=10, random_state=0).fit(X, Y)
    assert est.out_activation_ == "identity" and est.n_outputs_ == 2
    assert est.predict(X).shape == (442, 2)
    single = MLPRegressor(hidden_layer_sizes=(10,), max_iter=10, random_state=0).fit(X, y)
    assert single.predict(X).shape == (442,) and single.n_outputs_ == 1
    assert not hasattr(single, "classes_")


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


# --- the source's conventions (MATH.md §4) ------------------------------------------------


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


@no_convergence_warning
def test_sigmoid_regressor_scales_targets_into_zero_one(diabetes):
    X, y = diabetes
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    est = MLPRegressor(output_activation="sigmoid", solver="lbfgs", alpha=1.0,
                       hidden_layer_sizes=(10,), max_iter=500, random_state=0)
    est.fit(X_train, y_train)
    out = est.net_.forward(X_train)
    assert 0.0 < out.min() and out.max() < 1.0
    # predictions come back on the original scale: min + (max − min) · a
    lo, hi = y_train.min(), y_train.max()
    np.testing.assert_allclose(est.predict(X_train), lo + (hi - lo) * out[:, 0], rtol=1e-12)
    assert est.predict(X_test).mean() == pytest.approx(y_test.mean(), rel=0.1)
    assert est.score(X_test, y_test) > 0.35


@pytest.mark.parametrize(
    ("cls", "params", "match"),
    [
        (MLPClassifier, {"output_activation": "relu"}, "sigmoid, tanh or softmax"),
        (MLPClassifier, {"output_activation": "evil"}, "valid: identity, leaky_relu"),
        (MLPRegressor, {"output_activation": "softmax"}, "identity, sigmoid or tanh"),
        (MLPClassifier, {"loss": "hinge"}, "valid: binary_cross_entropy, cross_entropy"),
        (MLPRegressor, {"loss": "cross_entropy"}, "softmax"),
        (MLPClassifier, {"activation": "swish"}, "valid: identity, leaky_relu"),
        (MLPClassifier, {"activation": ["relu", "evil"], "hidden_layer_sizes": (3, 3)}, "evil"),
        (MLPRegressor, {"solver": "newton"}, "valid: lbfgs, sgd, adam"),
        (MLPRegressor, {"learning_rate": "fast"}, "valid: constant, invscaling, adaptive"),
        (MLPClassifier, {"dropout": 1.0}, "dropout"),
        (MLPClassifier, {"restarts": 0}, "restarts"),
        (MLPClassifier, {"dtype": np.int32}, "dtype"),
        (MLPClassifier, {"hidden_layer_sizes": (5, 0)}, "hidden_layer_sizes"),
    ],
)
def test_invalid_names_and_values_raise(iris, cls, params, match):
    X, y = iris
    with pytest.raises(ValueError, match=match):
        cls(max_iter=2, **params).fit(X, y)


# --- extras -----------------------------------------------------------------------------------


@no_convergence_warning
def test_activation_per_layer_and_leaky_relu(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(6, 4), activation=["leaky_relu", "tanh"],
                        max_iter=5, random_state=0).fit(X, y)
    assert [a.name for a in est.net_.activations] == ["leaky_relu", "tanh", "softmax"]
    assert est.transform(X).shape == (150, 4)
    assert (est.transform(X) >= -1).all() and (est.transform(X) <= 1).all()  # tanh layer


@no_convergence_warning
def test_dropout_and_restarts(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(20,), dropout=0.2, restarts=3, max_iter=30,
                        learning_rate_init=0.02, random_state=0).fit(X, y)
    history = est.history_
    assert len(history.runs) == 3
    assert history.best_run == int(np.argmin([r.final_loss for r in history.runs]))
    assert est.score(X, y) > 0.85
    np.testing.assert_array_equal(est.predict_proba(X), est.predict_proba(X))  # no dropout


def test_callbacks_reach_the_training_loop(iris):
    X, y = iris
    stopper = EarlyStopping(patience=2, min_delta=10.0, monitor="train_loss")
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=200, random_state=0,
                        callbacks=[stopper]).fit(X, y)
    assert est.n_iter_ == 3 and est.history_.best.stop_reason == "EarlyStopping"


@no_convergence_warning
def test_float32(iris, diabetes):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=60, random_state=0,
                        learning_rate_init=0.01, dtype=np.float32).fit(X, y)  # float64 data
    assert est.net_.dtype == np.float32 and est.coefs_[0].dtype == np.float32
    assert est.predict_proba(X).dtype == np.float32
    assert est.score(X, y) > 0.7
    auto = MLPClassifier(hidden_layer_sizes=(8,), max_iter=60, random_state=0,
                         learning_rate_init=0.01)
    auto.fit(X.astype(np.float32), y)  # float32 input stays float32 by default
    assert auto.net_.dtype == np.float32
    np.testing.assert_allclose(auto.predict_proba(X), est.predict_proba(X), atol=1e-4)
    wide = clone(auto).fit(X, y)
    assert wide.net_.dtype == np.float64
    # float32 training follows the float64 path closely
    np.testing.assert_allclose(wide.predict_proba(X), est.predict_proba(X), atol=1e-3)
    Xd, yd = diabetes
    reg = MLPRegressor(max_iter=20, random_state=0, dtype="float32").fit(Xd, yd)
    assert reg.net_.dtype == np.float32 and np.isfinite(reg.predict(Xd)).all()


@no_convergence_warning
def test_transform_check_gradient_and_diagnose(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(5,), activation="tanh", max_iter=30,
                        random_state=0).fit(X, y)
    assert est.transform(X).shape == (150, 5)
    np.testing.assert_allclose(est.transform(X), est.net_.hidden(X))
    report = est.check_gradient(X[:20], y[:20])
    assert report.passed and report.relative_difference < 1e-7
    diagnosis = est.diagnose(X, y)
    assert isinstance(diagnosis, Diagnosis) and len(diagnosis.layers) == 2
    reg = MLPRegressor(hidden_layer_sizes=(4,), activation="tanh", max_iter=30,
                       output_activation="sigmoid", random_state=0)
    Xd, yd = load_diabetes(return_X_y=True)
    reg.fit(StandardScaler().fit_transform(Xd), yd)
    assert reg.check_gradient(StandardScaler().fit_transform(Xd)[:15], yd[:15]).passed


def test_unfitted_estimator_refuses_to_predict(iris):
    X, _ = iris
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X)
    with pytest.raises(NotFittedError):
        MLPRegressor().save("never-written.npz")


# --- model files ------------------------------------------------------------------------------


def fitted_models():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    multilabel = np.column_stack([y == 0, y == 1, y > 0]).astype(int)
    Xd, yd = load_diabetes(return_X_y=True)
    Xd = StandardScaler().fit_transform(Xd)
    small = {"hidden_layer_sizes": (5,), "max_iter": 5, "random_state": 0}
    return {
        "string-labels": (MLPClassifier(callbacks=[EarlyStopping()], **small), X, names),
        "int-labels": (MLPClassifier(activation=["tanh"], dropout=0.1, restarts=2, **small),
                       X, y),
        "binary-tanh": (MLPClassifier(output_activation="tanh", **small), X, y == 1),
        "multilabel": (MLPClassifier(**small), X, multilabel),
        "float32": (MLPClassifier(dtype=np.float32, **small), X, y),
        "regressor-sigmoid": (MLPRegressor(output_activation="sigmoid", **small), Xd, yd),
        "regressor-2-outputs": (MLPRegressor(**small), Xd, np.column_stack([yd, yd / 7])),
    }


MODELS = list(fitted_models())


def normalised_params(est):
    params = est.get_params()
    params["callbacks"] = None  # callbacks are code: never written to a file
    params["hidden_layer_sizes"] = tuple(np.atleast_1d(params["hidden_layer_sizes"]))
    if params["dtype"] is not None:
        params["dtype"] = np.dtype(params["dtype"])
    return params


@no_convergence_warning
@pytest.mark.parametrize("name", MODELS)
def test_model_file_round_trip_is_bit_identical(tmp_path, name):
    est, X, y = fitted_models()[name]
    est.fit(X, y)
    path = tmp_path / f"{name}.npz"
    est.save(path)
    loaded = nablanet.load(path)
    assert type(loaded) is type(est)
    assert np.array_equal(loaded.predict(X), est.predict(X))
    if hasattr(est, "predict_proba"):
        assert np.array_equal(loaded.predict_proba(X), est.predict_proba(X))
        assert np.array_equal(loaded.classes_, est.classes_)
        assert loaded.classes_.dtype == est.classes_.dtype
    assert loaded.net_.dtype == est.net_.dtype
    assert np.array_equal(loaded.net_.theta, est.net_.theta)
    assert np.shares_memory(loaded.coefs_[0], loaded.net_.theta)
    assert normalised_params(loaded) == normalised_params(est)
    assert loaded.get_params()["callbacks"] is None
    for key in ("n_iter_", "t_", "loss_", "loss_curve_", "n_features_in_", "n_layers_",
                "n_outputs_", "out_activation_"):
        assert getattr(loaded, key) == getattr(est, key), key
    # a loaded model can be trained further
    loaded.set_params(warm_start=True).fit(X, y)
    assert loaded.n_iter_ == est.n_iter_ + 5


@no_convergence_warning
@pytest.mark.parametrize("name", MODELS)
def test_pickle_round_trip(name):
    est, X, y = fitted_models()[name]
    est.fit(X, y)
    copy = pickle.loads(pickle.dumps(est))
    assert np.array_equal(copy.predict(X), est.predict(X))
    assert np.shares_memory(copy.net_.W[0], copy.net_.theta)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A fitted classifier and regressor saved once; tests edit copies."""
    folder = tmp_path_factory.mktemp("models")
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, names)
        Xd, yd = load_diabetes(return_X_y=True)
        reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0,
                           output_activation="sigmoid").fit(Xd, yd)
    clf.save(folder / "clf.npz")
    reg.save(folder / "reg.npz")
    return folder / "clf.npz", folder / "reg.npz"


def rewrite(source, target, edit_header=None, edit_arrays=None):
    """Re-save a model file after editing its header or arrays (a fresh, valid manifest)."""
    header, arrays = nio.read_model(source)
    header = {k: v for k, v in header.items() if k not in ("arrays", "integrity")}
    if edit_header:
        edit_header(header)
    if edit_arrays:
        edit_arrays(arrays)
    nio.write_model(target, header, arrays)
    return target


class Payload:
    """Unpickling this object creates a file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_object_array_that_would_unpickle_is_refused_unrun(tmp_path, saved):
    clf_path, _ = saved
    header, arrays = nio.read_model(clf_path)
    text = np.frombuffer(__import__("json").dumps(header).encode(), dtype=np.uint8)
    # the payload works: unpickling it does create its marker
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(Payload(proof)))
    assert proof.exists()

    marker = tmp_path / "pwned"
    hostile = tmp_path / "hostile.npz"
    evil = np.empty(1, dtype=object)
    evil[0] = Payload(marker)
    with open(hostile, "wb") as f:
        np.savez(f, allow_pickle=True, header=text, theta=evil)
    with pytest.raises(ModelFileError, match="pickled Python objects"):
        nablanet.load(hostile)
    assert not marker.exists()


def set_in(keys, value):
    def edit(header):
        target = header
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("model", "edit_header", "edit_arrays", "match"),
    [
        ("clf", None, lambda a: a.__setitem__("theta", a["theta"][:-1]),
         r"array 'theta' has shape \(42,\), expected \(43,\)"),
        ("clf", None, lambda a: a.__setitem__("theta", a["theta"].reshape(1, -1)),
         "array 'theta' has shape"),
        ("clf", None, lambda a: a["theta"].__setitem__(3, np.nan), "'theta' contains NaN"),
        ("clf", set_in(["kind"], "Evil"), None,
         "unknown model kind 'Evil'; known kinds: Network, MLPClassifier, MLPRegressor"),
        ("clf", set_in(["format"], "other"), None, "not a nablanet model file"),
        ("clf", set_in(["params", "activation"], "evil"), None, "unknown activation 'evil'"),
        ("clf", set_in(["params", "solver"], "evil"), None, "unknown solver 'evil'"),
        ("clf", set_in(["params", "evil"], 1), None, "unexpected keyword argument 'evil'"),
        ("clf", set_in(["params", "hidden_layer_sizes"], [6]), None, "do not match"),
        ("clf", set_in(["network", "activations"], ["evil"]), None, "not a known activation"),
        ("clf", set_in(["fitted", "n_features_in_"], 5), None, "do not match n_features_in_"),
        ("clf", set_in(["fitted", "loss_curve_"], ["x"]), None, "must hold numbers"),
        ("clf", set_in(["classes"], ["a", "b", "c", "d"]), None, "does not fit 4 classes"),
        ("clf", set_in(["classes"], ["a", "b"]), None, "does not fit 2 classes"),
        ("clf", set_in(["target_kind"], "evil"), None, "unknown target_kind"),
        ("reg", None, lambda a: a["y_scale"].__setitem__(0, np.nan),
         "array 'y_scale' contains NaN"),
        ("reg", None, lambda a: a["y_scale"].__setitem__(0, -1.0), "'y_scale' must be positive"),
        ("reg", None, lambda a: a.__setitem__("y_offset", np.zeros(2)), "'y_offset' has shape"),
        ("reg", set_in(["params", "output_activation"], None), None,
         "output_activation does not match"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 8 else None,
)
def test_tampered_model_files_are_refused(tmp_path, saved, model, edit_header, edit_arrays,
                                          match):
    source = saved[0] if model == "clf" else saved[1]
    path = rewrite(source, tmp_path / "tampered.npz", edit_header, edit_arrays)
    with pytest.raises(ModelFileError, match=match) as info:
        nablanet.load(path)
    assert str(info.value).startswith(str(path))  # names the file


@pytest.mark.parametrize(
    "edit",
    [set_in(["classes"], ["a", "a", "b"]), set_in(["classes_dtype"], "|b1")],
    ids=["duplicate-labels", "bool-dtype"],
)
def test_classes_that_are_not_distinct_are_refused(tmp_path, saved, edit):
    path = rewrite(saved[0], tmp_path / "tampered.npz", edit)
    with pytest.raises(ModelFileError, match="classes"):
        nablanet.load(path)


def test_callbacks_in_a_file_are_refused(tmp_path, saved):
    path = rewrite(saved[0], tmp_path / "tampered.npz", set_in(["params", "callbacks"], ["boom"]))
    with pytest.raises(ModelFileError, match="callbacks"):
        nablanet.load(path)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_model_file_is_refused(tmp_path, saved, keep):
    data = saved[0].read_bytes()
    path = tmp_path / "truncated.npz"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        nablanet.load(path)


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "random.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="not a nablanet model file"):
        nablanet.load(path)


def test_saving_before_fitting_and_nan_weights(tmp_path, saved):
    clf = nablanet.load(saved[0])
    clf.net_.theta[0] = math.nan  # as after a divergence; theta is a plain buffer
    with pytest.raises(ValueError, match="NaN"):
        clf.save(tmp_path / "nan.npz")
    assert not (tmp_path / "nan.npz").exists()
