"""Data and a model for the CLI tests, made once per session."""

import csv

import pytest

from nablanet.cli import main
from nablanet.data import load_digits


@pytest.fixture(scope="session")
def digits():
    return load_digits()


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory):
    """A small classifier trained on the digits by the command itself."""
    path = tmp_path_factory.mktemp("model") / "digits.npz"
    assert main(["train", "--layers", "32", "--epochs", "15", "--learning-rate", "0.01",
                 "--out", str(path), "-q"]) == 0
    return path


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
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
