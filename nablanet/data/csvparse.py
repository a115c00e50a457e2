"""The streaming parse behind `nablanet.data.csv.read_csv`.

A numeric table is read by pandas' C parser (`parse_fast`), chunk by chunk straight into
one preallocated float64 array: 3 to 4 times the speed of the parser below, the same
bounded memory. Anything that parser would not read exactly as nablanet does (a cell that
is empty or not a finite number, a ragged row, a target cell that is empty) makes it give
up, and the file is read again by the parser below, which names the row and the column.

The parser below reads a file as chunks of ``CHUNK_ROWS`` lines. While no line holds a
quote, a chunk of lines whose every line has the right number of fields is converted by
`np.loadtxt` (C speed); from the first quote on, one `csv.reader` over the rest of the
file splits rows (a quoted field may span lines) and NumPy converts each chunk. A chunk
with anything unusual (a blank or ragged row, a bad cell) is converted cell by cell
instead, which skips blank rows and names the first bad cell. The rows go straight into
one preallocated array (`_Rows`), so peak memory is about the result.
"""

from __future__ import annotations

import csv
import itertools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.data.csvsniff import Delimiter, is_number

CHUNK_ROWS = 1 << 15


@dataclass(frozen=True)
class Table:
    """What the first rows tell about the whole file, and the columns asked for."""

    path: str
    delimiter: Delimiter
    names: list[str] | None  # the header's cells, None without a header
    header_line: int  # the header's line number, 0 without a header
    n_columns: int
    target: int | None
    features: list[int]

    def column(self, j: int) -> str:
        """Column ``j`` as messages name it: by header name and index, or by index."""
        if self.names is not None:
            return f"column {self.names[j]!r} (index {j})"
        return f"column index {j}"

    def feature_names(self) -> list[str]:
        """The feature columns' header names, or ``x0``, ``x1``, ... by index."""
        if self.names is not None:
            return [self.names[j] for j in self.features]
        return [f"x{j}" for j in self.features]


def open_text(path: str) -> Any:
    """The file as text for the csv module: UTF-8, a byte-order mark skipped."""
    return open(path, newline="", encoding="utf-8-sig")


class _Rows:
    """Rows appended chunk by chunk to one preallocated array, trimmed in place at the end.

    The array is made with room for ``capacity`` rows: pages not yet written take no
    memory, and the final `resize` shrinks it without copying. Text columns widen their
    dtype when a longer string arrives (one copy of the rows so far each time).
    """

    def __init__(self, capacity: int, width: int, dtype: Any) -> None:
        with _small_pages():
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

    def append_columns(self, columns: list[NDArray[Any]]) -> bool:
        """Append a chunk given column by column, without copying the chunk first.

        Returns False, appending nothing, if a value is not finite.
        """
        if not all(np.isfinite(col).all() for col in columns):
            return False
        end = self.m + (columns[0].shape[0] if columns else 0)
        if end > self.a.shape[0]:
            self.a.resize((2 * end, self.a.shape[1]), refcheck=False)
        for k, col in enumerate(columns):
            self.a[self.m : end, k] = col
        self.m = end
        return True

    def result(self) -> NDArray[Any]:
        self.a.resize((self.m, self.a.shape[1]), refcheck=False)
        return self.a


@contextmanager
def _small_pages() -> Iterator[None]:
    """Arrays made inside are backed by ordinary pages, without NumPy's huge-page hint.

    NumPy asks Linux for huge pages for every array of 4 MiB or more (``madvise``). Where
    the kernel honours that hint by compacting memory on the spot (``defrag`` set to
    ``madvise``, a usual default) and memory is fragmented, as on a busy machine, the
    first write into each 2 MiB of a fresh array waits for it: 0.3-0.7 s of system time
    for a 144 MB array, where ordinary pages take 0.1 s (numpy/numpy#31590). What huge
    pages save later (address translations when rows are gathered into batches) is small
    next to the products a network computes on them.
    """
    hint = getattr(getattr(np, "_core", None), "multiarray", None)
    toggle = getattr(hint, "_set_madvise_hugepage", None)
    if toggle is None:  # not this NumPy's private switch: keep its default
        yield
        return
    before = toggle(False)
    try:
        yield
    finally:
        toggle(before)


def _keep_parser_buffers() -> None:
    """Let the C library's allocator keep the parser's buffers from chunk to chunk.

    glibc's malloc serves a request over its threshold (128 KiB at first) with a fresh
    mapping and unmaps it when freed, so pandas' tokenizer, which frees and allocates its
    buffers (about 1 MB per chunk here) for every chunk, pays a page fault per 4 KiB of
    them each time: 90,000 faults and about a third of a second for 2 million rows. Freeing
    one mapped block raises that threshold to the block's size (up to 32 MiB), after which
    such buffers come from the heap and are reused; an untouched block costs nothing. On
    other allocators this does nothing.
    """
    block = np.empty(1 << 24, dtype=np.uint8)
    del block


#: Rows per chunk of pandas' parser. Its buffers grow with the chunk: 2M rows x 10 numbers
#: peak at 1.95x the final array in a fresh process with 2**13 rows (pandas imported;
#: benchmarks/read_csv.py), 2.04x with 2**14 and 2.16x with 2**16, for at most a tenth
#: less time.
FAST_CHUNK_ROWS = 1 << 13


def parse_fast(table: Table, capacity: int) -> tuple[NDArray[np.float64], NDArray[Any]] | None:
    """Parse every data row with pandas' C parser; None where `parse` must decide.

    Each chunk's feature columns are converted to float64 by the C parser and copied into
    the preallocated array, so peak memory is the final array plus one chunk. The target
    is first read as numbers by the same parser, chunk by chunk, as `nablanet.data.csv`
    types it (int64 while every value is a whole number written as one, else float64); a
    target that is anything else (a text cell, "nan", a number past int64) is read again
    as text. None is returned (and the file is read again by `parse`, which names the
    first bad cell) when a feature cell is not a finite number or is empty, a row has the
    wrong number of fields, or a target cell is empty.

    Returns
    -------
    (X, y) or None
        ``y`` is int64 or float64 (typed), or text cells (``<U``) for `_target_values`.
    """
    _keep_parser_buffers()
    result = _parse_fast(table, capacity, numeric_target=True)
    if result is _TEXT_TARGET:
        result = _parse_fast(table, capacity, numeric_target=False)
    return None if result is None or result is _TEXT_TARGET else result


_TEXT_TARGET: Any = object()  # the answer of a numeric read that met a text target


def _parse_fast(table: Table, capacity: int, numeric_target: bool) -> Any:
    import pandas as pd

    n = table.n_columns
    dtypes: dict[int, Any] = {j: np.float64 for j in table.features}
    if table.target is not None and not numeric_target:
        dtypes[table.target] = str
    X = _Rows(capacity, len(table.features), np.float64)
    y = _Rows(capacity if table.target is not None else 0, 1, np.int64 if numeric_target else "<U1")
    try:
        # low_memory=False: each chunk is parsed in one piece (pandas' low-memory mode
        # splits it again and concatenates the pieces); the chunk bounds the memory
        reader = pd.read_csv(
            table.path,
            sep=table.delimiter.char,
            header=None,
            names=list(range(n)),
            index_col=False,
            skiprows=table.header_line,
            dtype=dtypes,
            na_filter=False,
            skip_blank_lines=True,
            engine="c",
            encoding="utf-8-sig",
            quotechar='"',
            chunksize=FAST_CHUNK_ROWS,
            low_memory=False,
        )
        # A first row longer than the header is cut to the header's width with only a
        # ParserWarning ("loss of data"): as an error it sends the file to `parse`,
        # which refuses the row by number, as it does any other ragged row.
        with reader, warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            for chunk in reader:
                if not X.append_columns([chunk[j].to_numpy() for j in table.features]):
                    return None  # a short row (filled with NaN), "nan" or "inf"
                if table.target is not None:
                    t = _target_chunk(chunk[table.target], numeric_target)
                    if t is None or t is _TEXT_TARGET:
                        return t
                    y.append(t[:, np.newaxis])
    except (ValueError, pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError):
        return None  # a bad cell or row: `parse` says which
    return X.result(), y.result()[:, 0]


def _target_chunk(cells: Any, numeric: bool) -> Any:
    """One chunk's target: numbers (int64/float64), text, None (a bad cell), or _TEXT_TARGET.

    Read as numbers, ``cells`` is what pandas' parser made of the chunk: int64 where every
    cell is an integer (Python's int reads it the same: "+5", " 7", "007"), float64 where
    every cell is a number; anything else (text, "1_000", a boolean, an integer past int64,
    an empty cell) is left to the read as text, typed by `nablanet.data.csv._target_values`.
    """
    if numeric:
        if cells.dtype == np.int64:
            return cells.to_numpy()
        if cells.dtype == np.float64:
            values = cells.to_numpy()
            return values if np.isfinite(values).all() else _TEXT_TARGET
        return _TEXT_TARGET
    if cells.isna().any():
        return None
    cells = cells.str.strip()
    if (cells == "").any():
        return None
    t = cells.to_numpy(dtype=str)
    return t.astype(f"<U{max(int(np.strings.str_len(t).max()), 1)}")


def parse(table: Table, capacity: int) -> tuple[NDArray[np.float64], NDArray[Any]]:
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


def _converted_chunks(table: Table) -> Iterator[_Converted]:
    """Each chunk of lines, converted.

    By `np.loadtxt` while no line holds a quote; from the first quote on (a quoted field
    may span lines), by one `csv.reader` over the rest of the file.
    """
    try:
        with open_text(table.path) as f:
            start = 0  # lines read before this chunk
            while lines := list(itertools.islice(f, CHUNK_ROWS)):
                if any('"' in line for line in lines):
                    yield from _csv_chunks(itertools.chain(lines, f), start, table)
                    return
                yield _convert_lines(lines, start, table)
                start += len(lines)
    except UnicodeDecodeError:  # the file changed since it was scanned
        raise ValueError(f"{table.path} is not UTF-8 text") from None


def _csv_chunks(source: Iterator[str], start: int, table: Table) -> Iterator[_Converted]:
    reader = csv.reader(source, delimiter=table.delimiter.char)
    rows: list[list[str]] = []
    numbers: list[int] = []
    try:
        for row in reader:
            line = start + reader.line_num
            if row and line != table.header_line:
                rows.append(row)
                numbers.append(line)
                if len(rows) == CHUNK_ROWS:
                    yield _convert(rows, numbers, table)
                    rows, numbers = [], []
    except csv.Error as exc:
        raise ValueError(
            f"{table.path}: malformed CSV at line {start + reader.line_num}: {exc}"
        ) from None
    if rows:
        yield _convert(rows, numbers, table)


def _convert_lines(lines: list[str], start: int, table: Table) -> _Converted:
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


def _csv_fallback(lines: list[str], start: int, table: Table) -> _Converted:
    rows, numbers = [], []
    reader = csv.reader(lines, delimiter=table.delimiter.char)
    for row in reader:
        line = start + reader.line_num
        if row and line != table.header_line:
            rows.append(row)
            numbers.append(line)
    return _convert_slowly(rows, numbers, table)


def _convert(
    rows: list[list[str]], lines: list[int], table: Table
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
    rows: list[list[str]], lines: list[int], table: Table
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


def _check_row(cells: list[str], line: int, table: Table) -> None:
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
