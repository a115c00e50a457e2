"""Codecs: how each kind of fitted value is written to a model file and checked on reading.

A `Codec` is a pair ``save(value, at, name, arrays) -> JSON`` (arrays go into ``arrays``
under ``at.array(name)``) and ``load(entry, at, name, claims, sizes) -> value``, which
checks the JSON entry and takes the arrays through a `nablanet.io.steps.Claims`, their
shapes checked against ``sizes`` (``"n"``: the step's ``n_features_in_``; other counts by
their names). ``true`` in the JSON marks an array, ``null`` a value that is None; text
(category names, column names, the most frequent string of a column) stays JSON, so no
object array is ever written.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.io.container import short
from nablanet.io.fields import check_field
from nablanet.io.steps import Place

Array = NDArray[Any]

@dataclass(frozen=True)
class Codec:
    """How one kind of fitted value is written (``save``) and checked and rebuilt (``load``).

    ``save(value, at, name, arrays) -> JSON`` may put arrays in ``arrays``;
    ``load(entry, at, name, arrays, sizes) -> value`` reads them back through
    ``arrays`` (a `Claims`), with ``sizes`` the node's ``n_features_in_`` and counts.
    """

    save: Callable[[Any, Place, str, dict[str, Array]], Any]
    load: Callable[[Any, Place, str, Any, dict[str, int]], Any]


def json_value(types: type | tuple[type, ...]) -> Codec:
    """A JSON scalar of one of ``types`` (a NumPy scalar is written as its Python value)."""

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        if isinstance(value, np.generic):
            value = value.item()
        return value

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        return check_field({name: entry}, name, types, source=at.source, where=at.path)

    return Codec(save, load)


def count() -> Codec:
    """An integer >= 0 (``n_features_in_``, ``n_components_``)."""
    plain = json_value(int)

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        value = plain.load(entry, at, name, arrays, sizes)
        if value < 0:
            raise at.fail(f"fitted {name} must be >= 0, got {value}")
        return value

    return Codec(plain.save, load)


def array(kind: str, shape: tuple[str | int | None, ...] | None, *, optional: bool = False,
           finite: bool = False) -> Codec:
    """An array (or None when ``optional``) in the arrays; ``shape`` names sizes.

    A shape entry ``"n"`` is ``n_features_in_``, another string a count fitted beside it,
    None any length.
    """

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        if value is None and optional:
            return None
        arr = np.asarray(value)
        if arr.dtype.kind not in kind:
            raise TypeError(f"fitted {name} has dtype {arr.dtype}, which is not saved")
        arrays[at.array(name)] = arr
        return True

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        if entry is None and optional:
            return None
        if entry is not True:
            raise at.fail(f"fitted {name} must be true (an array){' or null' if optional else ''}")
        want = None if shape is None else tuple(
            sizes[s] if isinstance(s, str) else s for s in shape
        )
        return arrays.take(at, at.array(name), dtype_kind=kind, shape=want, finite=finite)

    return Codec(save, load)


def samples_seen() -> Codec:
    """``n_samples_seen_``: one number (JSON; a float stays a NumPy float), or one per feature."""
    per_feature = array("iuf", ("n",))

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        if np.ndim(value) == 0:
            number = value.item() if isinstance(value, np.generic) else value
            return {"int": number} if isinstance(number, int) else {"float": float(number)}
        return per_feature.save(value, at, name, arrays)

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        if entry is True:
            return per_feature.load(entry, at, name, arrays, sizes)
        if isinstance(entry, dict) and list(entry) in (["int"], ["float"]):
            (tag, number), = entry.items()
            if tag == "int" and isinstance(number, int) and not isinstance(number, bool):
                return number
            if tag == "float" and isinstance(number, int | float) and not isinstance(number, bool):
                return np.float64(number)
        raise at.fail(f"fitted {name} must be {{\"int\": n}}, {{\"float\": n}} or true (an array)")

    return Codec(save, load)


def names() -> Codec:
    """Column names (``feature_names_in_``): JSON strings, one per feature."""

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        return [str(v) for v in value]

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        if not isinstance(entry, list) or len(entry) != sizes["n"] or not all(
            isinstance(v, str) for v in entry
        ):
            raise at.fail(f"fitted {name} must be {sizes['n']} strings")
        return np.asarray(entry, dtype=object)

    return Codec(save, load)


def _plain(v: Any) -> Any:
    """A value of an object array as JSON: text, a boolean, a finite number, or None for NaN.

    Raises
    ------
    TypeError
        For anything else (an object, None itself, infinity).
    """
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, str | bool | int) or (isinstance(v, float) and math.isfinite(v)):
        return v
    raise TypeError(f"holds {short(v)}; only numbers, strings, booleans and NaN are saved")


def _label_entry(values: Array, at: Place, key: str, arrays: dict[str, Array]) -> Any:
    """A 1-D array: of numbers into the arrays, of text or mixed values as JSON.

    ``{"values": [...], "dtype": "object"}`` (null for NaN) for an object array,
    ``"str"`` for NumPy text: rebuilt with the same values and kind of dtype.
    """
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        arrays[at.array(key)] = values
        return True
    try:
        items = [_plain(v) for v in values.tolist()]
    except TypeError as exc:
        raise TypeError(f"fitted {key} {exc}") from None
    return {"values": items, "dtype": "str" if values.dtype.kind == "U" else "object"}


def _label_load(entry: Any, at: Place, key: str, arrays: Any, length: int | None) -> Array:
    if entry is True:
        arr: Array = arrays.take(at, at.array(key), dtype_kind="biuf", shape=(length,))
        return arr
    if not isinstance(entry, dict) or sorted(entry) != ["dtype", "values"] or not isinstance(
        entry["values"], list
    ) or entry["dtype"] not in ("str", "object"):
        raise at.fail(f"fitted {key} must be true (an array) or {{\"values\": [...], "
                      "\"dtype\": \"str\" or \"object\"}")
    items = entry["values"]
    if length is not None and len(items) != length:
        raise at.fail(f"fitted {key} holds {len(items)} values, expected {length}")
    if entry["dtype"] == "str":
        if not all(isinstance(v, str) for v in items):
            raise at.fail(f"fitted {key} must hold strings")
        return np.asarray(items, dtype=str)
    if not all(v is None or isinstance(v, str | bool | int | float) for v in items):
        raise at.fail(f"fitted {key} must hold strings, numbers, booleans or null")
    out = np.empty(len(items), dtype=object)
    out[:] = [np.nan if v is None else v for v in items]
    return out


def labels(length: str | None) -> Codec:
    """A 1-D array of labels (SimpleImputer's ``statistics_``), numbers or strings."""

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        return _label_entry(value, at, name, arrays)

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        return _label_load(entry, at, name, arrays, None if length is None else sizes[length])

    return Codec(save, load)


def label_lists() -> Codec:
    """One array of labels per feature (the encoders' ``categories_``)."""

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        return [_label_entry(v, at, f"{name}{i}", arrays) for i, v in enumerate(value)]

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        if not isinstance(entry, list) or len(entry) != sizes["n"]:
            raise at.fail(f"fitted {name} must be a list of {sizes['n']} entries")
        out = [_label_load(e, at, f"{name}{i}", arrays, None) for i, e in enumerate(entry)]
        for i, cats in enumerate(out):
            if cats.ndim != 1 or cats.size == 0:
                raise at.fail(f"fitted {name}[{i}] must be a non-empty list of categories")
        return out

    return Codec(save, load)


def int_list(length: str) -> Codec:
    """A list of integers >= 0, one per ``length`` (OneHotEncoder's ``_n_features_outs``)."""

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        return [int(v) for v in value]

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        if not isinstance(entry, list) or len(entry) != sizes[length] or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in entry
        ):
            raise at.fail(f"fitted {name} must be {sizes[length]} integers >= 0")
        return list(entry)

    return Codec(save, load)


def int_dict() -> Codec:
    """A dict of int to int (OrdinalEncoder's ``_missing_indices``), as [key, value] pairs."""

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        return [[int(k), int(v)] for k, v in value.items()]

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        ok = isinstance(entry, list) and all(
            isinstance(p, list) and len(p) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in p)
            for p in entry
        )
        if not ok:
            raise at.fail(f"fitted {name} must be a list of [integer, integer] pairs")
        return {k: v for k, v in entry}

    return Codec(save, load)


def dtype() -> Codec:
    """A NumPy dtype (SimpleImputer's ``_fit_dtype``), by its ``str`` or ``"object"``."""

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        dtype = np.dtype(value)
        if dtype.kind not in "biufO":
            raise TypeError(f"fitted {name} is dtype {dtype}, which is not saved")
        return "object" if dtype.kind == "O" else dtype.str

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        try:
            dtype = np.dtype(object if entry == "object" else entry)
        except TypeError:
            dtype = None
        if not isinstance(entry, str) or dtype is None or dtype.kind not in "biufO":
            raise at.fail(f"fitted {name} is {short(entry)}, not a number or object dtype")
        return dtype

    return Codec(save, load)


def false() -> Codec:
    """A flag that must be False (OneHotEncoder's ``_infrequent_enabled``).

    The state of infrequent categories is not saved, so a fit that grouped them is refused.
    """

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        if value is not False:
            raise TypeError(f"fitted {name} is {short(value)} (min_frequency/max_categories "
                            "grouped categories), which is not saved")
        return False

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        if entry is not False:
            raise at.fail(f"fitted {name} must be false")
        return False

    return Codec(save, load)


def indices_or_none(length: str) -> Codec:
    """None, or an object array of category indices or None, one per feature.

    OneHotEncoder's ``drop_idx_`` (``drop="first"`` or ``"if_binary"``): written as an
    int64 array with -1 for None, and rebuilt as the object array ``fit`` makes.
    """

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        if value is None:
            return None
        items = np.asarray(value, dtype=object).tolist()
        if not all(v is None or (isinstance(v, int | np.integer) and v >= 0) for v in items):
            raise TypeError(f"fitted {name} holds {short(items)}, not indices or None")
        arrays[at.array(name)] = np.array([-1 if v is None else int(v) for v in items], np.int64)
        return True

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        if entry is None:
            return None
        if entry is not True:
            raise at.fail(f"fitted {name} must be true (an array) or null")
        arr = arrays.take(at, at.array(name), dtype_kind="i", shape=(sizes[length],))
        if (arr < -1).any():
            raise at.fail(f"fitted {name} holds an index below -1")
        return np.array([None if v == -1 else v for v in arr.tolist()], dtype=object)

    return Codec(save, load)
