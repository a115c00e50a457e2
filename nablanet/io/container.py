"""The model file container: .npy arrays and a JSON header in a zip, sealed by a digest.

File layout (format version 3)
------------------------------
A model file is an ordinary NumPy ``.npz`` archive (a zip of uncompressed ``.npy``
members) that ``np.load(path, allow_pickle=False)`` opens:

- member ``header``: the UTF-8 bytes of one JSON object, as a 1-D uint8 array;
- every other member: one bool, integer or float array, listed in the header's
  ``"arrays"`` manifest with its dtype (``dtype.str``), shape and the SHA-256 of its bytes;
- the zip comment, the last 80 bytes of the file: ``nablanet-sha256:`` and the SHA-256,
  in hex, of every byte of the file before those 64 hex digits. The header says so in its
  field ``"integrity": "sha256-zip-comment"``.

The digest covers everything `write_model` wrote: the JSON header, every ``.npy`` header,
the data and the zip's own records. `read_model` checks it first, before it parses the zip,
any ``.npy`` header or the JSON, so a changed byte anywhere is refused as corruption.
Versions 1 and 2 had no digest: such files still load (their arrays are checked against
the manifest, their members against the zip CRCs), but a version-1 or -2 header that
carries ``integrity``, or a file sealed by a digest that claims version 1 or 2, is refused:
a new file edited to claim an old version cannot load as one. The digest detects
corruption and edits; anyone can compute a SHA-256, so it is not a signature and cannot
prove who wrote a file.

This module knows nothing of networks and imports nothing of nablanet: the header's
meaning for each kind of model is checked by the modules beside it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from nablanet.io.files import NotRegularFile, atomic_write, open_regular
from nablanet.io.npy import NpyError, parse_npy

Array = NDArray[Any]

#: The value of the header's "format" field.
FORMAT_NAME = "nablanet-model"
#: The version `write_model` writes. Version 1 stored each W(l) of theta row-major, version
#: 2 column-major (see `nablanet.layout`); version 3 adds the digest. All are read.
FORMAT_VERSION = 3
#: The first version whose files carry the digest.
SEALED_VERSION = 3
#: Largest JSON header accepted, in bytes.
MAX_HEADER_BYTES = 1 << 20
#: Largest single array accepted, in bytes (a sanity bound; sizes must also match the file).
MAX_ARRAY_BYTES = 1 << 34
#: Most members an archive may hold (the header included).
MAX_MEMBERS = 256
#: The header's manifest field, and the fields every header has (written by `save`).
MANIFEST = "arrays"
INTEGRITY = "integrity"
COMMON_FIELDS = ("format", "format_version", "library_version", "kind", "created")
_SEAL = b"nablanet-sha256:"
SEALED_BY = "sha256-zip-comment"
_HEX_DIGITS = 64
_CHUNK = 1 << 20
ARRAY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")
# "file" and "allow_pickle" are np.savez's own keywords; "header" holds the JSON.
RESERVED_ARRAY_NAMES = frozenset({"header", "file", "allow_pickle"})
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"
# What zipfile raises on a damaged archive (its CRC check included).
_CORRUPT = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    zlib.error,
    struct.error,
    OSError,
)


class ModelFileError(ValueError):
    """A model file was refused: not a nablanet model, truncated, corrupt, tampered or hostile.

    The message starts with the file's path and says exactly what is wrong.
    """


def fail(source: str, message: str) -> ModelFileError:
    """The error for a fault in file ``source``: ``"SOURCE: MESSAGE"``."""
    return ModelFileError(f"{source}: {message}")


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: hostile values can be long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    return {dict: "object", list: "list", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def jsonable(value: Any, *, other: Any = None) -> Any:
    """``value`` as plain JSON values: the project's one JSON sanitiser.

    NumPy scalars become Python numbers exactly (a float32 is exact in a float64), arrays
    and tuples become lists, and NaN and infinity, which JSON lacks, become None.

    Parameters
    ----------
    value : Any
    other : callable, optional
        Applied to a value of any other type (e.g. ``str``); by default such a value
        raises TypeError.

    Raises
    ------
    TypeError
        For a value JSON cannot hold and no ``other``.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v, other=other) for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]  # a 0-d array is a scalar (np.where and reductions return them)
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v, other=other) for v in value]
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if other is not None:
        return other(value)
    raise TypeError(
        f"header value {short(value)} of type {type(value).__name__} is not JSON; "
        "put arrays in `arrays`"
    )


def checksum(arr: Array) -> str:
    """SHA-256 of the array's bytes in C order, in its own dtype (byte order included)."""
    return hashlib.sha256(np.ascontiguousarray(arr).data).hexdigest()


# --- writing --------------------------------------------------------------------------------


def _members(arrays: Mapping[str, Any]) -> dict[str, Array]:
    members: dict[str, Array] = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not ARRAY_NAME.match(name):
            raise ValueError(
                f"array name {short(name)} must be a letter followed by at most 63 letters, "
                "digits or underscores"
            )
        if name in RESERVED_ARRAY_NAMES:
            raise ValueError(f"array name {name!r} is reserved")
        arr = np.ascontiguousarray(value)
        if arr.dtype.kind not in "biuf":
            raise ValueError(
                f"array {name!r} has dtype {arr.dtype}; only bool, integer and float arrays "
                "can be saved"
            )
        members[name] = arr
    return members


def _scalar(value: Any) -> Any:
    """json.dumps' fallback for the header: NumPy numbers, exactly; an array is refused."""
    if isinstance(value, np.generic):
        return jsonable(value)
    raise TypeError(
        f"header value {short(value)} of type {type(value).__name__} is not JSON; "
        "put arrays in `arrays`"
    )


def _header_bytes(header: dict[str, Any], members: Mapping[str, Array]) -> bytes:
    manifest = {
        name: {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": checksum(arr)}
        for name, arr in members.items()
    }
    text = json.dumps(
        {**header, INTEGRITY: SEALED_BY, MANIFEST: manifest},
        allow_nan=False,  # a NaN in a header is a bug upstream: refuse rather than hide it
        ensure_ascii=False,
        separators=(",", ":"),
        default=_scalar,
    )
    data = text.encode("utf-8")
    if len(data) > MAX_HEADER_BYTES:
        raise ValueError(
            f"header is {len(data)} bytes, over the limit of {MAX_HEADER_BYTES}; "
            "put large data in arrays"
        )
    return data


def _seal(f: IO[bytes]) -> None:
    """Write the SHA-256 of the file before the comment's hex digits into those digits."""
    end = f.seek(0, os.SEEK_END)
    f.seek(0)
    digest = _sha256_of(f, end - _HEX_DIGITS)
    f.seek(end - _HEX_DIGITS)
    f.write(digest.encode("ascii"))


def _sha256_of(f: IO[bytes], n: int) -> str:
    h = hashlib.sha256()
    while n > 0:
        chunk = f.read(min(_CHUNK, n))
        if not chunk:
            raise EOFError("file shorter than its size")
        h.update(chunk)
        n -= len(chunk)
    return h.hexdigest()


def write_model(
    path: str | os.PathLike[str], header: dict[str, Any], arrays: Mapping[str, Any]
) -> None:
    """Write a header and arrays to ``path`` as a sealed .npz archive, atomically.

    Parameters
    ----------
    path : str or path-like
        Written exactly as given (no ".npz" appended), through `atomic_write`.
    header : dict
        JSON-serialisable (NumPy scalars are converted); must not contain ``"arrays"``
        or ``"integrity"``. Non-finite floats are refused: JSON has none.
    arrays : mapping of str to array-like
        Bool, integer or float arrays. Names: a letter, then letters, digits or
        underscores (at most 64 characters); not ``header``, ``file`` or ``allow_pickle``.

    Raises
    ------
    TypeError
        If ``header`` is not a dict or holds a value JSON cannot represent.
    ValueError
        For a bad array name or dtype, a non-finite header number, or a header over
        `MAX_HEADER_BYTES`.
    OSError
        If the file cannot be written (the error names ``path``).
    """
    if not isinstance(header, dict):
        raise TypeError(f"header must be a dict, got {type(header).__name__}")
    for reserved in (MANIFEST, INTEGRITY):
        if reserved in header:
            raise ValueError(f"header field {reserved!r} is reserved for the container")
    members = _members(arrays)
    data = _header_bytes(header, members)
    everything = {"header": np.frombuffer(data, dtype=np.uint8), **members}

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, arr in everything.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
            zf.comment = _SEAL + b"0" * _HEX_DIGITS
        _seal(f)

    atomic_write(path, write)


# --- reading --------------------------------------------------------------------------------


def _sealed(fh: IO[bytes], size: int, source: str) -> bool:
    """Whether the file carries a digest; if it does, check it against every byte before it."""
    tail_size = len(_SEAL) + _HEX_DIGITS
    if size < tail_size:
        return False
    fh.seek(size - tail_size)
    tail = fh.read(tail_size)
    if not tail.startswith(_SEAL):
        return False
    fh.seek(0)
    found = _sha256_of(fh, size - _HEX_DIGITS).encode("ascii")
    if not hmac.compare_digest(found, tail[len(_SEAL) :]):
        raise fail(
            source,
            "the file was altered or corrupted: its bytes do not match the SHA-256 that "
            "save wrote into it",
        )
    return True


def _member_names(
    zf: zipfile.ZipFile, file_size: int, source: str
) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise fail(source, f"the archive has {len(infos)} members, over the limit of {MAX_MEMBERS}")
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise fail(source, f"unexpected archive member {short(info.filename)}")
        name = info.filename[: -len(".npy")]
        if name in by_name:
            raise fail(source, f"the archive holds member {short(info.filename)} twice")
        if info.flag_bits & 0x1:
            raise fail(source, f"archive member {short(info.filename)} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise fail(
                source,
                f"archive member {short(info.filename)} is compressed (method "
                f"{info.compress_type}); nablanet writes members uncompressed",
            )
        by_name[name] = info
    # Bounds every read below by the file's size, whatever the members declare.
    if sum(info.file_size for info in infos) > file_size:
        raise fail(
            source, "the archive declares more data than the file holds: truncated or corrupt"
        )
    if "header" not in by_name:
        raise fail(source, "not a nablanet model file: the archive has no 'header' member")
    return by_name


def _member_array(data: bytes, name: str, source: str) -> Array:
    """A member's array, from bytes whose zip CRC has already been checked."""
    label = "the header member" if name == "header" else f"array {name!r}"
    limit = MAX_HEADER_BYTES if name == "header" else MAX_ARRAY_BYTES
    try:
        return parse_npy(data, limit)
    except NpyError as exc:
        raise fail(source, f"{label} {exc}") from None


def _read_members(fh: IO[bytes], size: int, source: str) -> dict[str, Array]:
    """Every member's array; each member is read whole, so its CRC is checked before parsing."""
    fh.seek(0)
    try:
        with zipfile.ZipFile(fh) as zf:
            infos = _member_names(zf, size, source)
            raw = {name: zf.read(info) for name, info in infos.items()}
    except ModelFileError:
        raise
    except _CORRUPT as exc:
        raise fail(source, f"truncated or corrupt ({type(exc).__name__}: {exc})") from exc
    return {name: _member_array(data, name, source) for name, data in raw.items()}


def read_archive(path: str | os.PathLike[str]) -> tuple[bytes, bool, dict[str, Array]]:
    """Read the container of a model file: its digest, zip members and ``.npy`` arrays.

    Checks, in this order: the path (a regular file), the digest (when the file carries
    one), the zip (uncompressed ``.npy`` members, no duplicates, sizes within the file,
    each member's CRC), then each ``.npy`` header (numbers only, declared size equal to
    the stored size). The JSON is checked by `nablanet.io.header.read_model`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    header : bytes
        The header member's bytes (UTF-8 JSON, not yet parsed).
    sealed : bool
        Whether the file carries a digest (it matched, or this raised).
    arrays : dict of str to ndarray
        Every other member, read-only views of the bytes read, in the stored dtype.

    Raises
    ------
    ModelFileError
        For an empty, truncated, corrupt or hostile file, or a FIFO or device.
    OSError
        If ``path`` cannot be opened (FileNotFoundError, PermissionError,
        IsADirectoryError): those concern the path, not the file's content.
    """
    source = os.fspath(path)
    try:
        with open_regular(source) as fh:
            size = os.fstat(fh.fileno()).st_size
            _check_magic(fh, size, source)
            sealed = _sealed(fh, size, source)
            members = _read_members(fh, size, source)
    except NotRegularFile:
        raise fail(source, "not a regular file (a FIFO, device or socket): refused") from None
    header = members.pop("header")
    if header.dtype != np.uint8 or header.ndim != 1:
        raise fail(source, f"the header member must be a 1-D uint8 array, got {header.dtype} "
                           f"of shape {header.shape}")
    return header.tobytes(), sealed, members


def _check_magic(fh: IO[bytes], size: int, source: str) -> None:
    if size == 0:
        raise fail(source, "the file is empty: not a nablanet model file")
    magic = fh.read(len(_NPY_MAGIC))
    if magic.startswith(_NPY_MAGIC):
        raise fail(source, "not a nablanet model file: it is a single .npy array, not an .npz")
    if not magic.startswith(_ZIP_MAGIC):
        raise fail(source, "not a nablanet model file: it is not an .npz (zip) archive")
