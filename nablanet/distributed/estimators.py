"""The estimators' ``fit`` on dask arrays: the data steps of their one fit path.

``fit`` is the estimator's own path (``_BaseMLP._fit``); `ClusterRows` gives it the data
steps for dask arrays. The target encoding is fitted on a small summary computed on the
cluster that has the statistics the encoding needs: the distributed unique of the labels
for a classifier, the per-output minimum and maximum for a regressor. Then each block of
y is encoded on its worker. The ``lbfgs`` solver then runs `nablanet.train` on the dask
arrays (a `DaskObjective`).
"""

from __future__ import annotations

import functools
import pickle
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from nablanet._optional import requires_extra
from nablanet.distributed._blocks import align, as_rows, ship

if TYPE_CHECKING:
    from nablanet.estimators._rows import TargetCoding

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


def _encode_block(y: Array, blob: bytes) -> Array:
    """Encode one block of targets with the fitted encoding (checks unseen classes)."""
    return np.asarray(pickle.loads(blob)(y))


def encode_on_cluster(
    coding: TargetCoding, y: Any, dtype: Any, fit: bool = True, s: Any = None
) -> Any:
    """Fit the target encoding on a summary of y (if ``fit``), then encode each block.

    A fit that continues checks the summary against the fitted encoding instead (a bounded
    regressor's range). ``s``: the sample weights (rows of weight 0 do not count).

    Returns
    -------
    dask.array.Array of shape (m, n_outputs)
    """
    summary = _label_summary(y) if coding.is_classifier else _range_summary(y, s)
    if fit:
        coding.encode(summary, fit=True, dtype=dtype)
    coded = coding.encode(summary, fit=False, dtype=dtype)
    if not fit:
        coding.check_continued(coded, None)
    width = coded.shape[1]
    # the estimator travels with its method, its coding fitted
    blob = ship(functools.partial(coding.encode, fit=False, dtype=np.dtype(dtype)))
    kwargs: dict[str, Any] = {"chunks": (y.chunks[0], (width,)), "dtype": np.dtype(dtype)}
    if y.ndim == 1:
        kwargs["new_axis"] = 1
    return y.map_blocks(_encode_block, blob, **kwargs)


class ClusterRows:
    """An estimator's fit on dask arrays: its data steps, where the rows live.

    The fit itself is the estimator's own (``_BaseMLP._fit``); these steps replace
    scikit-learn's input checks by row-chunked dask arrays aligned block by block, and
    the target coding by `encode_on_cluster`. Only the "lbfgs" solver runs here: its
    full-batch objective is a `DaskObjective`.
    """

    def check_solver(self, solver: str) -> None:
        """Refuse the minibatch solvers, pointing to `local_sgd`."""
        if solver != "lbfgs":
            raise ValueError(
                f"solver={solver!r} on dask arrays: only 'lbfgs' trains on a cluster through "
                "fit(); for minibatch training use nablanet.distributed.local_sgd"
            )

    def validate(
        self, est: Any, X: Any, y: Any, sample_weight: Any, reset: bool
    ) -> tuple[Any, Any, Any]:
        """X, y and the weights chunked by rows alike; ``reset`` records the features."""
        X = as_rows(X, "X")
        y = as_rows(y, "y", ndim=(1, 2))
        s = None if sample_weight is None else as_rows(sample_weight, "sample_weight", (1,))
        X, y, s = align(X, y, s)
        if not reset and X.shape[1] != est.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
                f"{est.n_features_in_} features as input"
            )
        if reset:
            est.n_features_in_ = X.shape[1]
            est.__dict__.pop("feature_names_in_", None)
        return X, y, s

    def matrix(self, X: Any, dtype: Any) -> Any:
        """X cast block by block."""
        return X.astype(dtype)

    def targets(
        self, coding: TargetCoding, y: Any, sample_weight: Any, m: int, dtype: Any,
        continuing: bool, incremental: bool,
    ) -> tuple[Any, Any]:
        """Y coded block by block (`encode_on_cluster`); the weights as aligned."""
        return encode_on_cluster(coding, y, dtype, fit=not continuing, s=sample_weight), (
            sample_weight
        )
