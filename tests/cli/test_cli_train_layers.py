"""``nablanet train --layers`` with convolution layers (nablanet/cli/_layers.py): the
grammar's refusals, and a convolutional network trained, saved and reported end to end
on the digits (8×8 images)."""

import re

import numpy as np
import pytest
from _cli_helpers import _line, assert_one_line_error, check_png, cli, printed_float

import nablanet


def test_train_a_conv_net_on_the_digits_end_to_end(tmp_path, capsys, digits):
    model, report = tmp_path / "conv.nbn", tmp_path / "report"
    code, out, err = cli(capsys, "train", "--layers", "conv8x3,maxpool2,64", "--epochs", "20",
                         "--learning-rate", "0.01", "--out", model, "--report", report)
    assert code == 0
    accuracy = printed_float(r"^test accuracy: ([0-9.]+) \(450 samples\)$",
                             _line(out, "test accuracy"))
    est = nablanet.load(model)
    assert type(est).__name__ == "ConvNetClassifier" and est.input_shape_ == (1, 8, 8)
    assert est.get_params()["layers"] == ["conv8x3", "maxpool2", "64"]
    assert accuracy == pytest.approx(np.mean(est.predict(digits.X_test) == digits.y_test),
                                     abs=5e-5)
    assert accuracy >= 0.95  # measured 0.960 with the default seed
    assert re.search(r"hidden 1 +8x6x6 +relu +80", err)  # the summary: maps per layer
    page = (report / "report.html").read_text(encoding="utf-8")
    assert "First-layer filters" in page and "ConvNetClassifier on digits" in page
    filters = check_png(report / "filters.png")
    assert filters.shape[0] > 100
    assert "conv8x3" in page  # the settings table


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--layers", "conv20,100"], ["argument --layers: layer 1 ('conv20') is not a layer",
                                      "conv<filters>x<size>, e.g. conv20x5"]),
        (["--layers", "conv8x3,maxpool"], ["layer 2 ('maxpool') is not a layer"]),
        (["--layers", "conv8x3:tanh:relu"], ["one activation per layer"]),
        (["--layers", "conv8x3", "--task", "regress"], ["convolutional --layers build a "
                                                        "classifier"]),
        (["--layers", "conv8x3,10", "--activation", "tanh,relu"],
         ["--activation takes one name with convolutional --layers"]),
        (["--layers", "100:tanh"], ["activations per layer (100:tanh) are for convolutional"]),
        (["--layers", "100", "--input-shape", "1,8,8"], ["--input-shape is for convolutional"]),
        (["--layers", "conv8x3", "--input-shape", "1,8"], ["'1,8' is not C,H,W"]),
        (["--layers", "conv8x3", "--workers", "2"], ["--workers/--cluster train fully "
                                                     "connected networks only"]),
    ],
)
def test_bad_layers_are_refused_before_any_work(capsys, args, fragments):
    code, out, err = cli(capsys, "train", *args)
    assert code == 2 and out == ""
    assert_one_line_error(err, *fragments)


def test_a_csv_file_needs_an_input_shape(capsys, iris_csv):
    code, _, err = cli(capsys, "train", "--data", iris_csv, "--layers", "conv2x1,4")
    assert code == 2
    assert_one_line_error(err, "holds rows, not images", "--input-shape C,H,W")
    code, out, _ = cli(capsys, "train", "--data", iris_csv, "--layers", "conv3x1x2,4",
                       "--input-shape", "1,2,2", "--epochs", "30", "--learning-rate", "0.05",
                       "-q")
    assert code == 0 and printed_float(r"test accuracy: ([0-9.]+)", out) > 0.6
    code, _, err = cli(capsys, "train", "--data", iris_csv, "--layers", "conv2x1,4",
                       "--input-shape", "1,3,3", "-q")
    assert code == 1
    assert "input_shape=(1, 3, 3) holds 9 values per example, but X has 4 features" in err
