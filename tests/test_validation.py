"""Input checks shared by the network, the training loop and the estimators."""

import numpy as np
import pytest

from nablanet._arrays import check_dtype, check_matrix, check_pair, check_sample_weight


def test_check_dtype():
    assert check_dtype(np.float32) == np.dtype(np.float32)
    assert check_dtype("float64") == np.dtype(np.float64)
    for bad in (np.float16, np.int32, np.complex128, "longdouble"):
        with pytest.raises(ValueError, match="dtype must be float32 or float64, got"):
            check_dtype(bad)


@pytest.mark.parametrize(
    ("A", "kwargs", "match"),
    [
        ([[1, 2], [3]], {}, "X could not be read as a numeric array"),
        ([["a", "b"]], {}, "X must be numeric, got dtype <U1"),
        (np.array([[1 + 2j]]), {}, "X must be numeric, got dtype complex128"),
        (np.array([[None]]), {}, "X must be numeric, got dtype object"),
        (np.zeros(3), {}, r"X must be 2-D of shape \(n_samples, n_features\), got shape \(3,\)"),
        (np.zeros((2, 2, 2)), {}, r"got shape \(2, 2, 2\)"),
        (5.0, {}, r"got shape \(\)"),
        (np.zeros((0, 3)), {}, r"X is empty: it has 0 samples \(shape \(0, 3\)\)"),
        (np.zeros((3, 0)), {}, r"X has 0 columns \(shape \(3, 0\)\)"),
        (np.zeros((3, 4)), {"n_columns": 5}, "X has 4 columns, expected 5"),
        (
            [[0.0, 1.0, 2.0], [3.0, 4.0, np.nan]],
            {},
            r"NaN or infinity \(first at row 1, column 2\)",
        ),
        ([[0.0, -np.inf]], {}, r"X contains NaN or infinity \(first at row 0, column 1\)"),
    ],
)
def test_check_matrix_errors(A, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_matrix(A, "X", **kwargs)


def test_check_matrix_names_the_argument():
    with pytest.raises(ValueError, match="^targets must be 2-D"):
        check_matrix(np.zeros(2), "targets")


def test_check_matrix_converts_and_avoids_copies():
    A = np.arange(6.0).reshape(2, 3)
    assert check_matrix(A, "X") is A  # already float64 and C-contiguous: no copy
    out = check_matrix([[1, 2], [3, 4]], "X", dtype=np.float32)
    assert out.dtype == np.float32 and out.tolist() == [[1, 2], [3, 4]]
    F = np.asfortranarray(A)
    C = check_matrix(F, "X")
    assert C.flags.c_contiguous
    np.testing.assert_array_equal(C, A)
    B = check_matrix(np.array([[True, False]]), "X")
    assert B.dtype == np.float64 and B.tolist() == [[1.0, 0.0]]
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        check_matrix(A, "X", dtype=np.int64)


def test_check_pair():
    X, Y = check_pair([[1, 2, 3]], [[0, 1]], n_inputs=3, n_outputs=2)
    assert X.shape == (1, 3) and Y.shape == (1, 2) and X.dtype == Y.dtype == np.float64
    with pytest.raises(ValueError, match="X and Y have different numbers of samples: 2 and 3"):
        check_pair(np.zeros((2, 3)), np.zeros((3, 2)), n_inputs=3, n_outputs=2)
    with pytest.raises(ValueError, match="Y has 3 columns, expected 2"):
        check_pair(np.zeros((2, 3)), np.zeros((2, 3)), n_inputs=3, n_outputs=2)
    with pytest.raises(ValueError, match="X has 3 columns, expected 4"):
        check_pair(np.zeros((2, 3)), np.zeros((2, 2)), n_inputs=4, n_outputs=2)
    with pytest.raises(
        ValueError, match=r"Y contains NaN or infinity \(first at row 1, column 0\)"
    ):
        check_pair(np.zeros((2, 3)), [[0.0, 0.0], [np.nan, 0.0]], n_inputs=3, n_outputs=2)
    X32, Y32 = check_pair([[1.0]], [[2.0]], n_inputs=1, n_outputs=1, dtype=np.float32)
    assert X32.dtype == Y32.dtype == np.float32


@pytest.mark.parametrize(
    ("s", "match"),
    [
        (np.ones(3), r"sample_weight must have shape \(4,\), got \(3,\)"),
        (np.ones((4, 1)), r"sample_weight must have shape \(4,\), got \(4, 1\)"),
        (5.0, r"sample_weight must have shape \(4,\), got \(\)"),
        ([1.0, np.nan, 1.0, 1.0], "sample_weight contains NaN or infinity"),
        ([1.0, np.inf, 1.0, 1.0], "sample_weight contains NaN or infinity"),
        ([1.0, -0.5, 1.0, 1.0], "sample_weight must be non-negative"),
        ([0.0, 0.0, 0.0, 0.0], "sample_weight sums to zero: no sample would count"),
    ],
)
def test_check_sample_weight_errors(s, match):
    with pytest.raises(ValueError, match=match):
        check_sample_weight(s, 4)


def test_check_sample_weight_accepts_and_converts():
    s = check_sample_weight([1, 0, 2], 3)
    assert s.dtype == np.float64 and s.tolist() == [1.0, 0.0, 2.0]
    assert check_sample_weight([1, 2], 2, dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("sparse", [False, True])
def test_a_value_too_large_for_float32_is_called_an_overflow_not_a_nan(sparse):
    """1e300 is finite: it becomes infinity only in the conversion to float32."""
    import scipy.sparse

    X = np.zeros((3, 4))
    X[2, 1] = -1e300
    A = scipy.sparse.csr_matrix(X) if sparse else X
    with pytest.raises(ValueError, match=r"X holds -1e\+300 \(row 2, column 1\), which "
                       r"overflows float32 \(largest 3\.4e\+38\)") as info:
        check_matrix(A, "X", dtype=np.float32, accept_sparse=True)
    assert "NaN" not in str(info.value) and "float64" in str(info.value)
    check_matrix(A, "X", dtype=np.float64, accept_sparse=True)  # fine in float64
    X[0, 0] = np.inf  # a true infinity first is still called one
    A = scipy.sparse.csr_matrix(X) if sparse else X
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(first at row 0, column 0"):
        check_matrix(A, "X", dtype=np.float32, accept_sparse=True)
