"""Fuzz the CSV reader: any input gives a correct parse or a ValueError naming the file.

Targets: arbitrary bytes; near-valid CSVs (random quoting, delimiters, NaN/inf spellings,
ragged rows, blank lines, byte-order marks, line endings, headers); and three properties:
the chunked, vectorised parse equals the cell-by-cell parse; a random array written with
``repr`` reads back exactly; permuting the data rows permutes the parse.
"""

from __future__ import annotations

import atexit
import csv
import io
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _fuzz import count, run_fuzz
from hypothesis import given
from hypothesis import strategies as st

import nablanet.data.csvparse as csv_module
from nablanet.data.csv import read_csv

TARGETS = [-1, 0, None, "label", 5]


def _outcome(path: Path, **kwargs):
    """("ok", X, y, names) or ("error", message); anything else propagates and fails."""
    try:
        X, y, names = read_csv(path, **kwargs)
    except ValueError as exc:
        message = str(exc)
        assert str(path) in message, f"message does not name the file: {message}"
        return ("error", message)
    except OSError:
        return ("error", "OSError")
    _check_result(X, y, names, kwargs.get("target", -1))
    return ("ok", X, y, names)


def _check_result(X, y, names, target):
    assert X.dtype == np.float64 and X.ndim == 2 and X.shape[0] >= 1
    assert X.flags.c_contiguous and np.isfinite(X).all()
    assert len(names) == X.shape[1] and all(isinstance(n, str) for n in names)
    if target is None:
        assert y is None
    else:
        assert y.ndim == 1 and y.shape[0] == X.shape[0]
        assert y.dtype.kind in "ifU"
        if y.dtype.kind == "f":
            assert np.isfinite(y).all()


_FOLDER = Path(tempfile.mkdtemp(prefix="nablanet-fuzz-csv-"))
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)


def _write(data: bytes, name: str = "data.csv") -> Path:
    path = _FOLDER / name
    path.write_bytes(data)
    return path


def test_arbitrary_bytes():
    @given(data=st.binary(max_size=400), target=st.sampled_from(TARGETS))
    def run(data, target):
        count("csv arbitrary bytes")
        _outcome(_write(data), target=target)

    run_fuzz(run)


_NUMBER_CELLS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**25), 10**25).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "1_000", " 2 ", "+3",
                     ".5", "5.", "0x1", "1,5", "", " ", "1e", "--1", "١٢"]),
)
_TEXT_CELLS = st.one_of(
    st.sampled_from(["cat", "dog", "setosa", "label", "a b", 'say "hi"', "x;y", "p\tq",
                     "line\nbreak", "\u00e9t\u00e9", "\u2028", "0", "1"]),
    st.text(max_size=6),
)


@st.composite
def near_valid_csv(draw):
    n_rows = draw(st.integers(1, 8))
    n_cols = draw(st.integers(1, 5))
    cells = [[draw(st.one_of(_NUMBER_CELLS, _TEXT_CELLS) if draw(st.booleans()) else
                   _NUMBER_CELLS) for _ in range(n_cols)] for _ in range(n_rows)]
    if draw(st.booleans()):
        cells.insert(0, [draw(st.sampled_from(["a", "b", "label", "0", "1", "", "x y"]))
                         for _ in range(n_cols)])
    for row in cells:  # ragged rows
        if draw(st.integers(0, 9)) == 0:
            row.append("7") if draw(st.booleans()) else row.pop() if row else None
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL
                        if quoting == csv.QUOTE_NONNUMERIC else quoting,
                        lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])))
    for row in cells:
        writer.writerow(row)
        if draw(st.integers(0, 7)) == 0:
            buf.write(draw(st.sampled_from(["\n", "   \n", "\r\n", ",,\n"])))
    text = buf.getvalue()
    if draw(st.integers(0, 9)) == 0 and text:  # a stray quote or a cut
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + draw(st.sampled_from(['"', "", "\x00"])) + text[i + 1:]
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text).encode("utf-8")


def _same(a, b):
    assert a[0] == b[0], (a, b)
    if a[0] == "error":
        assert a[1] == b[1]
        return
    np.testing.assert_array_equal(a[1], b[1])
    assert (a[2] is None) == (b[2] is None)
    if a[2] is not None:
        assert a[2].dtype == b[2].dtype
        np.testing.assert_array_equal(a[2], b[2])
    assert a[3] == b[3]


@pytest.fixture
def slow_parse(monkeypatch):
    """A switch to the cell-by-cell parse of every chunk (the reference)."""

    def use(slow: bool, chunk_rows: int):
        monkeypatch.setattr(csv_module, "CHUNK_ROWS", chunk_rows)
        if slow:
            monkeypatch.setattr(csv_module, "_convert_lines", csv_module._csv_fallback)
            monkeypatch.setattr(csv_module, "_convert", csv_module._convert_slowly)
        else:
            monkeypatch.undo()
            monkeypatch.setattr(csv_module, "CHUNK_ROWS", chunk_rows)

    yield use
    monkeypatch.undo()


def test_near_valid_csv_chunked_equals_cell_by_cell(slow_parse):
    @given(data=near_valid_csv(), target=st.sampled_from(TARGETS),
           header=st.sampled_from([None, True, False]), chunk=st.integers(1, 4))
    def run(data, target, header, chunk):
        count("csv near-valid")
        path = _write(data)
        slow_parse(False, 1 << 15)
        whole = _outcome(path, target=target, header=header)
        slow_parse(False, chunk)
        chunked = _outcome(path, target=target, header=header)
        slow_parse(True, chunk)
        reference = _outcome(path, target=target, header=header)
        slow_parse(False, 1 << 15)
        _same(whole, chunked)
        _same(whole, reference)

    run_fuzz(run)


_FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)


def _write_table(X, y, names, delimiter, name="data.csv"):
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    if names is not None:
        w.writerow(names)
    for i in range(X.shape[0]):
        w.writerow([repr(v) for v in X[i].tolist()] + ([] if y is None else [y[i]]))
    return _write(buf.getvalue().encode(), name)


def test_round_trip_of_a_random_array():
    @given(
        shape=st.tuples(st.integers(1, 12), st.integers(1, 6)),
        data=st.data(),
        labels=st.sampled_from([None, "int", "text"]),
        header=st.booleans(),
        delimiter=st.sampled_from([",", ";", "\t"]),
    )
    def run(shape, data, labels, header, delimiter):
        count("csv round trip")
        X = np.array(data.draw(st.lists(_FINITE, min_size=math.prod(shape),
                                        max_size=math.prod(shape)))).reshape(shape)
        y = None
        if labels == "int":
            y = [str(v) for v in data.draw(st.lists(st.integers(-5, 5), min_size=shape[0],
                                                     max_size=shape[0]))]
        elif labels == "text":
            y = data.draw(st.lists(st.sampled_from(["cat", "dog", "a b"]), min_size=shape[0],
                                   max_size=shape[0]))
        width = shape[1] + (y is not None)
        names = [f"c{j}" for j in range(width)] if header else None
        path = _write_table(X, y, names, delimiter)
        target = None if y is None else -1
        X2, y2, names2 = read_csv(path, target=target, header=header, delimiter=delimiter)
        assert X2.tobytes() == X.tobytes() or np.array_equal(X2, X)  # -0.0 == 0.0
        np.testing.assert_array_equal(np.signbit(X2), np.signbit(X))
        if y is not None:
            assert [str(v) for v in y2.tolist()] == y
            assert y2.dtype.kind == ("i" if labels == "int" else "U")
        assert names2 == (names[: shape[1]] if header else [f"x{j}" for j in range(shape[1])])

    run_fuzz(run)


def test_permuting_rows_permutes_the_parse():
    @given(
        shape=st.tuples(st.integers(2, 12), st.integers(1, 5)),
        data=st.data(),
        labels=st.sampled_from(["int", "float", "text"]),
    )
    def run(shape, data, labels):
        count("csv permutation")
        X = np.array(data.draw(st.lists(_FINITE, min_size=math.prod(shape),
                                        max_size=math.prod(shape)))).reshape(shape)
        pick = {"int": st.integers(0, 3).map(str), "float": _FINITE.map(repr),
                "text": st.sampled_from(["u", "v", "w"])}[labels]
        y = data.draw(st.lists(pick, min_size=shape[0], max_size=shape[0]))
        names = [f"c{j}" for j in range(shape[1])] + ["label"]
        perm = np.array(data.draw(st.permutations(range(shape[0]))))
        a = read_csv(_write_table(X, y, names, ","), target="label")
        b = read_csv(_write_table(X[perm], [y[i] for i in perm], names, ",", "p.csv"),
                     target="label")
        np.testing.assert_array_equal(b[0], a[0][perm])
        np.testing.assert_array_equal(b[1], a[1][perm])
        assert a[1].dtype == b[1].dtype and a[2] == b[2]

    run_fuzz(run)
