"""The ``nablanet`` command as a whole (nablanet/cli/main.py, _common.py): the parser built
from the command modules, help, and mistakes as one line with the right exit status."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli_helpers import (
    assert_one_line_error,
    cli,
    run,
)

import nablanet


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


def test_help_shows_no_empty_defaults(capsys):
    for command in ("train", "evaluate", "predict", "gradcheck", "diagnose", "info", "demo"):
        _, out, _ = cli(capsys, command, "--help")
        text = " ".join(out.split())
        assert "(default: None)" not in text and "(default: False)" not in text, command
        assert "MATH.md" not in text  # the project's own docs, not a developer's file
    _, out, _ = cli(capsys, "train", "--help")
    text = " ".join(out.split())
    assert "(default: 0.001 for adam, 0.01 for sgd, 0.5 for gd)" in text
    assert "(default: 200)" in text  # a plain default is still shown


def test_mistakes_in_a_real_process(tmp_path, iris_csv):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).bytes(2000))
    text_cell = tmp_path / "text.csv"
    text_cell.write_text("x,y,label\n1,2,a\n3,,b\n5,6,a\n7,8,b\n")
    cases = [
        (["evaluate", tmp_path / "missing.npz"], 1, ["No such file", "missing.npz"]),
        (["info", junk], 1, ["not a nablanet model file"]),
        (["train", "--data", text_cell, "--no-impute"], 1,
         ["row 3", "column 'y'", "missing value", "leave out --no-impute"]),
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


def test_debug_shows_the_traceback(tmp_path):
    done = run("--debug", "evaluate", tmp_path / "missing.npz")
    assert done.returncode == 1 and "Traceback" in done.stderr
