"""The estimators' input matrices: checked as scikit-learn checks them, fast when they can be.

`prediction_matrix` gives ``predict*``, ``transform`` and ``score`` their X. The common
case, a C-contiguous ndarray of the network's dtype and width with finite entries, fitted
without feature names, is recognised in a few microseconds and used as it is; anything
else goes through scikit-learn's ``validate_data`` (conversion, feature-name checks, its
messages). Both paths accept and refuse the same inputs: the shortcut only skips work
whose outcome it already knows. It reads the estimator and never writes, so many threads
may use it at once.

Sparse matrices (CSR or CSC, as scikit-learn's MLP takes them) are accepted everywhere and
given to the network as CSR, whose row slices are the minibatches; they are never made
dense here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.utils.validation import check_is_fitted, validate_data

if TYPE_CHECKING:
    from nablanet.estimators._base import _BaseMLP

Array = NDArray[Any]

#: The sparse formats accepted, as scikit-learn's MLP accepts them.
SPARSE_FORMATS = ["csr", "csc"]
FLOAT_DTYPES = (np.float64, np.float32)


def as_network_matrix(X: Any, dtype: Any) -> Any:
    """A checked X in the network's dtype: C-contiguous if dense, CSR if sparse."""
    if sp.issparse(X):
        return X.tocsr().astype(dtype, copy=False)
    return np.ascontiguousarray(X, dtype=dtype)


def prediction_matrix(est: _BaseMLP, X: Any) -> Any:
    """X checked against the fit (width, feature names, finite), in the network's dtype.

    Raises
    ------
    NotFittedError
        If ``est`` is not fitted.
    ValueError
        As scikit-learn's ``validate_data`` does, for any input it refuses.
    """
    net = est.__dict__.get("net_")
    if net is not None and _ready(est, X, net.dtype):
        return X
    check_is_fitted(est, "net_")
    X = validate_data(est, X, reset=False, accept_sparse=SPARSE_FORMATS, dtype=FLOAT_DTYPES)
    return as_network_matrix(X, est.net_.dtype)


def _ready(est: _BaseMLP, X: Any, dtype: np.dtype[Any]) -> bool:
    """Whether X is what ``validate_data`` would return unchanged, and finite."""
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype == dtype
        and X.flags.c_contiguous
        and X.shape[0] > 0
        and X.shape[1] == est.__dict__.get("n_features_in_")
        # fitted with column names, a plain array gets scikit-learn's warning
        and "feature_names_in_" not in est.__dict__
        and bool(np.isfinite(X).all())
    )
