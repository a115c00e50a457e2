"""The one way nablanet holds rows out: a test part, or a validation part.

`split_indices` decides which rows go where; `split` applies that to arrays. Every
caller (data sets, the command line, the training loop, the estimators) uses them, so
that one fraction gives one number of rows everywhere:

- the held-out part gets ``ceil(fraction * m)`` rows (scikit-learn's rule), and the
  other part keeps at least one;
- with ``labels``, each class keeps its share in both parts (largest-remainder
  rounding), and every class appears in both, or the split is refused with the reason;
- rows are drawn with ``np.random.default_rng(seed)``, so a seed gives one split, and
  each part comes in random order.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._checks import number

Indices = NDArray[np.intp]


def _held_out_counts(counts: NDArray[np.intp], n_out: int) -> NDArray[np.intp]:
    """Split ``n_out`` among classes in proportion to ``counts``, each in [1, count - 1].

    Largest-remainder rounding of ``n_out * count / m``, then moves of single samples
    from the class furthest above its share to the class furthest below it while the
    bounds are violated.
    """
    ideal = n_out * counts / counts.sum()
    t = np.floor(ideal).astype(np.intp)
    remainder = n_out - int(t.sum())
    t[np.argsort(-(ideal - t), kind="stable")[:remainder]] += 1
    t = np.clip(t, 1, counts - 1)
    while (diff := int(t.sum()) - n_out) != 0:
        if diff > 0:  # too many: take from the class furthest above its ideal share
            excess = np.where(t > 1, t - ideal, -np.inf)
            t[np.argmax(excess)] -= 1
        else:
            deficit = np.where(t < counts - 1, ideal - t, -np.inf)
            t[np.argmax(deficit)] += 1
    return t


def _stratified(
    labels: NDArray[Any], n_out: int, rng: np.random.Generator, what: str, name: str
) -> tuple[Indices, Indices]:
    cls, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if (counts < 2).any():
        raise ValueError(
            "cannot stratify: class(es) with a single sample cannot be in both parts: "
            f"{cls[counts < 2].tolist()}"
        )
    m, k = labels.size, cls.size
    if n_out < k or m - n_out < k:
        raise ValueError(
            f"{name} puts {n_out} of {m} samples in the {what} part and {m - n_out} in the "
            f"training part; each needs at least one sample of each of the {k} classes"
        )
    t = _held_out_counts(counts, n_out)
    out_parts, kept_parts = [], []
    for c in range(k):
        members = rng.permutation(np.flatnonzero(inverse == c))
        out_parts.append(members[: t[c]])
        kept_parts.append(members[t[c] :])
    held_out = rng.permutation(np.concatenate(out_parts))
    return rng.permutation(np.concatenate(kept_parts)), held_out


def split_indices(
    m: int,
    fraction: float,
    seed: int | np.random.Generator | None = 0,
    *,
    labels: Any = None,
    what: str = "test",
    name: str = "fraction",
) -> tuple[Indices, Indices]:
    r"""Choose the rows of a held-out part.

    Parameters
    ----------
    m : int
        The number of rows.
    fraction : float in (0, 1)
        The share held out: ``ceil(fraction * m)`` rows.
    seed : int, numpy.random.Generator or None
        Source of the draw (a Generator is advanced; None draws fresh entropy).
    labels : array-like of shape (m,), optional
        Class labels to stratify by. None: rows are drawn without regard to class.
    what : str
        The held-out part's name in messages (``"test"``, ``"validation"``).
    name : str
        The fraction's name in messages (``"test_size"``, ``"validation_fraction"``).

    Returns
    -------
    kept : ndarray of shape (m - n_out,), intp
        The rows that stay (for training), in random order.
    held_out : ndarray of shape (n_out,), intp
        The rows held out, in random order.

    Raises
    ------
    ValueError
        If ``fraction`` is not in (0, 1), either part would be empty, ``labels`` is not
        of shape (m,), a class has a single sample, or a part could not hold every
        class.

    Notes
    -----
    With labels, class c with :math:`m_c` rows holds out
    :math:`t_c \approx n_{out} m_c / m` of them (largest-remainder rounding), with
    :math:`1 \le t_c \le m_c - 1`.
    """
    f = number(fraction, name, 0.0, 1.0, low_open=True, high_open=True)
    rng = np.random.default_rng(seed)
    n_out = math.ceil(f * m)
    if labels is not None:
        y = np.asarray(labels)
        if y.shape != (m,):
            raise ValueError(f"labels must be of shape ({m},), got {y.shape}")
        return _stratified(y, n_out, rng, what, f"{name}={fraction}")
    if n_out >= m:
        raise ValueError(
            f"{name}={fraction} puts {n_out} of {m} samples in the {what} part and leaves "
            "none for training"
        )
    order = rng.permutation(m)
    return order[n_out:], order[:n_out]


def _rows(a: Any) -> Any:
    """``a`` as something indexable by rows: NumPy arrays and sparse matrices as they are."""
    if a is None or (hasattr(a, "shape") and hasattr(a, "__getitem__")):
        return a
    return np.asarray(a)


def split(
    *arrays: Any,
    fraction: float,
    seed: int | np.random.Generator | None = 0,
    labels: Any = None,
    what: str = "test",
    name: str = "fraction",
) -> list[Any]:
    """Split arrays by rows into a kept part and a held-out part (see `split_indices`).

    Parameters
    ----------
    *arrays : array-like or sparse matrix, each of shape (m, ...)
        Arrays with the same number of rows (None is passed through as None, e.g. for
        absent sample weights). SciPy sparse matrices keep their format.
    fraction, seed, labels, what, name
        As for `split_indices`.

    Returns
    -------
    list of ndarray (or None)
        ``[a_kept, a_held_out, b_kept, b_held_out, ...]``, in the order of
        scikit-learn's ``train_test_split``.

    Raises
    ------
    ValueError
        If the arrays differ in their numbers of rows, or as `split_indices` does.
    """
    arrs = [_rows(a) for a in arrays]
    lengths = {a.shape[0] if len(a.shape) else -1 for a in arrs if a is not None}
    if len(lengths) != 1 or -1 in lengths:
        shapes = [None if a is None else a.shape for a in arrs]
        raise ValueError(f"arrays have different numbers of samples: shapes {shapes}")
    kept, held_out = split_indices(
        lengths.pop(), fraction, seed, labels=labels, what=what, name=name
    )
    return [part for a in arrs for part in ((None, None) if a is None else (a[kept], a[held_out]))]
