"""``nablanet diagnose`` knows what ``train`` did to the targets (issue 20 §2)."""

import json

from _cli_helpers import cli
from sklearn.datasets import load_diabetes

import nablanet


def test_no_target_scaling_advice_for_a_model_trained_on_standardised_targets(
        diabetes_csv, tmp_path, capsys):
    # train standardises a regression target and folds that into the output layer: the
    # saved network predicts the raw progression (mean 152), as diagnose sees it
    model = tmp_path / "diabetes.npz"
    code, _, err = cli(capsys, "train", "--data", diabetes_csv, "--layers", "5", "--epochs",
                       "5", "--out", model, "-q")
    assert code == 0, err
    code, out, _ = cli(capsys, "diagnose", model, "--data", diabetes_csv, "--json")
    findings = " ".join(json.loads(out)["findings"])
    assert code == 0 and "targets" not in findings
    # the same network diagnosed without that knowledge would have been told to scale them
    # (the file is the pipeline of the command's preprocessing and the network)
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    pipeline = nablanet.load(model)
    told = pipeline[-1].diagnose(pipeline[:-1].transform(X), y.to_numpy(),
                                 targets_scaled=False)
    assert "standardise the targets" in " ".join(told.findings())
