"""Label encoding and a stratified train/test split."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.data.validation import check_dtype


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


def _test_counts(counts: NDArray[np.intp], n_test: int) -> NDArray[np.intp]:
    """Split ``n_test`` among classes in proportion to ``counts``, each in [1, count - 1].

    Largest-remainder rounding of ``n_test * count / m``, then moves of single samples
    from the class furthest above its share to the class furthest below it while the
    bounds are violated.
    """
    ideal = n_test * counts / counts.sum()
    t = np.floor(ideal).astype(np.intp)
    remainder = n_test - int(t.sum())
    t[np.argsort(-(ideal - t), kind="stable")[:remainder]] += 1
    t = np.clip(t, 1, counts - 1)
    while (diff := int(t.sum()) - n_test) != 0:
        if diff > 0:  # too many: take from the class furthest above its ideal share
            excess = np.where(t > 1, t - ideal, -np.inf)
            t[np.argmax(excess)] -= 1
        else:
            deficit = np.where(t < counts - 1, ideal - t, -np.inf)
            t[np.argmax(deficit)] += 1
    return t


def stratified_split(
    X: Any, y: Any, test_size: float = 0.25, seed: int | np.random.Generator = 0
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    r"""Split a data set in two, keeping each class's share the same in both parts.

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
    try:
        fraction = float(test_size)
    except (TypeError, ValueError):
        fraction = math.nan
    if not 0.0 < fraction < 1.0:  # also refuses NaN
        raise ValueError(
            f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}"
        )
    X_arr = np.asarray(X)
    y_arr = _check_labels(y)
    m = y_arr.size
    if X_arr.ndim == 0 or X_arr.shape[0] != m:
        raise ValueError(f"X and y have different numbers of samples: {X_arr.shape[:1]} and {m}")
    cls, inverse, counts = np.unique(y_arr, return_inverse=True, return_counts=True)
    if (counts < 2).any():
        raise ValueError(
            "cannot stratify: class(es) with a single sample cannot be in both parts: "
            f"{cls[counts < 2].tolist()}"
        )
    n_test = math.ceil(fraction * m)
    k = cls.size
    if n_test < k or m - n_test < k:
        raise ValueError(
            f"test_size={test_size} puts {n_test} of {m} samples in the test part and "
            f"{m - n_test} in the training part; each needs at least one sample of each "
            f"of the {k} classes"
        )
    rng = np.random.default_rng(seed)
    t = _test_counts(counts, n_test)
    test_parts, train_parts = [], []
    for c in range(k):
        members = rng.permutation(np.flatnonzero(inverse == c))
        test_parts.append(members[: t[c]])
        train_parts.append(members[t[c] :])
    test_idx = rng.permutation(np.concatenate(test_parts))
    train_idx = rng.permutation(np.concatenate(train_parts))
    return X_arr[train_idx], X_arr[test_idx], y_arr[train_idx], y_arr[test_idx]
