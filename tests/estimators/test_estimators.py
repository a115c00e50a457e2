"""The scikit-learn estimators: `MLPClassifier` and `MLPRegressor` (nablanet/estimators/).

Four witnesses: scikit-learn's own estimator checks; scikit-learn's MLPs trained with the
same settings on the same bundled data sets (accuracy / R² at least as good, up to a
margin stated with each case); the behaviour scikit-learn documents (warm_start,
partial_fit, fitted attributes, Pipeline, GridSearchCV, clone, parameter checks); and
nablanet's extras. The classifier's and regressor's own behaviour, model files, the
stopping rule and failed fits have their own files beside this one.
"""

import re
import warnings

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
    check_param_validation,
    check_sample_weight_equivalence_on_dense_data,
    parametrize_with_checks,
)

import nablanet
from nablanet import MLPClassifier, MLPRegressor
from nablanet.diagnostics import Diagnosis
from nablanet.training import EarlyStopping

no_convergence_warning = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

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
    # n_iter_ counts the last call's epochs (scikit-learn 1.9); t_ and the curve add up
    assert est.n_iter_ == 20 and len(est.loss_curve_) == 40
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
        assert est.n_iter_ == 1 and est.t_ == i * len(X)  # one epoch per call
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


def declared(name, value, *valid):
    """scikit-learn's wording for a declared constraint: the parameter, the valid options
    (in any order: scikit-learn prints a set) and the value."""
    return [f"The '{name}' parameter of ", *(repr(v) for v in valid), f"Got {value!r} instead"]


@pytest.mark.parametrize(
    ("cls", "params", "words"),
    [
        (MLPClassifier, {"output_activation": "relu"},
         ["output_activation for a classifier", "(sigmoid, softmax, tanh), got 'relu'"]),
        (MLPClassifier, {"output_activation": "evil"},
         declared("output_activation", "evil", "identity", "leaky_relu", "logistic")),
        (MLPRegressor, {"output_activation": "softmax"},
         ["for a regressor must be one of exp, identity, sigmoid, tanh, got 'softmax'"]),
        (MLPClassifier, {"loss": "hinge"},
         declared("loss", "hinge", "binary_cross_entropy", "cross_entropy", "squared_error")),
        (MLPRegressor, {"loss": "cross_entropy"}, ["softmax"]),
        (MLPClassifier, {"activation": "swish"},
         declared("activation", "swish", "identity", "leaky_relu", "relu", "tanh")),
        (MLPClassifier, {"activation": ["relu", "evil"], "hidden_layer_sizes": (3, 3)},
         ["unknown activation 'evil'; valid: exp, identity, leaky_relu"]),
        (MLPRegressor, {"solver": "newton"}, declared("solver", "newton", "lbfgs", "sgd", "adam")),
        (MLPRegressor, {"learning_rate": "fast"},
         declared("learning_rate", "fast", "constant", "invscaling", "adaptive")),
        (MLPClassifier, {"dropout": 1.0}, declared("dropout", 1.0)),
        (MLPClassifier, {"restarts": 0}, declared("restarts", 0)),
        (MLPClassifier, {"dtype": np.int32}, ["dtype must be float32 or float64, got int32"]),
        (MLPClassifier, {"hidden_layer_sizes": (5, 0)},
         ["hidden_layer_sizes must be an integer >= 1, got 0"]),
        (MLPClassifier, {"hidden_layer_sizes": (5.0,)},
         ["hidden_layer_sizes must be an integer >= 1, got 5.0"]),
        # what scikit-learn's declarations admit and nablanet refuses: bools as numbers
        (MLPClassifier, {"max_iter": True}, ["max_iter must be an integer >= 1, got True"]),
        (MLPClassifier, {"batch_size": True}, ["batch_size must be an integer >= 1, got True"]),
        (MLPRegressor, {"alpha": True}, ["alpha must be a number in [0, inf), got True"]),
        (MLPRegressor, {"alpha": np.inf}, declared("alpha", np.inf)),
        (MLPRegressor, {"validation_fraction": 0.0}, declared("validation_fraction", 0.0)),
        (MLPRegressor, {"shuffle": 1}, declared("shuffle", 1)),
    ],
)
def test_invalid_names_and_values_raise(iris, cls, params, words):
    X, y = iris
    with pytest.raises(ValueError, match=re.escape(words[0])) as info:
        cls(**{"max_iter": 2, **params}).fit(X, y)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_parameter_declarations_are_what_fit_enforces(cls):
    # scikit-learn's own check: a constraint for every parameter, and fit (and
    # partial_fit) refusing a value of the wrong type or out of range with its wording.
    check_param_validation(cls.__name__, cls(max_iter=2))


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


@no_convergence_warning
def test_pipeline_set_output_pandas_names_the_last_hidden_layers_units(iris):
    # set_output(transform="pandas") needs get_feature_names_out on every step that has
    # transform; the MLP's transform gives the last hidden layer, one column per unit.
    import pandas as pd
    from sklearn.exceptions import NotFittedError

    X, y = load_iris(return_X_y=True, as_frame=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(6, 3),
                                                         max_iter=5, random_state=0))
    pipe.set_output(transform="pandas").fit(X, y)
    H = pipe.transform(X)
    assert isinstance(H, pd.DataFrame)
    assert list(H.columns) == ["mlpclassifier0", "mlpclassifier1", "mlpclassifier2"]
    np.testing.assert_array_equal(H.to_numpy(), pipe[-1].net_.hidden(pipe[0].transform(X)))
    assert (pipe.predict(X) == pipe[-1].predict(pipe[0].transform(X))).all()
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    assert list(reg.get_feature_names_out()) == [f"mlpregressor{i}" for i in range(4)]
    with pytest.raises(NotFittedError, match="not fitted"):
        MLPClassifier().get_feature_names_out()
    bare = MLPRegressor(hidden_layer_sizes=(), max_iter=5, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="no hidden layer"):
        bare.get_feature_names_out()  # as transform: no hidden layer, no columns


def test_unfitted_estimator_refuses_to_predict(iris):
    X, _ = iris
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="instance is not fitted yet"):
        MLPClassifier().predict(X)
    with pytest.raises(NotFittedError, match="instance is not fitted yet"):
        MLPRegressor().save("never-written.npz")




@no_convergence_warning
def test_to_sklearn_and_to_torch_methods(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=20, random_state=0).fit(X, y)
    sk = est.to_sklearn()
    assert isinstance(sk, skl.MLPClassifier)
    np.testing.assert_allclose(sk.predict_proba(X), est.predict_proba(X), rtol=1e-12)
    back = nablanet.from_sklearn(sk)
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    with pytest.raises(ValueError, match="dropout"):
        MLPClassifier(hidden_layer_sizes=(6,), max_iter=2, dropout=0.5).fit(X, y).to_sklearn()
    reason = "torch is not installed (`make unit` installs its CPU build where the wheel is)"
    torch = pytest.importorskip("torch", reason=reason)
    model = MLPRegressor(hidden_layer_sizes=(6,), max_iter=20, random_state=0).fit(X, y)
    with torch.no_grad():
        out = model.to_torch()(torch.as_tensor(X)).numpy().ravel()
    np.testing.assert_allclose(out, model.predict(X), rtol=1e-6, atol=1e-9)
