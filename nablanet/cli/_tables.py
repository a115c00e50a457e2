"""A CSV table as the command line trains on it, and the data contract a model keeps.

`prepare` splits a table (`nablanet.data.csv.read_table`) into the feature columns and
the target(s), dropping identifier columns; `preprocessor` builds the scikit-learn
`ColumnTransformer` that turns those raw columns into the network's input (numbers:
median imputation with an indicator, then standardisation; text: most frequent
imputation, then one-hot encoding). `contract` is what the model file keeps of the columns
beside that Pipeline (`save_pipeline`), and `read_for_model` reads a new table through it:
by name, or by position for a headerless file of the right width.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nablanet.cli._common import UsageError, err

if TYPE_CHECKING:
    from nablanet.data.csv import TableColumns

#: Categories a text column may have: past it, one-hot encoding is refused.
MAX_CATEGORIES = 100
#: Rows a table needs before a column of unique values is taken for an identifier.
MIN_ROWS_FOR_IDENTIFIER = 20
#: What the model file's metadata names the contract.
CONTRACT = "columns"


@dataclass
class Prepared:
    """The feature columns and the target(s) of a table, as training uses them."""

    X: Any  # pandas.DataFrame of the feature columns, as read
    Y: Any  # pandas.DataFrame of the target column(s)
    dropped: list[str] = field(default_factory=list)  # identifier columns left out


def target_refs(values: list[Any] | None) -> list[int | str]:
    """The --target flags (each a name, an index, or a comma-separated list), flattened."""
    refs: list[int | str] = []
    for value in values or [-1]:
        refs.extend(value if isinstance(value, list) else [value])
    return refs


def target_names(table: TableColumns, refs: list[int | str]) -> list[str]:
    """The target columns' names, from names or 0-based indices (negative from the end)."""
    names = list(table.frame.columns)
    chosen: list[str] = []
    for ref in refs:
        if isinstance(ref, int):
            if not -len(names) <= ref < len(names):
                raise UsageError(f"--target {ref} is out of range for the {len(names)} columns "
                                 f"of {table.path} (valid: {-len(names)} to {len(names) - 1})")
            name = names[ref]
        elif ref in names:
            name = ref
        elif not table.header:
            raise UsageError(f"--target {ref!r} is a column name, but {table.path} has no "
                             "header row; give --header if its first row is one, or the "
                             "column's 0-based index")
        else:
            raise UsageError(f"{table.path} has no column named {ref!r}; its columns are "
                             f"{', '.join(names)}")
        if name in chosen:
            raise UsageError(f"--target names column {name!r} twice")
        chosen.append(name)
    if len(chosen) == len(names):
        raise UsageError(f"{table.path}: every column is a target; leave at least one feature")
    return chosen


def prepare(table: TableColumns, targets: list[str], drop: list[str], keep: list[str],
            quiet: bool) -> Prepared:
    """Split a table into features and targets; drop --drop columns and identifiers."""
    names = list(table.frame.columns)
    for flag, chosen in (("--drop", drop), ("--keep", keep)):
        unknown = [n for n in chosen if n not in names]
        if unknown:
            raise UsageError(f"{flag}: {table.path} has no column {unknown[0]!r}; its columns "
                             f"are {', '.join(names)}")
    features = [n for n in names if n not in targets and n not in drop]
    empty = [n for n in features if table.frame[n].isna().all()]
    if empty and not quiet:
        err(f"dropping column{'s' if len(empty) > 1 else ''} {', '.join(map(repr, empty))}: "
            "every cell is missing")
    features = [n for n in features if n not in empty]
    ids = [n for n in identifier_columns(table.frame[features]) if n not in keep]
    if ids and not quiet:
        err(f"dropping identifier column{'s' if len(ids) > 1 else ''} "
            f"{', '.join(map(repr, ids))} (a different value in every row); give --keep "
            f"{ids[0]} to use it as a feature")
    features = [n for n in features if n not in ids]
    if not features:
        raise UsageError(f"{table.path}: no feature column is left besides the target(s) and "
                         "the dropped columns")
    Y = table.frame[targets]
    missing = Y.isna().to_numpy()
    if missing.any():
        i, j = divmod(int(missing.argmax()), len(targets))
        raise ValueError(f"{table.where(i, targets[j])} (a target): missing value; fill it "
                         "or drop the row: rows without a target cannot train or score")
    return Prepared(table.frame[features], Y, [*drop, *empty, *ids])


def identifier_columns(X: Any) -> list[str]:
    """Columns holding a different whole number or text in every row (e.g. patient_id).

    Such a column lets a network learn the rows by heart and says nothing about new ones
    (a table with a patient ID: accuracy 0.49 with it, 0.99 without).
    """
    import numpy as np

    m = X.shape[0]
    if m < MIN_ROWS_FOR_IDENTIFIER:
        return []
    ids = []
    for name in X.columns:
        col = X[name]
        if col.isna().any() or col.nunique() != m:
            continue
        if col.dtype == object or bool(np.all(np.mod(col.to_numpy(np.float64), 1) == 0)):
            ids.append(name)
    return ids


def kinds(X: Any) -> dict[str, str]:
    """Each feature column's kind as read: ``"number"`` or ``"text"``."""
    return {name: "text" if X[name].dtype == object else "number" for name in X.columns}


def check_missing(X: Any, table: TableColumns, impute: bool) -> None:
    """With --no-impute, refuse a missing cell, naming it and the remedies."""
    if impute:
        return
    missing = X.isna().to_numpy()
    if missing.any():
        i, j = divmod(int(missing.argmax()), X.shape[1])
        raise ValueError(f"{table.where(i, X.columns[j])}: missing value (with --no-impute); "
                         "fill it in the file, drop the column with --drop, or leave out "
                         "--no-impute to have missing cells imputed")


def check_categories(X: Any, table: TableColumns) -> None:
    """Refuse a text column with more categories than one-hot encoding should make."""
    import numpy as np

    for name, kind in kinds(X).items():
        if kind != "text":
            continue
        values = X[name].dropna()
        n = values.nunique()
        if n > MAX_CATEGORIES:
            numbers = values.map(_is_number).to_numpy(bool)
            hint = ""
            if numbers.mean() > 0.5:
                i = int(np.flatnonzero(~numbers)[0])
                row = int(np.flatnonzero(X[name].notna().to_numpy())[i])
                hint = (f"; most of its cells are numbers, but {table.where(row, name)} "
                        f"holds {values.iloc[i]!r}: correct it if the column is numeric")
            raise ValueError(f"{table.path}: text column {name!r} has {n} categories, more "
                             f"than the {MAX_CATEGORIES} one-hot encoding allows{hint}; drop "
                             f"it with --drop {name}, or encode it as numbers in the file")


def _is_number(cell: str) -> bool:
    from nablanet.data.csvsniff import is_number

    return is_number(cell)


def preprocessor(X: Any, scale: bool, impute: bool) -> Any:
    """The ColumnTransformer from raw feature columns to the network's input (unfitted).

    Numbers: the median where missing, with an indicator column for each column that had
    a missing cell, then standardised (unless ``scale`` is False). Text: the most frequent
    category where missing, then one-hot (an unseen category encodes as all zeros).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    # columns by position: the pipeline then reads a NumPy array of the columns in order
    # too, while a DataFrame's names are checked by scikit-learn (another order raises)
    column_kinds = list(kinds(X).values())
    numbers = [j for j, k in enumerate(column_kinds) if k == "number"]
    text = [j for j, k in enumerate(column_kinds) if k == "text"]
    steps: list[tuple[str, Any, list[int]]] = []
    if numbers:
        number_steps: list[tuple[str, Any]] = []
        if impute:
            number_steps.append(("impute", SimpleImputer(strategy="median", add_indicator=True)))
        number_steps.append(("scale", StandardScaler() if scale else FunctionTransformer()))
        steps.append(("numbers", Pipeline(number_steps), numbers))
    if text:
        text_steps: list[tuple[str, Any]] = []
        if impute:
            text_steps.append(("impute", SimpleImputer(strategy="most_frequent")))
        text_steps.append(("onehot", OneHotEncoder(handle_unknown="ignore",
                                                   sparse_output=False)))
        steps.append(("text", Pipeline(text_steps), text))
    return ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False)


def rows(X: Any, header: bool) -> Any:
    """The feature columns as the pipeline reads them: a DataFrame, or an array.

    A file without a header has no names of its own (``x0``, ``x1``, ... are ours): its
    numbers go to the pipeline as an array, so that in Python it reads arrays, as the
    file's columns came, without scikit-learn's warning about feature names.
    """
    if header or "text" in kinds(X).values():
        return X
    return X.to_numpy(dtype="float64")


def contract(prepared: Prepared, table: TableColumns) -> dict[str, Any]:
    """What the model file keeps of the columns.

    The features (name, kind as read), the targets, whether the file had a header, the
    columns left out, and every column of the training file in its order (by which a file
    without a header is read).
    """
    return {
        "features": [{"name": n, "kind": k} for n, k in kinds(prepared.X).items()],
        "targets": list(prepared.Y.columns),
        "header": table.header,
        "dropped": prepared.dropped,
        "order": list(table.frame.columns),
    }


def read_for_model(path: str, spec: dict[str, Any], header: bool | None, need_target: bool,
                   quiet: bool = False) -> tuple[Any, Any, TableColumns]:
    """A table's feature columns (as the model reads them) and targets (or None).

    Columns are matched by name; the targets are taken when present (and required with
    ``need_target``); other columns are ignored with one line naming them. A file without
    a header is read by position, with a warning, only when its width is the model's
    (features, or features and targets in the training file's order).
    """
    from nablanet.data.csv import read_table

    features = [f["name"] for f in spec["features"]]
    targets = list(spec["targets"])
    text = [f["name"] for f in spec["features"] if f["kind"] == "text"]
    table = read_table(path, targets=targets, header=header, text_columns=text)
    frame = table.frame
    if not table.header:
        order = spec.get("order") or [*features, *targets]
        frame = _by_position(frame, features, order, path, need_target)
    missing = [n for n in features if n not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} has no column {missing[0]!r}, which the model reads"
            + (f" (nor {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
            + f"; the model reads {', '.join(features)}: add the missing column(s), named "
            "in the header")
    present = [n for n in targets if n in frame.columns]
    if need_target and len(present) < len(targets):
        absent = [n for n in targets if n not in present]
        raise ValueError(f"{path} has no target column {absent[0]!r} to score against; "
                         "add it, or use 'nablanet predict' for rows without targets")
    extra = [n for n in frame.columns if n not in features and n not in targets]
    if extra and not quiet:
        dropped = set(spec.get("dropped", []))
        err(f"ignoring column{'s' if len(extra) > 1 else ''} the model does not read: "
            + ", ".join(f"{n} (left out in training)" if n in dropped else n for n in extra))
    _check_kinds(frame, spec, table)
    X = frame[features]
    Y = frame[targets] if need_target else None
    return X, Y, table


def _by_position(frame: Any, features: list[str], order: list[str], path: str,
                 need_target: bool) -> Any:
    """A headerless table's columns named by the model's, if its width allows it.

    As wide as the training file: its columns, in its order; as wide as the features (and
    rows to predict): the features, in the order the model reads them.
    """
    width = frame.shape[1]
    if width == len(order):
        names = order
    elif width == len(features) and not need_target:
        names = features
    else:
        raise ValueError(
            f"{path} has no header row and {width} columns; the model reads "
            f"{len(features)} feature columns ({', '.join(features)}) of a file of "
            f"{len(order)} ({', '.join(order)})"
            + ("" if need_target else f", or {len(features)} columns of features alone")
            + ": add a header row naming the columns, so that they are matched by name")
    err(f"warning: {path} has no header row; its columns are taken by position as "
        f"{', '.join(names)}: add a header row to have them matched by name")
    frame = frame.copy()
    frame.columns = names
    return frame


def _check_kinds(frame: Any, spec: dict[str, Any], table: TableColumns) -> None:
    """A column trained on numbers must hold numbers (or missing cells) here too."""
    for f in spec["features"]:
        col = frame[f["name"]]
        if f["kind"] == "number" and col.dtype == object:
            bad = col.dropna().map(_is_number).to_numpy(bool)
            i = int((~bad).argmax())
            row = int(col.index[col.notna()][i])
            raise ValueError(f"{table.where(row, f['name'])}: {col.dropna().iloc[i]!r} is "
                             "not a number, but the model was trained on numbers in this "
                             "column; correct the cell or leave it empty")


def warn_unseen(X: Any, prep: Any) -> None:
    """One line naming the text categories the model never saw (they encode as all zeros).

    ``prep`` is the fitted `preprocessor` (or a Pipeline of it alone).
    """
    if _is_pipeline(prep):
        prep = prep[0]
    if not hasattr(prep, "named_transformers_"):
        return
    onehot = _step(prep, "text", "onehot")
    if onehot is None:
        return
    positions = prep.transformers_[[g for g, _, _ in prep.transformers_].index("text")][2]
    names = [X.columns[j] for j in positions]
    unseen = []
    for name, categories in zip(names, onehot.categories_, strict=True):
        new = sorted(set(X[name].dropna()) - set(categories))
        if new:
            unseen.append(f"{name} ({', '.join(map(repr, new[:5]))}"
                          f"{', ...' if len(new) > 5 else ''})")
    if unseen:
        err(f"warning: categories not seen in training, encoded as none of the known ones: "
            f"{'; '.join(unseen)}")


# --- saving: the pipeline in a model file ------------------------------------------------


def save_pipeline(pipeline: Any, path: str, metadata: dict[str, Any]) -> None:
    """Write a CLI pipeline (preprocessing, then a nablanet estimator) to a model file.

    The whole scikit-learn Pipeline is saved (`nablanet.save`: fitted arrays and
    parameters, never a pickle), so that ``nablanet.load`` gives it back in Python and it
    predicts from raw rows (a DataFrame with the columns by name).
    """
    from nablanet.io import save

    save(pipeline, path, metadata=metadata)


def preprocessing_of(path: str) -> Any:
    """The fitted preprocessing of a pipeline model file, or None for an estimator's file."""
    import nablanet

    model = nablanet.load(path)
    return model[:-1] if _is_pipeline(model) else None


def sample_rows(path: str) -> Any:
    """One row of the kind a table's model file reads (its ONNX graph's inputs), or None.

    The file's column contract names the columns and their kinds; None for a file without
    one (not written by 'nablanet train' from a CSV table).
    """
    import pandas as pd

    from nablanet.io import read_metadata

    spec = read_metadata(path).get(CONTRACT)
    if not isinstance(spec, dict):
        return None
    frame = pd.DataFrame({
        f["name"]: pd.Series([0.0] if f["kind"] == "number" else ["?"],
                             dtype="float64" if f["kind"] == "number" else object)
        for f in spec["features"]})
    return rows(frame, bool(spec.get("header", True)))


def _is_pipeline(model: Any) -> bool:
    from sklearn.pipeline import Pipeline

    return isinstance(model, Pipeline)


def _step(prep: Any, group: str, name: str) -> Any:
    pipe = prep.named_transformers_.get(group)
    return None if pipe is None else pipe.named_steps.get(name)
