"""The commands that read a saved model: evaluate, predict, gradcheck, diagnose, info."""

import csv
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from _cli_helpers import (
    assert_one_line_error,
    cli,
    printed_float,
)

import nablanet


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


def test_gradcheck_layers_are_the_hidden_layers_as_in_train(capsys):
    # was: every layer, so --layers 256,128 checked a network without a hidden layer
    code, out, _ = cli(capsys, "gradcheck", "--layers", "6,4", "--n-coords", "50")
    assert code == 0
    assert "Network(4-6-4-3," in out
    code, out, _ = cli(capsys, "gradcheck", "--layers", "none", "--inputs", "2", "--outputs",
                       "2")
    assert code == 0 and "Network(2-2," in out


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
