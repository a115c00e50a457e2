"""Read a numeric table, with or without a target column, from a CSV file.

Rows are numbered as a text editor numbers lines, from 1, counting the header, so an
error message points at the line to fix. Columns are named by their header name when
there is one, and always by their 0-based index, the form ``target=`` accepts.

The file is read as a stream, in chunks of rows parsed straight into a preallocated
float64 matrix (`nablanet.data.csvparse`) by pandas' C parser. Where that parser stops (a
row or a cell that needs a precise message), the file is read again: once to check that it
is UTF-8 text and count its line breaks (`nablanet.data.filetype.scan_text`), once by
nablanet's own parser, which names the row and the column. Peak memory
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

from nablanet.data.csvparse import CHUNK_ROWS, Table, open_text, parse, parse_fast
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
        ``setosa, versicolor, ...``). A target given by name that the first row holds,
        and no row below in that column, also makes the first row a header.
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
    head = scan_text(path_str, limit=SAMPLE_CHARS)
    table = _inspect(path_str, target, header, delimiter)
    result = parse_fast(table, _capacity(path_str, head.size, head.line_breaks,
                                         table.n_columns))
    if result is None:  # something to name precisely: check the whole file, then parse
        scan = scan_text(path_str)
        result = parse(table, min(scan.line_breaks + 1, scan.size // max(table.n_columns, 1) + 1))
    X, cells = result
    if X.shape[0] == 0:
        raise ValueError(f"{path_str} has a header row but no data rows")
    y = None
    if table.target is not None:
        y = cells if cells.dtype.kind in "if" else _target_values(cells)
    return X, y, table.feature_names()


def _capacity(path: str, head_size: int, head_breaks: int, n_columns: int) -> int:
    """Rows to make room for before parsing: twice what the head's rows suggest.

    Unwritten rows take no memory (their pages are never touched), and a file of rows
    shorter than half the head's grows the array as it goes. Never more than a row per
    ``n_columns`` bytes, the least a row takes (its delimiters and line break).
    """
    size = max(head_size, os.path.getsize(path))
    most = size // max(n_columns, 1) + 1
    if head_breaks == 0 or head_size >= size:
        return min(most, head_breaks + 1)
    return min(most, 2 * size * head_breaks // head_size + 1)


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
    path: str, target: int | str | None, header: bool | None, delimiter: str | None,
    named: object = None,
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
    if header is None:
        has_header = detect_header([cells for _, cells in rows]) or _names_target(
            rows, target if named is None else named)
    else:
        has_header = header
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


def _names_target(rows: list[tuple[int, list[str]]], target: object) -> bool:
    """Whether the first row holds the target's name, found nowhere else in its column.

    A header of numbers but for the target (``0,1,2,species``) looks like data to
    `detect_header` when the target is text; the name the user gave is evidence enough.
    """
    if isinstance(target, str):
        names = [target]
    elif isinstance(target, list | tuple):
        names = [t for t in target if isinstance(t, str)]
    else:
        names = []
    first = rows[0][1]
    for name in names:
        columns = [j for j, cell in enumerate(first) if cell == name]
        if len(columns) == 1 and all(
            cells[columns[0]] != name for _, cells in rows[1:] if columns[0] < len(cells)
        ):
            return True
    return False


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


#: The cells `read_table` reads as missing (after stripping spaces).
MISSING = ("", "NA", "NaN", "?", "null")


@dataclass(frozen=True)
class TableColumns:
    """A CSV file's columns as `read_table` reads them.

    Attributes
    ----------
    frame : pandas.DataFrame
        Every column, named by the header (or ``x0``, ``x1``, ... by index without one):
        float64 for a column whose every present cell is a number (NaN where missing),
        else text (object, None where missing).
    header : bool
        Whether the file's first row was a header.
    lines : ndarray of int
        The line number of each row, counted from 1 including the header, for messages.
    path : str
        The file.
    """

    frame: Any
    header: bool
    lines: NDArray[np.int64]
    path: str

    def where(self, i: int, column: str) -> str:
        """``"FILE: row L, column 'NAME'"`` for the row at position ``i``, as messages say."""
        return f"{self.path}: row {int(self.lines[i])}, column {column!r}"


def read_table(
    path: str | os.PathLike[str],
    targets: list[str] | None = None,
    *,
    header: bool | None = None,
    delimiter: str | None = None,
    text_columns: list[str] | None = None,
) -> TableColumns:
    """Read every column of a CSV file, typed: numbers, text and missing cells.

    For the command line, which encodes text columns and imputes missing cells instead
    of refusing them (`read_csv` reads a numeric table, fast, and names the first cell
    that is not a number).

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8; blank lines ignored; cells stripped of spaces; ``"`` quotes).
    targets : list of str, optional
        Target names the user gave: one found in the first row, and nowhere below it in
        its column, makes the first row a header (see `read_csv`).
    header, delimiter
        As for `read_csv`.
    text_columns : list of str, optional
        Columns read as text even when every cell is a number (a model trained on them
        as categories reads them so).

    Returns
    -------
    TableColumns
        A cell is missing when it reads ``""``, ``NA``, ``NaN``, ``?`` or ``null``.

    Raises
    ------
    ValueError
        Naming the file and the row: if it is not UTF-8 text, has no data rows, a row has
        another number of fields than the first, a header name is repeated, or a numeric
        column holds an infinite value.
    """
    import pandas as pd

    path_str = os.fspath(path)
    _check_options(header, delimiter)
    scan_text(path_str)
    table = _inspect(path_str, None, header, delimiter, named=targets or [])
    ragged = _ragged_message(table)
    if ragged is not None:
        raise ValueError(ragged)
    names = table.names if table.names is not None else [f"x{j}" for j in range(table.n_columns)]
    _check_unique(names, path_str)
    text = set(text_columns or ())
    # pandas' C parser reads a column of numbers straight into float64 (a column of
    # 2 million cells in a few MB); the rows are all as wide as the first (checked above),
    # so a cell it reads as missing is one of MISSING, and a blank line a row of them
    raw = pd.read_csv(
        path_str, sep=table.delimiter.char, header=None, names=list(range(table.n_columns)),
        index_col=False, skiprows=table.header_line, keep_default_na=False,
        na_values=list(MISSING), skipinitialspace=True, skip_blank_lines=False,
        dtype={j: str for j, name in enumerate(names) if name in text},
        engine="c", encoding="utf-8-sig", quotechar='"',
    )
    lines = np.arange(raw.shape[0], dtype=np.int64) + table.header_line + 1
    blank = raw.isna().to_numpy().all(axis=1)
    raw, lines = raw[~blank].reset_index(drop=True), lines[~blank]
    if raw.shape[0] == 0:
        raise ValueError(f"{path_str} has a header row but no data rows")
    columns = TableColumns(pd.DataFrame(), table.names is not None, lines, path_str)
    frame = {name: _typed(raw[j], name, columns, name in text)
             for j, name in enumerate(names)}
    return TableColumns(pd.DataFrame(frame), columns.header, lines, path_str)


def _check_unique(names: list[str], path: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{path}: the header names column {name!r} twice; give each "
                             "column its own name")
        seen.add(name)


def _typed(cells: Any, name: str, table: TableColumns, text: bool = False) -> Any:
    """One column: float64 if every present cell is a number, else text; missing as NaN/None.

    ``cells`` as pandas read it: numbers already (a column of nothing else), or text with
    NaN where a cell is missing.
    """
    import pandas as pd

    if not text and cells.dtype.kind in "iuf":
        numbers = cells.to_numpy(np.float64)
        if np.isinf(numbers).any():
            i = int(np.isinf(numbers).argmax())
            raise ValueError(f"{table.where(i, name)}: {numbers[i]!r} is not a finite number; "
                             "replace it, or leave the cell empty to have it imputed")
        return pd.Series(numbers)
    cells = cells.astype(object).where(cells.notna(), "").map(str).str.strip()
    missing = cells.isin(MISSING).to_numpy()
    numbers = pd.to_numeric(cells.where(~missing), errors="coerce").to_numpy(np.float64)
    text_cells = np.isnan(numbers) & ~missing
    if text_cells.any() and not text and 2 * text_cells.sum() < (~missing).sum():
        i = int(text_cells.argmax())  # a typo in a column of numbers, not a text column
        raise ValueError(f"{table.where(i, name)}: {cells[i]!r} is not a number, but most of "
                         "the column's cells are; correct it, leave it empty to have it "
                         "imputed, or drop the column")
    if text or text_cells.any():
        return pd.Series(np.where(missing, None, cells.to_numpy(object)), dtype=object)
    infinite = np.isinf(numbers)
    if infinite.any():
        i = int(infinite.argmax())
        raise ValueError(f"{table.where(i, name)}: {cells[i]!r} is not a finite number; "
                         "replace it, or leave the cell empty to have it imputed")
    return pd.Series(numbers)


def _ragged_message(table: Table) -> str | None:
    """The message for the first row whose number of fields is not the first's, if any."""
    import csv

    with open_text(table.path) as f:
        reader = csv.reader(f, delimiter=table.delimiter.char)
        try:
            for row in reader:
                if len(row) != table.n_columns and any(c.strip() for c in row):
                    return (f"{table.path}: row {reader.line_num} has {len(row)} fields, "
                            f"expected {table.n_columns} (with {table.delimiter.describe()}); "
                            "give every row the same fields (an empty cell is a missing "
                            "value), or quote a cell that holds the delimiter")
        except csv.Error as exc:
            return f"{table.path}: malformed CSV at line {reader.line_num}: {exc}"
    return None
