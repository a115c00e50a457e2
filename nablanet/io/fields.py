"""Typed checks of a model file's header fields and arrays, shared by every kind of model.

Each check takes the decoded header (or the arrays `read_model` returned), the file's name
for the message and where the value sits in the header, and either returns the value or
raises `ModelFileError` naming the file, the field and the fault. A JSON ``true``/``false``
is never taken for a number.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet import _checks
from nablanet.io.container import fail, short, type_name

Array = NDArray[Any]

__all__ = [
    "check_array",
    "check_field",
    "check_finite_array",
    "check_keys",
    "check_labels",
    "layers_label",
    "name_from",
]


def check_keys(
    mapping: Mapping[str, Any],
    required: Collection[str],
    optional: Collection[str] = (),
    *,
    source: str,
    where: str,
    item: str = "field",
) -> None:
    """Refuse a missing required key or any key outside ``required`` and ``optional``.

    Parameters
    ----------
    mapping : mapping
        A header object or the dict of arrays.
    required, optional : collection of str
        The keys that must and may appear.
    source : str
        The file, for the message.
    where : str
        What holds the keys, for the message: ``"header"``, ``"header field 'network'"``,
        ``"the MLPClassifier file"``.
    item : str, default "field"
        What a key is, for the message: ``"field"`` or ``"array"``.

    Raises
    ------
    ModelFileError
        Naming the first missing or unexpected key.
    """
    for key in required:
        if key not in mapping:
            raise fail(source, f"{where} lacks {item} {short(key)}")
    allowed = set(required) | set(optional)
    unexpected = sorted(str(k) for k in mapping if k not in allowed)
    if unexpected:
        raise fail(
            source,
            f"{where} has unexpected {item} {short(unexpected[0])}; "
            f"expected only {', '.join(sorted(allowed))}",
        )


def _has_type(value: Any, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in allowed:
        return False
    return isinstance(value, allowed)


def check_field(
    mapping: Mapping[str, Any],
    key: str,
    types: type | tuple[type, ...],
    *,
    source: str,
    where: str = "header",
) -> Any:
    """Return ``mapping[key]`` after checking that it exists and has one of ``types``.

    Parameters
    ----------
    mapping : mapping
        A decoded JSON object.
    key : str
    types : type or tuple of type
        JSON types: ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``, ``type(None)``;
        ``bool`` passes only when named.
    source : str
        The file, for the message.
    where : str
        Dotted path of ``mapping`` in the header, for the message.

    Raises
    ------
    ModelFileError
        If the key is missing or its value has another type.
    """
    name = key if where == "header" else f"{where}.{key}"
    if key not in mapping:
        raise fail(source, f"header field {name!r} is missing")
    value = mapping[key]
    allowed = types if isinstance(types, tuple) else (types,)
    if not _has_type(value, allowed):
        expected = " or ".join(type_name(t()) if t is not type(None) else "null" for t in allowed)
        raise fail(
            source,
            f"header field {name!r} must be {expected}, got {type_name(value)} {short(value)}",
        )
    return value


def name_from(table: Mapping[str, Any], value: Any, field: str, what: str, source: str) -> str:
    """Check that ``value`` is a key of ``table`` (no aliases: files hold canonical names).

    Raises
    ------
    ModelFileError
        Naming the field and listing the valid names.
    """
    try:
        _checks.lookup(table, value, what)
    except ValueError:
        raise fail(
            source,
            f"header field {field!r} is {short(value)}, not a known {what}; "
            f"valid: {', '.join(sorted(table))}",
        ) from None
    return str(value)


def check_labels(values: Any, dtype_text: Any, *, source: str, where: str = "header") -> Array:
    """Class labels as saved: a JSON list and the dtype they had, rebuilt exactly.

    Parameters
    ----------
    values : list
        Numbers, booleans or strings.
    dtype_text : str
        ``dtype.str`` of a bool, integer, float or unicode array, or ``"object"`` (labels
        that were Python strings).
    source, where : str
        For the message.

    Returns
    -------
    ndarray
        Holding exactly ``values``: a label the dtype cannot hold (300 in ``|u1``, 2**63 in
        ``<i8``, 1.5 in an integer dtype, text in a number dtype) is refused, not wrapped,
        rounded or converted.

    Raises
    ------
    ModelFileError
    """
    field = "classes" if where == "header" else f"{where}.classes"
    if not isinstance(values, list) or not isinstance(dtype_text, str):
        raise fail(source, f"header field {field!r} must be a list with a dtype string")
    try:
        dtype = np.dtype(dtype_text) if dtype_text != "object" else np.dtype(object)
    except TypeError:
        raise fail(
            source, f"header field 'classes_dtype' is {short(dtype_text)}, not a dtype"
        ) from None
    if dtype.kind not in "biufUO" or (dtype.kind == "U" and dtype.itemsize > 4 * 1024):
        raise fail(source, f"header field 'classes_dtype' {short(dtype_text)} is not a label dtype")
    number = dtype.kind in "biuf"
    for v in values:
        ok = _has_type(v, (int, float, bool)) if number else isinstance(v, str)
        if not ok:
            raise fail(source, f"header field {field!r} holds {short(v)}, not a {dtype} label")
    try:
        labels = np.array(values, dtype=dtype)
    except (OverflowError, ValueError, TypeError) as exc:
        raise fail(source, f"header field {field!r} does not fit dtype {dtype} ({exc})") from None
    back = labels.tolist()
    if back != values or any(type(a) is not type(b) for a, b in zip(back, values, strict=True)):
        raise fail(source, f"header field {field!r} changes when held as {dtype}: {short(values)}")
    return labels


def check_classes(values: Any, dtype_text: Any, *, source: str, minimum: int = 2) -> Array:
    """A classifier's ``classes_`` as saved: `check_labels`, ``minimum`` or more, distinct, sorted.

    ``minimum`` is 1 for a classifier fitted on a single class (as scikit-learn allows).

    Raises
    ------
    ModelFileError
    """
    classes = check_labels(values, dtype_text, source=source)
    if len(values) < minimum or not np.array_equal(np.unique(classes), classes):
        count = "at least two" if minimum == 2 else f"at least {minimum}"
        raise fail(
            source,
            f"header field 'classes' must hold {count} distinct labels in sorted order, "
            f"got {short(values)}",
        )
    return classes


def label_state(classes: Array) -> tuple[list[Any], str]:
    """The JSON list and dtype text that `check_labels` rebuilds ``classes`` from.

    Raises
    ------
    ValueError
        For labels a model file cannot hold exactly (only numbers, booleans and strings).
    """
    kind = classes.dtype.kind
    if kind not in "biufUO" or (kind == "O" and not all(isinstance(c, str) for c in classes)):
        raise ValueError(
            f"cannot save class labels of dtype {classes.dtype} (numbers, booleans and "
            "strings only)"
        )
    values = [str(c) for c in classes] if kind in "OU" else classes.tolist()
    return values, "object" if kind == "O" else classes.dtype.str


def layers_label(sizes: tuple[int, ...]) -> str:
    """``4-5-3-3``; long architectures abbreviated so that messages stay readable."""
    if len(sizes) <= 12:
        return "-".join(map(str, sizes))
    head = "-".join(map(str, sizes[:5]))
    tail = "-".join(map(str, sizes[-2:]))
    return f"{head}-...-{tail} ({len(sizes)} layers)"


def _shape_text(shape: tuple[int | None, ...]) -> str:
    inner = ", ".join("?" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _check_shape(
    arr: Array, name: str, shape: tuple[int | None, ...], context: str, source: str
) -> None:
    fits = arr.ndim == len(shape) and all(
        want is None or have == want for have, want in zip(arr.shape, shape, strict=True)
    )
    if not fits:
        tail = f" {context}" if context else ""
        raise fail(
            source, f"array {name!r} has shape {arr.shape}, expected {_shape_text(shape)}{tail}"
        )


def check_array(
    arrays: Mapping[str, Array],
    name: str,
    *,
    source: str,
    shape: tuple[int | None, ...] | None = None,
    dtype: Any = None,
    dtype_kind: str | None = None,
    finite: bool = False,
    context: str = "",
) -> Array:
    """Return ``arrays[name]`` after checking its presence, shape, dtype and values.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        The arrays `read_model` returned.
    name : str
    source : str
        The file, for the message.
    shape : tuple of int or None, optional
        The required shape; ``None`` in a position accepts any length there.
    dtype : dtype-like, optional
        The exact dtype required (byte order aside: `read_model` returns native order).
    dtype_kind : str, optional
        Accepted ``dtype.kind`` letters, e.g. ``"f"`` or ``"iu"``.
    finite : bool, default False
        Refuse NaN and infinity.
    context : str, optional
        Appended to a shape message, e.g. ``"for layers 4-5-3-3"``.

    Returns
    -------
    ndarray

    Raises
    ------
    ModelFileError
        Naming the array and the fault.
    """
    if name not in arrays:
        raise fail(source, f"array {name!r} is missing")
    arr = arrays[name]
    if shape is not None:
        _check_shape(arr, name, shape, context, source)
    if dtype is not None and arr.dtype != np.dtype(dtype):
        raise fail(source, f"array {name!r} has dtype {arr.dtype}, expected {np.dtype(dtype)}")
    if dtype_kind is not None and arr.dtype.kind not in dtype_kind:
        kinds = {"b": "bool", "i": "integer", "u": "unsigned integer", "f": "float"}
        expected = " or ".join(kinds.get(k, k) for k in dtype_kind)
        raise fail(source, f"array {name!r} has dtype {arr.dtype}, expected a {expected} array")
    if finite and arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            at = where[0] if len(where) == 1 else where
            raise fail(source, f"array {name!r} contains NaN or infinity (first at index {at})")
    return arr


def check_finite_array(
    arrays: Mapping[str, Array],
    name: str,
    *,
    source: str,
    shape: tuple[int | None, ...] | None = None,
    dtype_kind: str = "f",
    context: str = "",
) -> Array:
    """`check_array` for a float array that must hold only finite values.

    Parameters
    ----------
    arrays : mapping of str to ndarray
    name : str
    source : str
    shape : tuple of int or None, optional
    dtype_kind : str, default "f"
    context : str, optional

    Returns
    -------
    ndarray
    """
    return check_array(
        arrays, name, source=source, shape=shape, dtype_kind=dtype_kind, finite=True,
        context=context,
    )
