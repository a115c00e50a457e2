"""Every command that writes refuses, before any work, a target that is no regular file.

On main, ``nablanet train --out FIFO`` (or a character device, as root: ``--out
/dev/full``) trained, printed "model written to ...", exited 0 and left a regular file
where the FIFO or the device had been; a symbolic link was replaced by a file. Here each
write path of the command line (train --out, --report, predict --out, export --onnx,
convert --out, strip-rows --out) is tried on each kind of target.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import stat
import warnings

import pytest
from _cli_helpers import assert_one_line_error, cli

import nablanet

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
REFUSED = ["FIFO", "socket", "folder", "dangling symlink", "symlink to FIFO",
           *(["character device"] if ROOT else [])]
WHAT = {"FIFO": "a FIFO", "socket": "a socket", "folder": "a folder",
        "dangling symlink": "a dangling symbolic link",
        "symlink to FIFO": "a symbolic link to a FIFO",
        "character device": "a character device"}


@pytest.fixture(scope="module")
def pickled_mlp(tmp_path_factory, iris_csv):
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier

    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((3,), max_iter=5, random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("pickle") / "mlp.pkl"
    path.write_bytes(pickle.dumps(mlp))
    return path


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory, iris_csv):
    path = tmp_path_factory.mktemp("model") / "iris.npz"
    assert nablanet.cli.main(["train", "--data", str(iris_csv), "--epochs", "3", "--layers",
                              "4", "--out", str(path), "-q"]) == 0
    return path


def commands(iris_csv, iris_model, pickled_mlp):
    """Each write path of the command line, as (name, arguments for an output path)."""
    return {
        "train --out": lambda out: ["train", "--data", iris_csv, "--epochs", "3", "--layers",
                                    "4", "-q", "--out", out],
        "train --report": lambda out: ["train", "--data", iris_csv, "--epochs", "3",
                                       "--layers", "4", "-q", "--report", out.parent],
        "predict --out": lambda out: ["predict", iris_model, "--data", iris_csv, "--out", out],
        "export --onnx": lambda out: ["export", iris_model, "--onnx", out],
        "convert --out": lambda out: ["convert", pickled_mlp, "--out", out, "--trust-pickle"],
        "strip-rows --out": lambda out: ["strip-rows", iris_model, "--out", out],
    }


NAMES = ["train --out", "train --report", "predict --out", "export --onnx", "convert --out",
         "strip-rows --out"]


def make(folder, kind, name):
    """A target of ``kind`` named ``name`` in ``folder``."""
    target = folder / name
    aside = folder / "aside"
    aside.mkdir(exist_ok=True)
    if kind == "FIFO":
        os.mkfifo(target)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(target))
        s.close()
    elif kind == "folder":
        target.mkdir()
    elif kind == "dangling symlink":
        target.symlink_to(folder / "nowhere")
    elif kind == "symlink to FIFO":
        os.mkfifo(aside / "fifo")
        target.symlink_to(aside / "fifo")
    elif kind == "character device":  # a copy of /dev/null's node: /dev is never touched
        os.mknod(target, stat.S_IFCHR | 0o666, os.stat("/dev/null").st_rdev)
    elif kind == "symlink to file":
        (aside / "real").write_bytes(b"old")
        target.symlink_to(aside / "real")
    return target


@contextlib.contextmanager
def no_hang(seconds=60):
    """Fail instead of hanging: on main, the report opened a FIFO for writing and waited."""

    def fail(*_):
        raise TimeoutError(f"the command blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def tree(folder):
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            st_ = os.lstat(path)
            link = os.readlink(path) if stat.S_ISLNK(st_.st_mode) else None
            data = open(path, "rb").read() if stat.S_ISREG(st_.st_mode) else None
            found[path] = (st_.st_mode, st_.st_rdev, link, data)
    return found


@pytest.mark.parametrize("kind", REFUSED)
@pytest.mark.parametrize("command", NAMES)
def test_a_target_that_is_no_regular_file_is_refused_before_any_work(
        tmp_path, capsys, iris_csv, iris_model, pickled_mlp, command, kind):
    name = "report.html" if command == "train --report" else "out.bin"
    target = make(tmp_path, kind, name)
    before = tree(tmp_path)
    with no_hang():
        code, out, err = cli(capsys, *commands(iris_csv, iris_model, pickled_mlp)[command](target))
    assert code == 1, err
    assert_one_line_error(err, str(target), WHAT[kind], "not a regular file: refused")
    assert out == ""  # no score printed: nothing was trained, converted or exported
    assert tree(tmp_path) == before


@pytest.mark.parametrize("command", [n for n in NAMES if n != "train --report"])
def test_a_link_to_a_file_is_written_through(tmp_path, capsys, iris_csv, iris_model,
                                             pickled_mlp, command):
    link = make(tmp_path, "symlink to file", "out.bin")
    code, _, err = cli(capsys, *commands(iris_csv, iris_model, pickled_mlp)[command](link))
    assert code == 0, err
    real = tmp_path / "aside" / "real"
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() != b"old" and len(real.read_bytes()) > 100
    assert sorted(os.listdir(tmp_path / "aside")) == ["real"]  # no temporary file left


def test_a_report_folder_that_is_a_dangling_link_is_refused_before_training(
        tmp_path, capsys, iris_csv):
    # it passed the check, trained, then failed with "File exists" when the folder was made
    folder = tmp_path / "report"
    folder.symlink_to(tmp_path / "nowhere")
    code, out, err = cli(capsys, "train", "--data", iris_csv, "--epochs", "3", "--layers",
                         "4", "-q", "--report", folder)
    assert code == 1, err
    assert_one_line_error(err, str(folder), "a dangling symbolic link")
    assert out == ""  # refused before training: no score printed
    assert os.listdir(tmp_path) == ["report"]
