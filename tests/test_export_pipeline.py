"""A whole pipeline exported as one ONNX graph and run in onnxruntime, against predict."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from test_io_pipeline import _table_pipeline, _with_text_and_gaps

import nablanet
from nablanet.export import onnx_inputs


def _run(graph, X):
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, onnx_inputs(graph, X))


@pytest.mark.parametrize("model", [
    nablanet.MLPClassifier((10,), max_iter=60, random_state=0),
    nablanet.StackedAutoencoderClassifier((8,), pretrain_max_iter=20, max_iter=20,
                                          random_state=0),
])
def test_a_table_pipeline_runs_in_onnxruntime_as_it_predicts(model):
    """Fails on main: to_onnx took only a network or an estimator."""
    X, y = load_wine(return_X_y=True, as_frame=True)
    X = _with_text_and_gaps(X, "hue", ["pale", "medium", "deep"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = _table_pipeline(model).fit(X, y)
    graph = nablanet.to_onnx(pipe, X_sample=X)
    assert [o.name for o in graph.graph.output] == ["label", "probabilities"]
    assert len(graph.graph.input) == X.shape[1]  # one input per column
    label, proba = _run(graph, X)
    np.testing.assert_array_equal(label, pipe.predict(X))
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=1e-5)


@pytest.mark.parametrize("whitening", [nablanet.ZCAWhitening(epsilon=0.01),
                                       nablanet.PCAWhitening(n_components=6)])
def test_whitening_and_a_regressor_in_a_pipeline_export(whitening):
    X, y = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), whitening, MinMaxScaler(),
                         nablanet.MLPRegressor((5,), solver="lbfgs", max_iter=50, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y.astype(float))
    graph = nablanet.to_onnx(pipe, X_sample=X[:1])
    (variable,) = _run(graph, X)
    np.testing.assert_allclose(variable.ravel(), pipe.predict(X), rtol=1e-5, atol=1e-5)


def test_a_pipeline_needs_a_sample():
    X, y = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), nablanet.MLPClassifier((3,), solver="lbfgs",
                                                                  max_iter=5, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    with pytest.raises(ValueError, match="to_onnx of a pipeline needs X_sample"):
        nablanet.to_onnx(pipe)
