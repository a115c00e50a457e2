"""The autoencoder command, called through a small argparse parser."""

import argparse

import pytest

from nablanet import load
from nablanet.cli import autoencoder as autoencoder_command
from nablanet.cli.main import main


def run(argv):
    parser = argparse.ArgumentParser(prog="nablanet")
    sub = parser.add_subparsers(dest="command", required=True)
    autoencoder_command.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_trains_checks_and_writes_report_and_model(tmp_path, capsys):
    status = run(["autoencoder", "--n-patches", "300", "--hidden", "4", "--max-iter", "5",
                  "--report", str(tmp_path / "rep"), "--save", str(tmp_path / "ae.npz")])
    out = capsys.readouterr().out
    assert status == 0
    assert "gradient check (10 rows, ε = 1e-4): relative difference" in out and "passed" in out
    assert "trained 5 L-BFGS iterations" in out
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "First-layer weights" in html and "Gradient check" in html
    assert (tmp_path / "rep" / "weights.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load(tmp_path / "ae.npz")
    assert model.components_.shape == (4, 64)


def test_digits_source(capsys):
    assert run(["autoencoder", "--data", "digits", "--hidden", "3", "--max-iter", "2"]) == 0
    assert "1797 scikit-learn's 8×8 digits" in capsys.readouterr().out


def test_unknown_source_is_a_usage_error():
    with pytest.raises(SystemExit, match="^2$") as exc:
        run(["autoencoder", "--data", "mnist"])
    assert exc.value.code == 2


def test_wired_into_the_nablanet_command(capsys):
    assert main(["autoencoder", "--data", "digits", "--hidden", "3", "--max-iter", "1"]) == 0
    assert "trained 1 L-BFGS iterations" in capsys.readouterr().out
    assert main(["autoencoder", "--sparsity-target", "1.5"]) == 2
