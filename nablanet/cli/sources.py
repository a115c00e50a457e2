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
    #: A CSV table's column contract (`nablanet.cli._tables.contract`), its fitted
    #: preprocessing (then X_train and X_test are the network's input), and the held-out
    #: rows as read (for --test-out).
    contract: dict[str, Any] | None = None
    preprocess: Any = None
    test_rows: Any = None


def is_csv(source: str) -> bool:
    """Whether --data names a CSV file (the names of the data sets win over file names)."""
    if source in DATASETS:
        return False
    return source.lower().endswith(".csv") or os.path.isfile(source)


def load_dataset(source: str) -> Data:
    """A data set with its own training and test splits: digits, fashion-mnist, IDX folder."""
    from nablanet import data as datasets

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
    """The training and test parts: a data set's splits, or a split of a CSV table.

    A CSV table's features are preprocessed (`nablanet.cli._tables.preprocessor`, fitted
    on the training part only): X_train and X_test are the network's input.
    """
    if not is_csv(args.data):
        data = load_dataset(args.data)
        if args.task == "regress":
            raise UsageError(f"--data {args.data} holds classes; --task regress needs a CSV")
        return data
    import numpy as np

    from nablanet.cli import _tables as t
    from nablanet.data.csv import read_table

    refs = t.target_refs(args.target)
    table = read_table(args.data, [r for r in refs if isinstance(r, str)], header=args.header)
    targets = t.target_names(table, refs)
    prepared = t.prepare(table, targets, args.drop or [], args.keep or [], args.quiet)
    t.check_missing(prepared.X, table, args.impute)
    t.check_categories(prepared.X, table)
    y, regression = _targets(prepared.Y, table, args)
    what = f"{args.data} ({y.shape[0]} rows, {prepared.X.shape[1]} features, " + (
        "regression)" if regression else
        f"{len(targets)} labels)" if y.ndim == 2 else f"{np.unique(y).size} classes)")
    rows = np.arange(y.shape[0])
    if args.test_fraction == 0:
        train, test = rows, rows[:0]
        what += ", every row used for training"
    else:
        train, test = _split(rows, y, args.test_fraction, args.seed, regression)
        what += f", {test.size} rows held out for testing"
    prep = t.preprocessor(prepared.X, args.scale, args.impute)
    X = t.rows(prepared.X, table.header)
    X_train = prep.fit_transform(X[train] if isinstance(X, np.ndarray) else X.iloc[train])
    X_test = (prep.transform(X[test] if isinstance(X, np.ndarray) else X.iloc[test])
              if test.size else X_train[:0])
    X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)
    contract = t.contract(prepared, table)
    contract["task"] = "regression" if regression else "classification"
    return Data(what, X_train, y[train], X_test, y[test], regression=regression,
                contract=contract, preprocess=prep, test_rows=table.frame.iloc[test])


def _targets(Y: Any, table: Any, args: argparse.Namespace) -> tuple[NDArray[Any], bool]:
    """The target array (one column: labels or values; several: a matrix) and the task."""
    import numpy as np

    columns = [target_values(Y[name]) for name in Y.columns]
    if len(columns) == 1:
        y = columns[0]
        regression, note = infer_task(y, args.task)
        if note and not args.quiet:
            err(note)
        return (y.astype(np.float64) if regression else y), regression
    numeric = all(y.dtype.kind in "iuf" for y in columns)
    labels = all(y.dtype.kind in "iu" and set(np.unique(y).tolist()) <= {0, 1}
                 for y in columns)
    if labels and args.task != "regress":
        if not args.quiet:
            err(f"task: multi-label classification (the {len(columns)} targets hold 0 and 1); "
                "give --task regress to predict them as quantities")
        return np.column_stack(columns).astype(np.int64), False
    if numeric and args.task != "classify":
        if not args.quiet and args.task == "auto":
            err(f"task: multi-output regression (the {len(columns)} targets hold numbers)")
        return np.column_stack([y.astype(np.float64) for y in columns]), True
    raise UsageError(
        f"the targets {', '.join(Y.columns)} cannot be trained together: several targets "
        "must all be numbers (multi-output regression) or all 0/1 labels (multi-label "
        "classification); train one model per target otherwise")


def target_values(column: Any) -> NDArray[Any]:
    """A target column as read: int64 if every value is whole, float64 if numeric, else text."""
    import numpy as np

    if column.dtype == object:
        return column.to_numpy(dtype=str)
    values = column.to_numpy(np.float64)
    if np.all(np.mod(values, 1) == 0) and np.all(np.abs(values) < 2**53):
        return values.astype(np.int64)
    return values


def _split(rows: NDArray[Any], y: NDArray[Any], fraction: float, seed: int,
           regression: bool) -> tuple[NDArray[Any], NDArray[Any]]:
    """Training and test rows: a shuffled split for regression, else a stratified one."""
    import numpy as np

    from nablanet.data import stratified_split

    if not regression and y.ndim == 1:
        try:
            train, test, _, _ = stratified_split(rows[:, None], y, test_size=fraction, seed=seed)
            return train[:, 0], test[:, 0]
        except ValueError as exc:
            if y.dtype.kind not in "iuf":
                raise
            raise ValueError(f"{exc}; if the target is a quantity rather than classes, "
                             "give --task regress") from None
    order = np.random.default_rng(seed).permutation(rows.size)
    n_test = int(np.ceil(fraction * rows.size))
    if n_test >= rows.size:
        raise ValueError(f"--test-fraction {fraction} leaves no training rows")
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def load_for_model(args: argparse.Namespace, model: Any, need_target: bool = True) -> Data:
    """The data a saved model is scored on: a data set's test split, or a whole CSV.

    A model trained on a CSV table by 'nablanet train' keeps its columns: the file's are
    matched by name and preprocessed as in training (`nablanet.cli._tables`). Without
    ``need_target`` (predict) the target columns may be absent. A model file without the
    contract reads a CSV by position: a file of features only when it has exactly as
    many columns as the model has features.
    """
    if not is_csv(args.data):
        data = load_dataset(args.data)
        data.description = f"{args.data} test split ({data.X_test.shape[0]} samples)"
        return data
    from nablanet.cli._tables import CONTRACT, preprocessing_of
    from nablanet.io import read_metadata

    metadata = read_metadata(args.model)
    prep = preprocessing_of(args.model)
    if isinstance(metadata.get(CONTRACT), dict) and prep is not None:
        return _by_contract(args, metadata[CONTRACT], prep, need_target)
    names = getattr(prep, "feature_names_in_", None)
    if names is not None:  # a pipeline saved in Python from a DataFrame: its columns by name
        spec = {"features": [{"name": str(n), "kind": None} for n in names],
                "targets": [r for r in (args.target or []) if isinstance(r, str)],
                "header": True}
        if need_target and not spec["targets"]:
            raise UsageError(f"{args.model} keeps no target name; give --target NAME")
        return _by_contract(args, spec, prep, need_target)
    data = _by_position(args, model, need_target, prep)
    return data


def _by_contract(args: argparse.Namespace, spec: dict[str, Any], prep: Any,
                 need_target: bool) -> Data:
    import numpy as np

    from nablanet.cli import _tables as t

    X, Y, _ = t.read_for_model(args.data, spec, args.header, need_target,
                               quiet=getattr(args, "quiet", False))
    t.warn_unseen(X, prep)
    Xt = np.asarray(prep.transform(t.rows(X, spec["header"])), dtype=np.float64)
    y = None
    if Y is not None:
        columns = [target_values(Y[name]) for name in Y.columns]
        y = columns[0] if len(columns) == 1 else np.column_stack(columns)
        if spec.get("task") == "regression":
            y = y.astype(np.float64)
    return Data(f"{args.data} ({Xt.shape[0]} rows)", Xt[:0], Xt[:0], Xt, y, contract=spec,
                preprocess=prep)


def _by_position(args: argparse.Namespace, model: Any, need_target: bool,
                 prep: Any = None) -> Data:
    """A model file without column names reads a CSV of numbers by position.

    ``prep``: the preprocessing of a pipeline saved in Python from an array, applied here.
    """
    from nablanet.data import read_csv

    if prep is not None:
        model = prep[0]  # its first step knows the width of the raw rows
    refs = args.target or [-1]
    if len(refs) > 1:
        raise UsageError("this model file keeps no column names (written by an earlier "
                         "nablanet): give one --target column")
    n_features = int(model.n_features_in_)
    y = None
    if not need_target and _csv_width(args.data) == n_features:
        X, _, _ = read_csv(args.data, target=None, header=args.header)
    else:
        X, y, _ = read_csv(args.data, target=refs[0], header=args.header)
    if X.shape[1] != n_features:
        raise ValueError(
            f"{args.data} has {X.shape[1]} feature columns besides the target, but the model "
            f"expects {n_features}"
        )
    if prep is not None:
        X = prep.transform(X)
    return Data(f"{args.data} ({X.shape[0]} rows)", X[:0], X[:0], X, y)


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
