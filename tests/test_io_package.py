"""The io package's shape: what each module may import, the names others use, one atomic write."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nablanet

PACKAGE = Path(nablanet.__file__).parent


def modules_after(statement: str) -> list[str]:
    """The nablanet modules a fresh interpreter holds after running ``statement``."""
    code = f"{statement}; import sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=PACKAGE.parent,
    )
    return [m for m in json.loads(out.stdout) if m.startswith("nablanet")]


def test_the_container_imports_nothing_of_nablanet_beyond_its_leaves() -> None:
    # container, files and npy may be used by anything (the data download uses the atomic
    # write): importing them must not pull the network, the estimators or the data readers.
    for module in ("container", "files", "npy"):
        source = (PACKAGE / "io" / f"{module}.py").read_text()
        imported = {
            node.module
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.module
        } | {
            alias.name
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        inside = {m for m in imported if m.startswith("nablanet")}
        assert inside <= {"nablanet.io.files", "nablanet.io.npy"}, (module, inside)
    loaded = modules_after("import nablanet.io.files")
    assert "nablanet.network" not in loaded and "nablanet.estimators" not in loaded


def test_the_estimators_do_not_import_io_at_module_level() -> None:
    loaded = modules_after("import nablanet.estimators")
    assert not [m for m in loaded if m.startswith("nablanet.io")]


def test_names_others_import_keep_working() -> None:
    from nablanet import ModelFileError, load, save
    from nablanet.io import (
        FORMAT_VERSION,
        MAX_HEADER_BYTES,
        check_array,
        check_field,
        check_finite_array,
        check_keys,
        network_from_state,
        network_state,
        read_model,
        write_model,
    )
    from nablanet.io import ModelFileError as E
    from nablanet.io import load as io_load
    from nablanet.io import save as io_save

    assert (save, load, E) == (io_save, io_load, ModelFileError)
    assert issubclass(ModelFileError, ValueError)
    assert FORMAT_VERSION == 3 and MAX_HEADER_BYTES > 0
    for f in (check_array, check_field, check_finite_array, check_keys, network_from_state,
              network_state, read_model, write_model):
        assert callable(f)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nablanet.io.nope  # noqa: B018


def test_one_atomic_write_in_the_project() -> None:
    # os.replace (the atomic rename) appears in exactly one module of the library.
    users = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "os.replace(" in p.read_text()
    )
    assert users == ["io/files.py"]


def test_modules_and_functions_stay_short() -> None:
    for path in (PACKAGE / "io").glob("*.py"):
        source = path.read_text()
        assert source.count("\n") <= 420, path.name
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                length = (node.end_lineno or 0) - body[0].lineno + 1
                assert length <= 50, f"{path.name}:{node.name} has {length} lines"


def test_jsonable_is_the_one_sanitiser() -> None:
    from nablanet.io import jsonable

    value = {"a": np.float32(0.1), "b": [np.nan, np.inf, 1.0], "c": (np.int64(3), True),
             "d": np.arange(2)}
    assert jsonable(value) == {"a": float(np.float32(0.1)), "b": [None, None, 1.0],
                               "c": [3, True], "d": [0, 1]}
    assert json.dumps(jsonable(value), allow_nan=False)
    with pytest.raises(TypeError, match="not JSON"):
        jsonable(object())
    assert jsonable({"x": object}, other=lambda v: "obj") == {"x": "obj"}


def test_every_estimator_kind_names_its_class() -> None:
    from nablanet.io.estimators import ESTIMATOR_KINDS

    for kind, find in ESTIMATOR_KINDS.items():
        cls = find()
        assert cls.__name__ == kind and hasattr(cls, "_from_state") and hasattr(cls, "_to_state")


def test_the_cli_prints_json_through_the_same_sanitiser(capsys: pytest.CaptureFixture[str]) -> None:
    from nablanet.cli._common import print_json

    print_json({"a": np.array([np.nan, 1.0]), "b": np.bool_(True), "p": Path("x"),
                "n": np.float32(np.inf)})
    assert json.loads(capsys.readouterr().out) == {"a": [None, 1.0], "b": True, "p": "x",
                                                  "n": None}


def test_jsonable_takes_zero_dimensional_arrays() -> None:
    import numpy as np

    from nablanet.io import jsonable

    assert jsonable({"mean": np.array(1.5), "std": np.where(True, np.float64(2.0), 1.0)}) == {
        "mean": 1.5, "std": 2.0}
    assert jsonable(np.array(np.nan)) is None
