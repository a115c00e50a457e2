"""The ``nablanet`` command, run as a user runs it: in-process through `main` for most
checks, and in a real subprocess where exit codes, tracebacks and imports matter."""

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

import nablanet
from nablanet.cli import main
from nablanet.datasets import load_digits, write_idx

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli(capsys, *args):
    """Run ``nablanet ARGS`` in-process; return (exit status, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def run(*args, cwd=None, timeout=300):
    """Run ``python -m nablanet.cli ARGS`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "nablanet.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=timeout,
    )


def assert_one_line_error(stderr, *fragments):
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("nablanet: error: ")
    assert "internal error" not in lines[0]  # a mistake the command knows, not a bug
    for fragment in fragments:
        assert fragment in lines[0]


def check_png(path):
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 3000
    image = mpimg.imread(io.BytesIO(data), format="png")
    assert np.unique(image[..., :3].reshape(-1, 3), axis=0).shape[0] > 10  # not blank
    return image


def printed_float(pattern, text):
    match = re.search(pattern, text)
    assert match, text
    return float(match.group(1))


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """A small classifier trained on the digits by the command itself."""
    path = tmp_path_factory.mktemp("model") / "digits.npz"
    assert main(["train", "--layers", "32", "--epochs", "15", "--learning-rate", "0.01",
                 "--out", str(path), "-q"]) == 0
    return path


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    from sklearn.datasets import load_iris

    iris = load_iris()
    path = tmp_path_factory.mktemp("csv") / "iris.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sepal length", "sepal width", "petal length", "petal width", "species"])
        for x, t in zip(iris.data, iris.target, strict=True):
            w.writerow([*x, iris.target_names[t]])
    return path


@pytest.fixture(scope="module")
def diabetes_csv(tmp_path_factory):
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    path = tmp_path_factory.mktemp("csv") / "diabetes.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*d.feature_names, "progression"])
        for x, t in zip(d.data, d.target, strict=True):
            w.writerow([*x, f"{t:.1f}"])
    return path


# --- start-up and help -----------------------------------------------------------------------


def test_help_lists_every_command():
    done = run("--help")
    assert done.returncode == 0 and done.stderr == ""
    for command in ("train", "evaluate", "predict", "gradcheck", "diagnose", "info", "demo"):
        assert re.search(rf"^\s+{command}\s", done.stdout, re.M), command
    assert "exit status" in done.stdout


def test_console_script_runs():
    script = Path(sys.executable).with_name("nablanet")
    if not script.exists():
        pytest.skip("the console script is not installed next to this interpreter")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"nablanet {nablanet.__version__}"


def test_parsing_imports_nothing_heavy():
    # `nablanet --help` must start at once: numpy, scipy, scikit-learn and matplotlib
    # load only inside the commands.
    code = (
        "import sys, nablanet.cli as c; p = c.build_parser(); "
        "p.parse_args(['train', '--layers', '256,128', '--data', 'fashion-mnist']); "
        "print(sorted(m for m in ('numpy', 'scipy', 'sklearn', 'matplotlib', 'tqdm') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_command_module_registers_in_one_line(capsys):
    # the contract other packages' command modules follow: add_parser(subparsers) may add
    # one subcommand or several; run(args) -> int runs whichever was chosen
    import types

    from nablanet.cli import COMMANDS, build_parser
    from nablanet.cli.main import _run

    def add_parser(subparsers):
        for name in ("hello", "bye"):
            p = subparsers.add_parser(name, help=f"say {name}")
            p.add_argument("--times", type=int, default=1)

    def run_(args):
        print(" ".join([args.command] * args.times))
        return 3

    module = types.SimpleNamespace(add_parser=add_parser, run=run_)
    parser = build_parser([*COMMANDS, module])
    assert _run(parser.parse_args(["bye", "--times", "2"])) == 3
    assert capsys.readouterr().out == "bye bye\n"
    assert _run(parser.parse_args(["hello"])) == 3
    assert "train" in parser.format_help() and "hello" in parser.format_help()
    # functions named otherwise: a Command pair
    from nablanet.cli import Command

    parser = build_parser([Command(add_parser, run_)])
    assert _run(parser.parse_args(["hello", "--times", "3"])) == 3
    assert capsys.readouterr().out.count("hello") == 4  # 1 above, 3 here


def test_each_command_has_help(capsys):
    for command, flag in [("train", "--layers"), ("evaluate", "--json"),
                          ("predict", "--proba"), ("gradcheck", "--tol"),
                          ("diagnose", "--samples"), ("info", "--json"), ("demo", "--report")]:
        code, out, _ = cli(capsys, command, "--help")
        assert code == 0 and out.startswith(f"usage: nablanet {command}")
        assert flag in out
        assert ("--data SOURCE" in out) == (command not in ("info", "demo"))


# --- train -----------------------------------------------------------------------------------


def test_train_digits_saves_a_model_that_scores_as_printed(tmp_path, capsys, digits):
    model = tmp_path / "m.npz"
    code, out, err = cli(capsys, "train", "--layers", "32", "--epochs", "12",
                         "--learning-rate", "0.01", "--out", model)
    assert code == 0
    accuracy = printed_float(r"^test accuracy: ([0-9.]+) \(450 samples\)$",
                             _line(out, "test accuracy"))
    assert f"model written to {model}" in out
    est = nablanet.load(model)
    assert type(est).__name__ == "MLPClassifier" and est.n_features_in_ == 64
    assert est.net_.layer_sizes == (64, 32, 10)
    assert accuracy == pytest.approx(np.mean(est.predict(digits.X_test) == digits.y_test),
                                     abs=5e-5)
    assert accuracy > 0.8
    # not a terminal: one log line per epoch on standard error, none on standard output
    assert len(re.findall(r"^run 1  epoch \d+  loss ", err, re.M)) == 12
    assert "epoch" not in out


def _line(text, start):
    for line in text.splitlines():
        if line.startswith(start):
            return line
    raise AssertionError(f"no line starting {start!r} in:\n{text}")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_train_shows_a_progress_bar_on_a_terminal(tmp_path):
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    # a terminal 100 columns wide (a new pseudo-terminal has no size, and tqdm fits its bar
    # to the width)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nablanet.cli", "train", "--layers", "8", "--epochs", "3"],
        stdout=subprocess.PIPE, stderr=slave, cwd=tmp_path,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closed: the process is done with it
            break
        if not chunk:
            break
        chunks.append(chunk)
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0
    assert "3/3" in terminal and "epoch" in terminal and "loss=" in terminal  # tqdm's bar
    assert "run 1  epoch 1" not in terminal  # no log lines on a terminal
    assert out.decode().startswith("test accuracy: ")


def test_train_quiet_prints_only_results_and_warnings(capsys):
    code, out, err = cli(capsys, "train", "--layers", "8", "--epochs", "2", "-q")
    assert code == 0
    assert out.startswith("test accuracy: ")
    # no progress, no notes; a warning that the run stopped unconverged is still said
    assert [line for line in err.splitlines() if "warning:" not in line] == []


def test_train_report_has_real_pictures(tmp_path, capsys):
    report = tmp_path / "report"
    code, out, _ = cli(capsys, "train", "--layers", "25", "--epochs", "15", "--restarts", "2",
                       "--report", report, "-q")
    assert code == 0
    assert f"report written to {report / 'report.html'}" in out
    page = (report / "report.html").read_text(encoding="utf-8")
    assert page.count('<img src="data:image/png;base64,') == 3
    assert "<script" not in page and "https://" not in page and "http://" not in page
    for name in ("training_curves.png", "weights.png", "confusion_matrix.png"):
        check_png(report / name)
    # the settings, the gradient check and the diagnostics are in the page
    assert "hidden_layer_sizes" in page and "restarts" in page
    assert re.search(r"Gradient check.*PASSED", page, re.S)
    assert "on the trained network (64-25-10)" in page
    assert "null" not in page and "softmax (default)" in page  # resolved, not JSON's null
    assert "for each of the 2 random initialisations" in page
    assert "Diagnostics" in page and "mean|δ|" in page
    # weight filters: 25 units tiled 5 x 5 into the picture
    weights = check_png(report / "weights.png")
    assert weights.shape[0] > 200


def test_train_batch_gradient_descent(tmp_path, capsys):
    model = tmp_path / "gd.npz"
    code, out, _ = cli(capsys, "train", "--optimizer", "gd", "--activation", "sigmoid",
                       "--layers", "25", "--learning-rate", "2", "--epochs", "40",
                       "--validation-fraction", "0", "--out", model, "-q")
    assert code == 0
    est = nablanet.load(model)
    # MATH.md §5: every sample in every step, no momentum
    assert est.solver == "sgd" and est.momentum == 0.0 and est.batch_size == 1347
    assert est.n_iter_ == 40 and est.loss_curve_[-1] < 0.5 * est.loss_curve_[0]


def test_train_early_stopping_stops(tmp_path, capsys):
    model = tmp_path / "es.npz"
    code, _, _ = cli(capsys, "train", "--layers", "32", "--epochs", "300", "--early-stopping",
                     "--patience", "3", "--learning-rate", "0.01", "--out", model, "-q")
    assert code == 0
    est = nablanet.load(model)
    assert est.early_stopping and est.n_iter_no_change == 3
    assert est.n_iter_ < 300


def test_train_dropout_restarts_and_per_layer_activations(tmp_path, capsys):
    model = tmp_path / "m.npz"
    code, out, _ = cli(capsys, "train", "--layers", "20,12", "--activation", "tanh,relu",
                       "--dropout", "0.2", "--restarts", "2", "--epochs", "4", "--dtype",
                       "float32", "--validation-fraction", "0.2", "--out", model, "-q")
    assert code == 0, out
    est = nablanet.load(model)
    assert est.dropout == 0.2 and est.restarts == 2 and est.validation_fraction == 0.2
    assert [a.name for a in est.net_.activations] == ["tanh", "relu", "softmax"]
    assert est.net_.dtype == np.float32


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


# --- evaluate, predict ---------------------------------------------------------------------


def test_evaluate_text(digits_model, capsys, digits):
    code, out, err = cli(capsys, "evaluate", digits_model)
    assert code == 0 and err == ""
    est = nablanet.load(digits_model)
    expected = np.mean(est.predict(digits.X_test) == digits.y_test)
    assert printed_float(r"^accuracy ([0-9.]+)", out.splitlines()[1]) == pytest.approx(
        expected, abs=5e-5)
    for digit in range(10):
        assert re.search(rf"^{digit}\s+[01]\.\d{{4}}\s+[01]\.\d{{4}}\s+[01]\.\d{{4}}\s+\d+$",
                         out, re.M)
    assert "confusion matrix" in out


def test_evaluate_json(digits_model, capsys, digits):
    code, out, _ = cli(capsys, "evaluate", digits_model, "--json")
    assert code == 0
    result = json.loads(out)
    assert 0.0 <= result["accuracy"] <= 1.0
    est = nablanet.load(digits_model)
    pred = est.predict(digits.X_test)
    assert result["accuracy"] == pytest.approx(np.mean(pred == digits.y_test))
    cm = np.array(result["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 450
    assert np.trace(cm) == np.sum(pred == digits.y_test)
    assert [c["support"] for c in result["per_class"]] == np.bincount(digits.y_test).tolist()


def test_predict_to_stdout_with_probabilities(digits_model, capsys, digits):
    code, out, _ = cli(capsys, "predict", digits_model, "--proba")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["prediction", *[f"p({d})" for d in range(10)]]
    assert len(rows) == 1 + 450
    est = nablanet.load(digits_model)
    assert [r[0] for r in rows[1:]] == [str(p) for p in est.predict(digits.X_test)]
    P = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(P.argmax(axis=1).astype(str), [r[0] for r in rows[1:]])


def test_predict_to_a_file(digits_model, tmp_path, capsys):
    out_file = tmp_path / "preds.csv"
    code, out, err = cli(capsys, "predict", digits_model, "--out", out_file)
    assert code == 0 and out == ""
    assert f"wrote 450 predictions to {out_file}" in err
    lines = out_file.read_text().splitlines()
    assert lines[0] == "prediction" and len(lines) == 451
    code, stdout, _ = cli(capsys, "predict", digits_model)
    assert stdout.splitlines() == lines


def test_predict_output_pipes(digits_model):
    done = subprocess.run(
        f'"{sys.executable}" -m nablanet.cli predict "{digits_model}" | head -n 3',
        shell=True, capture_output=True, text=True, timeout=120,
    )
    assert done.stdout.splitlines()[0] == "prediction" and len(done.stdout.splitlines()) == 3
    assert "Traceback" not in done.stderr and "Broken pipe" not in done.stderr


# --- gradcheck ---------------------------------------------------------------------------------


def test_gradcheck_random_network_passes(capsys):
    code, out, _ = cli(capsys, "gradcheck", "--inputs", "4", "--layers", "5", "--outputs",
                       "3", "--output", "softmax", "--loss", "squared_error")
    assert code == 0
    assert "Network(4-5-3" in out and "gradient check PASSED" in out
    assert printed_float(r"relative difference ([0-9.e+-]+)", out) < 1e-7
    assert "43 of 43 coordinates" in out


@pytest.mark.parametrize("activation,output", [("tanh,relu", "tanh"), ("sigmoid", "identity")])
def test_gradcheck_other_networks(capsys, activation, output):
    code, out, _ = cli(capsys, "gradcheck", "--inputs", "3", "--layers", "6,4", "--outputs", "2",
                       "--activation", activation,
                       "--output", output, "--samples", "7", "--weight-decay", "0.01")
    assert code == 0, out
    assert "PASSED" in out


def test_gradcheck_fails_with_an_impossible_tolerance(capsys):
    code, out, err = cli(capsys, "gradcheck", "--tol", "1e-30")
    assert code == 1
    assert "gradient check FAILED" in out
    assert_one_line_error(err, "gradient check failed", "1e-30")


def test_gradcheck_saved_model(digits_model, capsys):
    code, out, _ = cli(capsys, "gradcheck", digits_model, "--samples", "5", "--n-coords", "60")
    assert code == 0
    assert "PASSED" in out and "60 of 2410 coordinates" in out and "on 5 samples" in out


def test_gradcheck_flags_of_a_random_network_refused_with_a_model(digits_model, capsys):
    code, _, err = cli(capsys, "gradcheck", digits_model, "--layers", "5")
    assert code == 2
    assert_one_line_error(err, "--layers")


# --- diagnose, info --------------------------------------------------------------------------


def test_diagnose_text_and_json(digits_model, capsys):
    code, out, _ = cli(capsys, "diagnose", digits_model, "--samples", "200")
    assert code == 0
    assert "saturated" in out and "dead" in out and "on 200 samples" in out
    assert re.search(r"^\s+1 hidden relu\s+32 ", out, re.M)
    assert re.search(r"^\s+2 output softmax\s+10 ", out, re.M)
    code, out, _ = cli(capsys, "diagnose", digits_model, "--json")
    result = json.loads(out)
    assert [d["units"] for d in result["layers"]] == [32, 10]
    assert result["samples"] == 450 and result["findings"]
    assert all(0 <= d["dead_fraction"] <= 1 for d in result["layers"])


def test_info_text_and_json(digits_model, capsys):
    code, out, _ = cli(capsys, "info", digits_model)
    assert code == 0
    n_params = 64 * 32 + 32 + 32 * 10 + 10
    assert f"parameters: {n_params} " in out
    assert "MLPClassifier" in out and "hidden 1" in out
    assert re.search(r"max_iter\s+15$", out, re.M)
    assert re.search(r"epochs run\s+15$", out, re.M)
    code, out, _ = cli(capsys, "info", digits_model, "--json")
    info = json.loads(out)
    assert info["layer_sizes"] == [64, 32, 10] and info["n_params"] == n_params
    assert info["settings"]["hidden_layer_sizes"] == [32]
    assert info["history"]["epochs"] == 15
    assert info["history"]["final_loss"] < info["history"]["first_loss"]
    # no validation part and no early stopping unless asked for
    assert info["settings"]["early_stopping"] is False
    assert info["history"]["best_validation_score"] is None


# --- CSV files ---------------------------------------------------------------------------------


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
    features.write_text("a,b,c,d\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
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
    assert_one_line_error(err, "row 4", "'sepal width' (index 1)", "'n/a'")
    # a missing value too
    lines[3] = "5.1,,1.4,0.2,setosa"
    bad.write_text("\n".join(lines) + "\n")
    code, _, err = cli(capsys, "train", "--data", bad, "--target", "species")
    assert code == 1
    assert_one_line_error(err, "row 4", "missing value")


def test_csv_features_only_text_cell(iris_csv, tmp_path, capsys):
    model = tmp_path / "iris.npz"
    assert cli(capsys, "train", "--data", iris_csv, "--epochs", "3", "--out", model, "-q")[0] == 0
    bad = tmp_path / "x.csv"
    bad.write_text("a,b,c,d\n5.1,3.5,1.4,0.2\n6.7,oops,5.2,2.3\n")
    code, _, err = cli(capsys, "predict", model, "--data", bad)
    assert code == 1
    assert_one_line_error(err, f"{bad}: row 3, column 'b' (index 1)", "'oops'")
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
    assert type(nablanet.load(model)).__name__ == "MLPRegressor"
    code, out, _ = cli(capsys, "evaluate", model, "--data", diabetes_csv, "--json")
    result = json.loads(out)
    assert code == 0 and set(result) >= {"r2", "mae", "rmse"} and "accuracy" not in result
    code, out, _ = cli(capsys, "predict", model, "--data", diabetes_csv)
    assert code == 0 and out.splitlines()[0] == "prediction" and len(out.splitlines()) == 443


@pytest.fixture(scope="module")
def diabetes_whole_numbers_csv(tmp_path_factory):
    """Diabetes as %.6g writes it: the target holds whole numbers (151, 75, ...)."""
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    path = tmp_path_factory.mktemp("csv") / "diabetes6g.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*d.feature_names, "progression"])
        for x, t in zip(d.data, d.target, strict=True):
            w.writerow([*(f"{v:.6g}" for v in x), f"{t:.6g}"])
    return path


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


def test_standardised_regression_model_predicts_in_target_units(diabetes_csv, tmp_path,
                                                                capsys):
    model = tmp_path / "d.npz"
    code, _, _ = cli(capsys, "train", "--data", diabetes_csv, "--test-fraction", "0",
                     "--epochs", "30", "--out", model, "-q")
    assert code == 0
    est = nablanet.load(model)
    rows = np.loadtxt(diabetes_csv, delimiter=",", skiprows=1)
    pred = est.predict(rows[:, :-1])
    # in the target's units (mean ~152), and scored there
    assert abs(pred.mean() - rows[:, -1].mean()) < 20
    assert est.score(rows[:, :-1], rows[:, -1]) > 0.3


def test_iris_with_default_flags_reaches_the_library_estimator(iris_csv, capsys):
    # was 0.76: a 12-row validation part reached accuracy 1.0 early and kept that epoch
    import warnings

    from nablanet import MLPClassifier
    from nablanet.datasets import read_csv, stratified_split

    X, y, _ = read_csv(iris_csv, target="species")
    X_train, X_test, y_train, y_test = stratified_split(X, y, test_size=0.25, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        library = MLPClassifier(random_state=0).fit(X_train, y_train).score(X_test, y_test)
    code, out, _ = cli(capsys, "train", "--data", iris_csv, "-q")
    assert code == 0
    assert printed_float(r"test accuracy: ([0-9.]+) \(38 samples\)", out) >= library


def test_training_that_stops_unconverged_says_so(capsys):
    code, _, err = cli(capsys, "train", "--layers", "8", "--epochs", "3")
    assert code == 0
    assert ("nablanet: warning: training stopped at the limit of 3 epochs before the loss "
            "converged; give more --epochs") in err


def test_diverging_training_with_out_says_nothing_was_written(diabetes_csv, tmp_path, capsys):
    model = tmp_path / "m.npz"
    code, _, err = cli(capsys, "train", "--data", diabetes_csv, "--optimizer", "sgd",
                       "--learning-rate", "1e5", "--epochs", "40", "--out", model, "-q")
    assert code == 1 and not model.exists()
    assert_one_line_error(err, "diverged", f"nothing was written to {model}")


# --- mistakes: one line, the right exit status, never a traceback --------------------------


def test_mistakes_in_a_real_process(tmp_path, iris_csv):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).bytes(2000))
    text_cell = tmp_path / "text.csv"
    text_cell.write_text("x,y,label\n1,2,a\n3,hello,b\n5,6,a\n7,8,b\n")
    cases = [
        (["evaluate", tmp_path / "missing.npz"], 1, ["No such file", "missing.npz"]),
        (["info", junk], 1, ["not a nablanet model file"]),
        (["train", "--data", text_cell], 1, ["row 3", "column 'y' (index 1)", "'hello'"]),
        (["train", "--activation", "bogus", "--epochs", "1"], 1,
         ["unknown activation 'bogus'", "relu", "tanh", "sigmoid"]),
        (["train", "--data", tmp_path / "nothere.csv"], 1, ["No such file", "nothere.csv"]),
    ]
    for args, status, fragments in cases:
        done = run(*args, cwd=tmp_path)
        assert done.returncode == status, (args, done.stderr)
        assert_one_line_error(done.stderr, *fragments)
    for args, fragments in [(["frobnicate"], ["invalid choice", "frobnicate"]),
                            (["train", "--no-such-flag"], ["--no-such-flag"]),
                            (["train", "--layers", "3,x"], ["--layers"]),
                            ([], ["COMMAND"])]:
        done = run(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == ""
        assert_one_line_error(done.stderr, *fragments)  # no usage block above it


def test_diverging_training_is_one_line(diabetes_csv, tmp_path):
    done = run("train", "--data", diabetes_csv, "--optimizer", "sgd", "--learning-rate", "1e5",
               "--epochs", "40", "-q", cwd=tmp_path)
    assert done.returncode == 1
    assert_one_line_error(done.stderr, "diverged", "smaller learning rate")


@pytest.mark.xfail(reason="needs the library's guard against a cost that explodes while "
                   "staying finite (issue 10 item 5, the core helper's part)", strict=False)
def test_runaway_learning_rate_exits_non_zero(capsys):
    # the cost reaches ~1e17 and stays finite; accuracy 0.10 used to exit 0
    code, _, err = cli(capsys, "train", "--optimizer", "sgd", "--learning-rate", "1000",
                       "--epochs", "20", "-q")
    assert code == 1
    assert_one_line_error(err, "diverged")


@pytest.mark.parametrize(
    "args,status,fragments",
    [
        (["train", "--output", "bogus", "--epochs", "1"], 1, ["unknown activation 'bogus'"]),
        (["train", "--loss", "bogus", "--epochs", "1"], 1, ["unknown loss 'bogus'", "valid"]),
        (["train", "--task", "regress"], 2, ["--task regress"]),
        (["train", "--early-stopping", "--validation-fraction", "0"], 2, ["--early-stopping"]),
        (["train", "--data", "no-such-folder"], 1, ["data source 'no-such-folder' not found"]),
        (["train", "--epochs", "0"], 2, ["--epochs"]),
        (["gradcheck", "--layers", "0"], 2, ["--layers", "integers >= 1"]),
        (["train", "--optimizer", "gd", "--batch-size", "32"], 2, ["--batch-size"]),
        (["train", "--layers", "5,5", "--activation", "relu,tanh,relu"], 2,
         ["3 names for 2 hidden layers"]),
    ],
)
def test_mistakes_in_process(capsys, args, status, fragments):
    code, out, err = cli(capsys, *args)
    assert code == status
    assert_one_line_error(err, *fragments)
    if status == 2:  # a usage error points to the command's help
        assert err.rstrip().endswith(f"; see 'nablanet {args[0]} --help'")


@pytest.mark.parametrize("args", [["train", "--layers", "abc"], ["train", "--epochs", "0"],
                                  ["train", "--no-such-flag"], ["gradcheck", "--tol", "x"]])
def test_usage_errors_are_one_line_pointing_to_help(capsys, args):
    code, out, err = cli(capsys, *args)
    assert code == 2 and out == ""
    assert_one_line_error(err, args[1])
    assert err.rstrip().endswith(f"; see 'nablanet {args[0]} --help'")


def test_number_flags_refuse_in_one_wording(capsys):
    # was "must be a finite number >= 0" for -0.1 and "must be greater than 0" for 0
    for value in ("-0.1", "0", "inf", "nan", "x"):
        code, _, err = cli(capsys, "train", "--learning-rate", value)
        assert code == 2
        assert_one_line_error(err, f"--learning-rate: must be a number in (0, inf), got {value}")
    code, _, err = cli(capsys, "train", "--validation-fraction", "1")
    assert_one_line_error(err, "must be a number in [0, 1), got 1")
    code, _, err = cli(capsys, "train", "--epochs", "2.5")
    assert_one_line_error(err, "--epochs: must be an integer >= 1, got 2.5")


def test_gradcheck_layers_are_the_hidden_layers_as_in_train(capsys):
    # was: every layer, so --layers 256,128 checked a network without a hidden layer
    code, out, _ = cli(capsys, "gradcheck", "--layers", "6,4", "--n-coords", "50")
    assert code == 0
    assert "Network(4-6-4-3," in out
    code, out, _ = cli(capsys, "gradcheck", "--layers", "none", "--inputs", "2", "--outputs",
                       "2")
    assert code == 0 and "Network(2-2," in out


def test_help_shows_no_empty_defaults(capsys):
    for command in ("train", "evaluate", "predict", "gradcheck", "diagnose", "info", "demo"):
        _, out, _ = cli(capsys, command, "--help")
        text = " ".join(out.split())
        assert "(default: None)" not in text and "(default: False)" not in text, command
        assert "MATH.md" not in text  # the project's own docs, not a developer's file
    _, out, _ = cli(capsys, "train", "--help")
    text = " ".join(out.split())
    assert "(default: 0.001 for adam, 0.01 for sgd, 0.5 for gd)" in text
    assert "(default: 100)" in text  # a plain default is still shown


def test_output_folder_is_checked_before_training(tmp_path, capsys):
    code, out, err = cli(capsys, "train", "--epochs", "500", "--out", tmp_path / "no" / "m.npz")
    assert code == 1 and out == ""
    assert_one_line_error(err, "does not exist")
    assert "epoch" not in err  # refused before any training


def _unwritable_folder(tmp_path):
    """A folder no file can be created in: read-only for a user, /proc for root."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc (running as root, file permissions do not refuse writes)")
    return Path("/proc")


def test_unwritable_output_folder_is_refused_before_training(tmp_path, capsys):
    folder = _unwritable_folder(tmp_path)
    code, out, err = cli(capsys, "train", "--epochs", "500", "--out", folder / "m.npz")
    assert code == 1 and out == ""
    assert_one_line_error(err, f"--out {folder / 'm.npz'}", f"cannot write into the folder "
                          f"{folder}")
    assert "epoch" not in err  # refused before any training


def test_output_that_is_an_input_is_refused_before_any_work(iris_csv, digits_model, tmp_path,
                                                            capsys):
    data = tmp_path / "in.csv"
    data.write_bytes(iris_csv.read_bytes())
    code, out, err = cli(capsys, "train", "--data", data, "--out", data, "--epochs", "500")
    assert code == 2 and out == ""
    assert_one_line_error(err, f"--out {data} is also an input")
    assert "epoch" not in err and data.read_bytes() == iris_csv.read_bytes()
    # through another spelling of the same path, and for predict's model and data
    model = tmp_path / "m.npz"
    model.write_bytes(digits_model.read_bytes())
    for args in (["predict", model, "--out", tmp_path / "." / "m.npz"],
                 ["predict", model, "--data", data, "--out", data]):
        code, out, err = cli(capsys, *args)
        assert code == 2 and out == ""
        assert_one_line_error(err, "is also an input")
    assert model.read_bytes() == digits_model.read_bytes()
    assert data.read_bytes() == iris_csv.read_bytes()


def test_predict_writes_its_file_atomically(digits_model, tmp_path, capsys):
    # an atomic write replaces the file by a rename: a second link to the old file keeps
    # the old content, where writing in place would change it under every link
    out_file = tmp_path / "preds.csv"
    out_file.write_text("old\n")
    os.link(out_file, tmp_path / "old.csv")
    code, _, _ = cli(capsys, "predict", digits_model, "--out", out_file)
    assert code == 0
    assert (tmp_path / "old.csv").read_text() == "old\n"
    assert out_file.read_text().splitlines()[0] == "prediction"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_model_commands_refuse_wrong_data_and_models(digits_model, iris_csv, tmp_path, capsys):
    code, _, err = cli(capsys, "evaluate", digits_model, "--data", iris_csv)
    assert code == 1
    assert_one_line_error(err, "4 feature columns", "expects 64")
    net_file = tmp_path / "net.npz"
    nablanet.Network([3, 2, 1]).save(net_file)
    code, _, err = cli(capsys, "evaluate", net_file)
    assert code == 1
    assert_one_line_error(err, "bare Network")
    code, out, _ = cli(capsys, "info", net_file)  # info describes any model file
    assert code == 0 and "Network" in out and "parameters: 11 " in out


def test_debug_shows_the_traceback(tmp_path):
    done = run("--debug", "evaluate", tmp_path / "missing.npz")
    assert done.returncode == 1 and "Traceback" in done.stderr


# --- demo --------------------------------------------------------------------------------------


def test_demo_runs_offline_and_writes_the_report(tmp_path, capsys):
    code, out, _ = cli(capsys, "demo", "--epochs", "8", "--report", tmp_path / "rep", "-q")
    assert code == 0
    assert "gradient check PASSED" in out
    assert "64-25-10" in out and "relative difference" in out
    assert "freshly initialised 64-25-10 network" in out and "not the network trained" in out
    page = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "on the trained network (64-64-10)" in page
    assert "for each of the 2 random initialisations" in page
    assert printed_float(r"test accuracy ([0-9.]+);", out) > 0.5
    assert "confusion matrix" in out and "saturated" in out
    assert (tmp_path / "rep" / "report.html").exists()
    for name in ("training_curves.png", "weights.png", "confusion_matrix.png"):
        check_png(tmp_path / "rep" / name)


# --- the acceptance run on Fashion-MNIST (minutes; opt in) -------------------------------------


@pytest.mark.skipif(os.environ.get("NABLANET_SLOW") != "1",
                    reason="set NABLANET_SLOW=1 to train on Fashion-MNIST (30 s to minutes)")
def test_fashion_mnist_reaches_089(tmp_path, capsys):
    from nablanet.datasets import load_fashion_mnist

    try:
        load_fashion_mnist()
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (make fashion-mnist)")
    code, out, _ = cli(capsys, "train", "--data", "fashion-mnist", "--layers", "256,128",
                       "--epochs", "20", "--report", tmp_path / "rep", "-q")
    assert code == 0
    assert printed_float(r"test accuracy: ([0-9.]+) \(10000 samples\)", out) >= 0.89
    weights = check_png(tmp_path / "rep" / "weights.png")
    assert weights.shape[0] > 400  # 256 filters of 28x28 pixels
    check_png(tmp_path / "rep" / "training_curves.png")
