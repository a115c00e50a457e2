"""scikit-learn's behaviour where a user notices it (issue 24).

partial_fit that keeps its optimizer (across pickles and model files too), coefs_ and
intercepts_ that can be assigned, multi-label partial_fit, a single class, divergence as a
ValueError, early stopping through a divergence, warm-start rules, n_iter_, the Poisson
loss, the verbose line and warnings that name the user's line.
"""

import copy
import pickle
import re
import warnings

import numpy as np
import pytest
import sklearn.neural_network as skl
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import nablanet
from nablanet import MLPClassifier, MLPRegressor, TrainingDiverged
from nablanet.network import Network

no_convergence_warning = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

# --- partial_fit keeps its optimizer ----------------------------------------------------


def test_partial_fit_keeps_adams_moments_and_converges_as_scikit_learn():
    # the example: scikit-learn reaches 0.99998; a fresh Adam every call moves each
    # weight by about ±learning_rate_init and alternates between 0.84 and 1.05 forever
    est = MLPRegressor(hidden_layer_sizes=(42,), random_state=42, learning_rate_init=0.01)
    est.fit([[2]], [4])
    for _ in range(200):
        est.partial_fit([[2]], [1])
    assert est.predict([[2]])[0] == pytest.approx(1.0, abs=1e-3)
    assert est._optimizer.state.t == est.t_  # one Adam step per sample seen: batch of 1


@no_convergence_warning
def test_partial_fit_calls_equal_one_fit_with_sgd_momentum_as_in_scikit_learn(diabetes):
    X, y = diabetes
    y = (y - y.mean()) / y.std()
    settings = {"solver": "sgd", "momentum": 0.9, "batch_size": 50, "hidden_layer_sizes": (10,),
                "random_state": 0, "learning_rate_init": 0.01, "shuffle": False, "tol": 0.0}
    for module in (skl, nablanet):  # scikit-learn itself is the reference
        one_fit = module.MLPRegressor(max_iter=20, **settings).fit(X, y)
        calls = module.MLPRegressor(**settings)
        for _ in range(20):
            calls.partial_fit(X, y)
        np.testing.assert_array_equal(calls.predict(X), one_fit.predict(X))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_saved_or_pickled_and_continued_is_bit_identical_to_an_uninterrupted_run(
    tmp_path, iris, solver
):
    X, y = iris
    settings = {"hidden_layer_sizes": (8,), "random_state": 0, "solver": solver,
                "batch_size": 32, "learning_rate_init": 0.05}
    uninterrupted = MLPClassifier(**settings)
    stopped = MLPClassifier(**settings)
    for est in (uninterrupted, stopped):
        for _ in range(3):
            est.partial_fit(X, y, classes=[0, 1, 2])
    stopped.save(tmp_path / "m.npz")
    resumed = [nablanet.load(tmp_path / "m.npz"), pickle.loads(pickle.dumps(stopped))]
    for est in (uninterrupted, *resumed):
        for _ in range(4):
            est.partial_fit(X, y)
    for est in resumed:
        np.testing.assert_array_equal(est.net_.theta, uninterrupted.net_.theta)
        assert est.t_ == uninterrupted.t_ == 7 * len(X)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_a_model_whose_solver_changed_after_adam_saves_and_loads(tmp_path, iris, solver):
    # the file held Adam's moments, but was read with the new solver's rule: unloadable
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, y, [0, 1, 2])
    est.set_params(solver=solver)
    est.save(tmp_path / "m.npz")
    loaded = nablanet.load(tmp_path / "m.npz")
    assert loaded.solver == solver
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    if solver == "sgd":  # both start SGD afresh: Adam's moments are no velocity
        for model in (est, loaded):
            model.partial_fit(X, y)
        np.testing.assert_array_equal(loaded.net_.theta, est.net_.theta)


@pytest.mark.parametrize(
    ("name", "change", "match"),
    [
        ("optimizer_v", lambda v: -np.abs(v) - 1.0, "'optimizer_v' must not be negative"),
        ("optimizer_m", lambda m: m[:-1], r"'optimizer_m' has shape \(\d+,\), expected"),
        ("optimizer_m", lambda m: np.full_like(m, np.nan), "'optimizer_m' contains NaN"),
        ("random_state_key", lambda k: k[:5], "'random_state_key' has shape"),
    ],
)
def test_a_model_file_with_a_broken_resume_state_is_refused(tmp_path, iris, name, change, match):
    from nablanet.io.header import save_state

    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, y, [0, 1, 2])
    header, arrays = est._to_state()
    arrays[name] = change(arrays[name])
    save_state(tmp_path / "bad.npz", header, arrays)
    with pytest.raises(nablanet.io.ModelFileError, match=match):
        nablanet.load(tmp_path / "bad.npz")


# --- coefs_ and intercepts_ can be assigned ----------------------------------------------


@pytest.fixture
def fitted(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return est, X


def test_assigning_a_coefs_item_changes_the_model(fitted):
    est, X = fitted
    before = est.predict_proba(X)
    est.coefs_[1] = np.zeros_like(est.coefs_[1])
    est.intercepts_[1] = np.array([0.0, 1.0, 0.0])
    np.testing.assert_array_equal(est.net_.W[1], 0.0)
    # every row now sees only the output biases: softmax of (0, 1, 0)
    expected = np.exp([0.0, 1.0, 0.0]) / np.exp([0.0, 1.0, 0.0]).sum()
    np.testing.assert_allclose(est.predict_proba(X), np.tile(expected, (len(X), 1)))
    assert not np.allclose(before, est.predict_proba(X))


def test_assigning_the_whole_lists_changes_the_model(fitted):
    est, X = fitted
    coefs = [np.full((4, 5), 0.1), np.full((5, 3), -0.2)]
    est.coefs_ = coefs
    est.intercepts_ = [np.zeros(5), np.arange(3.0)]
    for l, W in enumerate(coefs):
        np.testing.assert_array_equal(est.coefs_[l], W)
        np.testing.assert_array_equal(est.net_.W[l], W.T)  # the network's own (out, in)
    assert np.shares_memory(est.coefs_[0], est.net_.theta)
    h = np.maximum(X @ coefs[0], 0.0)
    z = h @ coefs[1] + np.arange(3.0)
    np.testing.assert_allclose(est.predict_proba(X), np.exp(z) / np.exp(z).sum(1, keepdims=True))


@pytest.mark.parametrize(
    ("assign", "error", "match"),
    [
        (lambda e: e.coefs_.__setitem__(1, np.zeros((3, 5))), ValueError,
         r"coefs_\[1\] must have shape \(5, 3\) \(the layer's\), got \(3, 5\)"),
        (lambda e: e.intercepts_.__setitem__(0, np.zeros(4)), ValueError,
         r"intercepts_\[0\] must have shape \(5,\)"),
        (lambda e: e.coefs_.__setitem__(0, np.full((4, 5), np.nan)), ValueError,
         r"coefs_\[0\] must hold finite values"),
        (lambda e: e.coefs_.__setitem__(0, np.full((4, 5), "a")), ValueError,
         r"coefs_\[0\] must hold real numbers"),
        (lambda e: setattr(e, "coefs_", [np.zeros((4, 5))]), ValueError,
         r"coefs_ must be a list of 2 arrays \(one per layer\), got 1"),
        (lambda e: setattr(e, "intercepts_", [np.zeros(5), np.zeros(2)]), ValueError,
         r"intercepts_\[1\] must have shape \(3,\)"),
        (lambda e: e.coefs_.append(np.zeros((5, 3))), TypeError, "its length cannot change"),
        (lambda e: e.coefs_.pop(), TypeError, "its length cannot change"),
    ],
)
def test_a_wrong_assignment_raises_and_changes_nothing(fitted, assign, error, match):
    est, _ = fitted
    theta = est.net_.theta.copy()
    with pytest.raises(error, match=match):
        assign(est)
    np.testing.assert_array_equal(est.net_.theta, theta)


def test_coefs_of_an_unfitted_model_cannot_be_assigned():
    with pytest.raises(NotFittedError, match="coefs_ can be assigned on a fitted MLPRegressor"):
        MLPRegressor().coefs_ = [np.zeros((2, 3))]


@pytest.mark.parametrize(
    "duplicate",
    [copy.copy, copy.deepcopy, lambda v: pickle.loads(pickle.dumps(v))],
    ids=["copy", "deepcopy", "pickle"],
)
def test_coefs_can_be_copied_and_pickled_as_a_plain_list(fitted, duplicate):
    # the scikit-learn idiom: keep the best weights of a partial_fit loop, put them back
    est, X = fitted
    kept = duplicate(est.coefs_)
    assert type(kept) is list and len(kept) == 2
    np.testing.assert_array_equal(kept[1], est.net_.W[1].T)
    before = est.predict_proba(X)
    saved = [W.copy() for W in kept]
    est.coefs_[1] = np.zeros_like(est.coefs_[1])
    if duplicate is not copy.copy:  # a deep copy or a pickle is detached from the network
        np.testing.assert_array_equal(kept[1], saved[1])
        est.coefs_ = kept
        np.testing.assert_array_equal(est.predict_proba(X), before)


# --- classes: multi-label partial_fit, a single class, warm starts -----------------------


def test_multilabel_partial_fit_takes_classes_as_scikit_learn():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    Y = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier(random_state=0).partial_fit(X, Y)
    est = MLPClassifier(hidden_layer_sizes=(8,), random_state=0, learning_rate_init=0.05)
    for _ in range(300):
        est.partial_fit(X, Y, classes=[0, 1, 2])
    assert est.predict(X).shape == Y.shape
    np.testing.assert_array_equal(est.predict(X), Y)
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match="classes has 2 labels but the multi-label y has 3"):
        MLPClassifier().partial_fit(X, Y, classes=[0, 1])


def test_one_class_is_fitted_and_predicted_as_scikit_learn():
    rng = np.random.RandomState(0)
    X = rng.randn(10, 2)
    for cls in (MLPClassifier, skl.MLPClassifier):
        est = cls(random_state=0, max_iter=20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, np.full(10, 7))
        np.testing.assert_array_equal(est.predict(X), np.full(10, 7))
        assert est.predict_proba(X).shape == (10, 2)
        assert (est.predict_proba(X)[:, 0] > 0.5).all()  # the column of the one class


def test_a_one_class_model_saves_and_loads(tmp_path):
    X = np.random.RandomState(0).randn(10, 2)
    est = MLPClassifier(hidden_layer_sizes=(3,), random_state=0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, np.full(10, "only"))
    est.save(tmp_path / "m.npz")
    loaded = nablanet.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.classes_, ["only"])
    np.testing.assert_array_equal(loaded.predict(X), np.full(10, "only"))
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


@no_convergence_warning
def test_a_warm_start_with_other_classes_is_refused_as_in_scikit_learn(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0, warm_start=True)
    est.fit(X, y)
    message = (
        "warm_start can only be used where `y` has the same classes as in the previous call "
        "to fit. Previously got [0 1 2], `y` has [0 1]"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        est.fit(X[y < 2], y[y < 2])
    assert est.n_outputs_ == 3
    est.partial_fit(X[y < 2], y[y < 2])  # a minibatch may lack a class


def test_partial_fit_after_early_stopping_is_refused(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(3,), early_stopping=True, random_state=0).fit(X, y)
    before = est.net_.theta.copy()
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        est.partial_fit(X, y)
    np.testing.assert_array_equal(est.net_.theta, before)


# --- divergence -----------------------------------------------------------------------


def test_divergence_is_a_value_error_as_in_scikit_learn():
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(size=10)
    assert issubclass(TrainingDiverged, ValueError) and issubclass(TrainingDiverged, RuntimeError)
    with pytest.raises(ValueError, match="Scale the data"):
        MLPRegressor().fit(X, y)


def test_early_stopping_keeps_the_best_validated_model_of_a_diverging_run(tmp_path, iris):
    X, y = iris
    est = MLPRegressor(hidden_layer_sizes=100, activation="identity", solver="sgd",
                       learning_rate_init=1, max_iter=20, early_stopping=True, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"Training diverged in epoch 3; the weights "
                      r"with the best validation score \(-\d+\.?\d*\) are kept\. training "
                      r"diverged at epoch 3 \(batch 1\): the cost grew .* Try a smaller learning "
                      r"rate \(it was 1\)\.$"):
        est.fit(X, y)
    assert np.isfinite(est.predict(X)).all()
    assert np.isnan(est.validation_scores_[-1]) and len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == np.nanmax(est.validation_scores_)
    assert np.isnan(est.loss_) and np.isnan(est.loss_curve_[-1])  # the epoch that diverged
    est.save(tmp_path / "m.npz")  # a model file writes NaN as null, and reads it back
    loaded = nablanet.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert np.isnan(loaded.loss_) and np.isnan(loaded.validation_scores_[-1])


# --- n_iter_ and n_iter_no_change --------------------------------------------------------


@no_convergence_warning
def test_a_warm_start_can_turn_early_stopping_on(iris):
    # a bare AssertionError before (scikit-learn: 'NoneType' object has no attribute 'append')
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    est.set_params(warm_start=True, early_stopping=True, n_iter_no_change=50)
    est.fit(X, y)
    assert len(est.validation_scores_) == est.n_iter_ == 5
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert len(est.loss_curve_) == 10


@no_convergence_warning
def test_n_iter_counts_the_last_call_and_inf_turns_the_plateau_rule_off(tmp_path, iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(3,), max_iter=3, warm_start=True, random_state=0)
    est.fit(X, y).fit(X, y)
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 6
    never = MLPClassifier(hidden_layer_sizes=(3,), solver="sgd", tol=1e9, max_iter=40,
                          n_iter_no_change=np.inf, random_state=0).fit(X, y)
    assert never.n_iter_ == 40 and never._no_improvement_count == 39
    never.save(tmp_path / "m.npz")
    assert nablanet.load(tmp_path / "m.npz").n_iter_no_change == np.inf


# --- the Poisson loss ------------------------------------------------------------------


def test_poisson_loss_gradient_is_checked_numerically():
    rng = np.random.default_rng(0)
    net = Network([3, 4, 2], activation="tanh", output_activation="exp", loss="poisson",
                  seed=0, dtype=np.float64)
    X = rng.normal(size=(6, 3))
    Y = rng.poisson(2.0, size=(6, 2)).astype(float)
    assert net.check_gradient(X, Y).passed


def test_poisson_loss_is_half_scikit_learns_mean_poisson_deviance():
    from sklearn.metrics import mean_poisson_deviance

    rng = np.random.default_rng(1)
    net = Network([2, 3, 1], output_activation="exp", loss="poisson", seed=0, dtype=np.float64)
    X = rng.normal(size=(20, 2))
    y = rng.poisson(3.0, size=20).astype(float)
    a = net.forward(X)[:, 0]
    assert net.cost(X, y[:, None]) == pytest.approx(0.5 * mean_poisson_deviance(y, a), rel=1e-12)


def test_poisson_regressor_matches_the_glm_and_refuses_negative_targets():
    from sklearn.linear_model import PoissonRegressor

    rng = np.random.default_rng(42)
    X = np.linspace(0, 1, 100).reshape(-1, 1)
    y = rng.poisson(np.exp(X[:, 0] + 1))
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    est = MLPRegressor(loss="poisson", hidden_layer_sizes=(1,), activation="identity", alpha=0,
                       solver="lbfgs", tol=1e-7, random_state=0).fit(X, y)
    assert est.out_activation_ == "exp"
    np.testing.assert_allclose(est.predict(X), glm.predict(X), rtol=1e-4)
    with pytest.raises(ValueError, match=r"loss='poisson' needs targets y >= 0.*1 negative"):
        MLPRegressor(loss="poisson").fit(X, np.where(np.arange(100) == 3, -1.0, y))


def test_poisson_diagnosis_does_not_ask_to_standardise_counts():
    # counts of mean 30: Poisson deviance with exp fits them as they are (log a = z), and
    # standardised targets would be negative, which loss='poisson' refuses
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = rng.poisson(np.exp(3.4 + 0.3 * X[:, 0]))
    est = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), solver="lbfgs",
                       random_state=0).fit(X, y)
    assert y.mean() > 10 and est.score(X, y) > 0.2
    findings = " ".join(est.diagnose(X, y).findings())
    assert "standardise the targets" not in findings
    assert "nothing stalls" in findings


# --- what a user reads: the verbose line and the warnings' line ----------------------------


def test_verbose_prints_scikit_learns_iteration_line(capsys, iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, verbose=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    est.partial_fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for n, line in zip([1, 2, 1], lines, strict=True):
        assert re.match(rf"Iteration {n}, loss = \d+\.\d{{8}}(, |$)", line), line
    assert float(lines[-1].split("loss = ")[1].split(",")[0]) == pytest.approx(est.loss_, abs=1e-8)


@pytest.mark.parametrize(
    ("make", "call"),
    [
        (lambda: MLPClassifier(hidden_layer_sizes=(2,), max_iter=1), "fit"),
        (lambda: MLPRegressor(hidden_layer_sizes=(2,), max_iter=1), "fit"),
        (lambda: MLPRegressor(hidden_layer_sizes=(2,), max_iter=1, solver="lbfgs"), "fit"),
        (lambda: MLPRegressor(hidden_layer_sizes=(2,), batch_size=1000), "partial_fit"),
    ],
)
def test_warnings_name_the_users_line(iris, make, call):
    X, y = iris
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(make(), call)(X, y)
    assert caught and {w.filename for w in caught} == {__file__}


def test_partial_fit_and_warm_start_continue_the_weights_whatever_restarts_says(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(5,), restarts=3, random_state=0)
    est.partial_fit(X, y, classes=[0, 1, 2])
    twin = pickle.loads(pickle.dumps(est)).set_params(restarts=1)
    est.partial_fit(X, y)
    twin.partial_fit(X, y)  # one run from the same weights
    np.testing.assert_array_equal(est.net_.theta, twin.net_.theta)
    assert len(est.history_.runs) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.set_params(warm_start=True, max_iter=2).fit(X, y)
        twin.set_params(warm_start=True, max_iter=2).fit(X, y)
    np.testing.assert_array_equal(est.net_.theta, twin.net_.theta)
