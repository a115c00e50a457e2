"""Model files: bit-identical round trips, atomic writes, and refusal of bad or hostile files.

Hostile files are built by hand here (``craft``, raw zip members), independently of
`write_model`, so that each refusal is tested against a file the writer would never make.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_files import seal

from nablanet.io import (
    FORMAT_VERSION,
    MAX_HEADER_BYTES,
    ModelFileError,
    check_array,
    check_field,
    check_finite_array,
    check_keys,
    load,
    network_from_state,
    network_state,
    read_model,
    save,
    write_model,
)
from nablanet.io.estimators import ESTIMATOR_KINDS
from nablanet.network import Network

ARCHITECTURES = [
    # layer sizes, hidden activation(s), output activation, loss, weight decay, init
    ([4, 5, 3, 3], "tanh", "softmax", None, 0.0, "auto"),
    ([3, 1], "sigmoid", "sigmoid", "binary_cross_entropy", 0.0, "auto"),
    (
        [6, 8, 7, 2],
        ["relu", "leaky_relu"],
        "identity",
        "squared_error",
        1e-3,
        ["he", "he", "glorot"],
    ),
    ([2, 9, 4], "sigmoid", "sigmoid", None, 0.25, "normal"),
]


def make_net(
    arch: tuple[Any, ...] = ARCHITECTURES[0], dtype: Any = np.float64, seed: int = 0
) -> Network:
    sizes, act, out, loss, decay, init = arch
    net = Network(
        sizes,
        activation=act,
        output_activation=out,
        loss=loss,
        weight_decay=decay,
        init=init,
        seed=seed,
        dtype=dtype,
    )
    # Random biases too (they start at zero), so that every parameter matters.
    net.theta = np.random.default_rng(seed + 1).normal(size=net.n_params)
    return net


def settings_of(net: Network) -> tuple[Any, ...]:
    init = net.init if isinstance(net.init, str) else list(net.init)
    return (
        net.layer_sizes,
        [a.name for a in net.activations],
        net.loss.name,
        net.weight_decay,
        init,
        net.dtype,
    )


def sha(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def craft(
    path: Path,
    header: Any,
    arrays: dict[str, np.ndarray],
    *,
    manifest: bool = True,
    raw_header: bytes | None = None,
    sealed: bool = True,
) -> Path:
    """Write an .npz by hand (np.savez may pickle here), bypassing write_model's checks.

    Sealed by default, as an attacker could: each refusal is then the check under test,
    not the digest."""
    if manifest and isinstance(header, dict):
        header = {
            **header,
            "arrays": {
                n: {"dtype": a.dtype.str, "shape": list(a.shape), "sha256": sha(a)}
                for n, a in arrays.items()
            },
        }
    raw = raw_header if raw_header is not None else json.dumps(header).encode()
    with open(path, "wb") as f:
        np.savez(f, header=np.frombuffer(raw, np.uint8), **arrays)
    return seal(path) if sealed else path


@pytest.fixture
def net() -> Network:
    return make_net()


@pytest.fixture
def saved(tmp_path: Path, net: Network) -> Path:
    path = tmp_path / "model.npz"
    save(net, path)
    return path


@pytest.fixture
def good_header(saved: Path) -> dict[str, Any]:
    """A valid Network header without its manifest, to be spoiled one field at a time."""
    header, _ = read_model(saved)
    del header["arrays"]
    return header


def with_network(header: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**header, "network": {**header["network"], **changes}}


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(map(str, a[0])))
def test_round_trip_is_bit_identical(tmp_path: Path, arch: tuple[Any, ...], dtype: Any) -> None:
    net = make_net(arch, dtype)
    path = tmp_path / "net.npz"
    save(net, path)
    back = load(path)
    assert isinstance(back, Network)
    assert settings_of(back) == settings_of(net)
    assert back.theta.dtype == net.theta.dtype
    assert np.array_equal(back.theta.view(np.uint8), net.theta.view(np.uint8))
    X = np.random.default_rng(5).normal(size=(11, net.layer_sizes[0]))
    assert np.array_equal(back.forward(X), net.forward(X))


def row_major_theta(net: Network) -> np.ndarray:
    """θ as format version 1 stored it: each W(l) row by row, then the biases."""
    weights = [W_l.ravel(order="C") for W_l in net.W]
    return np.concatenate([*weights, *net.b]).astype(net.dtype)


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(map(str, a[0])))
def test_version_1_files_load_with_the_same_weights(
    tmp_path: Path, arch: tuple[Any, ...]
) -> None:
    # Version 1 stored W(l) row-major; loading reorders it, so each W, b and every
    # prediction is what the saving network had.
    net = make_net(arch)
    path = tmp_path / "net.npz"
    save(net, path)
    header, _ = read_model(path)
    del header["arrays"]
    del header["integrity"]  # version 1 had no digest
    craft(path, {**header, "format_version": 1}, {"theta": row_major_theta(net)}, sealed=False)
    back = load(path)
    for W_back, W_net in zip(back.W, net.W, strict=True):
        np.testing.assert_array_equal(W_back, W_net)
    np.testing.assert_array_equal(back.theta, net.theta)


def test_version_1_estimator_file_loads(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris

    from nablanet.estimators import MLPClassifier

    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((5,), solver="lbfgs", max_iter=500, random_state=0).fit(X, y)
    path = tmp_path / "clf.npz"
    save(clf, path)
    header, arrays = read_model(path)
    del header["arrays"]
    arrays["theta"] = row_major_theta(clf.net_)
    del header["integrity"]
    craft(path, {**header, "format_version": 1}, arrays, sealed=False)
    np.testing.assert_array_equal(load(path).predict_proba(X), clf.predict_proba(X))


def test_loaded_theta_is_the_parameter_buffer(saved: Path) -> None:
    back = load(saved)
    assert np.shares_memory(back.W[0], back.theta)
    assert back.theta.flags.writeable


def test_load_accepts_str_and_pathlike(saved: Path, net: Network) -> None:
    assert np.array_equal(load(str(saved)).theta, load(saved).theta)
    assert np.array_equal(load(saved).theta, net.theta)


def test_file_is_a_plain_npz_without_pickle(saved: Path, net: Network) -> None:
    with zipfile.ZipFile(saved) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == ["header.npy", "theta.npy"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    with np.load(saved, allow_pickle=False) as npz:
        assert json.loads(npz["header"].tobytes().decode("utf-8"))["kind"] == "Network"
        assert np.array_equal(npz["theta"], net.theta)


def test_header_layout(saved: Path, net: Network) -> None:
    header, arrays = read_model(saved)
    assert list(header) == [
        "format",
        "format_version",
        "library_version",
        "kind",
        "created",
        "network",
        "integrity",
        "arrays",
    ]
    assert header["format"] == "nablanet-model"
    assert header["format_version"] == FORMAT_VERSION == 3
    assert header["library_version"] == __import__("nablanet").__version__
    assert header["kind"] == "Network"
    assert header["network"] == {
        "layer_sizes": [4, 5, 3, 3],
        "activations": ["tanh", "tanh"],
        "output_activation": "softmax",
        "loss": "cross_entropy",
        "weight_decay": 0.0,
        "init": "auto",
        "dtype": "float64",
    }
    assert header["arrays"] == {
        "theta": {"dtype": net.theta.dtype.str, "shape": [55], "sha256": sha(net.theta)}
    }
    assert list(arrays) == ["theta"]


def test_save_writes_exactly_the_path_given(tmp_path: Path, net: Network) -> None:
    save(net, tmp_path / "model.bin")
    assert os.listdir(tmp_path) == ["model.bin"]
    assert np.array_equal(load(tmp_path / "model.bin").theta, net.theta)


def test_big_endian_and_fortran_arrays_are_read_exactly(
    tmp_path: Path, good_header: dict[str, Any], net: Network
) -> None:
    path = craft(tmp_path / "be.npz", good_header, {"theta": net.theta.astype(">f8")})
    back = load(path)
    assert back.theta.dtype == np.float64
    assert np.array_equal(back.theta, net.theta)
    M = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    craft(tmp_path / "f.npz", {**good_header, "kind": "Other"}, {"M": M})
    _, arrays = read_model(tmp_path / "f.npz")
    assert np.array_equal(arrays["M"], M) and arrays["M"].flags.c_contiguous


# --- atomic writes --------------------------------------------------------------------------


def partial_then_fail(exc: BaseException) -> Any:
    def savez(file: Any, *args: Any, **kwds: Any) -> None:
        file.write(b"PK\x03\x04 half an archive")
        raise exc

    return savez


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_existing_file_untouched(
    monkeypatch: pytest.MonkeyPatch, saved: Path, exc: BaseException
) -> None:
    before = saved.read_bytes()
    monkeypatch.setattr(np.lib.format, "write_array", partial_then_fail(exc))
    with pytest.raises(type(exc), match=f"^{exc}$"):
        save(make_net(seed=9), saved)
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == [saved.name]  # no temporary file left behind


def test_failed_rename_leaves_existing_file_untouched(
    monkeypatch: pytest.MonkeyPatch, saved: Path
) -> None:
    before = saved.read_bytes()

    def refuse(src: Any, dst: Any) -> None:
        raise PermissionError("rename refused")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError, match="rename refused"):
        save(make_net(seed=9), saved)
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == [saved.name]


def test_failed_write_without_existing_file_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, net: Network
) -> None:
    monkeypatch.setattr(np.lib.format, "write_array", partial_then_fail(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        save(net, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_data_is_fsynced_before_the_rename(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, net: Network
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    save(net, tmp_path / "m.npz")
    assert events[:2] == ["fsync", "replace"]


def test_overwrite_replaces_content_and_keeps_permissions(tmp_path: Path, saved: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    os.chmod(saved, 0o640)
    other = make_net(seed=3)
    save(other, saved)
    assert np.array_equal(load(saved).theta, other.theta)
    assert saved.stat().st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == [saved.name]


def test_new_file_follows_umask(tmp_path: Path, net: Network) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("umask is read from /proc/self/status")
    old = os.umask(0o027)
    try:
        save(net, tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o640


# --- hostile files: code must never run ---------------------------------------------------


class _Payload:
    """Unpickling this writes a marker file: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.write_text, (self.marker, "code from the model file ran"))


@pytest.mark.parametrize("member", ["theta", "extra"])
def test_pickled_object_array_is_refused_without_running_it(
    tmp_path: Path, good_header: dict[str, Any], net: Network, member: str
) -> None:
    marker = tmp_path / "marker"
    evil = np.array([_Payload(marker)], dtype=object)
    arrays = {"theta": net.theta, member: evil}
    path = craft(tmp_path / "evil.npz", good_header, arrays)
    with pytest.raises(ModelFileError, match=rf"evil\.npz: array '{member}' holds pickled"):
        load(path)
    assert not marker.exists()
    # The control: the payload is live, and a pickle-enabled load does run it.
    with np.load(path, allow_pickle=True) as npz:
        npz[member]
    assert marker.exists()


def test_pickle_is_never_called_by_loading(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, good_header: dict[str, Any], net: Network
) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle.load was called")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    evil = np.array([{"a": 1}], dtype=object)
    path = craft(tmp_path / "evil.npz", good_header, {"theta": evil})
    with pytest.raises(ModelFileError, match="pickled"):
        load(path)


# --- corrupt, tampered and wrong files --------------------------------------------------------


def test_wrong_theta_shape(tmp_path: Path, good_header: dict[str, Any]) -> None:
    path = craft(tmp_path / "model.npz", good_header, {"theta": np.zeros(10)})
    with pytest.raises(
        ModelFileError,
        match=r"model\.npz: array 'theta' has shape \(10,\), expected \(55,\) for layers 4-5-3-3",
    ):
        load(path)


def test_two_dimensional_theta(tmp_path: Path, good_header: dict[str, Any]) -> None:
    path = craft(tmp_path / "m.npz", good_header, {"theta": np.zeros((5, 11))})
    with pytest.raises(ModelFileError, match=r"shape \(5, 11\), expected \(55,\)"):
        load(path)


def test_integer_theta(tmp_path: Path, good_header: dict[str, Any]) -> None:
    path = craft(tmp_path / "m.npz", good_header, {"theta": np.zeros(55, dtype=np.int64)})
    with pytest.raises(ModelFileError, match="array 'theta' has dtype int64, expected float64"):
        load(path)


def test_theta_dtype_must_match_the_spec(tmp_path: Path, good_header: dict[str, Any]) -> None:
    path = craft(tmp_path / "m.npz", good_header, {"theta": np.zeros(55, dtype=np.float32)})
    with pytest.raises(ModelFileError, match="dtype float32, expected float64"):
        load(path)


@pytest.mark.parametrize("dtype", [np.complex128, "U3", "S3", "M8[s]", [("a", "f8")]])
def test_non_numeric_arrays(tmp_path: Path, good_header: dict[str, Any], dtype: Any) -> None:
    path = craft(tmp_path / "m.npz", good_header, {"theta": np.zeros(55, dtype=dtype)})
    with pytest.raises(ModelFileError, match="array 'theta' has unsupported dtype"):
        load(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_theta(
    tmp_path: Path, good_header: dict[str, Any], net: Network, bad: float
) -> None:
    theta = net.theta.copy()
    theta[7] = bad
    path = craft(tmp_path / "m.npz", good_header, {"theta": theta})
    with pytest.raises(
        ModelFileError, match=r"'theta' contains NaN or infinity \(first at index 7\)"
    ):
        load(path)


def test_missing_header(tmp_path: Path, net: Network) -> None:
    path = tmp_path / "m.npz"
    np.savez(path, theta=net.theta)
    with pytest.raises(ModelFileError, match="not a nablanet model file: .* no 'header' member"):
        load(path)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"{not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe{}", "not valid UTF-8 JSON"),
        (b"", "not valid UTF-8 JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'"nablanet-model"', "must be a JSON object, got string"),
        (b'{"format": "nablanet-model", "format": "x"}', "duplicate key 'format'"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid UTF-8 JSON"),
    ],
)
def test_malformed_header(tmp_path: Path, net: Network, raw: bytes, match: str) -> None:
    path = craft(tmp_path / "m.npz", None, {"theta": net.theta}, raw_header=raw)
    with pytest.raises(ModelFileError, match=match):
        load(path)


def test_non_finite_json_constant(
    tmp_path: Path, good_header: dict[str, Any], net: Network
) -> None:
    header = with_network(good_header, weight_decay=float("nan"))
    path = craft(tmp_path / "m.npz", header, {"theta": net.theta})  # json.dumps writes NaN
    with pytest.raises(ModelFileError, match="NaN is not a JSON number"):
        load(path)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"format": "other-format"}, "not a nablanet model file: header field 'format' is 'other"),
        ({"format_version": 4}, r"format version 4 .* upgrade nablanet"),
        ({"format_version": 0}, "format_version 0 is not a valid version"),
        ({"format_version": "1"}, "'format_version' must be int, got string"),
        ({"format_version": True}, "'format_version' must be int, got boolean"),
        ({"library_version": 1}, "'library_version' must be string"),
        ({"kind": None}, "'kind' must be string, got null"),
        (
            {"kind": "RandomForestClassifier"},
            "unknown model kind 'RandomForestClassifier'; known kinds: Network, MLPClassifier, "
            "MLPRegressor",
        ),
        ({"created": 5}, "'created' must be string"),
        ({"extra": 1}, "header has unexpected field 'extra'"),
        ({"network": [4, 3]}, "header field 'network' must be object"),
    ],
)
def test_bad_common_fields(
    tmp_path: Path, good_header: dict[str, Any], net: Network, changes: dict[str, Any], match: str
) -> None:
    path = craft(tmp_path / "m.npz", {**good_header, **changes}, {"theta": net.theta})
    with pytest.raises(ModelFileError, match=match):
        load(path)


def test_missing_common_field(tmp_path: Path, good_header: dict[str, Any], net: Network) -> None:
    del good_header["library_version"]
    path = craft(tmp_path / "m.npz", good_header, {"theta": net.theta})
    with pytest.raises(ModelFileError, match="'library_version' is missing"):
        load(path)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"activations": ["swish", "tanh"]},
            r"'network.activations\[0\]' is 'swish', not a known activation; valid: exp, identity",
        ),
        ({"activations": ["logistic", "tanh"]}, "not a known activation"),  # aliases: not in files
        ({"activations": ["softmax", "tanh"]}, "softmax can only be the output"),
        ({"activations": ["tanh"]}, "has 1 names, expected 2"),
        ({"output_activation": 3}, "'network.output_activation' is 3, not a known activation"),
        ({"loss": "hinge"}, "'network.loss' is 'hinge', not a known loss"),
        ({"loss": "binary_cross_entropy"}, "needs a sigmoid output layer"),
        ({"layer_sizes": [4, -5, 3, 3]}, "layer_sizes' must be a list of at least 2 integers >= 1"),
        ({"layer_sizes": [4, 0, 3, 3]}, "layer_sizes"),
        ({"layer_sizes": [4, 5.0, 3, 3]}, "layer_sizes"),
        ({"layer_sizes": [4, True, 3, 3]}, "layer_sizes"),
        ({"layer_sizes": [4]}, "layer_sizes"),
        ({"layer_sizes": "4-5-3-3"}, "'network.layer_sizes' must be list"),
        ({"layer_sizes": [4, 5, 3, 4]}, r"shape \(55,\), expected \(59,\) for layers 4-5-3-4"),
        ({"layer_sizes": [10**6, 10**6, 3, 3]}, r"expected \(1000004000015,\)"),
        ({"weight_decay": -0.1}, "weight_decay' must be a finite number >= 0"),
        ({"weight_decay": "0"}, "'network.weight_decay' must be int or float"),
        ({"init": "xavier"}, "'network.init' is 'xavier', not a known initializer"),
        ({"init": ["he", "he"]}, "'network.init' has 2 names, expected 3"),
        ({"init": ["he", "he", 7]}, r"'network.init\[2\]' is 7"),
        ({"dtype": "float16"}, "'network.dtype' is 'float16'; valid: float32, float64"),
        ({"dtype": "object"}, "'network.dtype'"),
        ({"seed": 3}, "header field 'network' has unexpected field 'seed'"),
    ],
)
def test_bad_network_spec(
    tmp_path: Path, good_header: dict[str, Any], net: Network, changes: dict[str, Any], match: str
) -> None:
    path = craft(tmp_path / "m.npz", with_network(good_header, **changes), {"theta": net.theta})
    with pytest.raises(ModelFileError, match=match):
        load(path)


def test_missing_network_field(tmp_path: Path, good_header: dict[str, Any], net: Network) -> None:
    del good_header["network"]["loss"]
    path = craft(tmp_path / "m.npz", good_header, {"theta": net.theta})
    with pytest.raises(ModelFileError, match="header field 'network' lacks field 'loss'"):
        load(path)


def test_infinite_weight_decay_from_a_json_literal(
    tmp_path: Path, good_header: dict[str, Any], net: Network
) -> None:
    raw = (
        json.dumps(
            {
                **good_header,
                "arrays": {"theta": {"dtype": "<f8", "shape": [55], "sha256": sha(net.theta)}},
            }
        )
        .replace('"weight_decay": 0.0', '"weight_decay": 1e999')
        .encode()
    )
    path = craft(tmp_path / "m.npz", None, {"theta": net.theta}, raw_header=raw)
    with pytest.raises(ModelFileError, match="finite number >= 0, got inf"):
        load(path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, -1])
def test_truncated_file(tmp_path: Path, saved: Path, keep: float) -> None:
    data = saved.read_bytes()
    cut = len(data) - 1 if keep == -1 else int(len(data) * keep)
    saved.write_bytes(data[:cut])
    match = r"model\.npz: (the file was )?truncated or corrupt"
    with pytest.raises(ModelFileError, match=match):
        load(saved)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="not a nablanet model file: it is not an .npz"):
        load(path)


def test_random_bytes_behind_a_zip_signature(tmp_path: Path) -> None:
    path = tmp_path / "noise.npz"
    path.write_bytes(b"PK\x03\x04" + np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    path.touch()
    with pytest.raises(ModelFileError, match=r"empty\.npz: the file is empty"):
        load(path)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No such file or directory: .*absent.npz"):
        load(tmp_path / "absent.npz")


def test_single_npy_file(tmp_path: Path, net: Network) -> None:
    path = tmp_path / "theta.npy"
    np.save(path, net.theta)
    with pytest.raises(ModelFileError, match="single .npy array"):
        load(path)


def test_extra_member_not_in_manifest(tmp_path: Path, saved: Path) -> None:
    with zipfile.ZipFile(saved, "a") as zf, zf.open("extra.npy", "w") as f:
        np.lib.format.write_array(f, np.zeros(3))
    seal(saved)
    with pytest.raises(
        ModelFileError, match="unexpected array 'extra': the header does not list it"
    ):
        load(saved)


def test_extra_listed_array_for_a_network(
    tmp_path: Path, good_header: dict[str, Any], net: Network
) -> None:
    path = craft(tmp_path / "m.npz", good_header, {"theta": net.theta, "extra": np.zeros(3)})
    with pytest.raises(ModelFileError, match="the Network file has unexpected array 'extra'"):
        load(path)


def test_listed_array_missing(tmp_path: Path, good_header: dict[str, Any], net: Network) -> None:
    raw = json.dumps(
        {
            **good_header,
            "arrays": {"theta": {"dtype": "<f8", "shape": [55], "sha256": sha(net.theta)}},
        }
    ).encode()
    path = craft(tmp_path / "m.npz", None, {}, raw_header=raw)
    with pytest.raises(ModelFileError, match="array 'theta' is listed in the header but missing"):
        load(path)


def test_missing_manifest(tmp_path: Path, good_header: dict[str, Any], net: Network) -> None:
    path = craft(tmp_path / "m.npz", good_header, {"theta": net.theta}, manifest=False)
    with pytest.raises(ModelFileError, match="header field 'arrays' is missing"):
        load(path)


def _npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    buf = BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def _zip_members(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_huge_declared_header_is_refused_before_reading(tmp_path: Path) -> None:
    path = _zip_members(tmp_path / "m.npz", {"header.npy": _npy_header("|u1", (10**10,))})
    with pytest.raises(
        ModelFileError,
        match=rf"header member declares 10000000000 bytes, over the limit of {MAX_HEADER_BYTES}",
    ):
        load(path)


def test_huge_declared_array_is_refused(tmp_path: Path, saved: Path) -> None:
    with zipfile.ZipFile(saved, "a") as zf:
        zf.writestr("big.npy", _npy_header("<f8", (10**12,)))
    seal(saved)
    with pytest.raises(
        ModelFileError, match="array 'big' declares 8000000000000 bytes, over the limit"
    ):
        load(saved)


def test_array_shorter_than_declared(tmp_path: Path, saved: Path) -> None:
    with zipfile.ZipFile(saved, "a") as zf:
        zf.writestr("short.npy", _npy_header("<f8", (4,)) + b"\0" * 31)
    seal(saved)
    with pytest.raises(
        ModelFileError, match=r"array 'short' declares .* \(32 bytes\) but holds 31 bytes"
    ):
        load(saved)


def _rewrite_member(path: Path, name: str, edit: Any) -> None:
    """Rewrite one member through zipfile, so that its CRC matches the edited bytes."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[name] = edit(members[name])
    _zip_members(path, members)


def test_tampered_theta_with_valid_crc_fails_the_checksum(saved: Path) -> None:
    def flip_last_byte(data: bytes) -> bytes:
        return data[:-1] + bytes([data[-1] ^ 0x01])

    _rewrite_member(saved, "theta.npy", flip_last_byte)
    seal(saved)
    with pytest.raises(ModelFileError, match="array 'theta' does not match its checksum"):
        load(saved)


def test_tampered_bytes_in_place_fail_the_digest(saved: Path, net: Network) -> None:
    data = bytearray(saved.read_bytes())
    at = bytes(data).index(net.theta[3:5].tobytes())
    data[at] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="model.npz: the file was altered or corrupted"):
        load(saved)


def test_tampered_bytes_in_place_of_an_old_file_fail_the_crc(tmp_path: Path) -> None:
    # Format version 2 files have no digest: the zip CRC still catches a changed byte.
    old = Path(__file__).parent / "fixtures" / "models" / "network_softmax.npz"
    theta = read_model(old)[1]["theta"]
    data = bytearray(old.read_bytes())
    data[bytes(data).index(theta[3:5].tobytes())] ^= 0xFF
    path = tmp_path / "old.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="truncated or corrupt .*CRC"):
        load(path)


def test_manifest_disagreeing_with_the_member(
    tmp_path: Path, good_header: dict[str, Any], net: Network
) -> None:
    raw = json.dumps(
        {
            **good_header,
            "arrays": {"theta": {"dtype": "<f4", "shape": [55], "sha256": sha(net.theta)}},
        }
    ).encode()
    path = craft(tmp_path / "m.npz", None, {"theta": net.theta}, raw_header=raw)
    with pytest.raises(
        ModelFileError, match="stored as <f8 of shape \\(55,\\) but the header says '<f4'"
    ):
        load(path)


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"dtype": "<f8", "shape": [55]}, "lacks field 'sha256'"),
        ({"dtype": "<f8", "shape": [55], "sha256": "00"}, "not a SHA-256"),
        ({"dtype": "<f8", "shape": [-55], "sha256": "0" * 64}, "is not a shape"),
        ({"dtype": "<f8", "shape": [55], "sha256": "0" * 64, "x": 1}, "unexpected field 'x'"),
    ],
)
def test_malformed_manifest(
    tmp_path: Path, good_header: dict[str, Any], net: Network, entry: dict[str, Any], match: str
) -> None:
    raw = json.dumps({**good_header, "arrays": {"theta": entry}}).encode()
    path = craft(tmp_path / "m.npz", None, {"theta": net.theta}, raw_header=raw)
    with pytest.raises(ModelFileError, match=match):
        load(path)


def test_compressed_members_are_refused(
    tmp_path: Path, good_header: dict[str, Any], net: Network
) -> None:
    path = tmp_path / "m.npz"
    np.savez_compressed(
        path, header=np.frombuffer(json.dumps(good_header).encode(), np.uint8), theta=net.theta
    )
    with pytest.raises(ModelFileError, match="compressed"):
        load(path)


def test_duplicate_members_are_refused(saved: Path) -> None:
    with zipfile.ZipFile(saved) as zf:
        theta = zf.read("theta.npy")
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(saved, "a") as zf:
        zf.writestr("theta.npy", theta)
    seal(saved)
    with pytest.raises(ModelFileError, match="holds member 'theta.npy' twice"):
        load(saved)


def test_foreign_members_are_refused(saved: Path) -> None:
    with zipfile.ZipFile(saved, "a") as zf:
        zf.writestr("../../evil.sh", b"rm -rf /")
    seal(saved)
    with pytest.raises(ModelFileError, match="unexpected archive member '../../evil.sh'"):
        load(saved)


def test_bool_array_with_non_boolean_bytes(tmp_path: Path, good_header: dict[str, Any]) -> None:
    mask = np.frombuffer(b"\x01\x02", dtype=np.uint8).view(bool)  # the checksum matches
    path = craft(tmp_path / "m.npz", {**good_header, "kind": "Other"}, {"mask": mask})
    with pytest.raises(ModelFileError, match="bool array 'mask' holds values other than 0 and 1"):
        read_model(path)


# --- writing: refusals ----------------------------------------------------------------------


def test_save_refuses_non_finite_theta(tmp_path: Path, net: Network) -> None:
    net.theta[3] = np.nan  # in place, as a diverging training run would
    with pytest.raises(ValueError, match="NaN or infinity"):
        save(net, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_save_refuses_other_objects(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="save needs a Network or an estimator, got dict"):
        save({"theta": [1.0]}, tmp_path / "m.npz")


@pytest.mark.parametrize(
    ("header", "arrays", "error", "match"),
    [
        ({}, {"x": np.array([object()])}, ValueError, "only bool, integer and float"),
        ({}, {"x": np.zeros(2, complex)}, ValueError, "only bool, integer and float"),
        ({}, {"header": np.zeros(2)}, ValueError, "reserved"),
        ({}, {"allow_pickle": np.zeros(2)}, ValueError, "reserved"),
        ({}, {"a/b": np.zeros(2)}, ValueError, "array name"),
        ({}, {"": np.zeros(2)}, ValueError, "array name"),
        ({"arrays": {}}, {}, ValueError, "'arrays' is reserved for the container"),
        ({"x": float("nan")}, {}, ValueError, "JSON compliant"),
        ({"x": np.zeros(2)}, {}, TypeError, "not JSON; put arrays in `arrays`"),
        ({"x": "y" * MAX_HEADER_BYTES}, {}, ValueError, "over the limit"),
        ([], {}, TypeError, "header must be a dict"),
    ],
)
def test_write_model_refusals(
    tmp_path: Path, header: Any, arrays: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        write_model(tmp_path / "m.npz", header, arrays)
    assert os.listdir(tmp_path) == []


def test_write_model_converts_numpy_scalars(tmp_path: Path) -> None:
    write_model(tmp_path / "m.npz", {"n": np.int64(3), "x": np.float32(0.1)}, {})
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        header = json.loads(npz["header"].tobytes())
    assert header["n"] == 3 and header["x"] == float(np.float32(0.1))


# --- estimators: dispatch by kind -----------------------------------------------------------


class FakeEstimator:
    """Stands in for nablanet.estimators, which a lazy import would load."""

    def __init__(self, net: Network, classes: list[str], scale: np.ndarray) -> None:
        self.net, self.classes, self.scale = net, classes, scale

    def _to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        spec, arrays = network_state(self.net)
        header = {"kind": "FakeEstimator", "network": spec, "classes": self.classes}
        return header, {**arrays, "scale": self.scale}

    @classmethod
    def _from_state(
        cls, header: dict[str, Any], arrays: dict[str, np.ndarray], *, source: str
    ) -> FakeEstimator:
        check_keys(arrays, ("theta", "scale"), source=source, where="the file", item="array")
        net = network_from_state(
            header["network"], arrays, source=source, format_version=header["format_version"]
        )
        classes = check_field(header, "classes", list, source=source)
        n_in = net.layer_sizes[0]
        scale = check_finite_array(arrays, "scale", shape=(n_in,), source=source)
        if classes == ["boom"]:
            raise ValueError("classes cannot be boom")  # a plain error from estimator code
        return cls(net, classes, scale)


@pytest.fixture
def fake_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ESTIMATOR_KINDS, "FakeEstimator", lambda: FakeEstimator)


def test_estimator_round_trip(tmp_path: Path, net: Network, fake_kind: None) -> None:
    est = FakeEstimator(net, ["cat", "dog", "eel"], np.array([1.0, 2.0, 0.5, 4.0]))
    save(est, tmp_path / "est.npz")
    header, _ = read_model(tmp_path / "est.npz")
    assert header["kind"] == "FakeEstimator" and header["format_version"] == FORMAT_VERSION
    back = load(tmp_path / "est.npz")
    assert isinstance(back, FakeEstimator)
    assert back.classes == est.classes
    assert np.array_equal(back.scale, est.scale)
    X = np.random.default_rng(0).normal(size=(6, 4))
    assert np.array_equal(back.net.forward(X), net.forward(X))


def test_estimator_checks_reach_the_file(tmp_path: Path, net: Network, fake_kind: None) -> None:
    save(FakeEstimator(net, ["a"], np.array([1.0, np.inf, 1.0, 1.0])), tmp_path / "inf.npz")
    with pytest.raises(ModelFileError, match=r"inf\.npz: array 'scale' contains NaN or infinity"):
        load(tmp_path / "inf.npz")
    save(FakeEstimator(net, ["boom"], np.ones(4)), tmp_path / "boom.npz")
    with pytest.raises(
        ModelFileError, match=r"invalid FakeEstimator state \(ValueError: classes cannot be boom"
    ):
        load(tmp_path / "boom.npz")


def test_save_refuses_unknown_kind_and_reserved_fields(
    tmp_path: Path, net: Network, fake_kind: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    est = FakeEstimator(net, ["a"], np.ones(4))
    monkeypatch.setattr(FakeEstimator, "_to_state", lambda self: ({"kind": "Mystery"}, {}))
    with pytest.raises(ValueError, match="kind 'Mystery', which load cannot read"):
        save(est, tmp_path / "m.npz")
    monkeypatch.setattr(
        FakeEstimator,
        "_to_state",
        lambda self: ({"kind": "FakeEstimator", "format_version": 9}, {}),
    )
    with pytest.raises(ValueError, match="must not set the header fields format_version"):
        save(est, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_unavailable_estimator_module(
    tmp_path: Path, good_header: dict[str, Any], net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> type:
        import nablanet_no_such_module  # type: ignore[import-not-found]

        return nablanet_no_such_module.Ghost  # type: ignore[no-any-return]

    monkeypatch.setitem(ESTIMATOR_KINDS, "Ghost", missing)
    path = craft(tmp_path / "m.npz", {**good_header, "kind": "Ghost"}, {"theta": net.theta})
    with pytest.raises(
        ModelFileError, match="'Ghost' needs a class that is unavailable .*nablanet_no_such_module"
    ):
        load(path)


def test_loading_a_network_imports_no_estimator_module(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "nablanet.estimators", raising=False)
    load(saved)
    assert "nablanet.estimators" not in sys.modules


# --- the validating helpers ----------------------------------------------------------------


def test_check_array_helpers() -> None:
    arrays = {"a": np.zeros((3, 2)), "i": np.arange(4), "f": np.array([1.0, np.nan])}
    assert check_array(arrays, "a", source="s", shape=(None, 2)) is arrays["a"]
    with pytest.raises(
        ModelFileError, match=r"s: array 'a' has shape \(3, 2\), expected \(\?, 3\)"
    ):
        check_array(arrays, "a", source="s", shape=(None, 3))
    with pytest.raises(ModelFileError, match="s: array 'zz' is missing"):
        check_array(arrays, "zz", source="s")
    with pytest.raises(ModelFileError, match="dtype int64, expected a float array"):
        check_finite_array(arrays, "i", source="s")
    assert check_array(arrays, "i", source="s", dtype_kind="iu", finite=True) is arrays["i"]
    with pytest.raises(ModelFileError, match=r"'f' contains NaN or infinity \(first at index 1\)"):
        check_finite_array(arrays, "f", source="s")


def test_check_field_and_keys() -> None:
    header = {"n": 3, "flag": True, "name": "x"}
    assert check_field(header, "n", int, source="s") == 3
    with pytest.raises(ModelFileError, match="'flag' must be int, got boolean"):
        check_field(header, "flag", int, source="s")
    assert check_field(header, "flag", bool, source="s") is True
    with pytest.raises(ModelFileError, match="'est.missing' is missing"):
        check_field(header, "missing", str, source="s", where="est")
    check_keys(header, ("n",), ("flag", "name"), source="s", where="header")
    with pytest.raises(
        ModelFileError, match="header has unexpected field 'name'; expected only flag, n"
    ):
        check_keys(header, ("n",), ("flag",), source="s", where="header")
