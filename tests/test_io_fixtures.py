"""Model files written by earlier nablanet versions keep loading and predict exactly as saved.

The files in ``tests/fixtures/models`` were written once, by the code recorded in
``generate.py`` there, with the outputs the saved model gave on stored inputs. A change
that stops one of them loading, or changes one bit of its predictions, fails here; a
network's outputs and a classifier's probabilities are compared to 1e-14 relative since
predictions take NumPy's exp rather than the compiled softmax, and the sigmoid is computed
as 1/(1 + e^-z) rather than by scipy's expit (labels stay exact).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nablanet import load
from nablanet.network import Network

FIXTURES = Path(__file__).parent / "fixtures" / "models"
MODELS = sorted(p.stem for p in FIXTURES.glob("*.npz"))


def expected(name: str, key: str) -> np.ndarray:
    return np.load(FIXTURES / f"{name}.{key}.npy", allow_pickle=False)


def test_every_kind_is_kept() -> None:
    assert MODELS == [
        "classifier_ints",
        "classifier_strings",
        "network_identity",
        "network_sigmoid",
        "network_softmax",
        "network_tanh",
        "network_v1",
        "regressor_sigmoid",
    ]


@pytest.mark.parametrize("name", MODELS)
def test_old_file_predicts_identically(name: str) -> None:
    model = load(FIXTURES / f"{name}.npz")
    X = expected(name, "X")
    if isinstance(model, Network):
        out = model.forward(X)
        assert out.dtype == expected(name, "out").dtype
        # To rounding: the sigmoid is now 1/(1 + e^-z) in NumPy, not scipy's expit.
        np.testing.assert_allclose(out, expected(name, "out"), rtol=8 * np.finfo(out.dtype).eps)
    elif name.startswith("classifier"):
        # To rounding: predictions now take NumPy's exp, not the compiled kernel's
        # (nablanet.kernels), whose last bits differ.
        np.testing.assert_allclose(model.predict_proba(X), expected(name, "proba"), rtol=1e-14)
        labels = expected(name, "labels")
        assert np.array_equal(model.predict(X).astype(labels.dtype), labels)
    else:
        assert np.array_equal(model.predict(X), expected(name, "out"))


def test_string_classes_stay_strings() -> None:
    clf = load(FIXTURES / "classifier_strings.npz")
    assert clf.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    ints = load(FIXTURES / "classifier_ints.npz")
    assert ints.classes_.dtype.kind == "i" and ints.classes_.tolist() == [10, 11, 12]
