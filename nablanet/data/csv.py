"""Read a numeric table, with or without a target column, from a CSV file.

Rows are numbered as a text editor numbers lines, from 1, counting the header, so an
error message points at the line to fix. Columns are named by their header name when
there is one, and always by their 0-based index, the form ``target=`` accepts.

The file is read twice, each time as a stream: once to check that it is UTF-8 text and
count its line breaks (`nablanet.data.filetype.scan_text`), once to parse it in chunks of
rows straight into a preallocated float64 matrix (`nablanet.data.csvparse`). Peak memory
is about the final matrix plus the target column, and time is linear in the file's size.
The delimiter and the header are guessed from the first 64 KiB
(`nablanet.data.csvsniff`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from nablanet.data.csvparse import CHUNK_ROWS, Table, open_text, parse
from nablanet.data.csvsniff import (
    SAMPLE_CHARS,
    Delimiter,
    detect_delimiter,
    detect_header,
    sample_rows,
)
from nablanet.data.filetype import scan_text


@dataclass(frozen=True)
class CsvLayout:
    """A CSV file's columns, as `read_csv` would see them.

    Attributes
    ----------
    n_columns : int
        The number of fields in the first non-blank row.
    names : list of str or None
        The header's cells, or None when the file has no header row.
    delimiter : str
        The field separator.
    delimiter_detected : bool
        Whether the delimiter was detected (False: given, or assumed for want of one).
    """

    n_columns: int
    names: list[str] | None
    delimiter: str
    delimiter_detected: bool


def inspect_csv(
    path: str | os.PathLike[str], *, header: bool | None = None, delimiter: str | None = None
) -> CsvLayout:
    """The columns of a CSV file, from its first rows, without reading it all.

    For a caller that must know the width before choosing how to read (e.g. whether a
    file for prediction has the target column). The arguments are those of `read_csv`.

    Raises
    ------
    OSError
        If the file cannot be read.
    ValueError
        Naming the file, if its head is not UTF-8 text or it has no rows.
    """
    path_str = os.fspath(path)
    _check_options(header, delimiter)
    scan_text(path_str, limit=SAMPLE_CHARS)
    t = _inspect(path_str, None, header, delimiter)
    return CsvLayout(t.n_columns, t.names, t.delimiter.char, t.delimiter.how == "detected")


@overload
def read_csv(
    path: str | os.PathLike[str],
    target: int | str = ...,
    *,
    header: bool | None = ...,
    delimiter: str | None = ...,
) -> tuple[NDArray[np.float64], NDArray[Any], list[str]]: ...


@overload
def read_csv(
    path: str | os.PathLike[str],
    target: None,
    *,
    header: bool | None = ...,
    delimiter: str | None = ...,
) -> tuple[NDArray[np.float64], None, list[str]]: ...


def read_csv(
    path: str | os.PathLike[str],
    target: int | str | None = -1,
    *,
    header: bool | None = None,
    delimiter: str | None = None,
) -> tuple[NDArray[np.float64], NDArray[Any] | None, list[str]]:
    """Read features, and a target unless ``target=None``, from a CSV file.

    Parameters
    ----------
    path : str or path-like
        The CSV file: UTF-8 text (an optional byte-order mark is skipped). Blank lines
        are ignored; cells are stripped of surrounding spaces; fields may be quoted
        with ``"``.
    target : int, str or None
        The target column: a 0-based index (negative counts from the end, so the
        default -1 is the last column) or a header name. None reads a file of features
        only (e.g. new samples to predict): every column is a feature and ``y`` is None.
    header : bool, optional
        Whether the first non-blank row is a header. By default it is detected from
        every column, the target's included: the first row is a header if one of its
        cells is text over a column of numbers, a number over a column of text, or a
        text that is not one of the repeated labels below it (``species`` over
        ``setosa, versicolor, ...``).
    delimiter : str, optional
        The field separator, one character. By default it is detected among comma,
        semicolon and tab from the first rows (a comma when none of them splits the
        rows evenly; error messages say which delimiter was used and how it was chosen).

    Returns
    -------
    X : ndarray of shape (m, n_features), float64
        Every column but the target. C-contiguous, owning its memory.
    y : ndarray of shape (m,), or None
        The target: int64 if every value is an integer that fits, float64 if every
        value is a finite number, otherwise strings (class labels). None when
        ``target`` is None.
    feature_names : list of str
        The header names of the feature columns, or ``"x0"``, ``"x1"``, ... by column
        index when there is no header.

    Raises
    ------
    OSError
        If the file cannot be read.
    ValueError
        Naming the file: if it is not UTF-8 text (saying what it looks like: gzip,
        NumPy, zip, IDX, UTF-16, ...), is empty or has no data rows, a row has a
        different number of fields than the first, the target is unknown, there is no
        feature column, a quoted field is malformed, or a cell is missing or not a finite
        number (the message gives the row number, counted from 1 including the header,
        and the column).
    """
    path_str = os.fspath(path)
    _check_options(header, delimiter)
    scan = scan_text(path_str)
    table = _inspect(path_str, target, header, delimiter)
    capacity = min(scan.line_breaks + 1, scan.size // max(table.n_columns, 1) + 1)
    X, cells = parse(table, capacity)
    if X.shape[0] == 0:
        raise ValueError(f"{path_str} has a header row but no data rows")
    y = None if table.target is None else _target_values(cells)
    return X, y, table.feature_names()


def _check_options(header: object, delimiter: object) -> None:
    if header is not None and not isinstance(header, bool):
        raise ValueError(f"header must be True, False or None (detect), got {header!r}")
    if delimiter is not None and (
        not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n"
    ):
        raise ValueError(
            f"delimiter must be one character other than a quote or a line break, "
            f"e.g. ',', ';' or '\\t', got {delimiter!r}"
        )


def _inspect(
    path: str, target: int | str | None, header: bool | None, delimiter: str | None
) -> Table:
    """Decide the delimiter, the header and the columns from the file's first rows."""
    try:
        with open_text(path) as f:
            text = f.read(SAMPLE_CHARS) + f.readline()  # whole lines only
            complete = not f.read(1)
    except UnicodeDecodeError:  # past the head that inspect_csv checks
        scan_text(path)  # raises the precise message
        raise
    d = Delimiter(delimiter, "given") if delimiter else detect_delimiter(text, complete)
    rows = sample_rows(text, d.char)
    if not rows:
        raise ValueError(f"{path} is empty: no rows to read")
    line, first = rows[0]
    has_header = detect_header([cells for _, cells in rows]) if header is None else header
    names = first if has_header else None
    n_columns = len(first)
    need = 1 if target is None else 2
    if n_columns < need:
        raise ValueError(
            f"{path} has {n_columns} column with {d.describe()}; "
            + ("it needs a target and at least one feature"
               if target is not None else "it needs at least one feature")
            + ("; give the delimiter if the file uses another" if d.how == "assumed" else "")
        )
    try:
        t = None if target is None else _resolve_target(target, names, n_columns, header)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    features = [j for j in range(n_columns) if j != t]
    return Table(path, d, names, line if has_header else 0, n_columns, t, features)


def _resolve_target(
    target: int | str, names: list[str] | None, n_columns: int, header: bool | None
) -> int:
    if isinstance(target, str):
        if names is None:
            raise ValueError(
                f"target {target!r} is a column name, but the file has no header row"
                + (" (none was detected; give header=True if the first row is one)"
                   if header is None else "")
                + "; give the target's column index instead"
            )
        matches = [j for j, name in enumerate(names) if name == target]
        if not matches:
            raise ValueError(f"no column named {target!r}; the columns are {names}")
        if len(matches) > 1:
            raise ValueError(f"column name {target!r} is not unique (indices {matches})")
        return matches[0]
    if isinstance(target, bool) or not isinstance(target, int | np.integer):
        raise ValueError(f"target must be a column name, an index or None, got {target!r}")
    if not -n_columns <= target < n_columns:
        raise ValueError(
            f"target index {target} is out of range for {n_columns} columns "
            f"(valid: {-n_columns} to {n_columns - 1})"
        )
    return int(target) % n_columns


def _target_values(cells: NDArray[Any]) -> NDArray[Any]:
    """The target: int64, float64 or text.

    Integers if every cell is one that fits int64, else floats if every cell is a finite
    number, else the text (class labels).
    """
    try:
        values = cells.astype(np.float64)
    except ValueError:
        return cells
    if not np.isfinite(values).all():
        return cells
    if not (values == np.trunc(values)).all():
        return values
    ints = np.empty(cells.shape[0], dtype=np.int64)
    try:  # Python's int decides what an integer is ("1_000" is, "1e3" and "1.0" are not)
        for i in range(0, cells.shape[0], CHUNK_ROWS):
            ints[i : i + CHUNK_ROWS] = [int(c) for c in cells[i : i + CHUNK_ROWS].tolist()]
    except (ValueError, OverflowError):
        return values
    return ints
