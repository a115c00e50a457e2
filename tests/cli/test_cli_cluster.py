"""train, evaluate and predict with --workers: the work runs on a local Dask cluster."""

import numpy as np
import pytest
from _cli_helpers import assert_one_line_error, cli, printed_float
from sklearn.datasets import load_digits

import nablanet

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Digits as two .npy shards (features then the label) and a headerless features CSV."""
    folder = tmp_path_factory.mktemp("cluster")
    X, y = load_digits(return_X_y=True)
    table = np.column_stack([X / 16.0, y])
    (folder / "shards").mkdir()
    np.save(folder / "shards" / "a.npy", table[:900])
    np.save(folder / "shards" / "b.npy", table[900:])
    np.savetxt(folder / "features.csv", X[:30] / 16.0, delimiter=",")
    return folder


def test_train_evaluate_predict_on_workers(shards, capsys):
    model = shards / "m.npz"
    code, out, err = cli(capsys, "train", "--data", shards / "shards", "--workers", "1",
                         "--optimizer", "lbfgs", "--epochs", "60", "--task", "classify",
                         "--out", model)
    assert code == 0, err
    assert "read by the workers" in err
    assert "epoch 1  loss" in err  # a progress line per L-BFGS round
    assert printed_float(r"test accuracy: ([\d.]+)", out) > 0.9

    code, out, err = cli(capsys, "evaluate", model, "--data", shards / "shards", "--workers", "1")
    assert code == 0, err
    cluster_accuracy = printed_float(r"accuracy: ([\d.]+)", out)
    X, y = load_digits(return_X_y=True)
    assert cluster_accuracy == pytest.approx(nablanet.load(model).score(X / 16.0, y), abs=1e-4)

    code, out, err = cli(capsys, "predict", model, "--data", shards / "features.csv",
                         "--workers", "1")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "prediction" and len(lines) == 31  # the first row is data, not a header
    expected = nablanet.load(model).predict(X[:30] / 16.0)
    assert np.array_equal(np.array(lines[1:], dtype=float), expected)


def test_cluster_training_needs_lbfgs(capsys):
    code, _, err = cli(capsys, "train", "--workers", "1", "--optimizer", "adam")
    assert code == 2
    assert_one_line_error(err, "--optimizer lbfgs")
