"""``--data`` (nablanet/cli/sources.py): IDX folders and CSV files, and the task a CSV
target is taken for."""

import csv
import io
import json

import numpy as np
from _cli_helpers import (
    _line,
    assert_one_line_error,
    check_png,
    cli,
    printed_float,
)

import nablanet
from nablanet.data import write_idx


def test_train_idx_folder_uses_its_splits_and_images(tmp_path, capsys, digits):
    folder = tmp_path / "idx"
    folder.mkdir()
    def images(X):
        return np.round(X * 255).astype(np.uint8).reshape(-1, 8, 8)
    write_idx(folder / "train-images-idx3-ubyte", images(digits.X_train))
    write_idx(folder / "train-labels-idx1-ubyte", digits.y_train.astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images(digits.X_test[:100]))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", digits.y_test[:100].astype(np.uint8))
    report = tmp_path / "r"
    code, out, _ = cli(capsys, "train", "--data", folder, "--layers", "16", "--epochs", "5",
                       "--report", report, "-q")
    assert code == 0
    assert "(100 samples)" in _line(out, "test accuracy")
    check_png(report / "weights.png")  # 8x8 images: the filters are drawn
    page = (report / "report.html").read_text(encoding="utf-8")
    assert "of the one random initialisation" in page  # was "each of the 1 ... initialisation"


def test_csv_classification_with_text_labels(iris_csv, tmp_path, capsys):
    model = tmp_path / "iris.npz"
    code, out, err = cli(capsys, "train", "--data", iris_csv, "--target", "species",
                         "--layers", "16", "--epochs", "150", "--learning-rate", "0.01",
                         "--out", model)
    assert code == 0
    assert "150 rows, 4 features, 3 classes" in err
    assert printed_float(r"test accuracy: ([0-9.]+) \(38 samples\)", out) > 0.7
    code, out, _ = cli(capsys, "evaluate", model, "--data", iris_csv, "--json")
    result = json.loads(out)
    assert result["classes"] == ["setosa", "versicolor", "virginica"]
    assert result["n_samples"] == 150 and result["accuracy"] > 0.7
    # predict on a file without the target column
    features = tmp_path / "new.csv"
    features.write_text("sepal length,sepal width,petal length,petal width\n"
                        "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    code, out, _ = cli(capsys, "predict", model, "--data", features, "--proba")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and len(rows) == 3
    assert rows[0] == ["prediction", "p(setosa)", "p(versicolor)", "p(virginica)"]
    assert all(r[0] in ("setosa", "versicolor", "virginica") for r in rows[1:])


def test_csv_text_cell_names_row_and_column(iris_csv, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    lines = iris_csv.read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[1], "n/a", 1)
    bad.write_text("\n".join(lines) + "\n")
    code, _, err = cli(capsys, "train", "--data", bad, "--target", "species")
    assert code == 1
    assert_one_line_error(err, "row 4", "column 'sepal width'", "'n/a'", "leave it empty")
    # a missing value too, refused with --no-impute
    lines[3] = "5.1,,1.4,0.2,setosa"
    bad.write_text("\n".join(lines) + "\n")
    code, _, err = cli(capsys, "train", "--data", bad, "--target", "species", "--no-impute")
    assert code == 1
    assert_one_line_error(err, "row 4", "missing value", "leave out --no-impute")


def test_csv_features_only_text_cell(iris_csv, tmp_path, capsys):
    model = tmp_path / "iris.npz"
    assert cli(capsys, "train", "--data", iris_csv, "--epochs", "3", "--out", model, "-q")[0] == 0
    bad = tmp_path / "x.csv"
    bad.write_text("sepal length,sepal width,petal length,petal width\n"
                   "5.1,3.5,1.4,0.2\n6.7,oops,5.2,2.3\n")
    code, _, err = cli(capsys, "predict", model, "--data", bad)
    assert code == 1
    assert_one_line_error(err, f"{bad}: row 3, column 'sepal width'", "'oops'", "not a number")
    assert "tmp" not in err.replace(str(tmp_path), "")  # the user's file, not a copy


def test_header_flags_override_the_detection(iris_csv, tmp_path, capsys):
    # a first row of numbers over numbers is data by default; --header says it is not
    rows = iris_csv.read_text().splitlines()[1:]
    numeric = tmp_path / "n.csv"
    names = {"setosa": "0", "versicolor": "1", "virginica": "2"}
    numeric.write_text("\n".join(r.rsplit(",", 1)[0] + "," + names[r.rsplit(",", 1)[1]]
                                 for r in rows) + "\n")
    for flag, n_rows in ((None, 150), ("--header", 149), ("--no-header", 150)):
        args = ["train", "--data", numeric, "--epochs", "1", "--test-fraction", "0"]
        code, _, err = cli(capsys, *args, *([flag] if flag else []))
        assert code == 0, err
        assert f"({n_rows} rows, 4 features" in err, (flag, err)


def test_csv_regression_prints_r2(diabetes_csv, tmp_path, capsys):
    model = tmp_path / "diabetes.npz"
    code, out, err = cli(capsys, "train", "--data", diabetes_csv, "--optimizer", "lbfgs",
                         "--layers", "10", "--epochs", "200", "--out", model)
    assert code == 0
    assert "regression" in err
    r2 = printed_float(r"^test R²: (-?[0-9.]+) ", out)
    assert 0.2 < r2 <= 1.0  # a real fit of the diabetes data (linear models reach ~0.45)
    pipeline = nablanet.load(model)  # the preprocessing, then the network
    assert type(pipeline).__name__ == "Pipeline"
    assert type(pipeline[-1]).__name__ == "MLPRegressor"
    code, out, _ = cli(capsys, "evaluate", model, "--data", diabetes_csv, "--json")
    result = json.loads(out)
    assert code == 0 and set(result) >= {"r2", "mae", "rmse"} and "accuracy" not in result
    code, out, _ = cli(capsys, "predict", model, "--data", diabetes_csv)
    assert code == 0 and out.splitlines()[0] == "prediction" and len(out.splitlines()) == 443


def test_whole_number_quantity_is_regressed_with_defaults(diabetes_whole_numbers_csv, capsys):
    # the task is inferred from many distinct values per row, and said in one line; the
    # targets are standardised, so default flags give a real fit (was: a stratification
    # error listing 84 numbers; with --task regress, test R² -3.2)
    code, out, err = cli(capsys, "train", "--data", diabetes_whole_numbers_csv)
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("task:")]
    assert notes == ["task: regression (the target holds 214 distinct numbers in 442 rows); "
                     "give --task classify to treat its values as classes"]
    assert printed_float(r"^test R²: (-?[0-9.]+) ", out) > 0.3


def test_failed_class_split_suggests_regression(diabetes_whole_numbers_csv, capsys):
    code, _, err = cli(capsys, "train", "--data", diabetes_whole_numbers_csv, "--task",
                       "classify")
    assert code == 1
    assert_one_line_error(err, "cannot stratify", "give --task regress")
