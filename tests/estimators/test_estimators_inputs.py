"""The estimators' input checks (nablanet/estimators/_inputs.py): the shortcut for the
common case (a C-contiguous, finite ndarray of the network's dtype and width) must accept
and refuse exactly what scikit-learn's full check does, with the same results, messages
and warnings."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError

from nablanet import MLPClassifier, MLPRegressor
from nablanet.estimators import _inputs

no_convergence_warning = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def outcome(call):
    """What a call gives: its result's bytes, dtype and shape, or its exception; and the
    warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
            got = ("result", result.dtype, result.shape, result.tobytes())
        except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
            got = ("error", type(exc), str(exc))
    return got, [(w.category, str(w.message)) for w in caught]


X, y = load_iris(return_X_y=True)
X1 = np.ascontiguousarray(X[:1])
INPUTS = {
    "one-row": X1,
    "many-rows": np.ascontiguousarray(X),
    "float32": X.astype(np.float32),
    "fortran-order": np.asfortranarray(X),
    "strided": X[::2],
    "list": X[:3].tolist(),
    "nan": np.where(np.arange(4) == 2, np.nan, X1),
    "inf": np.where(np.arange(4) == 0, -np.inf, X1),
    "huge-sum": np.full((2, 4), 1e308),  # finite, but its sum overflows
    "wrong-width": np.ascontiguousarray(X[:2, :3]),
    "empty": np.empty((0, 4)),
    "one-d": X[0].copy(),
    "three-d": X[:2].reshape(2, 2, 2),
    "integers": X[:3].astype(int),
    "strings": X[:3].astype(str),
    "dataframe": pd.DataFrame(X[:3], columns=list("abcd")),
}


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "classifier": MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
            .fit(X, y),
            "float32": MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0,
                                     dtype=np.float32).fit(X, y),
            "regressor": MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
            .fit(X, y),
            "with-names": MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
            .fit(pd.DataFrame(X, columns=list("abcd")), y),
        }


@pytest.mark.parametrize("model", ["classifier", "float32", "regressor", "with-names"])
@pytest.mark.parametrize("name", INPUTS)
def test_the_shortcut_gives_what_the_full_check_gives(fitted, monkeypatch, model, name):
    est, data = fitted[model], INPUTS[name]
    methods = ["predict", "transform"] + (["predict_proba"] if hasattr(est, "predict_proba")
                                          else [])
    for method in methods:
        fast = outcome(lambda m=method: getattr(est, m)(data))
        with monkeypatch.context() as patch:
            patch.setattr(_inputs, "_ready", lambda *args: False)
            full = outcome(lambda m=method: getattr(est, m)(data))
        assert fast == full, method


def test_the_shortcut_is_taken_for_the_common_case(fitted, monkeypatch):
    calls = []
    real = _inputs.validate_data
    monkeypatch.setattr(_inputs, "validate_data", lambda *a, **k: calls.append(1) or real(*a, **k))
    est = fitted["classifier"]
    est.predict_proba(X1)
    assert calls == []
    est.predict_proba(np.asfortranarray(X[:3]))
    assert calls == [1]


def test_unfitted_estimators_refuse_every_input():
    for data in (X1, X[:3].tolist()):
        with pytest.raises(NotFittedError, match="instance is not fitted yet"):
            MLPClassifier().predict_proba(data)
