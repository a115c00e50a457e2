"""Saving and loading models: arrays in an .npz, settings in a JSON header, never pickle.

File layout
-----------
A model file is an ordinary NumPy ``.npz`` archive (a zip of ``.npy`` members, stored
uncompressed) that ``np.load(path, allow_pickle=False)`` opens:

- member ``header``: the UTF-8 bytes of one JSON object, as a 1-D uint8 array;
- every other member: one bool, integer or float array (``theta``; for estimators also
  e.g. scaler statistics), listed in the header's ``"arrays"`` manifest with its dtype
  (``dtype.str``), shape and the SHA-256 of its bytes in C order.

The header of a saved `~nablanet.network.Network`::

    {
      "format": "nablanet-model",
      "format_version": 2,
      "library_version": "0.1.0",
      "kind": "Network",
      "created": "2025-01-31T12:00:00+00:00",
      "network": {"layer_sizes": [4, 5, 3], "activations": ["tanh"],
                  "output_activation": "softmax", "loss": "cross_entropy",
                  "weight_decay": 0.0001, "init": "auto", "dtype": "float64"},
      "arrays": {"theta": {"dtype": "<f8", "shape": [43], "sha256": "9f86d0..."}}
    }

An estimator's header has the same common fields, its own ``"kind"`` (``"MLPClassifier"``,
``"MLPRegressor"``), a ``"network"`` spec and whatever else its ``_to_state`` returns.

Why no pickle
-------------
Unpickling runs whatever code the file names, so a pickled model is a program: loading one
from an untrusted source hands that source the machine. Here the arrays are read with
``allow_pickle=False`` (an object array is refused before its bytes are touched), the
settings are plain JSON, and every name is looked up in a table (`ACTIVATIONS`, `LOSSES`,
`INITIALIZERS`): loading a file never executes code from it.

What loading checks
-------------------
The container (a zip of uncompressed ``.npy`` members, no duplicates, sizes consistent with
the file), the header (JSON object, format name, format version, library version, kind), the
manifest (exactly the arrays present, each one's dtype, shape and checksum), and for the kind
of model every setting (names against the tables, sizes, dtypes, finite values) and every
array's shape against the architecture. Each refusal raises `ModelFileError` naming the file
and the fault. The checksums catch corruption and inconsistent edits; they are not a
signature and cannot prove who wrote a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import math
import os
import re
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import IO, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from nablanet.activations import ACTIVATIONS
from nablanet.layout import INITIALIZERS, Layout, from_row_major
from nablanet.losses import LOSSES
from nablanet.network import Network

Array = NDArray[Any]

#: The value of the header's "format" field.
FORMAT_NAME = "nablanet-model"
#: The layout version this module writes. Version 1 stored each W(l) of theta row-major;
#: version 2 stores it column-major (see `nablanet.layout`). Both are read.
FORMAT_VERSION = 2
#: Largest JSON header accepted, in bytes.
MAX_HEADER_BYTES = 1 << 20
#: Largest single array accepted, in bytes (a sanity bound; sizes must also match the file).
MAX_ARRAY_BYTES = 1 << 34
#: Most members an archive may hold (the header included).
MAX_MEMBERS = 256

#: kind -> (module, class) for models other than a bare Network. The class rebuilds itself
#: with ``cls._from_state(header, arrays, source=...)``; its module is imported only when a
#: file of that kind is loaded.
_ESTIMATOR_KINDS: dict[str, tuple[str, str]] = {
    "MLPClassifier": ("nablanet.estimators", "MLPClassifier"),
    "MLPRegressor": ("nablanet.estimators", "MLPRegressor"),
    "SparseAutoencoder": ("nablanet.autoencoder", "SparseAutoencoder"),
    "SoftmaxRegression": ("nablanet.softmax_regression", "SoftmaxRegression"),
    "StackedAutoencoderClassifier": (
        "nablanet.stacked_autoencoder",
        "StackedAutoencoderClassifier",
    ),
}

# Header fields that `save` writes itself; a `_to_state` header must not contain them.
_COMMON_FIELDS = ("format", "format_version", "library_version", "kind", "created")
_MANIFEST = "arrays"
_NETWORK_SPEC_FIELDS = (
    "layer_sizes",
    "activations",
    "output_activation",
    "loss",
    "weight_decay",
    "init",
    "dtype",
)
_FLOAT_DTYPES = ("float32", "float64")
_ARRAY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")
# "file" and "allow_pickle" are np.savez's own keywords; "header" holds the JSON.
_RESERVED_ARRAY_NAMES = frozenset({"header", "file", "allow_pickle"})
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"
# What zipfile and numpy raise on a damaged archive or member.
_CORRUPT = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    zlib.error,
    struct.error,
)


class ModelFileError(ValueError):
    """A model file was refused: not a nablanet model, truncated, corrupt, tampered or hostile.

    The message starts with the file's path and says exactly what is wrong.
    """


def _fail(source: str, message: str) -> ModelFileError:
    return ModelFileError(f"{source}: {message}")


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: hostile values can be long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _layers_label(sizes: tuple[int, ...]) -> str:
    """``4-5-3-3``; long architectures abbreviated so that messages stay readable."""
    if len(sizes) <= 12:
        return "-".join(map(str, sizes))
    head = "-".join(map(str, sizes[:5]))
    tail = "-".join(map(str, sizes[-2:]))
    return f"{head}-...-{tail} ({len(sizes)} layers)"


# --- validating helpers, shared with the estimators' ``_from_state`` ------------------------


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
            raise _fail(source, f"{where} lacks {item} {_short(key)}")
    allowed = set(required) | set(optional)
    unexpected = sorted(str(k) for k in mapping if k not in allowed)
    if unexpected:
        raise _fail(
            source,
            f"{where} has unexpected {item} {_short(unexpected[0])}; "
            f"expected only {', '.join(sorted(allowed))}",
        )


def check_field(
    mapping: Mapping[str, Any],
    key: str,
    types: type | tuple[type, ...],
    *,
    source: str,
    where: str = "header",
) -> Any:
    """Return ``mapping[key]`` after checking that it exists and has one of ``types``.

    A JSON ``true``/``false`` is never accepted as a number: ``bool`` passes only when it
    is named in ``types``.

    Parameters
    ----------
    mapping : mapping
        A decoded JSON object.
    key : str
    types : type or tuple of type
        JSON types: ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``, ``type(None)``.
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
        raise _fail(source, f"header field {name!r} is missing")
    value = mapping[key]
    allowed = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in allowed:
        ok = False
    else:
        ok = isinstance(value, allowed)
    if not ok:
        expected = " or ".join(_type_name(t()) if t is not type(None) else "null" for t in allowed)
        raise _fail(
            source,
            f"header field {name!r} must be {expected}, got {_type_name(value)} {_short(value)}",
        )
    return value


def _shape_text(shape: tuple[int | None, ...]) -> str:
    inner = ", ".join("?" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


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
        raise _fail(source, f"array {name!r} is missing")
    arr = arrays[name]
    if shape is not None:
        fits = arr.ndim == len(shape) and all(
            want is None or have == want for have, want in zip(arr.shape, shape, strict=True)
        )
        if not fits:
            tail = f" {context}" if context else ""
            raise _fail(
                source,
                f"array {name!r} has shape {arr.shape}, expected {_shape_text(shape)}{tail}",
            )
    if dtype is not None and arr.dtype != np.dtype(dtype):
        raise _fail(source, f"array {name!r} has dtype {arr.dtype}, expected {np.dtype(dtype)}")
    if dtype_kind is not None and arr.dtype.kind not in dtype_kind:
        kinds = {"b": "bool", "i": "integer", "u": "unsigned integer", "f": "float"}
        expected = " or ".join(kinds.get(k, k) for k in dtype_kind)
        raise _fail(source, f"array {name!r} has dtype {arr.dtype}, expected a {expected} array")
    if finite and arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            at = where[0] if len(where) == 1 else where
            raise _fail(source, f"array {name!r} contains NaN or infinity (first at index {at})")
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
        arrays,
        name,
        source=source,
        shape=shape,
        dtype_kind=dtype_kind,
        finite=True,
        context=context,
    )


# --- low level: one archive, written atomically, read defensively ---------------------------


def _json_default(value: Any) -> Any:
    # NumPy scalars become Python numbers exactly (a float32 is exact in a float64).
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    raise TypeError(
        f"header value {_short(value)} of type {type(value).__name__} is not JSON; "
        "put arrays in `arrays`"
    )


def _new_file_mode() -> int:
    """0o666 less the process umask, read without changing it (Linux); else 0o600.

    ``os.umask`` can only be read by setting it, which races with other threads, and a
    file made by `tempfile.mkstemp` is 0o600 whatever the umask.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o600


def _fsync_directory(directory: str) -> None:
    """Make a rename durable; not every OS can open a directory (Windows cannot)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it onto ``path``.

    A reader sees the old file or the new one, never half of one; if anything fails, the
    temporary file is removed and an existing file at ``path`` is left as it was.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)  # keep an existing file's permissions
    except OSError:
        mode = _new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _checksum(arr: Array) -> str:
    """SHA-256 of the array's bytes in C order, in its own dtype (byte order included)."""
    return hashlib.sha256(np.ascontiguousarray(arr).data).hexdigest()


def write_model(
    path: str | os.PathLike[str], header: dict[str, Any], arrays: Mapping[str, Any]
) -> None:
    """Write a header and arrays to ``path`` as an .npz archive, atomically.

    The archive holds member ``header`` (the JSON header as UTF-8 bytes in a uint8 array)
    and one member per array, all uncompressed, written to exactly ``path`` (no ".npz" is
    appended). The header written is ``header`` plus the manifest ``"arrays"``: each
    array's dtype, shape and SHA-256. The data goes to a temporary file in the same
    directory, is flushed and fsync'ed, and is renamed onto ``path``; on any error the
    temporary file is removed and an existing file at ``path`` is untouched.

    Parameters
    ----------
    path : str or path-like
    header : dict
        JSON-serialisable (NumPy scalars are converted); must not contain ``"arrays"``.
        Non-finite floats are refused: JSON has none.
    arrays : mapping of str to array-like
        Bool, integer or float arrays. Names: a letter, then letters, digits or
        underscores (at most 64 characters); not ``header``, ``file`` or
        ``allow_pickle``.

    Raises
    ------
    TypeError
        If ``header`` is not a dict or holds a value JSON cannot represent.
    ValueError
        For a bad array name or dtype, a non-finite header number, or a header over
        `MAX_HEADER_BYTES`.
    OSError
        If the file cannot be written.
    """
    if not isinstance(header, dict):
        raise TypeError(f"header must be a dict, got {type(header).__name__}")
    if _MANIFEST in header:
        raise ValueError(f"header field {_MANIFEST!r} is reserved for the array manifest")
    members: dict[str, Array] = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not _ARRAY_NAME.match(name):
            raise ValueError(
                f"array name {_short(name)} must be a letter followed by at most 63 letters, "
                "digits or underscores"
            )
        if name in _RESERVED_ARRAY_NAMES:
            raise ValueError(f"array name {name!r} is reserved")
        arr = np.ascontiguousarray(value)
        if arr.dtype.kind not in "biuf":
            raise ValueError(
                f"array {name!r} has dtype {arr.dtype}; only bool, integer and float arrays "
                "can be saved"
            )
        members[name] = arr
    manifest = {
        name: {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": _checksum(arr)}
        for name, arr in members.items()
    }
    text = json.dumps(
        {**header, _MANIFEST: manifest},
        allow_nan=False,
        ensure_ascii=False,
        separators=(",", ":"),
        default=_json_default,
    )
    data = text.encode("utf-8")
    if len(data) > MAX_HEADER_BYTES:
        raise ValueError(
            f"header is {len(data)} bytes, over the limit of {MAX_HEADER_BYTES}; "
            "put large data in arrays"
        )
    header_array = np.frombuffer(data, dtype=np.uint8)

    def write(f: IO[bytes]) -> None:
        np.savez(f, allow_pickle=False, header=header_array, **members)

    _atomic_write(os.fspath(path), write)


class _Member(NamedTuple):
    """What a member's .npy header declares, read before any of its data."""

    info: zipfile.ZipInfo
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    fortran_order: bool
    offset: int  # where the data starts inside the member
    nbytes: int


def _peek(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, source: str) -> _Member:
    """Read a member's .npy header and check its declared dtype and size, not its data."""
    label = "the header member" if name == "header" else f"array {name!r}"
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise _fail(source, f"{label} uses .npy format version {version}, not 1.0 or 2.0")
        offset = f.tell()
    if dtype.hasobject:
        raise _fail(
            source,
            f"{label} holds pickled Python objects (dtype {dtype}); refused: loading it "
            "could run code, and nablanet model files hold only numbers",
        )
    nbytes = math.prod(shape) * dtype.itemsize
    if name == "header":
        if dtype != np.uint8 or len(shape) != 1:
            raise _fail(source, f"{label} must be a 1-D uint8 array, got {dtype} {shape}")
        if nbytes > MAX_HEADER_BYTES:
            raise _fail(
                source, f"{label} declares {nbytes} bytes, over the limit of {MAX_HEADER_BYTES}"
            )
    elif nbytes > MAX_ARRAY_BYTES:
        raise _fail(source, f"{label} declares {nbytes} bytes, over the limit of {MAX_ARRAY_BYTES}")
    stored = info.file_size - offset
    if stored != nbytes:
        raise _fail(
            source,
            f"{label} declares {dtype} of shape {shape} ({nbytes} bytes) but holds "
            f"{stored} bytes: truncated or corrupt",
        )
    return _Member(info, dtype, shape, fortran_order, offset, nbytes)


def _read_data(zf: zipfile.ZipFile, member: _Member) -> Array:
    """The array a member's data forms, in its stored dtype and order (read-only)."""
    with zf.open(member.info) as f:
        f.seek(member.offset)
        # One byte more than declared: reading to the end makes zipfile check the CRC.
        data = f.read(member.nbytes + 1)
    if len(data) != member.nbytes:
        raise EOFError(f"member holds {len(data)} data bytes, expected {member.nbytes}")
    flat = np.frombuffer(data, dtype=member.dtype)
    arr = flat.reshape(member.shape, order="F" if member.fortran_order else "C")
    return arr


def _parse_json(data: bytes, source: str) -> Any:
    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            keys = [k for k, _ in pairs]
            raise ValueError(f"duplicate key {_short(next(k for k in keys if keys.count(k) > 1))}")
        return obj

    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_constant=refuse_constant, object_pairs_hook=refuse_duplicates)
    except (ValueError, RecursionError) as exc:
        raise _fail(source, f"the header is not valid UTF-8 JSON ({exc})") from None


def _check_common(header: Any, source: str) -> dict[str, Any]:
    """The fields every model file has: format, version, library version, kind."""
    if not isinstance(header, dict):
        raise _fail(source, f"the header must be a JSON object, got {_type_name(header)}")
    fmt = header.get("format")
    if fmt != FORMAT_NAME:
        raise _fail(
            source,
            f"not a nablanet model file: header field 'format' is {_short(fmt)}, "
            f"expected {FORMAT_NAME!r}",
        )
    version = check_field(header, "format_version", int, source=source)
    library = check_field(header, "library_version", str, source=source)
    if version > FORMAT_VERSION:
        from nablanet import __version__

        raise _fail(
            source,
            f"written in model format version {version} by nablanet {_short(library)}; this "
            f"nablanet ({__version__}) reads format version {FORMAT_VERSION}: upgrade nablanet",
        )
    if version < 1:
        raise _fail(source, f"format_version {version} is not a valid version")
    if len(library) > 64:
        raise _fail(source, f"header field 'library_version' is too long: {_short(library)}")
    check_field(header, "kind", str, source=source)
    if "created" in header:
        check_field(header, "created", str, source=source)
    return header


def _check_manifest(header: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    manifest = check_field(header, _MANIFEST, dict, source=source)
    for name, entry in manifest.items():
        if not _ARRAY_NAME.match(name) or name in _RESERVED_ARRAY_NAMES:
            raise _fail(source, f"the manifest names an invalid array {_short(name)}")
        where = f"{_MANIFEST}.{name}"
        if not isinstance(entry, dict):
            raise _fail(source, f"header field {where!r} must be object, got {_short(entry)}")
        check_keys(
            entry, ("dtype", "shape", "sha256"), source=source, where=f"header field {where!r}"
        )
        check_field(entry, "dtype", str, source=source, where=where)
        shape = check_field(entry, "shape", list, source=source, where=where)
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise _fail(source, f"header field '{where}.shape' is not a shape: {_short(shape)}")
        digest = check_field(entry, "sha256", str, source=source, where=where)
        if not _SHA256.match(digest):
            raise _fail(source, f"header field '{where}.sha256' is not a SHA-256 hex digest")
    return manifest


def _read_archive(
    zf: zipfile.ZipFile, source: str, file_size: int
) -> tuple[dict[str, Any], dict[str, Array]]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _fail(
            source, f"the archive has {len(infos)} members, over the limit of {MAX_MEMBERS}"
        )
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise _fail(source, f"unexpected archive member {_short(info.filename)}")
        name = info.filename[: -len(".npy")]
        if name in by_name:
            raise _fail(source, f"the archive holds member {_short(info.filename)} twice")
        if info.flag_bits & 0x1:
            raise _fail(source, f"archive member {_short(info.filename)} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise _fail(
                source,
                f"archive member {_short(info.filename)} is compressed (method "
                f"{info.compress_type}); nablanet writes members uncompressed",
            )
        by_name[name] = info
    if sum(info.file_size for info in infos) > file_size:
        raise _fail(
            source, "the archive declares more data than the file holds: truncated or corrupt"
        )
    if "header" not in by_name:
        raise _fail(source, "not a nablanet model file: the archive has no 'header' member")

    # Every member's declared dtype is checked before any data is read: an object array
    # is refused here, so its pickle is never even read.
    members = {name: _peek(zf, info, name, source) for name, info in by_name.items()}

    raw = _read_data(zf, members.pop("header")).tobytes()
    header = _check_common(_parse_json(raw, source), source)
    manifest = _check_manifest(header, source)

    for name in members:
        if name not in manifest:
            raise _fail(source, f"unexpected array {name!r}: the header does not list it")
    for name in manifest:
        if name not in members:
            raise _fail(source, f"array {name!r} is listed in the header but missing")

    arrays: dict[str, Array] = {}
    for name, member in members.items():
        if member.dtype.kind not in "biuf":
            raise _fail(
                source,
                f"array {name!r} has unsupported dtype {member.dtype}; only bool, integer and "
                "float arrays are allowed",
            )
        entry = manifest[name]
        if entry["dtype"] != member.dtype.str or tuple(entry["shape"]) != member.shape:
            raise _fail(
                source,
                f"array {name!r} is stored as {member.dtype.str} of shape {member.shape} but the "
                f"header says {_short(entry['dtype'])} of shape {tuple(entry['shape'])}: the file "
                "was altered",
            )
        arr = _read_data(zf, member)
        if _checksum(arr) != entry["sha256"]:
            raise _fail(
                source,
                f"array {name!r} does not match its checksum: the file was altered or corrupted",
            )
        if arr.dtype.kind == "b" and (arr.view(np.uint8) > 1).any():
            raise _fail(source, f"bool array {name!r} holds values other than 0 and 1")
        # A new, writable, C-ordered array in native byte order: values unchanged.
        arrays[name] = np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C")
    return header, arrays


def read_model(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Array]]:
    """Read and check an archive written by `write_model`; never unpickles anything.

    Checks the container, the header's common fields (``format``, ``format_version``,
    ``library_version``, ``kind``, optional ``created``) and the manifest: exactly the
    listed arrays are present, each with its listed dtype, shape and SHA-256. What the
    header means for a kind of model is checked by `load`.

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
        For an empty, truncated, corrupt, tampered or hostile file, a file that is not a
        nablanet model, or one written in a newer format version.
    FileNotFoundError, PermissionError, IsADirectoryError
        If ``path`` cannot be opened: those concern the path, not the file's content, and
        keep their usual types.
    """
    source = os.fspath(path)
    with open(source, "rb") as fh:
        file_size = os.fstat(fh.fileno()).st_size
        if file_size == 0:
            raise _fail(source, "the file is empty: not a nablanet model file")
        magic = fh.read(len(_NPY_MAGIC))
        if magic.startswith(_NPY_MAGIC):
            raise _fail(source, "not a nablanet model file: it is a single .npy array, not an .npz")
        if not magic.startswith(_ZIP_MAGIC):
            raise _fail(source, "not a nablanet model file: it is not an .npz (zip) archive")
        fh.seek(0)
        try:
            with np.load(fh, allow_pickle=False) as npz:
                return _read_archive(npz.zip, source, file_size)
        except ModelFileError:
            raise
        except _CORRUPT as exc:
            raise _fail(source, f"truncated or corrupt ({type(exc).__name__}: {exc})") from exc


# --- networks ------------------------------------------------------------------------------


def network_state(net: Network) -> tuple[dict[str, Any], dict[str, Array]]:
    """The settings and parameters that rebuild ``net`` exactly.

    Parameters
    ----------
    net : Network

    Returns
    -------
    spec : dict
        ``{"layer_sizes", "activations" (hidden layers), "output_activation", "loss",
        "weight_decay", "init", "dtype"}``, plain JSON values.
    arrays : dict
        ``{"theta": copy of net.theta}``.

    Raises
    ------
    ValueError
        If theta holds NaN or infinity: `load` would refuse such a file.
    """
    theta = net.theta
    if not np.isfinite(theta).all():
        raise ValueError(
            "cannot save a network whose theta contains NaN or infinity (did training "
            "diverge?): the file could not be loaded"
        )
    spec = {
        "layer_sizes": [int(s) for s in net.layer_sizes],
        "activations": [a.name for a in net.activations[:-1]],
        "output_activation": net.activations[-1].name,
        "loss": net.loss.name,
        "weight_decay": float(net.weight_decay),
        "init": net.init if isinstance(net.init, str) else [str(i) for i in net.init],
        "dtype": net.dtype.name,
    }
    if any(p is not None for p in net.sparsity):  # absent otherwise: older readers agree
        spec["sparsity"] = [
            None if p is None else {"target": p.target, "weight": p.weight}
            for p in net.sparsity
        ]
    return spec, {"theta": theta.copy()}


def _name_from(table: Mapping[str, Any], value: Any, field: str, what: str, source: str) -> str:
    if not isinstance(value, str) or value not in table:
        raise _fail(
            source,
            f"header field {field!r} is {_short(value)}, not a known {what}; "
            f"valid: {', '.join(sorted(table))}",
        )
    return value


def network_from_state(
    spec: Any,
    arrays: Mapping[str, Array],
    *,
    source: str,
    format_version: int,
    where: str = "network",
) -> Network:
    """Rebuild a `Network` from `network_state`'s output, checking every field first.

    Parameters
    ----------
    spec : dict
        The header's network spec (see `network_state`).
    arrays : mapping of str to ndarray
        Must hold ``"theta"``; other arrays are ignored (they belong to the caller).
    source : str
        The file, for messages.
    format_version : int
        The file's version (the header's ``format_version``): version-1 files have
        their weights reordered on loading.
    where : str, default "network"
        The spec's path in the header, for messages.

    Returns
    -------
    Network
        With ``theta`` equal bit for bit to the saved one (for version 1, the same values
        in the current order): its predictions are identical.

    Raises
    ------
    ModelFileError
        For a missing, unexpected or invalid field (unknown names, sizes that are not
        positive integers, a dtype other than float32/float64, a negative or non-finite
        weight decay, a loss that cannot follow the output activation), or a theta whose
        shape, dtype or values do not fit.
    """
    if not isinstance(spec, dict):
        raise _fail(source, f"header field {where!r} must be object, got {_type_name(spec)}")
    check_keys(
        spec, _NETWORK_SPEC_FIELDS, ("sparsity",), source=source, where=f"header field {where!r}"
    )

    raw_sizes = check_field(spec, "layer_sizes", list, source=source, where=where)
    if len(raw_sizes) < 2 or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in raw_sizes
    ):
        raise _fail(
            source,
            f"header field '{where}.layer_sizes' must be a list of at least 2 integers >= 1, "
            f"got {_short(raw_sizes)}",
        )
    sizes = tuple(raw_sizes)
    layout = Layout(sizes)
    label = _layers_label(sizes)

    hidden = check_field(spec, "activations", list, source=source, where=where)
    n_hidden = len(sizes) - 2
    if len(hidden) != n_hidden:
        raise _fail(
            source,
            f"header field '{where}.activations' has {len(hidden)} names, expected "
            f"{n_hidden} (one per hidden layer of layers {label})",
        )
    for i, name in enumerate(hidden):
        _name_from(ACTIVATIONS, name, f"{where}.activations[{i}]", "activation", source)
        if not ACTIVATIONS[name].elementwise:
            raise _fail(
                source, f"header field '{where}.activations[{i}]': {name} can only be the output"
            )
    output = _name_from(
        ACTIVATIONS, spec["output_activation"], f"{where}.output_activation", "activation", source
    )
    loss = _name_from(LOSSES, spec["loss"], f"{where}.loss", "loss", source)
    try:
        LOSSES[loss].check_output(ACTIVATIONS[output])
    except ValueError as exc:
        raise _fail(source, f"header field '{where}.loss': {exc}") from None

    weight_decay = check_field(spec, "weight_decay", (int, float), source=source, where=where)
    if not math.isfinite(weight_decay) or weight_decay < 0:
        raise _fail(
            source,
            f"header field '{where}.weight_decay' must be a finite number >= 0, got {weight_decay}",
        )

    init = check_field(spec, "init", (str, list), source=source, where=where)
    if isinstance(init, str):
        if init != "auto":
            _name_from(INITIALIZERS, init, f"{where}.init", "initializer", source)
    else:
        if len(init) != layout.n_layers:
            raise _fail(
                source,
                f"header field '{where}.init' has {len(init)} names, expected "
                f"{layout.n_layers} (one per weight layer of layers {label})",
            )
        for i, name in enumerate(init):
            _name_from(INITIALIZERS, name, f"{where}.init[{i}]", "initializer", source)

    dtype = spec["dtype"]
    if dtype not in _FLOAT_DTYPES:
        raise _fail(
            source,
            f"header field '{where}.dtype' is {_short(dtype)}; valid: {', '.join(_FLOAT_DTYPES)}",
        )

    # The shape is checked before the network allocates anything: the spec cannot make
    # us allocate more than the file itself holds.
    theta = check_array(
        arrays,
        "theta",
        source=source,
        shape=(layout.n_params,),
        dtype=dtype,
        finite=True,
        context=f"for layers {label}",
    )
    sparsity = _sparsity_from(spec, n_hidden, source=source, where=where)
    try:
        net = Network(
            sizes,
            activation=list(hidden),
            output_activation=output,
            loss=loss,
            weight_decay=float(weight_decay),
            init=init if isinstance(init, str) else list(init),
            seed=0,
            dtype=dtype,
            sparsity=sparsity,
        )
    except ValueError as exc:
        raise _fail(source, f"header field {where!r} is invalid: {exc}") from None
    if format_version == 1:
        theta = from_row_major(theta, layout)
    net.theta = theta  # copies into the network's buffer: same dtype, so the same bits
    return net


def _sparsity_from(spec: dict[str, Any], n_hidden: int, *, source: str, where: str) -> Any:
    """The optional ``sparsity`` field: one ``{"target", "weight"}`` or null per hidden layer."""
    if "sparsity" not in spec:
        return None
    entries = check_field(spec, "sparsity", list, source=source, where=where)
    if len(entries) != n_hidden:
        raise _fail(
            source,
            f"header field '{where}.sparsity' has {len(entries)} entries, expected {n_hidden} "
            "(one per hidden layer)",
        )
    out: list[tuple[float, float] | None] = []
    for i, entry in enumerate(entries):
        if entry is None:
            out.append(None)
            continue
        here = f"{where}.sparsity[{i}]"
        if not isinstance(entry, dict):
            raise _fail(source, f"header field {here!r} must be object or null")
        check_keys(entry, ("target", "weight"), source=source, where=f"header field {here!r}")
        target = check_field(entry, "target", (int, float), source=source, where=here)
        weight = check_field(entry, "weight", (int, float), source=source, where=here)
        out.append((float(target), float(weight)))  # ranges are checked by Sparsity
    return out


# --- top level -----------------------------------------------------------------------------


def known_kinds() -> list[str]:
    """The model kinds `load` can rebuild."""
    return ["Network", *_ESTIMATOR_KINDS]


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Save a `Network` or an estimator to ``path`` (atomically; see `write_model`).

    Parameters
    ----------
    obj : Network or estimator
        An estimator provides ``_to_state() -> (header, arrays)``: ``header`` a JSON dict
        with ``"kind"`` (a kind `load` knows) and usually a ``"network"`` spec from
        `network_state`, but none of the fields `save` writes itself (``format``,
        ``format_version``, ``library_version``, ``created``, ``arrays``).
    path : str or path-like
        Written exactly as given; no suffix is added.

    Raises
    ------
    TypeError
        If ``obj`` is neither a Network nor has ``_to_state``.
    ValueError
        If the state cannot be saved as a loadable file (see `write_model`,
        `network_state`).
    """
    from nablanet import __version__

    if isinstance(obj, Network):
        spec, arrays = network_state(obj)
        state: dict[str, Any] = {"kind": "Network", "network": spec}
    else:
        to_state = getattr(obj, "_to_state", None)
        if to_state is None:
            raise TypeError(
                f"save needs a Network or an estimator, got {type(obj).__name__} "
                "(which has no _to_state)"
            )
        state, arrays = to_state()
        if not isinstance(state, dict):
            raise TypeError(f"_to_state must return a dict header, got {type(state).__name__}")
        kind = state.get("kind")
        if kind not in _ESTIMATOR_KINDS:
            raise ValueError(
                f"_to_state gave kind {_short(kind)}, which load cannot read; known kinds: "
                f"{', '.join(known_kinds())}"
            )
        clash = sorted(set(state) & {*_COMMON_FIELDS, _MANIFEST} - {"kind"})
        if clash:
            raise ValueError(f"_to_state must not set the header fields {', '.join(clash)}")
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "kind": state["kind"],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **state,
    }
    write_model(path, header, arrays)


def load(path: str | os.PathLike[str]) -> Any:
    """Load a model saved by `save`, checking everything; never executes code from the file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Network or estimator
        Whatever kind was saved; it predicts bit for bit as the saved one did.

    Raises
    ------
    ModelFileError
        For any fault in the file (see `read_model`, `network_from_state`), or an unknown
        kind (the message lists the known ones).
    FileNotFoundError
        If ``path`` does not exist (other errors opening it keep their OSError types too).
    """
    source = os.fspath(path)
    header, arrays = read_model(source)
    kind = header["kind"]
    if kind == "Network":
        required = ("format", "format_version", "library_version", "kind", "network", _MANIFEST)
        check_keys(header, required, ("created",), source=source, where="header")
        check_keys(arrays, ("theta",), source=source, where="the Network file", item="array")
        return network_from_state(
            header["network"], arrays, source=source, format_version=header["format_version"]
        )
    target = _ESTIMATOR_KINDS.get(kind)
    if target is None:
        raise _fail(
            source, f"unknown model kind {_short(kind)}; known kinds: {', '.join(known_kinds())}"
        )
    module_name, class_name = target
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise _fail(
            source,
            f"model kind {kind!r} needs {module_name}.{class_name}, which is unavailable ({exc})",
        ) from exc
    try:
        return cls._from_state(header, arrays, source=source)
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        # An estimator's own checks raising plain errors still refuse the file cleanly.
        raise _fail(source, f"invalid {kind} state ({type(exc).__name__}: {exc})") from exc
