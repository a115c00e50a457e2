"""What a model file written by `nablanet train` remembers: class names, and (asked for) its
training rows as keyed hashes."""

import numpy as np
import pytest
from _cli_helpers import cli

import nablanet
from nablanet.cli._fingerprint import (
    KEY_ENV,
    SAMPLE_ROWS,
    fingerprint,
    row_hashes,
    training_rows_among,
)
from nablanet.data import load_digits
from nablanet.io import ModelFileError, read_metadata


@pytest.fixture(scope="module", autouse=True)
def row_key(tmp_path_factory):
    """This module's own key file: the user's configuration folder is never touched."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("key") / "row-key"
        mp.setenv(KEY_ENV, str(path))
        yield path


@pytest.fixture(scope="module")
def model(tmp_path_factory, row_key):
    path = tmp_path_factory.mktemp("meta") / "m.npz"
    assert nablanet.cli.main(["train", "--epochs", "5", "--out", str(path), "-q",
                              "--remember-training-rows"]) == 0
    return path


def test_info_names_the_classes_and_the_data(model, capsys):
    code, out, _ = cli(capsys, "info", model)
    assert code == 0
    assert "trained on: digits" in out
    assert "classes: 0, 1, 2" in out  # digits' names are the digits themselves


def test_evaluate_says_when_it_scores_training_rows(model, tmp_path, capsys):
    data = load_digits()
    held_out = tmp_path / "test.csv"
    np.savetxt(held_out, np.column_stack([data.X_test, data.y_test]), delimiter=",",
               fmt="%.17g")
    code, _, err = cli(capsys, "evaluate", model, "--data", held_out)
    assert code == 0 and "training rows" not in err
    reused = tmp_path / "train.csv"
    np.savetxt(reused, np.column_stack([data.X_train[:100], data.y_train[:100]]),
               delimiter=",", fmt="%.17g")
    code, _, err = cli(capsys, "evaluate", model, "--data", reused)
    assert code == 0
    assert "include the model's training rows (100 of the" in err


def test_metadata_is_sealed_like_the_model(model, tmp_path):
    meta = read_metadata(model)
    assert meta["training_rows"]["rows"] == 1347 and "class_names" in meta
    raw = model.read_bytes()
    edited = tmp_path / "edited.npz"
    for where in np.random.default_rng(0).choice(len(raw), 20, replace=False):
        changed = bytearray(raw)
        changed[where] ^= 0x20
        edited.write_bytes(bytes(changed))
        with pytest.raises(ModelFileError, match="edited.npz: the file was altered or corrupted"):
            read_metadata(edited)


def test_fingerprint_samples_and_matches_exact_rows(row_key):
    from nablanet.cli._fingerprint import create_key

    key = create_key()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(SAMPLE_ROWS + 500, 3))
    entry = fingerprint(X, seed=0, key=key)
    assert entry["sampled"] == SAMPLE_ROWS and entry["rows"] == X.shape[0]
    matches, sampled, total = training_rows_among(entry, X)
    assert matches == SAMPLE_ROWS and sampled == SAMPLE_ROWS and total == X.shape[0]
    assert training_rows_among(entry, X + 1e-12)[0] == 0  # another value, another row
    zero, minus_zero = np.array([[0.0, 1.0]]), np.array([[-0.0, 1.0]])
    assert row_hashes(zero, key)[0] == row_hashes(minus_zero, key)[0]
    assert training_rows_among({**entry, "hashes": "not base64!"}, X) is None


def test_regression_records_its_target_scaling(tmp_path, capsys):
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    data = tmp_path / "diabetes.csv"
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", fmt="%.6g")
    model = tmp_path / "d.npz"
    code, _, err = cli(capsys, "train", "--data", data, "--out", model, "--epochs", "20", "-q")
    assert code == 0, err
    scaling = read_metadata(model)["target_scaling"]
    y_train = nablanet.load(model)  # predicts in the target's units: the scaling is folded in
    assert scaling["mean"] == pytest.approx(y.mean(), rel=0.1)
    assert scaling["std"] == pytest.approx(y.std(), rel=0.1)
    assert abs(float(np.mean(y_train.predict(X))) - y.mean()) < 0.5 * y.std()
