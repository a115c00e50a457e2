import numpy as np
import pytest

from nablanet.data.csv import read_csv


def _csv(tmp_path, text, name="data.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_header_detected_and_text_target(tmp_path):
    p = _csv(tmp_path, "sepal,petal,species\n5.1,1.4,setosa\n6.2,4.5,versicolor\n")
    X, y, names = read_csv(p)
    assert X.dtype == np.float64 and X.shape == (2, 2)
    np.testing.assert_array_equal(X, [[5.1, 1.4], [6.2, 4.5]])
    assert y.tolist() == ["setosa", "versicolor"]
    assert names == ["sepal", "petal"]


def test_no_header_detected(tmp_path):
    p = _csv(tmp_path, "1,2,0\n3,4,1\n5,6,1\n")
    X, y, names = read_csv(p)
    assert X.shape == (3, 2)
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 1]
    assert names == ["x0", "x1"]


def test_no_header_with_text_labels(tmp_path):
    # the text in the first row's last column is a label: the column below is text too
    p = _csv(tmp_path, "1,2,cat\n3,4,dog\n")
    X, y, names = read_csv(p)
    assert X.shape == (2, 2) and y.tolist() == ["cat", "dog"]


def test_target_by_name_and_by_index(tmp_path):
    p = _csv(tmp_path, "price,rooms,area\n100.5,3,70\n200.25,4,95\n")
    X, y, names = read_csv(p, target="price")
    assert names == ["rooms", "area"]
    assert y.dtype == np.float64 and y.tolist() == [100.5, 200.25]
    np.testing.assert_array_equal(X, [[3, 70], [4, 95]])
    X0, y0, names0 = read_csv(p, target=0)
    np.testing.assert_array_equal(X0, X)
    np.testing.assert_array_equal(y0, y)
    assert names0 == names
    _, y1, names1 = read_csv(p, target=-2)
    assert y1.tolist() == [3, 4] and names1 == ["price", "area"]


def test_target_name_without_header(tmp_path):
    p = _csv(tmp_path, "1,2\n3,4\n")
    with pytest.raises(ValueError, match="no header row"):
        read_csv(p, target="y")


def test_unknown_target(tmp_path):
    p = _csv(tmp_path, "a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"no column named 'c'; the columns are \['a', 'b'\]"):
        read_csv(p, target="c")
    with pytest.raises(ValueError, match=r"target index 2 is out of range for 2 columns"):
        read_csv(p, target=2)
    with pytest.raises(ValueError, match="out of range"):
        read_csv(p, target=-3)


def test_text_in_feature_column_names_row_and_column(tmp_path):
    p = _csv(tmp_path, "a,b,label\n1,2,0\n3,oops,1\n")
    with pytest.raises(ValueError, match=r"row 3, column 'b' \(index 1\): 'oops' is not a finite"):
        read_csv(p)


def test_text_without_header_names_column_index(tmp_path):
    p = _csv(tmp_path, "1,2,0\n3,4,1\n5,x,1\n")
    with pytest.raises(ValueError, match=r"row 3, column index 1: 'x' is not"):
        read_csv(p)


def test_missing_value(tmp_path):
    p = _csv(tmp_path, "a,b,label\n1,2,0\n3,4,1\n,6,1\n")
    with pytest.raises(ValueError, match=r"row 4, column 'a' \(index 0\): missing value"):
        read_csv(p)


def test_missing_value_in_first_row_is_not_taken_for_a_header(tmp_path):
    p = _csv(tmp_path, ",2,0\n3,4,1\n")
    with pytest.raises(ValueError, match=r"row 1, column index 0: missing value"):
        read_csv(p)


def test_missing_target(tmp_path):
    p = _csv(tmp_path, "a,label\n1,0\n2,\n")
    with pytest.raises(ValueError, match=r"row 3, column 'label' \(index 1\) \(the target\)"):
        read_csv(p)


def test_nan_and_inf_refused(tmp_path):
    p = _csv(tmp_path, "a,b,label\n1,nan,0\n")
    with pytest.raises(ValueError, match=r"row 2, column 'b' \(index 1\): 'nan' is not a finite"):
        read_csv(p)


def test_row_numbers_count_blank_lines(tmp_path):
    p = _csv(tmp_path, "a,label\n1,0\n\n2,1\nbad,1\n")
    with pytest.raises(ValueError, match="row 5,"):
        read_csv(p)


def test_ragged_row(tmp_path):
    p = _csv(tmp_path, "a,b,label\n1,2,0\n3,4\n")
    with pytest.raises(ValueError, match=r"row 3 has 2 fields, expected 3"):
        read_csv(p)


def test_empty_file(tmp_path):
    with pytest.raises(ValueError, match="is empty"):
        read_csv(_csv(tmp_path, ""))
    with pytest.raises(ValueError, match="is empty"):
        read_csv(_csv(tmp_path, "\n\n  \n", name="blank.csv"))


def test_header_only(tmp_path):
    with pytest.raises(ValueError, match="header row but no data rows"):
        read_csv(_csv(tmp_path, "a,b,label\n"))


def test_single_column(tmp_path):
    with pytest.raises(ValueError, match="needs a target and at least one feature"):
        read_csv(_csv(tmp_path, "y\n1\n2\n"))


def test_explicit_header_flag(tmp_path):
    p = _csv(tmp_path, "1,2\n3,4\n5,6\n")
    X, y, names = read_csv(p, header=True)
    assert names == ["1"] and X.tolist() == [[3], [5]] and y.tolist() == [4, 6]


def test_bom_spaces_and_delimiter(tmp_path):
    p = tmp_path / "semi.csv"
    p.write_bytes('\ufeffsize;kind\n 1.5 ;a\n2;"b;c"\n'.encode())
    X, y, names = read_csv(p, delimiter=";")
    assert names == ["size"]  # no byte-order mark glued to the first name
    np.testing.assert_array_equal(X, [[1.5], [2.0]])
    assert y.tolist() == ["a", "b;c"]


def test_quoted_fields(tmp_path):
    p = _csv(tmp_path, 'x,"long, name"\n1,"a, b"\n2,c\n')
    X, y, names = read_csv(p)
    assert names == ["x"]
    assert y.tolist() == ["a, b", "c"]


# --- header detection from every column (issue 10, item 2) ---------------------------

IRIS_ROWS = (
    "5.1,3.5,1.4,setosa\n4.9,3.0,1.4,setosa\n7.0,3.2,4.7,versicolor\n6.4,3.2,4.5,versicolor\n"
)


def test_numeric_column_names_over_a_text_target_are_a_header(tmp_path):
    # pandas writes a DataFrame with integer column names this way
    p = _csv(tmp_path, "0,1,2,species\n" + IRIS_ROWS)
    X, y, names = read_csv(p, target="species")
    assert names == ["0", "1", "2"]
    assert X.shape == (4, 3) and X[0].tolist() == [5.1, 3.5, 1.4]
    assert y.tolist() == ["setosa", "setosa", "versicolor", "versicolor"]
    q = _csv(tmp_path, "0,1,2,3\n" + IRIS_ROWS, name="numbers.csv")  # a number over text
    X, y, names = read_csv(q)
    assert names == ["0", "1", "2"] and X.shape == (4, 3) and "3" not in y.tolist()


def test_first_label_among_the_classes_is_data(tmp_path):
    p = _csv(tmp_path, IRIS_ROWS)
    X, y, names = read_csv(p)
    assert X.shape == (4, 3) and names == ["x0", "x1", "x2"]


def test_header_flag_overrides_detection(tmp_path):
    p = _csv(tmp_path, "0,1,2,species\n" + IRIS_ROWS)
    X, y, _ = read_csv(p, header=False)
    assert X.shape == (5, 3) and y[0] == "species"
    q = _csv(tmp_path, "1,2,cat\n3,4,dog\n", name="q.csv")
    assert read_csv(q)[0].shape == (2, 2)
    X, y, names = read_csv(q, header=True)
    assert names == ["1", "2"] and y.tolist() == ["dog"]
    with pytest.raises(ValueError, match="header must be True, False or None"):
        read_csv(q, header="yes")


def test_target_name_hint_when_no_header_detected(tmp_path):
    p = _csv(tmp_path, "1,2\n3,4\n")
    with pytest.raises(ValueError, match="give header=True"):
        read_csv(p, target="y")


# --- feature-only files (issue 10, item 8; issue 11) ---------------------------------


def test_target_none_reads_every_column(tmp_path):
    p = _csv(tmp_path, "a,b,c\n1,2,3\n4,5,6\n")
    X, y, names = read_csv(p, target=None)
    assert y is None and names == ["a", "b", "c"]
    np.testing.assert_array_equal(X, [[1, 2, 3], [4, 5, 6]])
    X1, y1, names1 = read_csv(_csv(tmp_path, "1.5\n2.5\n", name="one.csv"), target=None)
    assert X1.shape == (2, 1) and y1 is None and names1 == ["x0"]


def test_target_none_names_bad_cells(tmp_path):
    p = _csv(tmp_path, "a,b\n1,2\n3,cat\n")
    with pytest.raises(ValueError, match=r"row 3, column 'b' \(index 1\): 'cat' is not a finite"):
        read_csv(p, target=None)


# --- streaming into one preallocated array (issue 10, item 8) ------------------------


def _tricky_csv(tmp_path):
    """Header, blank lines, CRLF, spaces, and a quoted multi-line field late in the file."""
    lines = ["a,b,label"] + [f"{i}.5, {i} ,c{i % 3}" for i in range(40)]
    lines[7] = ""
    lines[12] = "   "
    lines[30] = '30.5,30,"c\n0"'
    p = tmp_path / "tricky.csv"
    p.write_bytes("\r\n".join(lines).encode() + b"\r\n\r\n")
    return p


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
def test_chunked_parse_equals_whole_parse(tmp_path, monkeypatch, chunk):
    import nablanet.data.csvparse as csv_module

    p = _tricky_csv(tmp_path)
    X0, y0, names0 = read_csv(p)
    monkeypatch.setattr(csv_module, "CHUNK_ROWS", chunk)
    X, y, names = read_csv(p)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert names == names0 == ["a", "b"]
    assert X.shape == (38, 2) and X.flags.c_contiguous and X.flags.owndata
    assert y[27] == "c\n0" and y[0] == "c0" and X[27].tolist() == [30.5, 30.0]


def test_errors_after_the_switch_to_quoted_parsing_keep_line_numbers(tmp_path, monkeypatch):
    import nablanet.data.csvparse as csv_module

    monkeypatch.setattr(csv_module, "CHUNK_ROWS", 4)
    p = _csv(tmp_path, 'a,b,c\n1,2,p\n3,4,q\n5,6,p\n7,8,"x\ny"\n9,10,q\nz,11,p\n')
    with pytest.raises(ValueError, match=r"row 8, column 'a' \(index 0\): 'z'"):
        read_csv(p)


def test_integer_target_beyond_int64_is_float(tmp_path):
    p = _csv(tmp_path, "a,y\n1,1\n2,99999999999999999999\n")
    _, y, _ = read_csv(p)
    assert y.dtype == np.float64 and y[1] == 1e20


def test_peak_memory_is_about_the_result(tmp_path):
    # 100 000 rows x (9 features + a text label): the old reader kept every cell as a
    # Python string (about 18 times the float matrix); now the matrix is written in place.
    import subprocess
    import sys

    p = tmp_path / "big.csv"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100_000, 9)).round(6)
    labels = np.array(["setosa", "versicolor", "virginica"])[rng.integers(0, 3, 100_000)]
    with open(p, "w") as f:
        f.write(",".join(f"f{j}" for j in range(9)) + ",species\n")
        for x, c in zip(X.tolist(), labels.tolist(), strict=True):
            f.write(",".join(map(repr, x)) + "," + c + "\n")
    code = (
        "import resource, sys, numpy as np\n"
        "from nablanet.data.csv import read_csv\n"
        "import nablanet.data.csv, csv, gc\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "X, y, _ = read_csv(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print((after - before) * 1024 / (X.nbytes + y.nbytes))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 2.0, out.stdout
    X_read, y_read, _ = read_csv(p)
    np.testing.assert_array_equal(X_read, X)
    np.testing.assert_array_equal(y_read, labels)


# --- files that are not UTF-8 text (issue 10, item 9) --------------------------------


def _binary_files(tmp_path):
    import gzip
    import io
    import struct

    npy = io.BytesIO()
    np.save(npy, np.zeros(3))
    npz = io.BytesIO()
    np.savez(npz, a=np.zeros(3))
    idx = bytes([0, 0, 8, 1]) + struct.pack(">I", 3) + b"\x01\x02\x03"
    return {
        "data.csv.gz": (gzip.compress(b"a,b\n1,2\n"), "gzip"),
        "data.npy": (npy.getvalue(), r"NumPy \.npy"),
        "data.npz": (npz.getvalue(), "zip archive"),
        "labels-idx1-ubyte": (idx, r"IDX file \(type 0x08, 1 dimension"),
        "utf16.csv": ("a,b\n1,2\n".encode("utf-16"), "UTF-16 text"),
        "utf16le.csv": ("a,b\n1,2\n".encode("utf-16-le"), "UTF-16 text"),
        "latin1.csv": ("a,b\ncafé,1\n".encode("latin-1"), r"byte 0xe9 at byte offset 7 \(line 2\)"),
        "nul.csv": (b"a,b\n1,\x002\n", "NUL byte at byte offset 6"),
    }


def test_binary_and_non_utf8_files_say_what_they_are(tmp_path):
    for name, (data, what) in _binary_files(tmp_path).items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(ValueError, match=rf"{name} is not UTF-8 text: .*{what}"):
            read_csv(p)


# --- the delimiter (issue 12, item 7) ------------------------------------------------


@pytest.mark.parametrize("d", [",", ";", "\t"])
def test_delimiter_detected(tmp_path, d):
    p = _csv(tmp_path, d.join(["a", "b", "label"]) + "\n" + d.join(["1.5", "2", "x"]) + "\n"
             + d.join(["3", "4", "y"]) + "\n")
    X, y, names = read_csv(p)
    assert names == ["a", "b"] and X.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert y.tolist() == ["x", "y"]


def test_one_column_says_which_delimiter_was_assumed(tmp_path):
    p = _csv(tmp_path, "a|b\n1|2\n")
    with pytest.raises(ValueError, match=r"1 column with delimiter ',' \(comma, assumed\); it "
                       "needs a target.*give the delimiter"):
        read_csv(p)


def test_decimal_commas_hint_at_the_delimiter(tmp_path):
    p = _csv(tmp_path, "1,5;2,5;x\n3,5;4,5;y\n")  # comma and semicolon both fit
    with pytest.raises(ValueError, match=r"read with delimiter ',' \(comma, detected\); give "
                       r"delimiter=';'"):
        read_csv(p)


def test_bad_delimiter_option(tmp_path):
    p = _csv(tmp_path, "1,2\n")
    with pytest.raises(ValueError, match="delimiter must be one character"):
        read_csv(p, delimiter=", ")


def test_inspect_csv_gives_the_width_without_reading_everything(tmp_path):
    from nablanet.data.csv import inspect_csv

    p = _csv(tmp_path, "a;b;label\n1;2;x\n3;4;y\n")
    layout = inspect_csv(p)
    assert layout.n_columns == 3 and layout.names == ["a", "b", "label"]
    assert layout.delimiter == ";" and layout.delimiter_detected
    assert inspect_csv(p, header=False).names is None
    q = tmp_path / "x.npy"
    q.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'}")
    with pytest.raises(ValueError, match=r"x\.npy is not UTF-8 text: it looks like a NumPy"):
        inspect_csv(q)


def test_fifo_is_refused_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"pipe\.csv is not a regular file \(a FIFO\)"):
        read_csv(fifo)
    with pytest.raises(IsADirectoryError, match="is a folder, not a file"):
        read_csv(tmp_path)


def test_ragged_semicolon_file_names_the_assumed_delimiter(tmp_path):
    p = _csv(tmp_path, "a;b;label\n1;2;x\n3;4;y\n5;6\n7;8;x\n")
    with pytest.raises(ValueError, match=r"row 4 has 2 fields, expected 3 \(with delimiter ';' "
                       r"\(semicolon, assumed\)\)"):
        read_csv(p)


def test_read_table_types_columns_and_recognises_missing_cells(tmp_path):
    from nablanet.data.csv import read_table

    path = tmp_path / "t.csv"
    path.write_text("id,a,color,y\n1,1.5,red,yes\n2,NA,blue,no\n\n3,2,,yes\n4,?,red,no\n"
                    "5,null,NaN,no\n")
    t = read_table(path)
    assert t.header and list(t.frame.columns) == ["id", "a", "color", "y"]
    assert t.frame["a"].dtype == np.float64 and t.frame["color"].dtype == object
    assert np.isnan(t.frame["a"].to_numpy()).tolist() == [False, True, False, True, True]
    assert t.frame["color"].tolist() == ["red", "blue", None, "red", None]
    assert t.lines.tolist() == [2, 3, 5, 6, 7]  # the blank line 4 is skipped
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(ValueError, match=r"row 3 has 1 fields, expected 2"):
        read_table(path)
    path.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(9)) + "x,1\n")
    with pytest.raises(ValueError, match=r"row 11, column 'a': 'x' is not a number, but most"):
        read_table(path)


def test_fast_parse_matches_nablanets_own(tmp_path):
    from nablanet.data import csv as csvmod
    from nablanet.data.csvparse import parse, parse_fast

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 4)) * 10.0 ** rng.integers(-300, 300, (3000, 4))
    for target in (rng.integers(-5, 5, 3000).astype(str), np.round(rng.random(3000), 3),
                   rng.choice(["a", " b ", "c"], 3000)):
        path = tmp_path / "f.csv"
        with open(path, "w") as f:
            f.write("w,x,y,z,t\n")
            for row, t in zip(X, target, strict=True):
                f.write(",".join(repr(float(v)) for v in row) + f",{t}\n")
        table = csvmod._inspect(str(path), -1, None, None)
        X_fast, y_fast = parse_fast(table, 4000)
        X_slow, cells = parse(table, 4000)
        assert np.array_equal(X_fast, X_slow) and np.array_equal(X_fast, X)
        y_slow = csvmod._target_values(cells)
        assert (y_fast if y_fast.dtype.kind in "if" else csvmod._target_values(y_fast)
                ).tolist() == y_slow.tolist()


@pytest.mark.parametrize(("cells", "expected"), [
    (["+5", " 7", "007"], [5, 7, 7]),  # integers to Python's int: int64, not float64
    (["0x10", "1"], ["0x10", "1"]),  # no number to Python's float: text, not 16
])
def test_fast_parse_types_the_target_as_nablanets_own(tmp_path, cells, expected):
    from nablanet.data import csv as csvmod
    from nablanet.data.csvparse import parse

    path = _csv(tmp_path, "a,t\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
    _, y, _ = read_csv(path)
    table = csvmod._inspect(str(path), -1, None, None)
    reference = csvmod._target_values(parse(table, 10)[1])
    assert y.dtype == reference.dtype and y.tolist() == reference.tolist() == expected


def test_output_arrays_skip_numpys_huge_page_hint_and_restore_it(tmp_path):
    from numpy._core.multiarray import _get_madvise_hugepage

    from nablanet.data.csvparse import _small_pages

    before = _get_madvise_hugepage()
    with pytest.raises(RuntimeError, match="inside"), _small_pages():
        assert not _get_madvise_hugepage()
        raise RuntimeError("inside")
    assert _get_madvise_hugepage() == before
    read_csv(_csv(tmp_path, "a,t\n1,2\n3,x\n"))
    assert _get_madvise_hugepage() == before
