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
