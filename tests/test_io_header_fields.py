"""Each check of a model file's header and manifest, reached with the file resealed.

An edited file normally fails its SHA-256 seal first; here every edit is resealed (as
an attacker would), so each check of `nablanet.io.header` is the one that must refuse it,
with a ModelFileError that starts with the file's path and names what is wrong.
Mutation testing (`make mutate`) found these checks reached by no test but the fuzzer's.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
from model_files import header_of, with_header

from nablanet import ModelFileError, load, save
from nablanet.io.container import checksum
from nablanet.io.header import check_manifest, manifest_arrays
from nablanet.network import Network


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "net.npz"
    save(Network([3, 4, 2], seed=0), path)
    return path


def edit(header, change):
    header = copy.deepcopy(header)
    change(header)
    return header


def first_array(header):
    return next(iter(header["arrays"]))


EDITS = [
    (lambda h: h.update(library_version="x" * 65),
     "header field 'library_version' is too long"),
    (lambda h: h.update(format_version=0), "format_version 0 is not a valid version"),
    (lambda h: h.update(format_version=99),
     r"written in model format version 99 by nablanet '\d"),
    (lambda h: h.update(format_version="3"), "format_version"),
    (lambda h: h["arrays"].update({"bad name!": h["arrays"][first_array(h)]}),
     "the manifest names an invalid array 'bad name!'"),
    (lambda h: h["arrays"].update({"allow_pickle": h["arrays"][first_array(h)]}),
     "the manifest names an invalid array 'allow_pickle'"),
    (lambda h: h["arrays"].update({first_array(h): [1, 2]}),
     r"header field 'arrays\.\w+' must be object, got \[1, 2\]"),
    (lambda h: h["arrays"][first_array(h)].pop("sha256"), r"header field 'arrays\.\w+'"),
    (lambda h: h["arrays"][first_array(h)].update(dtype=8),
     r"header field 'arrays\.\w+\.dtype' must be string, got int 8"),
    (lambda h: h["arrays"][first_array(h)].update(shape="3"),
     r"header field 'arrays\.\w+\.shape' must be list, got string '3'"),
    (lambda h: h["arrays"][first_array(h)].update(shape=[-1]),
     r"header field 'arrays\.\w+\.shape' is not a shape: \[-1\]"),
    (lambda h: h["arrays"][first_array(h)].update(sha256="A" * 64),
     r"header field 'arrays\.\w+\.sha256' is not a SHA-256 hex digest"),
    (lambda h: h["arrays"][first_array(h)].update(sha256="X" * 64),
     r"header field 'arrays\.\w+\.sha256' is not a SHA-256 hex digest"),
    (lambda h: h["arrays"][first_array(h)].update(sha256=5),
     r"header field 'arrays\.\w+\.sha256' must be string, got int 5"),
    (lambda h: h["arrays"][first_array(h)].update(shape=[7, 7]),
     r"array '\w+' is stored as <f8 of shape \(\d+,\) but the header says '<f8' of shape "
     r"\(7, 7\): the file was altered"),
    (lambda h: h["arrays"][first_array(h)].update(sha256="0" * 64),
     r"array '\w+' does not match its checksum: the file was altered or corrupted"),
    (lambda h: h["arrays"].update(extra=h["arrays"][first_array(h)]),
     "array 'extra' is listed in the header but missing"),
    (lambda h: h["arrays"].pop(first_array(h)),
     r"unexpected array '\w+': the header does not list it"),
]


@pytest.mark.parametrize("change, message", EDITS)
def test_each_header_check_names_the_file_and_the_fault(saved, change, message):
    with_header(saved, edit(header_of(saved), change))  # resealed
    with pytest.raises(ModelFileError, match=re.escape(f"{saved}: ")) as info:
        load(saved)
    assert str(info.value).startswith(f"{saved}: ")
    assert re.search(message, str(info.value)), str(info.value)


def test_a_library_version_of_64_characters_is_accepted(saved):
    with_header(saved, {**header_of(saved), "library_version": "1" * 64})
    assert isinstance(load(saved), Network)


def test_a_manifest_shape_may_hold_zero():
    empty = np.zeros((0, 3))
    entry = {"dtype": empty.dtype.str, "shape": [0, 3], "sha256": checksum(empty)}
    assert check_manifest({"arrays": {"spare": entry}}, "f.npz") == {"spare": entry}


def test_a_bool_array_holding_a_2_is_refused():
    flags = np.array([0, 1, 2], dtype=np.uint8).view(np.bool_)
    manifest = {"flags": {"dtype": "|b1", "shape": [3], "sha256": checksum(flags)}}
    with pytest.raises(ModelFileError, match="^f.npz: bool array 'flags' holds values other"):
        manifest_arrays({"flags": flags}, manifest, "f.npz")
    ok = np.array([True, False, True])
    manifest = {"flags": {"dtype": "|b1", "shape": [3], "sha256": checksum(ok)}}
    out = manifest_arrays({"flags": ok}, manifest, "f.npz")["flags"]
    assert out.flags.c_contiguous and out.flags.writeable and out.tolist() == [True, False, True]
