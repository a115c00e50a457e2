"""A fitted `ColumnTransformer` in a model file: which columns go where, and its fitted steps.

The node keeps the constructor's ``transformers`` (a name, the columns and ``"drop"``,
``"passthrough"`` or ``"estimator"``, the unfitted copy of the fitted step) and
``remainder``, and what ``fit`` found: the fitted steps with their columns (the remainder's
last when it read any column), the input columns each reads, the output columns each
writes, and the column names it was fitted on. Column selections are JSON: a name, an
index, a list of names, indices or booleans, or ``{"slice": [start, stop, step]}``.
An ``n_jobs`` above the loading machine's CPU count is read as -1 (every CPU), so that a
file cannot have ``transform`` start any number of worker processes.
The steps inside are saved and rebuilt by the caller (`nablanet.io.pipeline`), through
the two functions it passes in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.io.container import short
from nablanet.io.fields import check_field, check_keys
from nablanet.io.steps import Place, build, load_output_config, params_state, save_output_config

Array = NDArray[Any]

#: What a transformer's slot may hold instead of an estimator.
WORDS = ("drop", "passthrough")
_FITTED = ("n_features_in_", "sparse_output_", "transformers_", "remainder_columns",
           "input_indices", "output_indices_")

#: ``save_step(step, place) -> node`` and ``load_step(node, place) -> step``.
SaveStep = Callable[[Any, Place], Any]
LoadStep = Callable[[Any, Place], Any]


def _inner(at: Place, name: str, j: int) -> Place:
    return Place(at.source, f"{at.path} > transformer {name!r}", f"{at.prefix}t{j}_")


def _remainder_place(at: Place) -> Place:
    return Place(at.source, f"{at.path} > remainder", f"{at.prefix}r_")


def columns_state(columns: Any) -> Any:
    """A column selection as JSON (see the module notes)."""
    if isinstance(columns, slice):
        return {"slice": [columns.start, columns.stop, columns.step]}
    if hasattr(columns, "tolist"):  # a NumPy array or scalar, a pandas Index or Series
        columns = columns.tolist()
    if isinstance(columns, list):
        return [c.item() if isinstance(c, np.generic) else c for c in columns]
    return columns


def columns_from(value: Any, at: Place) -> Any:
    """A column selection written by `columns_state`, checked."""
    def is_int(c: Any) -> bool:
        return isinstance(c, int) and not isinstance(c, bool)

    if isinstance(value, dict) and list(value) == ["slice"]:
        bounds = value["slice"]
        # by position, or by name (pandas' label slice, both ends included)
        if isinstance(bounds, list) and len(bounds) == 3 and any(
            all(b is None or test(b) for b in bounds)
            for test in (is_int, lambda b: isinstance(b, str))
        ):
            return slice(*bounds)
    elif isinstance(value, str) or is_int(value):
        return value
    elif isinstance(value, list) and any(
        all(test(c) for c in value) for test in (lambda c: isinstance(c, str), is_int,
                                                 lambda c: isinstance(c, bool))
    ):
        return value
    raise at.fail(f"{short(value)} is not a column selection")


def state(ct: Any, at: Place, save_step: SaveStep) -> dict[str, Any]:
    """The node of a fitted ColumnTransformer; its steps' nodes come from ``save_step``.

    Raises
    ------
    TypeError
        If it is not fitted, or a step cannot be saved.
    """
    if not hasattr(ct, "transformers_"):
        raise TypeError(f"cannot save {at.path}: the ColumnTransformer is not fitted")
    transformers = [
        {"name": name, "columns": columns_state(columns),
         "step": step if isinstance(step, str) else "estimator"}
        for (name, step, _), columns in zip(ct.transformers, ct._columns, strict=True)
    ]
    fitted_steps = [
        {"name": name, "columns": columns_state(columns),
         "step": step if isinstance(step, str) else save_step(step, _inner(at, name, j))}
        for j, (name, step, columns) in enumerate(ct.transformers_)
    ]
    remainder = ct.remainder
    if not isinstance(remainder, str):
        # fitted (the last fitted step) when it read any column; else unfitted, kept here
        remainder = ("estimator" if ct._remainder[2]
                     else save_step(remainder, _remainder_place(at)))
    fitted: dict[str, Any] = {
        "n_features_in_": int(ct.n_features_in_),
        "sparse_output_": bool(ct.sparse_output_),
        "transformers_": fitted_steps,
        "remainder_columns": columns_state(ct._remainder[2]),
        "input_indices": {k: [int(i) for i in v]
                          for k, v in ct._transformer_to_input_indices.items()},
        "output_indices_": {k: [s.start, s.stop] for k, s in ct.output_indices_.items()},
    }
    if hasattr(ct, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(f) for f in ct.feature_names_in_]
    node = {"kind": "ColumnTransformer",
            "params": params_state(ct, at.path, ("transformers", "remainder")),
            "transformers": transformers, "remainder": remainder, "fitted": fitted}
    save_output_config(ct, node, at)
    return node


def from_state(node: dict[str, Any], at: Place, load_step: LoadStep) -> Any:
    """Rebuild a fitted ColumnTransformer, checking every field; steps by ``load_step``.

    Raises
    ------
    ModelFileError
        Naming the file, the place and the fault.
    """
    from sklearn.compose import ColumnTransformer

    check_keys(node, ("kind", "params", "transformers", "remainder", "fitted"),
               ("output_config",), source=at.source, where=at.path)
    fitted = check_field(node, "fitted", dict, source=at.source, where=at.path)
    check_keys(fitted, _FITTED, ("feature_names_in_",), source=at.source,
               where=f"{at.path}: fitted")
    n = check_field(fitted, "n_features_in_", int, source=at.source, where=at.path)
    fitted_steps = _fitted_steps(fitted, at, load_step)
    transformers = _transformers(node, fitted_steps, at)
    remainder = _remainder(node, fitted_steps, len(transformers), at, load_step)
    ct = build(ColumnTransformer, node["params"], at,
               {"transformers": transformers, "remainder": remainder})
    if isinstance(ct.n_jobs, int) and ct.n_jobs > (os.cpu_count() or 1):
        # transform starts n_jobs worker processes: a file asks for at most every CPU
        ct.n_jobs = -1
    ct.n_features_in_ = n
    if "feature_names_in_" in fitted:
        names = fitted["feature_names_in_"]
        if not isinstance(names, list) or len(names) != n or not all(
            isinstance(c, str) for c in names
        ):
            raise at.fail(f"fitted feature_names_in_ must be {n} strings")
        ct.feature_names_in_ = np.asarray(names, dtype=object)
    ct.sparse_output_ = check_field(fitted, "sparse_output_", bool, source=at.source,
                                    where=at.path)
    ct.transformers_ = fitted_steps
    ct._columns = [columns for _, _, columns in fitted_steps[: len(transformers)]]
    ct._remainder = ("remainder", remainder, columns_from(fitted["remainder_columns"], at))
    names = [name for name, _, _ in transformers]
    ct._transformer_to_input_indices = _input_indices(
        fitted["input_indices"], [*names, "remainder"], n, at
    )
    ct.output_indices_ = _output_indices(fitted["output_indices_"], names, at)
    load_output_config(ct, node, at)
    return ct


def _check_entry(entry: Any, label: str, at: Place) -> None:
    """One transformer entry of the file: an object of exactly name, columns and step."""
    if not isinstance(entry, dict):
        raise at.fail(f"{label} must be an object")
    check_keys(entry, ("name", "columns", "step"), source=at.source,
               where=f"{at.path}: {label}")


def _fitted_steps(fitted: dict[str, Any], at: Place,
                  load_step: LoadStep) -> list[tuple[str, Any, Any]]:
    entries = check_field(fitted, "transformers_", list, source=at.source, where=at.path)
    out = []
    for j, entry in enumerate(entries):
        _check_entry(entry, f"fitted transformers_[{j}]", at)
        name = check_field(entry, "name", str, source=at.source, where=at.path)
        step = entry["step"]
        if step not in WORDS:
            step = load_step(step, _inner(at, name, j))
        out.append((name, step, columns_from(entry["columns"], at)))
    return out


def _transformers(node: dict[str, Any], fitted_steps: list[tuple[str, Any, Any]],
                  at: Place) -> list[tuple[str, Any, Any]]:
    """The constructor's ``transformers``: each estimator an unfitted copy of the fitted one."""
    from sklearn.base import clone

    entries = check_field(node, "transformers", list, source=at.source, where=at.path)
    if len(entries) not in (len(fitted_steps), len(fitted_steps) - 1):
        raise at.fail("the fitted transformers do not match the transformers")
    out = []
    for j, entry in enumerate(entries):
        _check_entry(entry, f"transformers[{j}]", at)
        name, fitted_step, _ = fitted_steps[j]
        if entry["name"] != name:
            raise at.fail(f"transformers[{j}] is {short(entry['name'])}, fitted as {name!r}")
        step = entry["step"]
        if step == "estimator" and not isinstance(fitted_step, str):
            step = clone(fitted_step)
        elif step not in WORDS:
            raise at.fail(f"transformers[{j}].step must be drop, passthrough or estimator "
                          "(with a fitted estimator)")
        out.append((name, step, columns_from(entry["columns"], at)))
    return out


def _remainder(node: dict[str, Any], fitted_steps: list[tuple[str, Any, Any]], n_user: int,
               at: Place, load_step: LoadStep) -> Any:
    from sklearn.base import clone

    remainder = node["remainder"]
    has_fitted = len(fitted_steps) > n_user
    if has_fitted and fitted_steps[-1][0] != "remainder":
        raise at.fail("the last fitted transformer must be the remainder")
    if remainder in WORDS:
        return remainder
    if remainder == "estimator":
        if not has_fitted or isinstance(fitted_steps[-1][1], str):
            raise at.fail("the remainder has no fitted estimator")
        return clone(fitted_steps[-1][1])
    return load_step(remainder, _remainder_place(at))


def _input_indices(value: Any, names: list[str], n: int, at: Place) -> dict[str, list[int]]:
    """Which input columns each transformer reads: indices in [0, n)."""
    if not isinstance(value, dict) or sorted(value) != sorted(names):
        raise at.fail(f"fitted input_indices must name exactly {', '.join(names)}")
    for name, indices in value.items():
        if not isinstance(indices, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n for i in indices
        ):
            raise at.fail(f"fitted input_indices[{name!r}] must list column indices below {n}")
    return {name: list(value[name]) for name in names}


def _output_indices(value: Any, names: list[str], at: Place) -> dict[str, slice]:
    """Which output columns each transformer writes, from [start, stop] pairs."""
    if not isinstance(value, dict) or not set(names) <= set(value) <= {*names, "remainder"}:
        raise at.fail("fitted output_indices_ must name every transformer")
    out = {}
    for name, pair in value.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in pair
        ) and pair[0] <= pair[1]):
            raise at.fail(f"fitted output_indices_[{name!r}] must be [start, stop]")
        out[name] = slice(pair[0], pair[1])
    return out
