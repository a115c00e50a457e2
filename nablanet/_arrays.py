"""Input checks shared by the network, the training loop and the estimators (arrays, dtypes).

Every public entry point validates its data once, up front, so that the hot loops
can trust their inputs. Each error names the argument and what is wrong with it.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

FLOAT_DTYPES = (np.float32, np.float64)
#: The scipy.sparse formats accepted as inputs X (scikit-learn's MLP accepts the same).
SPARSE_FORMATS = ("csr", "csc")


def is_sparse(A: Any) -> bool:
    """Whether ``A`` is a scipy.sparse matrix or array.

    Asks scipy only if it is already imported: nothing else can have made one.
    """
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(A))


def check_dtype(dtype: Any) -> np.dtype[Any]:
    """Return ``dtype`` as a NumPy dtype if it is float32 or float64.

    Raises
    ------
    ValueError
        For any other dtype.
    """
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def check_matrix(
    A: Any,
    name: str,
    *,
    n_columns: int | None = None,
    dtype: Any = np.float64,
    accept_sparse: bool = False,
) -> Any:
    """Validate a 2-D, non-empty, finite numeric array and return it as ``dtype``.

    Parameters
    ----------
    A : array-like or scipy.sparse matrix of shape (n_samples, n_columns)
        The data. A 1-D array is refused rather than guessed at.
    name : str
        The argument's name, used in error messages (``"X"``, ``"Y"``).
    n_columns : int, optional
        The required number of columns.
    dtype : float32 or float64
        The dtype of the returned array. No copy is made if it already matches.
    accept_sparse : bool, default False
        Accept a scipy.sparse CSR or CSC matrix (returned as CSR, never densified).

    Returns
    -------
    ndarray or scipy.sparse CSR matrix of shape (n_samples, n_columns)
        C-contiguous array of ``dtype`` (or a CSR matrix of ``dtype`` for sparse input).

    Raises
    ------
    ValueError
        If the array is not 2-D, empty, has the wrong number of columns, is not numeric
        or holds NaN or infinity.
    TypeError
        For a sparse matrix where none is accepted, or in another format than CSR/CSC.
    """
    if is_sparse(A):
        return _check_sparse(A, name, n_columns, dtype, accept_sparse)
    try:
        arr = np.asarray(A)
    except (TypeError, ValueError) as exc:  # ragged lists
        raise ValueError(f"{name} could not be read as a numeric array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    _check_shape(arr.shape, name, n_columns)
    source = arr
    dtype = check_dtype(dtype)
    if arr.dtype != dtype or not arr.flags.c_contiguous:
        with np.errstate(over="ignore"):  # a float64 too large for float32 becomes inf: refused
            arr = np.ascontiguousarray(arr, dtype=dtype)
    if not _all_finite(arr):
        row, col = np.argwhere(~np.isfinite(arr))[0]
        raise _not_finite(name, source[row, col], arr.dtype, int(row), int(col))
    return arr


def _not_finite(name: str, value: Any, dtype: Any, row: int, col: int) -> ValueError:
    """The error for the first entry that is not finite in ``dtype``: NaN, ±inf, or overflow.

    ``value`` is the entry as given: a finite one overflowed in the conversion to ``dtype``.
    """
    if np.isfinite(value):
        largest = float(np.finfo(dtype).max)
        return ValueError(
            f"{name} holds {float(value):.3g} (row {row}, column {col}), which overflows "
            f"{np.dtype(dtype).name} (largest {largest:.2g}): scale the data, or use "
            f"dtype float64"
        )
    return ValueError(f"{name} contains NaN or infinity (first at row {row}, column {col})")


def _check_shape(shape: tuple[int, ...], name: str, n_columns: int | None) -> None:
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, n_features), got shape {shape}")
    if shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples (shape {shape})")
    if shape[1] == 0:
        raise ValueError(f"{name} has 0 columns (shape {shape})")
    if n_columns is not None and shape[1] != n_columns:
        raise ValueError(f"{name} has {shape[1]} columns, expected {n_columns}")


def _check_sparse(
    A: Any, name: str, n_columns: int | None, dtype: Any, accept_sparse: bool
) -> Any:
    """Validate a scipy.sparse input and return it as CSR of ``dtype``.

    CSR because minibatches are row slices; CSC input is converted once (a copy of the
    stored entries, never a dense array).
    """
    if not accept_sparse:
        raise TypeError(f"{name} must be a dense array, got a scipy.sparse {A.format} matrix")
    if A.format not in SPARSE_FORMATS:
        raise TypeError(
            f"{name} is a scipy.sparse matrix in {A.format.upper()} format; accepted: CSR, CSC "
            f"(convert with {name}.tocsr())"
        )
    if A.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {A.dtype}")
    _check_shape(A.shape, name, n_columns)
    source = A.tocsr()
    with np.errstate(over="ignore"):  # a float64 too large for float32 becomes inf: refused
        A = source.astype(check_dtype(dtype), copy=False)
    if not np.isfinite(A.data).all():
        k = int(np.argmax(~np.isfinite(A.data)))
        row = int(np.searchsorted(A.indptr, k, side="right")) - 1
        raise _not_finite(name, source.data[k], A.dtype, row, int(A.indices[k]))
    return A


def _all_finite(arr: NDArray[Any], rows_per_block: int = 4096) -> bool:
    """Whether every entry is finite, checked in blocks of rows (no full-size temporary)."""
    if arr.shape[0] <= rows_per_block:  # one block (a single prediction: no generator)
        return bool(np.isfinite(arr).all())
    return all(
        np.isfinite(arr[start : start + rows_per_block]).all()
        for start in range(0, arr.shape[0], rows_per_block)
    )


def check_pair(
    X: Any,
    Y: Any,
    *,
    n_inputs: int,
    n_outputs: int,
    dtype: Any = np.float64,
) -> tuple[Any, NDArray[Any]]:
    """Validate inputs ``X`` (dense, or scipy.sparse CSR/CSC) and targets ``Y`` together.

    Returns
    -------
    X : ndarray or scipy.sparse CSR matrix of shape (m, n_inputs)
    Y : ndarray of shape (m, n_outputs)

    Raises
    ------
    ValueError
        If either array is invalid (see `check_matrix`) or their sample counts differ.
    """
    X = check_matrix(X, "X", n_columns=n_inputs, dtype=dtype, accept_sparse=True)
    Y = check_matrix(Y, "Y", n_columns=n_outputs, dtype=dtype)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X and Y have different numbers of samples: {X.shape[0]} and {Y.shape[0]}"
        )
    return X, Y


def check_sample_weight(sample_weight: Any, m: int, dtype: Any = np.float64) -> NDArray[Any]:
    """Validate per-sample weights: shape (m,), finite, non-negative, positive sum."""
    s = np.asarray(sample_weight, dtype=check_dtype(dtype))
    if s.shape != (m,):
        raise ValueError(f"sample_weight must have shape ({m},), got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("sample_weight contains NaN or infinity")
    if (s < 0).any():
        raise ValueError("sample_weight must be non-negative")
    if s.sum() <= 0:
        raise ValueError("sample_weight sums to zero: no sample would count")
    return s


def optional_sample_weight(sample_weight: Any, m: int) -> NDArray[Any] | None:
    """`check_sample_weight`, passing None (every example counts the same) through."""
    return None if sample_weight is None else check_sample_weight(sample_weight, m)


def check_theta(values: Any, n_params: int, dtype: Any) -> NDArray[Any]:
    """``values`` as a parameter vector θ of shape (n_params,) in ``dtype``.

    Raises
    ------
    ValueError
        For another shape, or NaN or infinity (a float64 value too large for float32
        becomes infinity, and is refused as such).
    """
    dtype = check_dtype(dtype)
    with np.errstate(over="ignore"):  # a float64 value too large for float32 -> inf
        theta = np.asarray(values, dtype=dtype)
    if theta.shape != (n_params,):
        raise ValueError(f"theta must have shape {(n_params,)}, got {theta.shape}")
    if not np.isfinite(theta).all():
        raise ValueError(f"theta contains NaN or infinity (in {dtype.name})")
    return theta
