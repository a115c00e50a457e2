"""Read a numeric table, with or without a target column, from a CSV file.

Rows are numbered as a text editor numbers lines, from 1, counting the header, so an
error message points at the line to fix. Columns are named by their header name when
there is one, and always by their 0-based index, the form ``target=`` accepts.

The file is read twice, each time as a stream: once to check that it is UTF-8 text and
count its line breaks (`nablanet.data.filetype.scan_text`), once to parse it in chunks of
rows straight into a preallocated float64 matrix. Peak memory is about the final matrix
plus the target column, and time is linear in the file's size. The delimiter and the
header are guessed from the first 64 KiB (`nablanet.data.csvsniff`).
"""

from __future__ import annotations

import csv
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from nablanet.data.csvsniff import (
    SAMPLE_CHARS,
    Delimiter,
    detect_delimiter,
    detect_header,
    is_number,
    sample_rows,
)
from nablanet.data.filetype import scan_text

_CHUNK_ROWS = 1 << 15


@dataclass(frozen=True)
class _Table:
    """What the first rows tell about the whole file, and the columns asked for."""

    path: str
    delimiter: Delimiter
    names: list[str] | None  # the header's cells, None without a header
    header_line: int  # the header's line number, 0 without a header
    n_columns: int
    target: int | None
    features: list[int]

    def column(self, j: int) -> str:
        if self.names is not None:
            return f"column {self.names[j]!r} (index {j})"
        return f"column index {j}"

    def feature_names(self) -> list[str]:
        if self.names is not None:
            return [self.names[j] for j in self.features]
        return [f"x{j}" for j in self.features]


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
    X, cells = _parse(table, capacity)
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


def _open(path: str) -> Any:
    return open(path, newline="", encoding="utf-8-sig")


def _inspect(
    path: str, target: int | str | None, header: bool | None, delimiter: str | None
) -> _Table:
    """Decide the delimiter, the header and the columns from the file's first rows."""
    with _open(path) as f:
        text = f.read(SAMPLE_CHARS) + f.readline()  # whole lines only
    d = Delimiter(delimiter, "given") if delimiter else detect_delimiter(text)
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
    return _Table(path, d, names, line if has_header else 0, n_columns, t, features)


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


# --- the streaming parse -------------------------------------------------------------


class _Rows:
    """Rows appended chunk by chunk to one preallocated array, trimmed in place at the end.

    The array is made with room for ``capacity`` rows: pages not yet written take no
    memory, and the final `resize` shrinks it without copying. Text columns widen their
    dtype when a longer string arrives (one copy of the rows so far each time).
    """

    def __init__(self, capacity: int, width: int, dtype: Any) -> None:
        self.a = np.empty((max(capacity, 1), width), dtype=dtype)
        self.m = 0

    def append(self, chunk: NDArray[Any]) -> None:
        end = self.m + chunk.shape[0]
        dtype = np.result_type(self.a.dtype, chunk.dtype)
        if dtype != self.a.dtype:
            wider = np.empty(self.a.shape, dtype=dtype)
            wider[: self.m] = self.a[: self.m]
            self.a = wider
        if end > self.a.shape[0]:  # only if the file grew since it was scanned
            self.a.resize((2 * end, self.a.shape[1]), refcheck=False)
        self.a[self.m : end] = chunk
        self.m = end

    def result(self) -> NDArray[Any]:
        self.a.resize((self.m, self.a.shape[1]), refcheck=False)
        return self.a


def _parse(table: _Table, capacity: int) -> tuple[NDArray[np.float64], NDArray[Any]]:
    """Parse every data row: X, and the target's cells as text (empty without a target)."""
    X = _Rows(capacity, len(table.features), np.float64)
    y = _Rows(capacity if table.target is not None else 0, 1, "<U1")
    for X_chunk, y_chunk in _converted_chunks(table):
        X.append(X_chunk)
        if y_chunk is not None and y_chunk.size:
            # the narrowest width, so that the dtype does not depend on the chunking
            width = max(int(np.strings.str_len(y_chunk).max()), 1)
            y.append(y_chunk.astype(f"<U{width}")[:, np.newaxis])
    return X.result(), y.result()[:, 0]


_Converted = tuple[NDArray[np.float64], NDArray[Any] | None]


def _converted_chunks(table: _Table) -> Iterator[_Converted]:
    """Each chunk of lines, converted.

    By `np.loadtxt` while no line holds a quote; from the first quote on (a quoted field
    may span lines), by one `csv.reader` over the rest of the file.
    """
    try:
        with _open(table.path) as f:
            start = 0  # lines read before this chunk
            while lines := list(itertools.islice(f, _CHUNK_ROWS)):
                if any('"' in line for line in lines):
                    yield from _csv_chunks(itertools.chain(lines, f), start, table)
                    return
                yield _convert_lines(lines, start, table)
                start += len(lines)
    except UnicodeDecodeError:  # the file changed since it was scanned
        raise ValueError(f"{table.path} is not UTF-8 text") from None


def _csv_chunks(source: Iterator[str], start: int, table: _Table) -> Iterator[_Converted]:
    reader = csv.reader(source, delimiter=table.delimiter.char)
    rows: list[list[str]] = []
    numbers: list[int] = []
    try:
        for row in reader:
            line = start + reader.line_num
            if row and line != table.header_line:
                rows.append(row)
                numbers.append(line)
                if len(rows) == _CHUNK_ROWS:
                    yield _convert(rows, numbers, table)
                    rows, numbers = [], []
    except csv.Error as exc:
        raise ValueError(
            f"{table.path}: malformed CSV at line {start + reader.line_num}: {exc}"
        ) from None
    if rows:
        yield _convert(rows, numbers, table)


def _convert_lines(lines: list[str], start: int, table: _Table) -> _Converted:
    """Lines without quotes, converted.

    Vectorised by `np.loadtxt` when every line has the right number of fields; otherwise
    (blank, ragged or bad lines) row by row.
    """
    h = table.header_line - start - 1
    data = lines[:h] + lines[h + 1 :] if 0 <= h < len(lines) else lines
    d = table.delimiter.char
    if table.n_columns == 1:
        data = [line for line in data if line.strip()]
    if data and all(line.count(d) == table.n_columns - 1 for line in data):
        try:
            X = _loadtxt(data, d, table.features, np.float64)
            y = None
            if table.target is not None:
                y = np.strings.strip(_loadtxt(data, d, [table.target], str)[:, 0])
        except ValueError:
            pass
        else:
            if np.isfinite(X).all() and (y is None or (y != "").all()):
                return X, y
    return _csv_fallback(lines, start, table)


def _loadtxt(lines: list[str], d: str, columns: list[int], dtype: Any) -> NDArray[Any]:
    return np.loadtxt(
        lines, dtype=dtype, delimiter=d, comments=None, quotechar=None, usecols=columns, ndmin=2
    )


def _csv_fallback(lines: list[str], start: int, table: _Table) -> _Converted:
    rows, numbers = [], []
    reader = csv.reader(lines, delimiter=table.delimiter.char)
    for row in reader:
        line = start + reader.line_num
        if row and line != table.header_line:
            rows.append(row)
            numbers.append(line)
    return _convert_slowly(rows, numbers, table)


def _convert(
    rows: list[list[str]], lines: list[int], table: _Table
) -> tuple[NDArray[np.float64], NDArray[Any] | None]:
    """One chunk's features and target cells, vectorised; cell by cell if anything is off.

    The fast path takes rows of the right width whose feature cells are all finite numbers
    and whose target cells are not empty. Anything else (a blank or ragged row, a bad cell)
    goes through `_convert_slowly`, which skips blank rows and names the first bad cell.
    """
    try:
        A = np.array(rows, dtype=str)
        X = A[:, table.features].astype(np.float64) if A.ndim == 2 else None
    except (ValueError, IndexError):  # ragged rows, or a cell that is not a number
        X = None
    if X is None or A.shape[1] != table.n_columns or not np.isfinite(X).all():
        return _convert_slowly(rows, lines, table)
    if table.target is None:
        return X, None
    y = np.strings.strip(A[:, table.target])
    if (y == "").any():
        return _convert_slowly(rows, lines, table)
    return X, y


def _convert_slowly(
    rows: list[list[str]], lines: list[int], table: _Table
) -> tuple[NDArray[np.float64], NDArray[Any] | None]:
    X: list[list[float]] = []
    y: list[str] = []
    for row, line in zip(rows, lines, strict=True):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        _check_row(cells, line, table)
        X.append([float(cells[j]) for j in table.features])
        if table.target is not None:
            y.append(cells[table.target])
    X_arr = np.array(X, dtype=np.float64).reshape(len(X), len(table.features))
    return X_arr, None if table.target is None else np.array(y, dtype=str)


def _check_row(cells: list[str], line: int, table: _Table) -> None:
    """Raise the message for the first thing wrong with a row, if any."""
    if len(cells) != table.n_columns:
        raise ValueError(
            f"{table.path}: row {line} has {len(cells)} fields, expected {table.n_columns} "
            f"(with {table.delimiter.describe()})"
        )
    where = f"{table.path}: row {line}"
    if table.target is not None and cells[table.target] == "":
        raise ValueError(f"{where}, {table.column(table.target)} (the target): missing value")
    for j in table.features:
        if cells[j] == "":
            raise ValueError(f"{where}, {table.column(j)}: missing value")
        if not is_number(cells[j]):
            raise ValueError(
                f"{where}, {table.column(j)}: {cells[j]!r} is not a finite number"
                + _delimiter_hint(cells[j], table.delimiter)
            )


def _delimiter_hint(cell: str, d: Delimiter) -> str:
    """A hint when a bad cell holds another usual delimiter: the guess may be wrong."""
    others = [c for c in ",;\t" if c != d.char and c in cell]
    if not others:
        return ""
    return f" (read with {d.describe()}; give delimiter={others[0]!r} if the file uses that)"


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
        for i in range(0, cells.shape[0], _CHUNK_ROWS):
            ints[i : i + _CHUNK_ROWS] = [int(c) for c in cells[i : i + _CHUNK_ROWS].tolist()]
    except (ValueError, OverflowError):
        return values
    return ints
