"""The JSON header every model file has: its common fields, its manifest, and `read_model`.

The header member is parsed as strict JSON (no NaN or Infinity, no duplicate keys), then
its common fields are checked (``format``, ``format_version``, ``library_version``,
``kind``, optional ``created``, and ``integrity`` exactly when the file carries a digest:
see `nablanet.io.container`), then its manifest against the arrays present. What the rest
of the header means is for the kind of model (`nablanet.io.network`,
`nablanet.io.estimators`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._version import __version__
from nablanet.io.container import (
    ARRAY_NAME,
    FORMAT_NAME,
    FORMAT_VERSION,
    INTEGRITY,
    MANIFEST,
    RESERVED_ARRAY_NAMES,
    SEALED_BY,
    SEALED_VERSION,
    checksum,
    fail,
    read_archive,
    short,
    type_name,
    write_model,
)
from nablanet.io.fields import check_field, check_keys

Array = NDArray[Any]


def parse_json(data: bytes, source: str) -> Any:
    """Strict JSON: NaN, Infinity and duplicate keys are refused."""

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            keys = [k for k, _ in pairs]
            raise ValueError(f"duplicate key {short(next(k for k in keys if keys.count(k) > 1))}")
        return obj

    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_constant=refuse_constant, object_pairs_hook=refuse_duplicates)
    except (ValueError, RecursionError) as exc:
        raise fail(source, f"the header is not valid UTF-8 JSON ({exc})") from None


def _check_version(header: dict[str, Any], sealed: bool, source: str) -> int:
    version = check_field(header, "format_version", int, source=source)
    library = check_field(header, "library_version", str, source=source)
    if version > FORMAT_VERSION:
        raise fail(
            source,
            f"written in model format version {version} by nablanet {short(library)}; this "
            f"nablanet reads format versions 1 to {FORMAT_VERSION}: upgrade nablanet",
        )
    if version < 1:
        raise fail(source, f"format_version {version} is not a valid version")
    if len(library) > 64:
        raise fail(source, f"header field 'library_version' is too long: {short(library)}")
    # Only version 3 and later files carry a digest, and each says so in its header: an
    # edit that claims an older version (whose files had none) or strips it is refused.
    if sealed and version < SEALED_VERSION:
        raise fail(source, f"the file was altered: it carries a digest, which format version "
                           f"{version} files never had")
    if not sealed and version >= SEALED_VERSION:
        raise fail(source, f"the file was truncated or corrupted, or altered: format version "
                           f"{version} files end with a digest, and this one has none")
    if not sealed and INTEGRITY in header:
        raise fail(source, f"the file was altered: its header has field {INTEGRITY!r}, which "
                           f"format version {version} files never had")
    if sealed and check_field(header, INTEGRITY, str, source=source) != SEALED_BY:
        raise fail(source, f"header field {INTEGRITY!r} is {short(header[INTEGRITY])}, "
                           f"expected {SEALED_BY!r}")
    return version


def check_common(header: Any, sealed: bool, source: str) -> dict[str, Any]:
    """The fields every model file has: format, versions, kind, creation time, integrity."""
    if not isinstance(header, dict):
        raise fail(source, f"the header must be a JSON object, got {type_name(header)}")
    fmt = header.get("format")
    if fmt != FORMAT_NAME:
        raise fail(
            source,
            f"not a nablanet model file: header field 'format' is {short(fmt)}, "
            f"expected {FORMAT_NAME!r}",
        )
    _check_version(header, sealed, source)
    check_field(header, "kind", str, source=source)
    if "created" in header:
        check_field(header, "created", str, source=source)
    return header


def check_manifest(header: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """The ``arrays`` field: for each array, its dtype string, shape and SHA-256."""
    manifest = check_field(header, MANIFEST, dict, source=source)
    for name, entry in manifest.items():
        if not ARRAY_NAME.match(name) or name in RESERVED_ARRAY_NAMES:
            raise fail(source, f"the manifest names an invalid array {short(name)}")
        where = f"{MANIFEST}.{name}"
        if not isinstance(entry, dict):
            raise fail(source, f"header field {where!r} must be object, got {short(entry)}")
        check_keys(
            entry, ("dtype", "shape", "sha256"), source=source, where=f"header field {where!r}"
        )
        check_field(entry, "dtype", str, source=source, where=where)
        shape = check_field(entry, "shape", list, source=source, where=where)
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise fail(source, f"header field '{where}.shape' is not a shape: {short(shape)}")
        digest = check_field(entry, "sha256", str, source=source, where=where)
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise fail(source, f"header field '{where}.sha256' is not a SHA-256 hex digest")
    return manifest


def _checked_array(name: str, arr: Array, entry: Mapping[str, Any], source: str) -> Array:
    if entry["dtype"] != arr.dtype.str or tuple(entry["shape"]) != arr.shape:
        raise fail(
            source,
            f"array {name!r} is stored as {arr.dtype.str} of shape {arr.shape} but the "
            f"header says {short(entry['dtype'])} of shape {short(tuple(entry['shape']))}: "
            "the file was altered",
        )
    if checksum(arr) != entry["sha256"]:
        raise fail(
            source, f"array {name!r} does not match its checksum: the file was altered or corrupted"
        )
    if arr.dtype.kind == "b" and (arr.view(np.uint8) > 1).any():
        raise fail(source, f"bool array {name!r} holds values other than 0 and 1")
    # A new, writable, C-ordered array in native byte order: values unchanged.
    return np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C")


def manifest_arrays(
    members: Mapping[str, Array], manifest: Mapping[str, Any], source: str
) -> dict[str, Array]:
    """The members, checked against the manifest: exactly the same names, dtypes, shapes, bytes."""
    for name in members:
        if name not in manifest:
            raise fail(source, f"unexpected array {name!r}: the header does not list it")
    for name in manifest:
        if name not in members:
            raise fail(source, f"array {name!r} is listed in the header but missing")
    return {name: _checked_array(name, a, manifest[name], source) for name, a in members.items()}


def read_model(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Array]]:
    """Read and check a file written by `write_model`; never unpickles anything.

    Checks the container (see `nablanet.io.container.read_archive`: path, digest, zip,
    ``.npy`` headers), the header's common fields and the manifest: exactly the listed
    arrays are present, each with its listed dtype, shape and SHA-256. What the header
    means for a kind of model is checked by `nablanet.io.load`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    header : dict
        The decoded JSON header, manifest (``"arrays"``) included.
    arrays : dict of str to ndarray
        Every array but the header, new and writable, in native byte order.

    Raises
    ------
    ModelFileError
        For an empty, truncated, corrupt, tampered or hostile file, a FIFO or device, a
        file that is not a nablanet model, or one written in a newer format version.
    OSError
        If ``path`` cannot be opened (FileNotFoundError, PermissionError,
        IsADirectoryError): those concern the path, not the file's content.
    """
    source = os.fspath(path)
    raw, sealed, members = read_archive(source)
    header = check_common(parse_json(raw, source), sealed, source)
    manifest = check_manifest(header, source)
    return header, manifest_arrays(members, manifest, source)


def save_state(
    path: str | os.PathLike[str], state: Mapping[str, Any], arrays: Mapping[str, Any]
) -> None:
    """Write one model: the fields every file has, then ``state`` (which names its kind).

    Parameters
    ----------
    path : str or path-like
    state : mapping
        JSON fields with ``"kind"``; none of the fields written here (``format``,
        ``format_version``, ``library_version``, ``created``) nor those of `write_model`.
    arrays : mapping of str to ndarray
    """
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "kind": state["kind"],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **state,
    }
    write_model(path, header, arrays)
