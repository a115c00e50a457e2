"""Label encoding and a stratified train/test split."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._arrays import check_dtype
from nablanet.data.splitting import split


def _check_labels(y: Any, name: str = "y") -> NDArray[Any]:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (n_samples,), got shape {arr.shape}")
    return arr


def one_hot(
    y: Any, classes: Any = None, *, dtype: Any = np.float64
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Encode class labels as one-hot rows.

    Parameters
    ----------
    y : array-like of shape (m,)
        Class labels: integers, strings or anything NumPy can sort.
    classes : array-like of shape (k,), optional
        The classes, in the order of the output columns. By default the sorted
        distinct values of ``y``. Giving them keeps the encoding fixed between a
        training set and a test set that may lack some class.
    dtype : float32 or float64
        The dtype of the encoded matrix.

    Returns
    -------
    Y : ndarray of shape (m, k)
        ``Y[i, j] = 1`` if ``y[i] == classes[j]``, else 0.
    classes : ndarray of shape (k,)
        The classes, column by column.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, ``classes`` is empty or has duplicates, or ``y`` holds a
        label that is not among ``classes`` (the message names it).
    """
    y_arr = _check_labels(y)
    dt = check_dtype(dtype)
    if classes is None:
        cls, idx = np.unique(y_arr, return_inverse=True)
    else:
        cls = np.asarray(classes)
        if cls.ndim != 1 or cls.size == 0:
            raise ValueError(f"classes must be a non-empty 1-D array, got shape {cls.shape}")
        uniq, counts = np.unique(cls, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"classes has duplicates: {uniq[counts > 1].tolist()}")
        order = np.argsort(cls, kind="stable")
        try:
            pos = np.searchsorted(cls, y_arr, sorter=order)
        except TypeError:
            raise ValueError(
                f"labels in y (dtype {y_arr.dtype}) cannot be compared with classes "
                f"(dtype {cls.dtype})"
            ) from None
        pos = np.minimum(pos, cls.size - 1)
        idx = order[pos]
        unknown = cls[idx] != y_arr
        if unknown.any():
            bad = np.unique(y_arr[unknown])
            raise ValueError(
                f"y contains label(s) not in classes: {bad[:10].tolist()}"
                f"{' ...' if bad.size > 10 else ''}; classes are {cls.tolist()}"
            )
    Y = np.zeros((y_arr.size, cls.size), dtype=dt)
    Y[np.arange(y_arr.size), idx] = 1
    return Y, cls


def stratified_split(
    X: Any, y: Any, test_size: float = 0.25, seed: int | np.random.Generator = 0
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    r"""Split a data set in two, keeping each class's share the same in both parts.

    The project's one split (`nablanet.data.splitting.split`) with ``labels=y``.

    Parameters
    ----------
    X : array-like of shape (m, ...)
        The samples, one per row (images may keep their shape).
    y : array-like of shape (m,)
        Class labels.
    test_size : float in (0, 1)
        The fraction of samples for the test part; it gets ``ceil(test_size * m)``.
    seed : int or numpy.random.Generator
        Source of the shuffle; the same seed gives the same split.

    Returns
    -------
    X_train : ndarray of shape (m - n_test, ...)
    X_test : ndarray of shape (n_test, ...)
    y_train : ndarray of shape (m - n_test,)
    y_test : ndarray of shape (n_test,)

    Raises
    ------
    ValueError
        If ``test_size`` is not in (0, 1), ``X`` and ``y`` differ in length, a class
        has a single sample, or a part would be smaller than the number of classes (so
        some class could not appear in it).

    Notes
    -----
    Class c with :math:`m_c` samples puts :math:`t_c \approx n_{test} m_c / m` of them
    in the test part (largest-remainder rounding), with :math:`1 \le t_c \le m_c - 1`
    so that every class appears in both parts. Within each part the rows are shuffled.
    """
    y_arr = _check_labels(y)
    X_train, X_test, y_train, y_test = split(
        X, y_arr, fraction=test_size, seed=seed, labels=y_arr, name="test_size"
    )
    return X_train, X_test, y_train, y_test
