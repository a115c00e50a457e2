"""Guess a CSV file's delimiter and whether its first row is a header, from its first rows.

Both guesses look at a sample (the first 64 KiB), so that they cost the same for any size
of file, and both can be overridden by the caller (``delimiter=``, ``header=``).

- The delimiter is the one of ``DELIMITERS`` that splits every sampled row into the same
  number of fields, more than one; ties go to the delimiter that yields more numbers, then
  more fields, then to the order of ``DELIMITERS``. When none does, the one splitting the
  most rows evenly is assumed (a comma if none splits the first row), and the reader's
  messages say which was assumed.
- The first row is a header when some column says so: its first cell is text over a column of
  numbers, or a number over a column of text, or a text over a column of repeated labels
  that never include it (``species`` over ``setosa, versicolor, ...``), unless another text
  column's first cell is one of the labels below it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
SAMPLE_CHARS = 1 << 16
SAMPLE_ROWS = 1000


def is_number(cell: str) -> bool:
    """Whether a (stripped) cell is a finite number, as Python's ``float`` reads it."""
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def sample_rows(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows of ``text`` split by ``delimiter``: (line number, stripped cells).

    Parsing stops quietly at a malformed row (the full read reports it with its line).
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            cells = [c.strip() for c in row]
            if any(cells):
                rows.append((reader.line_num, cells))
            if len(rows) == SAMPLE_ROWS:
                break
    except csv.Error:
        pass
    return rows


@dataclass(frozen=True)
class Delimiter:
    """A delimiter and how it was chosen: ``"given"``, ``"detected"`` or ``"assumed"``."""

    char: str
    how: str

    def describe(self) -> str:
        """E.g. ``"delimiter ';' (semicolon, detected)"``."""
        name = DELIMITER_NAMES.get(self.char)
        return f"delimiter {self.char!r} ({f'{name}, ' if name else ''}{self.how})"


def _delimiter_score(rows: list[list[str]]) -> tuple[bool, float, int, int]:
    """(every row as wide as the first, share of rows that wide, numbers, width)."""
    width = len(rows[0])
    same = sum(len(cells) == width for cells in rows)
    numbers = sum(is_number(c) for cells in rows for c in cells)
    return same == len(rows), same / len(rows), numbers, width


def detect_delimiter(text: str, complete: bool = True) -> Delimiter:
    """The delimiter of the sample ``text`` among `DELIMITERS` (see the module's rule).

    When no delimiter splits every row evenly (a ragged row in the sample), the one that
    splits the most rows as wide as the first, more than one field, is *assumed*, so that
    the reader's message about the ragged row names it. ``complete=False`` says the
    sample's last row may be cut.
    """
    best: tuple[bool, float, int, int] | None = None
    choice = ","
    for d in DELIMITERS:
        rows = [cells for _, cells in sample_rows(text, d)]
        rows = rows[:-1] if not complete and len(rows) > 1 else rows
        if not rows or len(rows[0]) < 2:
            continue
        score = _delimiter_score(rows)
        if best is None or score > best:
            best, choice = score, d
    return Delimiter(choice, "detected" if best is not None and best[0] else "assumed")


def _column_vote(first: str, below: Sequence[str]) -> str | None:
    """What one column says of its first cell: ``"header"``, ``"data"`` or None."""
    below = [c for c in below if c != ""]
    if first == "" or not below:
        return None
    first_is_number = is_number(first)
    numbers = [is_number(c) for c in below]
    if all(numbers):
        return None if first_is_number else "header"
    if any(numbers):
        return None  # a mixed column is no evidence either way
    if first_is_number:
        return "header"  # "3" over labels: a column name
    if first in set(below):
        return "data"  # the first row's label is one of the classes
    if len(below) >= 2 and 2 * len(set(below)) <= len(below):
        return "labels"  # a text over repeated labels it is not one of
    return None


def detect_header(rows: Sequence[Sequence[str]]) -> bool:
    """Whether the first of the sampled ``rows`` (stripped cells) is a header.

    A lone row is a header only if it cannot be data (some cell is not a number).
    """
    first, below = rows[0], rows[1:]
    if not below:
        return not all(is_number(c) for c in first)
    votes = {
        _column_vote(cell, [r[j] for r in below if j < len(r)]) for j, cell in enumerate(first)
    }
    return "header" in votes or ("labels" in votes and "data" not in votes)
