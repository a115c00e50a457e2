"""Estimators in model files and pickles (nablanet/estimators/_state.py): bit-identical
round trips, files and pickles written by an earlier version, hostile files refused."""

import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import nablanet
from nablanet import MLPClassifier, MLPRegressor, ModelFileError
from nablanet import io as nio
from nablanet.training import EarlyStopping

no_convergence_warning = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

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
    # a loaded model trains on exactly as the saved one does: the optimizer's state and
    # the random state travel in the file
    for model in (est, loaded):
        model.set_params(callbacks=None).partial_fit(X, y)
        model.set_params(warm_start=True).fit(X, y)
    assert loaded.n_iter_ == 5
    np.testing.assert_array_equal(loaded.net_.theta, est.net_.theta)


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
        ("clf", set_in(["params", "activation"], "evil"), None,
         "'activation' parameter of MLPClassifier .* Got 'evil'"),
        ("clf", set_in(["params", "solver"], "evil"), None,
         "'solver' parameter of MLPClassifier .* Got 'evil'"),
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


# --- written by an earlier version: tests/fixtures/estimators (see its script) ----------------

FIXTURES = Path(__file__).parent.parent / "fixtures" / "estimators"
FIXTURE_DATA = {"classifier": "iris", "classifier-tanh": "iris", "regressor-sigmoid": "diabetes"}


@pytest.mark.parametrize("name", FIXTURE_DATA)
@pytest.mark.parametrize("form", ["npz", "pkl"])
def test_estimators_saved_by_an_earlier_version_predict_identically(name, form):
    # Written by nablanet at commit 4cc33f0, when the estimators were one module
    # (nablanet/estimators.py): its model files and pickles must keep working.
    loader = load_iris if FIXTURE_DATA[name] == "iris" else load_diabetes
    X, _ = loader(return_X_y=True)
    path = FIXTURES / f"{name}.{form}"
    est = nablanet.load(path) if form == "npz" else pickle.loads(path.read_bytes())
    # Labels exactly; values to rounding: predictions now take NumPy's exp (not the
    # compiled softmax's) and a sigmoid computed as 1/(1 + e^-z) (not scipy's expit),
    # whose last bits differ.
    with np.load(FIXTURES / "estimator-predictions.npz", allow_pickle=False) as expected:
        if hasattr(est, "predict_proba"):
            np.testing.assert_array_equal(est.predict(X), expected[f"{name}.predict"])
            np.testing.assert_allclose(
                est.predict_proba(X), expected[f"{name}.predict_proba"], rtol=1e-14, atol=0
            )
        else:
            np.testing.assert_allclose(est.predict(X), expected[f"{name}.predict"], rtol=1e-14)
