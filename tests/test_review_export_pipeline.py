"""Review of pipeline export: imputers skl2onnx converts to graphs of the wrong width."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline

import nablanet


def _with_gaps() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_wine(return_X_y=True)
    X = X[:, :4].copy()
    X[::7, 0] = np.nan
    return X, y


@pytest.mark.parametrize("imputer, empty, message", [
    (SimpleImputer(add_indicator=True), False, r"add_indicator=True"),
    (SimpleImputer(), True, r"drops the columns that were all missing in fit"),
], ids=["indicator", "empty column"])
def test_an_imputer_onnx_cannot_reproduce_is_refused(imputer, empty, message):
    """skl2onnx wrote a graph without the indicator or the dropped column: its width was
    wrong, and onnxruntime failed on the first rows it ran."""
    X, y = _with_gaps()
    if empty:
        X = np.c_[X, np.full(len(X), np.nan)]
    pipe = make_pipeline(imputer, nablanet.MLPClassifier((3,), max_iter=5, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    with pytest.raises(ValueError, match=rf"step SimpleImputer.*{message}"):
        nablanet.to_onnx(pipe, X_sample=X)


@pytest.mark.parametrize("handle_unknown", ["error", "ignore"])
def test_a_missing_text_category_exports_as_it_predicts(handle_unknown):
    """A OneHotEncoder fitted with missing text as a category: the graph took the missing
    cell ("") for an unknown category, failing (error) or predicting otherwise (ignore)."""
    import onnxruntime as ort
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from nablanet.export import onnx_inputs

    X, y = load_wine(return_X_y=True, as_frame=True)
    X = X.iloc[:, :3].copy()
    X["hue"] = pd.Series(np.array(["pale", "medium", "deep"])[y], dtype=object)
    X.loc[::6, "hue"] = np.nan
    encoder = OneHotEncoder(handle_unknown=handle_unknown)
    pipe = make_pipeline(
        ColumnTransformer([("n", StandardScaler(), ["alcohol", "malic_acid", "ash"]),
                           ("c", encoder, ["hue"])]),
        nablanet.MLPClassifier((6,), max_iter=60, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    graph = nablanet.to_onnx(pipe, X_sample=X)
    session = ort.InferenceSession(graph.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    label, proba = session.run(None, onnx_inputs(graph, X))
    np.testing.assert_array_equal(label, pipe.predict(X))
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=1e-5)
    assert any(pd.isna(c) for c in pipe[0].named_transformers_["c"].categories_[0])


def test_an_encoder_that_warns_on_unknown_categories_exports_as_it_predicts():
    """handle_unknown="warn" encodes an unknown category as zeros, as "ignore" does; the
    graph refused it instead (onnxruntime: "Unknown Category and zeros = 0")."""
    import onnxruntime as ort
    from sklearn.preprocessing import OneHotEncoder

    from nablanet.export import onnx_inputs

    X, y = load_wine(return_X_y=True, as_frame=True)
    X = X.iloc[:, :2].copy()
    X["hue"] = pd.Series(np.array(["pale", "medium", "deep"])[y], dtype=object)
    pipe = make_pipeline(OneHotEncoder(handle_unknown="warn"),
                         nablanet.MLPClassifier((6,), max_iter=60, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X[["hue"]], y)
    graph = nablanet.to_onnx(pipe, X_sample=X[["hue"]])
    new = X[["hue"]].copy()
    new.iloc[::3, 0] = "violet"  # never seen in fit
    session = ort.InferenceSession(graph.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    label, proba = session.run(None, onnx_inputs(graph, new))
    with pytest.warns(UserWarning, match="unknown categories"):
        expected = pipe.predict_proba(new)
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, pipe.classes_[expected.argmax(axis=1)])


def test_onnx_inputs_take_a_dataframes_columns_by_name():
    """Reordered columns were fed by position: 82 of 178 wine labels changed, silently
    (skl2onnx renames a column such as "od280/od315_of_diluted_wines", so the graph's
    input names are not the columns')."""
    import onnxruntime as ort
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    from nablanet.export import onnx_inputs

    X, y = load_wine(return_X_y=True, as_frame=True)
    pipe = make_pipeline(ColumnTransformer([("n", StandardScaler(), list(X.columns))]),
                         nablanet.MLPClassifier((6,), max_iter=60, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    graph = nablanet.to_onnx(pipe, X_sample=X)
    session = ort.InferenceSession(graph.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    reordered = X[list(reversed(X.columns))]
    _, proba = session.run(None, onnx_inputs(graph, reordered))
    np.testing.assert_allclose(proba, pipe.predict_proba(reordered), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match=r"X lacks the graph's column 'proline'"):
        onnx_inputs(graph, X.rename(columns={"proline": "p"}))
