"""Resolving ``--data SOURCE`` into arrays: a bundled data set, an IDX folder or a CSV file.

`load_for_training` gives the training and test parts a command trains on;
`load_for_model` gives the rows a saved model is scored or run on (a data set's test
split, or every row of a CSV file).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nablanet.cli._common import UsageError, err

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: The --data names of data sets; any other name is a file or a folder.
DATASETS = ("digits", "fashion-mnist")


@dataclass
class Data:
    """What a command needs of a data source, whatever its kind."""

    description: str
    X_train: NDArray[Any]
    y_train: NDArray[Any]
    X_test: NDArray[Any]
    y_test: NDArray[Any] | None  # None: a CSV of features only (predict)
    image_shape: tuple[int, int] | None = None
    class_names: tuple[str, ...] | None = None
    regression: bool = False


def is_csv(source: str) -> bool:
    """Whether --data names a CSV file (the names of the data sets win over file names)."""
    if source in DATASETS:
        return False
    return source.lower().endswith(".csv") or os.path.isfile(source)


def load_dataset(source: str) -> Data:
    """A data set with its own training and test splits: digits, fashion-mnist, IDX folder."""
    from nablanet import datasets

    if source == "digits":
        data = datasets.load_digits()
    elif source == "fashion-mnist":
        data = datasets.load_fashion_mnist()
    elif os.path.isdir(source):
        data = datasets.load_idx_folder(source)
    else:
        raise FileNotFoundError(
            f"data source {source!r} not found: give digits, fashion-mnist, a folder of IDX "
            "files or a CSV file"
        )
    return Data(
        description=f"{data.name} ({data.X_train.shape[0]} training and "
        f"{data.X_test.shape[0]} test samples, {data.n_features} features, "
        f"{data.n_classes} classes)",
        X_train=data.X_train,
        y_train=data.y_train,
        X_test=data.X_test,
        y_test=data.y_test,
        image_shape=data.image_shape,
        class_names=data.class_names,
    )


#: An integer target is taken for a quantity, not classes, when it holds more than this
#: many distinct values ...
MAX_CLASSES_GUESSED = 20
#: ... and fewer than this many rows per distinct value on average.
MIN_ROWS_PER_CLASS = 5


def infer_task(y: NDArray[Any], task: str) -> tuple[bool, str | None]:
    """Whether the target is to be regressed, and the line that says why (or None).

    With ``task="auto"`` a numeric target is a quantity when it holds fractions, or when
    it holds many distinct whole numbers relative to the rows (diabetes' progression
    scores written as integers: 214 values in 442 rows); text labels are classes.
    """
    import numpy as np

    numeric = y.dtype.kind in "iuf"
    if task == "regress" and not numeric:
        raise ValueError(f"--task regress needs numeric targets, got e.g. {str(y[0])!r}")
    if task != "auto" or not numeric:
        return task == "regress", None
    n_values = np.unique(y).size
    fractions = y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0)
    many = n_values > MAX_CLASSES_GUESSED and y.size < MIN_ROWS_PER_CLASS * n_values
    if fractions or many:
        why = "fractions" if fractions else f"{n_values} distinct numbers in {y.size} rows"
        return True, (f"task: regression (the target holds {why}); give --task classify "
                      "to treat its values as classes")
    return False, (f"task: classification (the target holds {n_values} distinct numbers); "
                   "give --task regress to predict it as a quantity")


def load_for_training(args: argparse.Namespace) -> Data:
    """The training and test parts: a data set's splits, or a split of a CSV file."""
    if not is_csv(args.data):
        data = load_dataset(args.data)
        if args.task == "regress":
            raise UsageError(f"--data {args.data} holds classes; --task regress needs a CSV")
        return data
    import numpy as np

    from nablanet.datasets import read_csv

    X, y, _ = read_csv(args.data, target=args.target, header=args.header)
    regression, note = infer_task(y, args.task)
    if note and not args.quiet:
        err(note)
    if regression:
        y = y.astype(np.float64)
    what = f"{args.data} ({X.shape[0]} rows, {X.shape[1]} features, " + (
        "regression)" if regression else f"{np.unique(y).size} classes)"
    )
    if args.test_fraction == 0:
        return Data(what + ", every row used for training", X, y, X[:0], y[:0],
                    regression=regression)
    X_train, X_test, y_train, y_test = _split(X, y, args.test_fraction, args.seed, regression)
    what += f", {X_test.shape[0]} rows held out for testing"
    return Data(what, X_train, y_train, X_test, y_test, regression=regression)


def _split(X: NDArray[Any], y: NDArray[Any], fraction: float, seed: int,
           regression: bool) -> tuple[NDArray[Any], ...]:
    """Training and test parts: a shuffled split for regression, else a stratified one."""
    import numpy as np

    from nablanet.datasets import stratified_split

    if not regression:
        try:
            return tuple(stratified_split(X, y, test_size=fraction, seed=seed))
        except ValueError as exc:
            if y.dtype.kind not in "iuf":
                raise
            raise ValueError(f"{exc}; if the target is a quantity rather than classes, "
                             "give --task regress") from None
    order = np.random.default_rng(seed).permutation(X.shape[0])
    n_test = int(np.ceil(fraction * X.shape[0]))
    if n_test >= X.shape[0]:
        raise ValueError(f"--test-fraction {fraction} leaves no training rows")
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


def load_for_model(args: argparse.Namespace, model: Any, need_target: bool = True) -> Data:
    """The data a saved model is scored on: a data set's test split, or a whole CSV.

    Without ``need_target`` (predict) a CSV file may hold the features only: it is read
    that way when it has exactly as many columns as the model has features.
    """
    if not is_csv(args.data):
        data = load_dataset(args.data)
        data.description = f"{args.data} test split ({data.X_test.shape[0]} samples)"
        return data
    from nablanet.datasets import read_csv

    n_features = int(model.n_features_in_)
    if not need_target and _csv_width(args.data) == n_features:
        X, _, _ = read_csv(args.data, target=None, header=args.header)
        return Data(f"{args.data} ({X.shape[0]} rows)", X[:0], X[:0], X, None)
    X, y, _ = read_csv(args.data, target=args.target, header=args.header)
    if X.shape[1] != n_features:
        raise ValueError(
            f"{args.data} has {X.shape[1]} feature columns besides the target, but the model "
            f"expects {n_features}"
        )
    return Data(f"{args.data} ({X.shape[0]} rows)", X[:0], y[:0], X, y)


def _csv_width(path: str) -> int:
    """Fields in the first row of a CSV file, split as `read_csv` splits it (0 if unreadable).

    A file it cannot read gets 0 here and is refused by `read_csv`, whose message says why.
    """
    from nablanet.data.csvsniff import SAMPLE_CHARS, detect_delimiter, sample_rows

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read(SAMPLE_CHARS) + f.readline()
    except (OSError, UnicodeDecodeError):
        return 0
    rows = sample_rows(text, detect_delimiter(text).char)
    return len(rows[0][1]) if rows else 0
