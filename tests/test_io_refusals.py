"""Every failure of `load` is a ModelFileError, or an OSError for a path that cannot be read.

Issue 10 item 6 found SyntaxError and tokenize.TokenError from a flipped byte in a
member's .npy header (NumPy parses it with ast.literal_eval before the zip CRC is
checked), OverflowError from edited class labels, and a FIFO that blocked forever.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_files import header_of, members, with_header, write_members

from nablanet import ModelFileError, load, save
from nablanet.io import check_labels
from nablanet.io.npy import NpyError, parse_npy
from nablanet.network import Network

FIXTURES = Path(__file__).parent / "fixtures" / "models"


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A saved network whose theta member is over 4 KB (where NumPy's header bug showed)."""
    net = Network([30, 20, 3], seed=0)
    path = tmp_path / "big.npz"
    save(net, path)
    assert len(members(path)["theta.npy"]) > 4096
    return path


def npy_header_edits(member: bytes) -> list[bytes]:
    at_descr = member.index(b"'<f8'")
    at_space = member.index(b"}") + 2  # the padding after the dict
    return [
        member[:at_descr] + b"',f8'" + member[at_descr + 5 :],
        member[:at_space] + b"(" + member[at_space + 1 :],
    ]


@pytest.mark.parametrize("edit", [0, 1], ids=["descr-comma", "padding-paren"])
def test_flipped_npy_header_in_place_is_a_model_file_error(big: Path, edit: int) -> None:
    data = big.read_bytes()
    theta = members(big)["theta.npy"]
    at = data.index(theta[:128])
    edited = npy_header_edits(theta)[edit]
    big.write_bytes(data[:at] + edited + data[at + len(theta) :])
    with pytest.raises(ModelFileError, match=r"big\.npz: the file was altered or corrupted"):
        load(big)


@pytest.mark.parametrize("sealed", [False, True], ids=["crc-only", "resealed"])
@pytest.mark.parametrize("edit", [0, 1], ids=["descr-comma", "padding-paren"])
def test_flipped_npy_header_with_valid_checksums_is_a_model_file_error(
    big: Path, edit: int, sealed: bool
) -> None:
    # Rewritten through zipfile (valid CRC), resealed or as an old file without a digest:
    # the .npy header itself must be refused cleanly.
    content = members(big)
    content["theta.npy"] = npy_header_edits(content["theta.npy"])[edit]
    if not sealed:
        header = header_of(big)
        del header["integrity"]
        content["header.npy"] = members(with_header(big, {**header, "format_version": 2},
                                                    sealed=False))["header.npy"]
    write_members(big, content, sealed=sealed)
    match = r"array 'theta' has (a malformed \.npy header|unsupported dtype ',f8')"
    with pytest.raises(ModelFileError, match=match):
        load(big)


def test_old_file_flipped_in_a_large_npy_header_fails_the_crc_first(tmp_path: Path) -> None:
    # Format version 2 files have no digest: each member is read whole (its CRC checked)
    # before its .npy header is parsed.
    net = Network([30, 20, 3], seed=0)
    path = tmp_path / "old.npz"
    save(net, path)
    header = header_of(path)
    del header["integrity"]
    with_header(path, {**header, "format_version": 2}, sealed=False)
    assert load(path).layer_sizes == (30, 20, 3)
    data = path.read_bytes()
    theta = members(path)["theta.npy"]
    at = data.index(theta[:128])
    path.write_bytes(data[:at] + npy_header_edits(theta)[0] + data[at + len(theta) :])
    with pytest.raises(ModelFileError, match="truncated or corrupt .*CRC"):
        load(path)


@pytest.mark.parametrize(
    "header",
    [
        b"{'descr': ',f8', 'fortran_order': False, 'shape': (3,), }",
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }(",
        b"{'descr': '<f8', 'fortran_order': False, 'shape': ((3,),), }",
        b"{'descr': '<f8', 'fortran_order': 0, 'shape': (3,), }",
        b"{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (3,), }",
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (" + b"9" * 5000 + b",), }",
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (-3,), }",
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), '" + b"(" * 3000,
        b"\xff\xfe",
    ],
)
def test_hostile_npy_headers_raise_npy_error(header: bytes) -> None:
    text = header + b" " * (-(len(header) + 11) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + bytes(24)
    with pytest.raises(NpyError, match="malformed .npy header|unsupported dtype"):
        parse_npy(member, 1 << 20)


def test_the_npy_reader_reads_what_numpy_writes() -> None:
    import io

    for arr in (np.arange(6.0).reshape(2, 3), np.asfortranarray(np.ones((3, 2), ">f4")),
                np.array(True), np.zeros(0, np.int16), np.arange(5, dtype=np.uint64)):
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        back = parse_npy(buf.getvalue(), 1 << 20)
        assert back.dtype == arr.dtype and back.shape == arr.shape
        assert np.array_equal(back, arr)


@pytest.mark.parametrize(
    ("shape", "match"),
    [((2**62,), "declares 36893488147419103232 bytes, over the limit"),
     ((2**40, 2**40), "over the limit"),
     ((5,), r"declares float64 of shape \(5,\) \(40 bytes\) but holds 24 bytes")],
)
def test_declared_sizes_are_bounded_before_allocating(
    tmp_path: Path, shape: tuple[int, ...], match: str
) -> None:
    save(Network([2, 2], seed=0), tmp_path / "m.npz")
    content = members(tmp_path / "m.npz")
    text = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape!r}, }}".encode()
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    content["big.npy"] = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + bytes(24)
    write_members(tmp_path / "m.npz", content)
    with pytest.raises(ModelFileError, match=match):
        load(tmp_path / "m.npz")


@pytest.fixture(scope="module")
def fitted_classifier(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    from nablanet.estimators import MLPClassifier

    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((3,), solver="lbfgs", max_iter=20, random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge after 20 iterations"):
        clf.fit(X, y)
    path = tmp_path_factory.mktemp("clf") / "clf.npz"
    save(clf, path)
    return path.read_bytes()


@pytest.fixture
def int_classifier(tmp_path: Path, fitted_classifier: bytes) -> Path:
    path = tmp_path / "clf.npz"
    path.write_bytes(fitted_classifier)
    return path


@pytest.mark.parametrize(
    ("changes", "match"),
    [({"classes": [0, 1, 2**63]}, "does not fit dtype int64"),
     ({"classes_dtype": "|u1", "classes": [0, 1, 300]}, "does not fit dtype uint8"),
     ({"classes": [0, 1.5, 2]}, "holds 1.5, not a int64 label|changes when held"),
     ({"classes": [0, "1", 2]}, "holds '1'"),
     ({"classes_dtype": "<U999999999"}, "not a (label )?dtype"),
     ({"classes_dtype": "<M8[s]"}, "not a label dtype"),
     ({"classes_dtype": "i4,f8"}, "not a label dtype|not a dtype")],
)
def test_edited_class_labels_are_a_model_file_error(
    int_classifier: Path, changes: dict[str, Any], match: str
) -> None:
    with_header(int_classifier, {**header_of(int_classifier), **changes})  # resealed
    with pytest.raises(ModelFileError, match=match):
        load(int_classifier)


def test_labels_are_rebuilt_exactly() -> None:
    assert check_labels([1, 2], "<i8", source="s").dtype == np.int64
    assert check_labels(["a", "b"], "<U1", source="s").tolist() == ["a", "b"]
    assert check_labels(["a", "bb"], "object", source="s").dtype == object
    assert check_labels([0.5, 2.0], "<f4", source="s").tolist() == [0.5, 2.0]
    with pytest.raises(ModelFileError, match="changes when held as float32"):
        check_labels([0.1, 2.0], "<f4", source="s")


def load_in_thread(path: Path) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            load(path)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    return thread, errors


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    thread, errors = load_in_thread(fifo)
    if thread.is_alive():  # release the blocked reader before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert not thread.is_alive(), "load blocked on a FIFO"
    assert len(errors) == 1 and type(errors[0]) is ModelFileError
    assert str(errors[0]) == f"{fifo}: not a regular file (a FIFO, device or socket): refused"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_refused() -> None:
    with pytest.raises(ModelFileError, match="/dev/zero: not a regular file"):
        load("/dev/zero")


def test_paths_that_cannot_be_read_raise_os_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No such file or directory: .*missing.npz"):
        load(tmp_path / "missing.npz")
    with pytest.raises(IsADirectoryError, match="Is a directory"):
        load(tmp_path)


def test_old_fixtures_still_load_through_the_strict_reader() -> None:
    from nablanet import MLPClassifier, MLPRegressor

    kinds = {"network": Network, "classifier": MLPClassifier, "regressor": MLPRegressor}
    paths = sorted(FIXTURES.glob("*.npz"))
    assert len(paths) == 8  # a glob that found nothing would pass without loading anything
    for path in paths:
        model = load(path)
        assert type(model) is kinds[path.stem.split("_")[0]], path.name
        # Each predicts on its stored inputs (the values: tests/test_io_fixtures.py).
        X = np.load(path.with_suffix(".X.npy"), allow_pickle=False)
        out = model.forward(X) if isinstance(model, Network) else model.predict(X)
        assert len(out) == len(X)
