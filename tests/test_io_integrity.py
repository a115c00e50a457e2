"""Any change to a model file that `save` did not write is refused, the JSON header included.

A file of format version 3 ends with a SHA-256 of all its other bytes (see
`nablanet.io.container`). The edits below are the ones issue 10 reported loading silently
(a format_version edit that reorders the weights, a classes_dtype edit that turns integer
labels into strings), every single-byte flip, and downgrades that claim an older version
whose files had no digest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_files import header_of, with_header

from nablanet import ModelFileError, load, save
from nablanet.network import Network

FIXTURES = Path(__file__).parent / "fixtures" / "models"


def small_net() -> Network:
    net = Network([3, 4, 2], activation="tanh", output_activation="softmax", seed=0)
    net.theta = np.random.default_rng(1).normal(size=net.n_params)
    return net


def rewrite(path: Path, header: dict[str, Any], *, sealed: bool) -> Path:
    """The file with another header, as a user editing it with NumPy would (valid zip CRCs,
    the manifest untouched), optionally sealed again with a freshly computed digest, as
    someone who read the format could."""
    return with_header(path, header, sealed=sealed)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "net.npz"
    save(small_net(), path)
    return path


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("sealed", [False, True], ids=["digest-dropped", "digest-recomputed"])
def test_format_version_edited_down_is_refused(saved: Path, version: int, sealed: bool) -> None:
    # Issue 10: format_version 2 -> 1 loaded, reordered the weights and dropped accuracy
    # from 0.909 to 0.100. A new file claiming an older version must not load as one.
    header = {**header_of(saved), "format_version": version}
    rewrite(saved, header, sealed=sealed)
    with pytest.raises(ModelFileError, match=r"net\.npz: the file was altered"):
        load(saved)


def test_format_version_edited_in_place_is_refused(saved: Path) -> None:
    data = saved.read_bytes()
    edited = data.replace(b'"format_version":3', b'"format_version":1', 1)
    assert edited != data
    saved.write_bytes(edited)
    with pytest.raises(ModelFileError, match="net.npz: the file was altered or corrupted"):
        load(saved)


def test_classes_dtype_edit_is_refused(tmp_path: Path) -> None:
    # Issue 10: editing classes_dtype turned integer labels into strings.
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    from nablanet.estimators import MLPClassifier

    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((3,), solver="lbfgs", max_iter=30, random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge after 30 iterations"):
        clf.fit(X, y)
    path = tmp_path / "clf.npz"
    save(clf, path)
    header = header_of(path)
    assert header["classes_dtype"] == "<i8"
    rewrite(path, {**header, "classes_dtype": "<U21"}, sealed=False)
    with pytest.raises(ModelFileError, match=r"clf\.npz: the file was"):
        load(path)


def test_every_single_byte_flip_is_refused(tmp_path: Path, saved: Path) -> None:
    # Each byte changed once, to a value drawn with a fixed seed (never its own).
    data = saved.read_bytes()
    shifts = np.random.default_rng(0).integers(1, 256, size=len(data))
    path = tmp_path / "flipped.npz"
    for at in range(len(data)):
        path.write_bytes(data[:at] + bytes([data[at] ^ int(shifts[at])]) + data[at + 1 :])
        with pytest.raises(ModelFileError, match=r"flipped\.npz: ") as info:
            load(path)
        assert info.type is ModelFileError, at


def test_old_files_carrying_the_new_field_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.npz"
    path.write_bytes((FIXTURES / "network_softmax.npz").read_bytes())
    header = header_of(path)
    assert header["format_version"] == 2
    rewrite(path, {**header, "integrity": "sha256-zip-comment"}, sealed=False)
    with pytest.raises(ModelFileError, match="has field 'integrity', which format version 2"):
        load(path)


def test_a_new_file_without_its_digest_is_refused(saved: Path) -> None:
    rewrite(saved, header_of(saved), sealed=False)
    with pytest.raises(ModelFileError, match="format version 3 files end with a digest"):
        load(saved)


def test_a_resealed_edit_is_a_new_file_not_a_corrupt_one(saved: Path) -> None:
    # The digest is not a signature: whoever recomputes it wrote a new file, which is
    # then checked field by field like any other.
    header = header_of(saved)
    header["network"]["weight_decay"] = 0.5
    rewrite(saved, header, sealed=True)
    assert load(saved).weight_decay == 0.5
    header["network"]["loss"] = "hinge"
    rewrite(saved, header, sealed=True)
    with pytest.raises(ModelFileError, match="'network.loss' is 'hinge'"):
        load(saved)
