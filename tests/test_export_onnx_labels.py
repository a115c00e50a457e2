"""ONNX labels come back exactly, for every integer dtype at its extremes (issue 19, item 3).

On main, classes were cast to int64 without a check: uint64 classes of 2**63 or more came
back negative from the graph (549 of 1,000 labels wrong in the issue's run).
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import scipy.sparse
from export_helpers import fit, scaled
from sklearn.datasets import load_iris

from nablanet import MLPClassifier
from nablanet.export import to_onnx

INTEGER_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                  np.uint64]
X, Y = scaled(load_iris)


def run(model, X):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X})


def extremes(dtype, n_classes):
    """``n_classes`` labels of ``dtype``: its smallest, its largest, and one just below."""
    info = np.iinfo(dtype)
    values = [info.min, info.max, info.max - 1][:n_classes]
    return np.array(values, dtype=dtype)


def labels_of(y_index, dtype, n_classes):
    return extremes(dtype, n_classes)[y_index]


@pytest.mark.parametrize("n_classes", [2, 3])  # one sigmoid unit; softmax units
@pytest.mark.parametrize("dtype", INTEGER_DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_integer_dtype_exports_its_extreme_labels_exactly(dtype, n_classes):
    keep = Y < n_classes
    y = labels_of(Y[keep], dtype, n_classes)
    est = fit(MLPClassifier((4,), solver="lbfgs", max_iter=30, random_state=0), X[keep], y)
    assert est.classes_.dtype == dtype
    label, _ = run(to_onnx(est), X[keep].astype(np.float32))
    expected = est.predict(X[keep])
    assert len(set(expected.tolist())) == n_classes  # every extreme label is predicted
    assert [int(v) for v in label] == [int(v) for v in expected]


def test_uint64_labels_above_int64_come_back_as_uint64():
    y = (np.uint64(2**63) + Y.astype(np.uint64)).astype(np.uint64)
    est = fit(MLPClassifier((4,), solver="lbfgs", max_iter=30, random_state=0), X, y)
    label, _ = run(to_onnx(est), X.astype(np.float32))
    assert label.dtype == np.uint64
    np.testing.assert_array_equal(label, est.predict(X))


def test_int64_labels_stay_int64():
    est = fit(MLPClassifier((4,), solver="lbfgs", max_iter=30, random_state=0), X,
              Y.astype(np.uint64))
    label, _ = run(to_onnx(est), X.astype(np.float32))
    assert label.dtype == np.int64  # as skl2onnx gives scikit-learn's MLPClassifier
    np.testing.assert_array_equal(label, est.predict(X))


def test_whole_float_labels_outside_int64_are_refused_not_wrapped():
    est = fit(MLPClassifier((4,), solver="lbfgs", max_iter=5, random_state=0), X,
              Y.astype(np.float64))
    label, _ = run(to_onnx(est), X.astype(np.float32))
    np.testing.assert_array_equal(label, est.predict(X))  # whole floats: int64 labels
    # scikit-learn's fit refuses such labels; a model whose classes were set by hand
    # (as a converter might) must still not export them wrapped
    est.classes_ = np.array([0.0, 1.0, 2.0**63])
    with pytest.raises(ValueError, match=r"outside int64's range"):
        to_onnx(est)


def test_a_sparse_sample_sets_the_dtype_by_its_width_and_dtype_alone():
    est = fit(MLPClassifier((4,), solver="lbfgs", max_iter=5, random_state=0), X, Y)
    for dtype in (np.float32, np.float64):
        sample = scipy.sparse.csr_matrix(X[:3].astype(dtype))
        graph = to_onnx(est, X_sample=sample)
        label, proba = run(graph, X.astype(dtype))
        assert proba.dtype == dtype
        np.testing.assert_array_equal(label, est.predict(X))
    with pytest.raises(ValueError, match=r"must have shape \(n_samples, 4\), got \(3, 2\)"):
        to_onnx(est, X_sample=scipy.sparse.csr_matrix(X[:3, :2]))
