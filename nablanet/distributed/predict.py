"""Prediction on dask arrays, block by block where the rows live.

`predict_rows` maps a fitted object's method over X's row blocks and returns a dask array
(as dask-ml's ``ParallelPostFit`` does): nothing is computed until asked, and the input
never passes through the driver. An estimator method does that when given a dask array
(`nablanet._remote.rowwise`). `score` reduces per-block sums to one number (accuracy or
R²), so it too reads each block once on the cluster.

Each task unpickles its own copy of the model, so the threads of one worker never share
a network's work buffers.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from nablanet._optional import requires_extra
from nablanet.distributed._blocks import align, as_rows, blocks, one_thread, ship, tree_sum
from nablanet.network import Network

Array = NDArray[Any]
F = TypeVar("F", bound=Callable[..., Any])


@one_thread
def _apply(X: Array, blob: bytes, method: str) -> Array:
    """``method`` of the unpickled model on one row block."""
    return np.asarray(getattr(pickle.loads(blob), method)(X))


def predict_rows(model: Any, method: str, X: Any) -> Any:
    """``model.method`` applied to each row block of X, as a lazy dask array.

    Parameters
    ----------
    model : object
        A fitted estimator or a `Network`; it is pickled once and sent with the graph.
    method : str
        The method to map, e.g. "predict", "predict_proba", "transform", "forward".
    X : dask array of shape (m, n_features), or a dask dataframe

    Returns
    -------
    dask.array.Array of shape (m,) or (m, k)
        Chunked like X's rows.
    """
    X = as_rows(X, "X")
    # The output's shape and dtype, from one row of zeros on the driver (no data read).
    sample = np.asarray(getattr(model, method)(np.zeros((1, X.shape[1]), X.dtype)))
    blob = ship(model)
    if sample.ndim == 1:
        return X.map_blocks(_apply, blob, method, drop_axis=1, dtype=sample.dtype, meta=sample[:0])
    return X.map_blocks(
        _apply, blob, method, chunks=(X.chunks[0], sample.shape[1]), dtype=sample.dtype,
        meta=sample[:0],
    )


# --- scores: sums per block, one number at the end -------------------------------------


@one_thread
def _score_sums(blob: bytes, X: Array, y: Array, s: Array | None, classifier: bool) -> Array:
    """One block's sums for accuracy [Σ s·hit, Σ s] or R² [Σ s, Σ s y, Σ s y², Σ s (y−ŷ)²]."""
    model = pickle.loads(blob)
    pred = np.asarray(model.predict(X))
    y = np.asarray(y)
    w = np.ones(len(X)) if s is None else np.asarray(s, dtype=np.float64)
    if classifier:
        hit = (pred.reshape(len(X), -1) == y.reshape(len(X), -1)).all(axis=1)
        return np.array([np.dot(w, hit), w.sum()])
    Y = y.reshape(len(X), -1).astype(np.float64)
    P = pred.reshape(len(X), -1).astype(np.float64)
    return np.concatenate([[w.sum()], w @ Y, w @ (Y * Y), w @ ((Y - P) ** 2)])


def _add(a: Array, b: Array) -> Array:
    return a + b


def score(model: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
    """Accuracy (a classifier) or R² (a regressor) of ``model`` on dask arrays.

    The classifier's accuracy is the weighted share of rows predicted exactly; the
    regressor's R² is scikit-learn's, averaged uniformly over outputs. Each block
    returns a few sums; they are added in a fixed tree and the driver divides.

    Returns
    -------
    float
    """
    with requires_extra("dask"):
        import dask
    from sklearn.base import is_classifier

    X = as_rows(X, "X")
    y = as_rows(y, "y", ndim=(1, 2))
    s = None if sample_weight is None else as_rows(sample_weight, "sample_weight", (1,))
    X, y, s = align(X, y, s)
    classifier = is_classifier(model)
    blob = ship(model)
    task = dask.delayed(_score_sums, pure=False)
    ss = blocks(s) if s is not None else [None] * X.numblocks[0]
    rows = zip(blocks(X), blocks(y), ss, strict=True)
    parts = [task(blob, xb, yb, sb, classifier) for xb, yb, sb in rows]
    (sums,) = dask.compute(tree_sum(parts, _add))
    if classifier:
        return float(sums[0] / sums[1])
    k = (len(sums) - 1) // 3
    S, Sy, Syy, Sres = sums[0], sums[1 : 1 + k], sums[1 + k : 1 + 2 * k], sums[1 + 2 * k :]
    total = Syy - Sy * Sy / S  # Σ s (y − ȳ)²
    # scikit-learn: a constant output scores 1 if predicted exactly, else 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        explained = 1.0 - Sres / np.where(total > 0, total, 1.0)
        r2 = np.where(total > 0, explained, np.where(Sres == 0, 1.0, 0.0))
    return float(np.mean(r2))


@one_thread
def _block_score(blob: bytes, X: Array, Y: Array, score: Callable[..., float]) -> Array:
    net: Network = pickle.loads(blob)
    Y = np.asarray(Y).reshape(len(Y), -1)
    value = score(net, np.asarray(X, dtype=net.dtype), Y.astype(net.dtype))
    return np.array([value * len(X), len(X)])


def mean_block_score(net: Network, score: Callable[..., float], X: Any, Y: Any) -> float:
    """The row-weighted mean over X's blocks of ``score(net, X_b, Y_b)``.

    Exact for a score that is a mean over rows (as `nablanet.training.accuracy` is).
    """
    with requires_extra("dask"):
        import dask

    blob = ship(net)
    task = dask.delayed(_block_score, pure=False)
    parts = [task(blob, xb, yb, score) for xb, yb in zip(blocks(X), blocks(Y), strict=True)]
    (sums,) = dask.compute(tree_sum(parts, _add))
    return float(sums[0] / sums[1])
