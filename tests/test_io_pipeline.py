"""Pipelines in model files: scikit-learn's Pipeline and ColumnTransformer with preprocessors
and nablanet estimators, saved as arrays and JSON under one seal and rebuilt exactly."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.datasets import load_diabetes, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

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
    shuffled = X[X.columns[::-1]]
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


def test_a_pipeline_file_refuses_an_array_no_step_reads(tmp_path):
    from tests.model_files import header_member, members, write_members

    X, y = load_wine(return_X_y=True)
    clf = make_pipeline(StandardScaler(), nablanet.MLPClassifier((3,), max_iter=5,
                                                                 random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    path = tmp_path / "m.npz"
    nablanet.save(clf, path)
    assert isinstance(nablanet.load(path), type(clf))
    content = members(path)
    import io
    import json

    header = json.loads(np.load(io.BytesIO(content["header.npy"])).tobytes())
    header["arrays"]["s0_extra"] = header["arrays"]["s0_mean_"]
    content["s0_extra.npy"] = content["s0_mean_.npy"]
    content["header.npy"] = header_member(header)
    write_members(path, content)
    with pytest.raises(ModelFileError, match="unexpected array 's0_extra'"):
        nablanet.load(path)
