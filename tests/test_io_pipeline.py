"""Pipelines in model files: scikit-learn's Pipeline and ColumnTransformer with preprocessors
and nablanet estimators, saved as arrays and JSON under one seal and rebuilt exactly."""

from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from model_files import header_member, header_of, members, with_header, write_members
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.datasets import load_diabetes, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)

import nablanet
from nablanet.io import ModelFileError


def _with_text_and_gaps(X: pd.DataFrame, column: str, labels: list[str]) -> pd.DataFrame:
    """A real table made as people have it: one column as text, some cells missing."""
    X = X.copy()
    bins = np.quantile(X[column], np.linspace(0, 1, len(labels) + 1)[1:-1])
    X[column] = np.asarray(labels, dtype=object)[np.searchsorted(bins, X[column])]
    X.iloc[::9, 0] = np.nan  # a number column with gaps
    X.loc[X.index[::13], column] = np.nan  # and the text column
    return X


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True, as_frame=True)
    return _with_text_and_gaps(X, "hue", ["pale", "medium", "deep"]), y


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return _with_text_and_gaps(X, "sex", ["F", "M"]), y


def _table_pipeline(model):
    numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    text = make_pipeline(SimpleImputer(strategy="most_frequent"),
                         OneHotEncoder(handle_unknown="ignore"))
    columns = ColumnTransformer([
        ("numbers", numbers, make_column_selector(dtype_include="number")),
        ("text", text, make_column_selector(dtype_exclude="number")),
    ])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make_pipeline(columns, model)


@pytest.mark.parametrize("task", ["classifier", "regressor"])
def test_a_table_pipeline_saves_and_predicts_the_same(task, wine, diabetes, tmp_path):
    """Fails on main: save raised TypeError for a Pipeline (it has no _to_state)."""
    if task == "classifier":
        (X, y), model = wine, nablanet.MLPClassifier((10,), max_iter=60, random_state=0)
    else:
        (X, y), model = diabetes, nablanet.MLPRegressor((10,), max_iter=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = _table_pipeline(model).fit(X, y)
    nablanet.save(pipe, tmp_path / "pipe.npz")
    back = nablanet.load(tmp_path / "pipe.npz")
    assert [name for name, _ in back.steps] == [name for name, _ in pipe.steps]
    np.testing.assert_array_equal(back.predict(X), pipe.predict(X))
    if task == "classifier":
        np.testing.assert_array_equal(back.predict_proba(X), pipe.predict_proba(X))
    # columns are matched by name: the same rows with the columns in another order
    shuffled = X[X.columns[::-1]].assign(patient_id=np.arange(len(X)))  # and one extra
    np.testing.assert_array_equal(back.predict(shuffled), pipe.predict(X))
    np.testing.assert_array_equal(back.feature_names_in_, X.columns.to_numpy(dtype=object))
    with pytest.raises(ValueError, match="columns are missing"):
        back.predict(X.drop(columns=["alcohol" if task == "classifier" else "bmi"]))


def test_the_guide_saves_the_pipeline_not_its_last_step(tmp_path):
    """Fails on main: the guide saved clf[-1], and the model reloaded on raw rows scored 0.33."""
    X, y = load_wine(return_X_y=True)
    clf = make_pipeline(StandardScaler(), nablanet.MLPClassifier(random_state=0)).fit(X, y)
    nablanet.save(clf, tmp_path / "model.npz")
    model = nablanet.load(tmp_path / "model.npz")
    assert model.score(X, y) == clf.score(X, y) == 1.0
    np.testing.assert_array_equal(model.predict_proba(X), clf.predict_proba(X))


@pytest.fixture(scope="module")
def saved(wine, tmp_path_factory):
    """A table pipeline's file: columns, imputers, scaler, encoder and a classifier."""
    X, y = wine
    pipe = _table_pipeline(nablanet.MLPClassifier((3,), max_iter=5, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    path = tmp_path_factory.mktemp("saved") / "pipe.npz"
    nablanet.save(pipe, path)
    return path


def _scaler(h):
    return h["steps"][0]["step"]["fitted"]["transformers_"][0]["step"]["steps"][1]["step"]


def _encoder(h):
    return h["steps"][0]["step"]["fitted"]["transformers_"][1]["step"]["steps"][1]["step"]


def _set(get, key, value):
    def edit(h):
        get(h)[key] = value
    return edit


HOSTILE = [
    (_set(lambda h: h["steps"][1]["step"], "kind", "RandomForestClassifier"),
     r"step 'mlpclassifier': unknown step kind 'RandomForestClassifier'"),
    (_set(lambda h: h["steps"][0]["step"]["params"], "sparse_threshold", 5),
     r"step 'columntransformer': invalid parameters"),
    (_set(lambda h: _scaler(h)["params"], "with_mean", {"callable": "os.system"}),
     r"step 'standardscaler': parameter 'with_mean' holds .*which no saved parameter is"),
    (_set(lambda h: _scaler(h)["params"], "copy", {"dtype": "object"}),
     r"parameter 'copy' holds"),
    (_set(lambda h: _scaler(h)["fitted"], "n_features_in_", 5),
     r"array 's0_t0_s1_mean_' has shape \(12,\), expected \(5,\)"),
    (_set(lambda h: _scaler(h)["fitted"], "extra_", 1), r"has unexpected field 'extra_'"),
    (_set(lambda h: _scaler(h), "kind", "MinMaxScaler"), r"lacks field 'scale_'|lacks field"),
    (_set(lambda h: h["steps"][0]["step"]["fitted"]["input_indices"], "numbers", [0, 99]),
     r"input_indices\['numbers'\] must list column indices below 13"),
    (_set(lambda h: h["steps"][0]["step"]["fitted"]["transformers_"][0], "columns", {"a": 1}),
     r"is not a column selection"),
    (_set(lambda h: _encoder(h)["fitted"]["categories_"][0], "values", ["a", {"b": 1}]),
     r"categories_0 must hold strings"),
    (_set(lambda h: _encoder(h)["fitted"], "_infrequent_enabled", True),
     r"_infrequent_enabled must be false"),
    (_set(lambda h: _encoder(h)["fitted"], "_n_features_outs", [7]),
     r"step 'onehotencoder': OneHotEncoder: _n_features_outs\[0\] does not match its 3"),
    (_set(lambda h: h, "steps", []), r"a pipeline needs at least one step"),
    (_set(lambda h: h["steps"][1], "name", "a__b"), r"invalid steps"),
]


@pytest.mark.parametrize("edit, message", HOSTILE,
                         ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_a_hostile_pipeline_file_is_refused(saved, edit, message, tmp_path):
    header = header_of(saved)
    edit(header)
    path = tmp_path / "hostile.npz"
    path.write_bytes(saved.read_bytes())
    with_header(path, header)
    with pytest.raises(ModelFileError, match=message):
        nablanet.load(path)


def _with_array(path, name, arr):
    """The same file with array ``name`` replaced (and the manifest made to match)."""
    content = members(path)
    header = header_of(path)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    content[f"{name}.npy"] = buf.getvalue()
    header["arrays"][name] = {"dtype": arr.dtype.str, "shape": list(arr.shape),
                              "sha256": hashlib.sha256(np.ascontiguousarray(arr).data).hexdigest()}
    content["header.npy"] = header_member(header)
    return write_members(path, content)


@pytest.mark.parametrize("name, arr, message", [
    ("s0_t0_s1_mean_", np.zeros(3),
     r"step 'standardscaler': array 's0_t0_s1_mean_' has shape \(3,\), expected \(12,\)"),
    ("s0_t0_s1_scale_", np.full(12, np.inf), r"'s0_t0_s1_scale_' contains NaN or infinity"),
    ("s0_t0_s1_var_", np.zeros(12, np.int64), r"'s0_t0_s1_var_' has dtype int64"),
    ("s0_extra", np.zeros(2), r"unexpected array 's0_extra': no step of the model reads it"),
    ("s1_extra", np.zeros(2), r"array 's1_extra' does not belong to a MLPClassifier"),
])
def test_a_pipeline_file_with_hostile_arrays_is_refused(saved, name, arr, message, tmp_path):
    path = tmp_path / "hostile.npz"
    path.write_bytes(saved.read_bytes())
    _with_array(path, name, arr)
    with pytest.raises(ModelFileError, match=message):
        nablanet.load(path)


# --- every preprocessor, on real data with column names ---------------------------------------


def _numbers(gaps: bool = False) -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_wine(return_X_y=True, as_frame=True)
    if gaps:
        X = X.copy()
        X.iloc[::9, 0] = np.nan
        X.iloc[::7, 5] = np.nan
    return X, y


def _text(gaps: bool = False) -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_wine(return_X_y=True, as_frame=True)
    words = pd.DataFrame({
        "hue": _with_text_and_gaps(X[["hue"]], "hue", ["pale", "medium", "deep"])["hue"],
        "proline": _with_text_and_gaps(X[["proline"]], "proline", ["low", "high"])["proline"],
    }).astype(object)
    if not gaps:
        words = words.fillna("unknown")
    return words, y


PREPROCESSORS = [
    (StandardScaler(), _numbers),
    (StandardScaler(with_mean=False), _numbers),
    (StandardScaler(with_std=False), _numbers),
    (MinMaxScaler(feature_range=(-1, 1), clip=True), _numbers),
    (MaxAbsScaler(), _numbers),
    (RobustScaler(quantile_range=(10.0, 90.0), unit_variance=True), _numbers),
    (RobustScaler(with_centering=False), _numbers),
    (OneHotEncoder(handle_unknown="ignore"), _text),
    (OneHotEncoder(drop="first", sparse_output=False, dtype=np.float32), _text),
    (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), _text),
    (OrdinalEncoder(encoded_missing_value=-1), lambda: _text(gaps=True)),
    (SimpleImputer(), lambda: _numbers(gaps=True)),
    (SimpleImputer(strategy="median", add_indicator=True), lambda: _numbers(gaps=True)),
    (SimpleImputer(strategy="constant", fill_value=0.5), lambda: _numbers(gaps=True)),
    (make_pipeline(SimpleImputer(strategy="most_frequent", add_indicator=True),
                   OneHotEncoder()), lambda: _text(gaps=True)),
    (make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                   OrdinalEncoder()), lambda: _text(gaps=True)),
    (FunctionTransformer(), _numbers),
    (FunctionTransformer(validate=True, feature_names_out="one-to-one"), _numbers),
    (make_pipeline(StandardScaler(), nablanet.ZCAWhitening(epsilon=0.01)), _numbers),
    (make_pipeline(StandardScaler(), nablanet.PCAWhitening(n_components=6)), _numbers),
]


@pytest.mark.parametrize("step, data", PREPROCESSORS,  # ids stable across test workers
                         ids=[f"{i}-{type(step).__name__}" for i, (step, _) in
                              enumerate(PREPROCESSORS)])
def test_each_preprocessor_is_rebuilt_exactly(step, data, tmp_path):
    X, y = data()
    model = nablanet.MLPClassifier((6,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(step, model).fit(X, y)
    nablanet.save(pipe, tmp_path / "m.npz")
    back = nablanet.load(tmp_path / "m.npz")
    for (_, a), (_, b) in zip(pipe.steps[:-1], back.steps[:-1], strict=True):
        assert type(a) is type(b) and repr(a) == repr(b)
        out_a, out_b = a.transform(X), b.transform(X)
        out_a = out_a.toarray() if hasattr(out_a, "toarray") else out_a
        out_b = out_b.toarray() if hasattr(out_b, "toarray") else out_b
        np.testing.assert_array_equal(out_b, out_a)
        assert np.asarray(out_b).dtype == np.asarray(out_a).dtype
    np.testing.assert_array_equal(back.feature_names_in_, X.columns.to_numpy(dtype=object))
    np.testing.assert_array_equal(back.predict_proba(X), pipe.predict_proba(X))
    np.testing.assert_array_equal(back.predict(X), pipe.predict(X))


def test_a_preprocessor_alone_and_set_output(tmp_path):
    """ZCAWhitening could not be saved on main; set_output's choice travels too."""
    X, _ = _numbers()
    zca = nablanet.ZCAWhitening().fit(X)
    nablanet.save(zca, tmp_path / "zca.npz")
    back = nablanet.load(tmp_path / "zca.npz")
    np.testing.assert_array_equal(back.transform(X), zca.transform(X))
    np.testing.assert_array_equal(back.inverse_transform(back.transform(X)),
                                  zca.inverse_transform(zca.transform(X)))
    scaler = StandardScaler().set_output(transform="pandas").fit(X)
    nablanet.save(scaler, tmp_path / "s.npz")
    pd.testing.assert_frame_equal(nablanet.load(tmp_path / "s.npz").transform(X),
                                  scaler.transform(X))


def test_unseen_categories_and_reordered_columns_after_loading(tmp_path):
    X, y = _text()
    pipe = make_pipeline(OneHotEncoder(handle_unknown="ignore"),
                         nablanet.MLPClassifier((4,), max_iter=20, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    nablanet.save(pipe, tmp_path / "m.npz")
    back = nablanet.load(tmp_path / "m.npz")
    new = X.copy()
    new.iloc[:5, 0] = "violet"  # a category never seen in fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scikit-learn's "unknown categories"
        np.testing.assert_array_equal(back.predict_proba(new), pipe.predict_proba(new))


# --- what cannot be saved ----------------------------------------------------------------------


@pytest.mark.parametrize("step, message", [
    (FunctionTransformer(np.log1p), r"FunctionTransformer.*only as the identity"),
    (PolynomialFeatures(), r"sklearn.preprocessing.*PolynomialFeatures is not a step"),
    (OneHotEncoder(min_frequency=60, handle_unknown="infrequent_if_exist"),
     r"OneHotEncoder.*infrequent categories \(min_frequency"),
])
def test_a_step_that_cannot_be_saved_is_named(step, message, tmp_path):
    X, y = _text() if isinstance(step, OneHotEncoder) else _numbers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(step, nablanet.MLPClassifier((3,), max_iter=5,
                                                          random_state=0)).fit(X, y)
    pattern = rf"cannot save the pipeline > step '\w+'.*{message}.*skops"
    with pytest.raises(TypeError, match=pattern):
        nablanet.save(pipe, tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
