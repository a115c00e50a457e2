"""Fuzz the model loader: whatever a file holds, `load` gives the model or a clean refusal.

The base files are small models of every kind saved by today's code (sealed, format
version 3: Network, MLPClassifier, MLPRegressor, SparseAutoencoder, SoftmaxRegression,
StackedAutoencoderClassifier; the whitening estimators cannot be saved yet) and the files
kept from older versions (``tests/fixtures/models``, no digest). Each target changes
them (flipped bytes, truncation, appended bytes, header JSON edits, renamed or dropped zip
members, huge declared shapes) and requires one of two outcomes:

- `ModelFileError` naming the file, or an `OSError` for the path; or
- a clean load of a model that predicts exactly what the original predicted.

A changed file can only load if the change touched bytes that carry no meaning (an old
file's zip timestamps, say): a sealed file must always be refused. Header edits are
also tried resealed with a fresh digest, as someone who read the format could make them:
such a file is a new file, not a corrupt one, so a clean load may then predict something
else, but it must still be a working model (finite predictions of the right shape, and
saving and loading it again gives it back exactly). Forged files are also made through
the real writer (`write_model`: a well-formed container, correct manifest, valid digest)
from edited headers and arrays, so that only the checks of each kind stand between them
and a model.
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _fuzz import count, run_fuzz
from hypothesis import given
from hypothesis import strategies as st
from model_files import header_member, members, write_members

from nablanet import ModelFileError, load, save
from nablanet.network import Network

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"


def predictions(model: Any, X: np.ndarray) -> list[np.ndarray]:
    if isinstance(model, Network):
        return [model.forward(X)]
    if hasattr(model, "predict_proba"):
        return [model.predict_proba(X), model.predict(X)]
    if not hasattr(model, "predict"):  # an autoencoder: its features
        return [model.transform(X)]
    return [model.predict(X)]


class Base:
    """One base file: its bytes, inputs, and what the saved model predicts on them."""

    def __init__(self, name: str, data: bytes, X: np.ndarray, expected: list[np.ndarray]):
        self.name, self.data, self.X, self.expected = name, data, X, expected
        self.sealed = data[-80:].startswith(b"nablanet-sha256:")


def _new_bases(folder: Path) -> list[Base]:
    from sklearn.datasets import load_iris

    from nablanet import (
        MLPClassifier,
        MLPRegressor,
        SoftmaxRegression,
        SparseAutoencoder,
        StackedAutoencoderClassifier,
    )

    X, y = load_iris(return_X_y=True)
    labels = np.array(["a", "b", "c"])[y]
    unit = X / X.max(axis=0)  # in [0, 1], as the sigmoid autoencoders reconstruct
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "net": Network([4, 3, 3], activation="relu", output_activation="softmax", seed=0),
            "net32": Network([4, 2, 1], output_activation="sigmoid", seed=1, dtype=np.float32),
            "clf": MLPClassifier((3,), solver="lbfgs", max_iter=15, random_state=0).fit(X, labels),
            "reg": MLPRegressor((2,), solver="lbfgs", max_iter=15, output_activation="tanh",
                                random_state=0).fit(X[:, :3], X[:, 3]),
            "sae": SparseAutoencoder(3, max_iter=5, random_state=0).fit(unit),
            "softmax": SoftmaxRegression(max_iter=5, random_state=0).fit(X, y),
            "stacked": StackedAutoencoderClassifier((3, 2), pretrain_max_iter=3, max_iter=3,
                                                    random_state=0).fit(unit, labels),
        }
    bases = []
    for name, model in models.items():
        path = folder / f"{name}.npz"
        save(model, path)
        source = unit if name in ("sae", "stacked") else X
        Xm = source[::30, : 3 if name == "reg" else 4].astype(
            np.float32 if name == "net32" else float)
        bases.append(Base(name, path.read_bytes(), Xm, predictions(model, Xm)))
    return bases


def _old_bases() -> list[Base]:
    bases = []
    for name in ("network_softmax", "classifier_strings", "network_v1"):
        X = np.load(FIXTURES / f"{name}.X.npy")
        model = load(FIXTURES / f"{name}.npz")
        bases.append(Base(name, (FIXTURES / f"{name}.npz").read_bytes(), X,
                          predictions(model, X)))
    return bases


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@pytest.fixture(scope="module")
def bases(workdir: Path) -> list[Base]:
    return _new_bases(workdir) + _old_bases()


def outcome(path: Path, base: Base, *, new_file: bool = False) -> str:
    """Load ``path`` and check the outcome; returns "refused" or "loaded"."""
    try:
        model = load(path)
    except ModelFileError as exc:
        assert str(exc).startswith(f"{path}: "), exc
        return "refused"
    except OSError:
        return "refused"
    got = predictions(model, base.X)
    if new_file:
        _check_working(model, got, base, path)
    else:
        assert len(got) == len(base.expected)
        for a, b in zip(got, base.expected, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b), "loaded with other predictions"
    return "loaded"


def _check_working(model: Any, got: list[np.ndarray], base: Base, path: Path) -> None:
    for a in got:
        assert len(a) == len(base.X)
        if a.dtype.kind == "f":
            assert np.isfinite(a).all()
    again = path.with_suffix(".again.npz")
    save(model, again)
    back = predictions(load(again), base.X)
    assert all(np.array_equal(a, b) for a, b in zip(back, got, strict=True))


def write(workdir: Path, data: bytes) -> Path:
    path = workdir / "fuzzed.npz"
    path.write_bytes(data)
    return path


# --- byte-level damage --------------------------------------------------------------------


def test_fuzz_byte_flips(workdir: Path, bases: list[Base]) -> None:
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        count("model files: byte flips")
        base = data.draw(st.sampled_from(bases), label="base")
        raw = bytearray(base.data)
        flips = data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(1, 255)),
                                   min_size=1, max_size=8), label="flips")
        for at, xor in flips:
            raw[at] ^= xor
        result = outcome(write(workdir, bytes(raw)), base)
        if base.sealed and bytes(raw) != base.data:
            assert result == "refused", "a changed sealed file loaded"

    run_fuzz(run)


def test_fuzz_truncation_and_extra_bytes(workdir: Path, bases: list[Base]) -> None:
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        count("model files: truncation and extra bytes")
        base = data.draw(st.sampled_from(bases), label="base")
        cut = data.draw(st.integers(0, len(base.data)), label="keep")
        extra = data.draw(st.binary(max_size=64), label="appended")
        changed = base.data[:cut] + extra
        result = outcome(write(workdir, changed), base)
        if base.sealed and changed != base.data:
            assert result == "refused", "a changed sealed file loaded"

    run_fuzz(run)


# --- header JSON edits ----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False,
    allow_infinity=False) | st.text(max_size=12) | st.sampled_from(
        ["float32", "float64", "softmax", "relu", "tanh", "cross_entropy", "<i8", "|u1",
         "<U5", "object", "he", "auto", "Network", "MLPClassifier", "nablanet-model"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a decoded JSON value."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _edit(header: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    header = json.loads(json.dumps(header))
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        path = data.draw(st.sampled_from(_paths(header)), label="path")
        parent: Any = header
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["set", "delete", "add"]), label="action")
        if action == "set" or not isinstance(parent, dict):
            parent[path[-1]] = data.draw(json_values, label="value")
        elif action == "delete":
            del parent[path[-1]]
        else:
            parent[data.draw(st.text(max_size=10), label="key")] = data.draw(json_values)
    return header


def test_fuzz_header_json_edits(workdir: Path, bases: list[Base]) -> None:
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        count("model files: header JSON edits")
        base = data.draw(st.sampled_from(bases), label="base")
        path = write(workdir, base.data)
        content = members(path)
        header = json.loads(np.load(io.BytesIO(content["header.npy"])).tobytes())
        edited = _edit(header, data)
        resealed = data.draw(st.booleans(), label="resealed")
        content["header.npy"] = header_member(edited)
        write_members(path, content, sealed=resealed)
        # An old file has no digest: an edit to its header is undetectable, so it may load
        # as another working model, as a resealed edit may.
        result = outcome(path, base, new_file=resealed or not base.sealed)
        if base.sealed and not resealed:
            assert result == "refused", "an edited sealed file loaded"

    run_fuzz(run)


# --- zip members ----------------------------------------------------------------------------


# Names a zip can hold: no NUL (zipfile cuts the name there) and no lone surrogate
# (zipfile encodes names as UTF-8; a 10-minute run drew '\ud800', which failed in this
# test's own writer, not in load).
NAMES = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                min_size=1, max_size=12)


def test_fuzz_member_renames(workdir: Path, bases: list[Base]) -> None:
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        count("model files: member renames")
        base = data.draw(st.sampled_from(bases), label="base")
        path = write(workdir, base.data)
        content = members(path)
        names = sorted(content)
        renamed: dict[str, bytes] = {}
        for name in names:
            action = data.draw(st.sampled_from(["keep", "rename", "drop", "twice"]), label=name)
            if action == "keep":
                renamed[name] = content[name]
            elif action == "rename":
                new = data.draw(st.sampled_from(names) | NAMES.map(
                    lambda s: s + data.draw(st.sampled_from(["", ".npy"]))), label="new name")
                renamed[new] = content[name]
            elif action == "twice":
                renamed[name] = content[name]
                renamed[name.replace(".npy", "_2.npy")] = content[name]
        resealed = data.draw(st.booleans(), label="resealed")
        if renamed == content:
            return
        write_members(path, renamed, sealed=resealed)
        assert outcome(path, base, new_file=True) == "refused"

    run_fuzz(run)


def test_fuzz_huge_declared_shapes(workdir: Path, bases: list[Base]) -> None:
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        count("model files: huge declared shapes")
        base = data.draw(st.sampled_from(bases), label="base")
        path = write(workdir, base.data)
        content = members(path)
        name = data.draw(st.sampled_from(sorted(content)), label="member")
        shape = tuple(data.draw(st.lists(st.integers(0, 2**63), min_size=0, max_size=4),
                                label="shape"))
        dtypes = ["<f8", "<f4", "|u1", "<i8", "|b1", ">f8"]
        descr = data.draw(st.sampled_from(dtypes), label="dtype")
        text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}".encode()
        text += b" " * (-(len(text) + 11) % 64) + b"\n"
        header_len = len(text).to_bytes(2, "little")
        old = content[name]
        body = old[10 + int.from_bytes(old[8:10], "little"):]
        content[name] = b"\x93NUMPY\x01\x00" + header_len + text + body
        if content[name] == old:
            return
        write_members(path, content, sealed=data.draw(st.booleans(), label="resealed"))
        outcome(path, base, new_file=True)

    run_fuzz(run)


# --- the round trip -------------------------------------------------------------------------

ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]


def test_fuzz_round_trip_is_identical(workdir: Path) -> None:
    @given(
        sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
        data=st.data(),
        output=st.sampled_from(["sigmoid", "tanh", "identity", "softmax"]),
        dtype=st.sampled_from([np.float32, np.float64]),
        decay=st.floats(0.0, 10.0),
        init=st.sampled_from(["auto", "he", "glorot", "normal", "ufldl"]),
        net_seed=st.integers(0, 2**31),
    )
    def run(sizes: list[int], data: st.DataObject, output: str, dtype: Any, decay: float,
            init: str, net_seed: int) -> None:
        count("model files: save/load round trip")
        hidden = data.draw(st.lists(st.sampled_from(ELEMENTWISE), min_size=len(sizes) - 2,
                                    max_size=len(sizes) - 2), label="hidden")
        net = Network(sizes, activation=hidden, output_activation=output, weight_decay=decay,
                      init=init, seed=net_seed, dtype=dtype)
        net.theta = np.random.default_rng(net_seed).normal(size=net.n_params)
        path = workdir / "round.npz"
        save(net, path)
        back = load(path)
        assert [a.name for a in back.activations] == [a.name for a in net.activations]
        assert back.loss.name == net.loss.name and back.weight_decay == net.weight_decay
        assert back.theta.dtype == net.theta.dtype
        assert np.array_equal(back.theta.view(np.uint8), net.theta.view(np.uint8))
        X = np.random.default_rng(net_seed + 1).normal(size=(5, sizes[0])).astype(dtype)
        assert np.array_equal(back.forward(X), net.forward(X))

    run_fuzz(run)


# --- forged through the real writer -----------------------------------------------------------


def _forged_arrays(arrays: dict[str, np.ndarray], data: st.DataObject) -> dict[str, np.ndarray]:
    """The arrays, some changed: other values (NaN, inf, huge), dtype, shape; or dropped/added."""
    arrays = {name: np.array(a) for name, a in arrays.items()}
    for _ in range(data.draw(st.integers(0, 2), label="array edits")):
        name = data.draw(st.sampled_from(sorted(arrays) + ["extra"]), label="array")
        if name == "extra" or name not in arrays:
            arrays["extra"] = np.zeros(data.draw(st.integers(0, 4), label="extra size"))
            continue
        action = data.draw(st.sampled_from(["value", "dtype", "shape", "drop"]), label="how")
        a = arrays[name]
        if action == "drop":
            del arrays[name]
        elif action == "dtype":
            kind = data.draw(st.sampled_from(["<f4", "<f8", "<i8", "|u1", "|b1", ">f8"]))
            # NaN or a large value cast to an integer warns: the forged value is the case
            with np.errstate(invalid="ignore", over="ignore"):
                arrays[name] = a.astype(kind)
        elif action == "shape":
            arrays[name] = a.reshape(-1)[: data.draw(st.integers(0, max(a.size, 1)))]
        elif a.size and a.dtype.kind == "f":
            flat = a.reshape(-1).copy()
            at = data.draw(st.integers(0, a.size - 1), label="at")
            with np.errstate(over="ignore"):  # 1e300 is inf in a float32 array: also a case
                flat[at] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e300, 0.0,
                                                      -1.0]))
            arrays[name] = flat.reshape(a.shape)
    return arrays


#: Today's bases, one of each kind of model file.
KINDS = {"net": "Network", "net32": "Network (float32)", "clf": "MLPClassifier",
         "reg": "MLPRegressor", "sae": "SparseAutoencoder", "softmax": "SoftmaxRegression",
         "stacked": "StackedAutoencoderClassifier"}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_fuzz_forged_through_the_real_writer(workdir: Path, bases: list[Base], name: str
                                             ) -> None:
    from nablanet.io import read_model, write_model

    (base,) = [b for b in bases if b.name == name]

    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        count(f"model files: forged through the writer ({KINDS[name]})")
        path = write(workdir, base.data)
        header, arrays = read_model(path)
        header = {k: v for k, v in header.items() if k not in ("arrays", "integrity")}
        if data.draw(st.booleans(), label="edit header"):
            header = _edit(header, data)
            header.pop("arrays", None)
            header.pop("integrity", None)
        forged = _forged_arrays(arrays, data)
        try:
            write_model(path, header, forged)
        except (TypeError, ValueError):
            return  # the writer itself refuses (a reserved or bad name): nothing to load
        outcome(path, base, new_file=True)

    run_fuzz(run)
