"""The estimators' ``fit`` and ``score`` on dask arrays.

``fit`` follows the in-memory path step for step, with two changes. The target encoding
is fitted on a small summary computed on the cluster that has the statistics the
encoding needs: the distributed unique of the labels for a classifier, the per-output
minimum and maximum for a regressor. Then each block of y is encoded on its worker. The
``lbfgs`` solver then runs `nablanet.train` on the dask arrays (a `DaskObjective`).
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import is_classifier
from sklearn.utils import check_random_state

from nablanet._optional import requires_extra
from nablanet.distributed._blocks import align, as_rows, is_dask, ship
from nablanet.distributed.predict import score as cluster_score

Array = NDArray[Any]


def _label_summary(y: Any) -> Array:
    """Every class, from a distributed unique (only the classes reach the driver)."""
    with requires_extra("dask"):
        import dask.array as da

    if y.ndim != 1:
        raise ValueError(
            "multi-label targets are not supported on dask arrays; y must be 1-D labels"
        )
    return np.asarray(da.unique(y).compute())


def _range_summary(y: Any, s: Any = None) -> Array:
    """Two rows: each output's minimum and maximum, computed on the cluster.

    Rows of weight 0 do not count, as in the in-memory fit.
    """
    with requires_extra("dask"):
        import dask
        import dask.array as da

    Y = y.reshape(-1, 1) if y.ndim == 1 else y
    if s is None:
        lo, hi = dask.compute(Y.min(axis=0), Y.max(axis=0))
    else:
        counted = (s > 0)[:, None]
        lo, hi, any_counted = dask.compute(
            da.where(counted, Y, np.inf).min(axis=0), da.where(counted, Y, -np.inf).max(axis=0),
            counted.any(),
        )
        if not any_counted:
            raise ValueError("sample_weight sums to zero: no sample would count")
    summary = np.vstack([lo, hi]).astype(np.float64)
    return summary.ravel() if y.ndim == 1 else summary


def _encode_block(y: Array, blob: bytes, dtype: Any) -> Array:
    """Encode one block of targets with the fitted encoding (checks unseen classes)."""
    return np.asarray(pickle.loads(blob)._encode(y, fit=False, dtype=dtype))


def encode_on_cluster(est: Any, y: Any, dtype: Any, fit: bool = True, s: Any = None) -> Any:
    """Fit ``est``'s target encoding on a summary of y (if ``fit``), then encode each block.

    A fit that continues checks the summary against the fitted encoding instead (a bounded
    regressor's range). ``s``: the sample weights (rows of weight 0 do not count).

    Returns
    -------
    dask.array.Array of shape (m, n_outputs)
    """
    summary = _label_summary(y) if is_classifier(est) else _range_summary(y, s)
    if fit:
        est._encode(summary, fit=True, dtype=dtype)
    coded = est._encode(summary, fit=False, dtype=dtype)
    if not fit:
        est._check_continued_targets(coded, None)
    width = coded.shape[1]
    blob = ship(est)
    kwargs: dict[str, Any] = {"chunks": (y.chunks[0], (width,)), "dtype": np.dtype(dtype)}
    if y.ndim == 1:
        kwargs["new_axis"] = 1
    return y.map_blocks(_encode_block, blob, np.dtype(dtype), **kwargs)


def fit_on_cluster(est: Any, X: Any, y: Any, sample_weight: Any = None) -> Any:
    """``est.fit(X, y)`` for dask arrays with the ``lbfgs`` solver, all or nothing.

    Raises
    ------
    ValueError
        For the stochastic solvers (see `nablanet.distributed.local_sgd`).
    """
    from nablanet.estimators._training import fit_lbfgs
    from nablanet.estimators._transaction import all_or_nothing

    if est.solver != "lbfgs":
        raise ValueError(
            f"solver={est.solver!r} on dask arrays: only 'lbfgs' trains on a cluster through "
            "fit(); for minibatch training use nablanet.distributed.local_sgd"
        )
    continuing = est._continues(False)
    with all_or_nothing(est, continuing):
        hidden = est._check_params()
        X = as_rows(X, "X")
        y = as_rows(y, "y", ndim=(1, 2))
        s = None if sample_weight is None else as_rows(sample_weight, "sample_weight", (1,))
        X, y, s = align(X, y, s)
        if continuing and X.shape[1] != est.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
                f"{est.n_features_in_} features as input"
            )
        if not continuing:
            est._random_state = check_random_state(est.random_state)
            est.n_features_in_ = X.shape[1]
            est.__dict__.pop("feature_names_in_", None)
        dtype = est.net_.dtype if continuing else est._train_dtype(X)
        X = X.astype(dtype)
        Y = encode_on_cluster(est, y, dtype, fit=not continuing, s=s)
        if not continuing:
            est._start(hidden, X.shape[1], Y.shape[1], dtype)
        est._commit(fit_lbfgs(est, X, Y, s))
    return est


def cluster_fit(fit: Callable[..., Any]) -> Callable[..., Any]:
    """Make an estimator's ``fit`` train on the cluster when X is a dask collection."""

    @functools.wraps(fit)
    def wrapper(self: Any, X: Any, y: Any, sample_weight: Any = None) -> Any:
        if is_dask(X):
            return fit_on_cluster(self, X, y, sample_weight)
        return fit(self, X, y, sample_weight)

    return wrapper


def cluster_scored(method: Callable[..., float]) -> Callable[..., float]:
    """Make a ``score(X, y, sample_weight)`` method reduce on the cluster for dask X."""

    @functools.wraps(method)
    def wrapper(self: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
        if is_dask(X):
            return cluster_score(self, X, y, sample_weight)
        return method(self, X, y, sample_weight)

    return wrapper
