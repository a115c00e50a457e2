"""Read a numeric table with one target column from a CSV file (for the command line).

Rows are numbered as a text editor numbers lines, from 1, counting the header, so an
error message points at the line to fix. Columns are named by their header name when
there is one, and always by their 0-based index, the form ``target=`` accepts.
"""

from __future__ import annotations

import csv
import math
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _detect_header(rows: list[list[str]]) -> bool:
    """Whether the first row is a header.

    It is when one of its cells is not a number while the cells below it in that column
    are (a text target column, numbers or not, is no evidence either way).
    """
    first, below = rows[0], rows[1:]
    if not below:  # a lone row is a header only if it cannot be data
        return not all(_is_number(c) for c in first)
    for j, cell in enumerate(first):
        if cell == "" or _is_number(cell):  # an empty cell is no evidence either way
            continue
        column = [r[j] for r in below if j < len(r) and r[j] != ""]
        if column and all(_is_number(c) for c in column):
            return True
    return False


def _column_label(j: int, names: list[str] | None) -> str:
    return f"column {names[j]!r} (index {j})" if names is not None else f"column index {j}"


def _parse_target(cells: list[str]) -> NDArray[Any]:
    """Integers if every cell is one, else floats if every cell is one, else text."""
    try:
        return np.array([int(c) for c in cells], dtype=np.int64)
    except ValueError:
        pass
    try:
        values = np.array([float(c) for c in cells], dtype=np.float64)
    except ValueError:
        return np.array(cells, dtype=str)
    if np.isfinite(values).all():
        return values
    return np.array(cells, dtype=str)


def _resolve_target(target: int | str, names: list[str] | None, n_columns: int) -> int:
    if isinstance(target, str):
        if names is None:
            raise ValueError(
                f"target {target!r} is a column name, but the file has no header row; "
                "give the target's column index instead"
            )
        matches = [j for j, name in enumerate(names) if name == target]
        if not matches:
            raise ValueError(f"no column named {target!r}; the columns are {names}")
        if len(matches) > 1:
            raise ValueError(f"column name {target!r} is not unique (indices {matches})")
        return matches[0]
    if isinstance(target, bool) or not isinstance(target, int | np.integer):
        raise ValueError(f"target must be a column name or index, got {target!r}")
    if not -n_columns <= target < n_columns:
        raise ValueError(
            f"target index {target} is out of range for {n_columns} columns "
            f"(valid: {-n_columns} to {n_columns - 1})"
        )
    return int(target) % n_columns


def read_csv(
    path: str | os.PathLike[str],
    target: int | str = -1,
    *,
    header: bool | None = None,
    delimiter: str = ",",
) -> tuple[NDArray[np.float64], NDArray[Any], list[str]]:
    """Read features and a target from a CSV file.

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8, an optional byte-order mark is skipped). Blank lines are
        ignored; cells are stripped of surrounding spaces.
    target : int or str
        The target column: a 0-based index (negative counts from the end, so the
        default -1 is the last column) or a header name.
    header : bool, optional
        Whether the first row is a header. By default it is detected: the first row is
        a header if one of its cells is not a number while that column below it is
        numeric.
    delimiter : str
        The field separator.

    Returns
    -------
    X : ndarray of shape (m, n_features), float64
        Every column but the target.
    y : ndarray of shape (m,)
        The target: int64 if every value is an integer, float64 if every value is a
        number, otherwise strings (class labels).
    feature_names : list of str
        The header names of the feature columns, or ``"x0"``, ``"x1"``, ... by column
        index when there is no header.

    Raises
    ------
    ValueError
        If the file is empty or has no data rows, a row has a different number of
        fields than the first, the target is unknown, there is no feature column, or a
        feature cell is missing or not a finite number (the message gives the row
        number, counted from 1 including the header, and the column).
    """
    path_str = os.fspath(path)
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    with open(path_str, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            for row in reader:
                if not row or all(c.strip() == "" for c in row):
                    continue
                rows.append([c.strip() for c in row])
                line_numbers.append(reader.line_num)
        except csv.Error as exc:
            raise ValueError(
                f"{path_str}: malformed CSV at line {reader.line_num}: {exc}"
            ) from None
    if not rows:
        raise ValueError(f"{path_str} is empty: no rows to read")

    n_columns = len(rows[0])
    for row, line in zip(rows, line_numbers, strict=True):
        if len(row) != n_columns:
            raise ValueError(
                f"{path_str}: row {line} has {len(row)} fields, expected {n_columns} "
                f"(as in row {line_numbers[0]})"
            )
    if n_columns < 2:
        raise ValueError(
            f"{path_str} has {n_columns} column; it needs a target and at least one feature"
        )

    has_header = _detect_header(rows) if header is None else header
    names = rows[0] if has_header else None
    data, data_lines = (rows[1:], line_numbers[1:]) if has_header else (rows, line_numbers)
    if not data:
        raise ValueError(f"{path_str} has a header row but no data rows")

    t = _resolve_target(target, names, n_columns)
    features = [j for j in range(n_columns) if j != t]

    for i, row in enumerate(data):
        if row[t] == "":
            raise ValueError(
                f"{path_str}: row {data_lines[i]}, {_column_label(t, names)} (the target): "
                "missing value"
            )
    y = _parse_target([row[t] for row in data])

    try:
        X = np.array([[row[j] for j in features] for row in data], dtype=np.float64)
        ok = bool(np.isfinite(X).all())
    except ValueError:
        ok = False
    if not ok:  # parse cell by cell, so the message names the first bad one
        X = np.empty((len(data), len(features)), dtype=np.float64)
        for i, row in enumerate(data):
            for k, j in enumerate(features):
                cell = row[j]
                where = f"{path_str}: row {data_lines[i]}, {_column_label(j, names)}"
                if cell == "":
                    raise ValueError(f"{where}: missing value")
                if not _is_number(cell):
                    raise ValueError(f"{where}: {cell!r} is not a finite number")
                X[i, k] = float(cell)

    feature_names = (
        [names[j] for j in features] if names is not None else [f"x{j}" for j in features]
    )
    return X, y, feature_names
