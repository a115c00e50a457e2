r"""A strict reader for one ``.npy`` member, for bytes whose integrity is already checked.

NumPy's own reader evaluates the ``.npy`` header, a Python dict literal, with
`ast.literal_eval`: a damaged header raises SyntaxError, tokenize.TokenError or
MemoryError rather than a clean error. This reader accepts exactly the headers NumPy
writes::

    {'descr': '<f8', 'fortran_order': False, 'shape': (43,), }          (then spaces, "\n")

with a simple ``descr`` of a bool, integer or float dtype, and raises `NpyError` for
anything else. It compares the size the header declares with a limit and with the bytes
present before it makes an array, and the array it makes is a view of those bytes: the
header cannot make it allocate. This module imports nothing of nablanet.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Any

import numpy as np
from numpy.typing import NDArray

_MAGIC = b"\x93NUMPY"
# NumPy's header: sorted keys, repr'd values, ", " after each, then space padding and "\n".
_HEADER = re.compile(
    r"\{'descr': (?P<descr>.*), 'fortran_order': (?P<fortran>True|False), "
    r"'shape': \((?P<shape>(?:[0-9]{1,19}, )*[0-9]{1,19},?|)\), \} *\n\Z"
)
_SIMPLE_DESCR = re.compile(r"'(?P<code>[<>|=]?[A-Za-z][A-Za-z0-9\[\]]{0,12})'\Z")
_NUMERIC_DESCR = re.compile(r"[<>|=]?[biuf][0-9]{1,2}\Z")
# Version -> (bytes of the length field, its struct format, the header's encoding).
_VERSIONS = {(1, 0): (2, "<H", "latin1"), (2, 0): (4, "<I", "latin1"), (3, 0): (4, "<I", "utf8")}


class NpyError(ValueError):
    """A ``.npy`` member nablanet does not read; the message completes "array 'x' ..."."""


def _header_text(data: bytes) -> tuple[str, int]:
    """The header text and the offset where the array's data starts."""
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 2:
        raise NpyError("is not a .npy array (no NumPy magic string)")
    version = (data[len(_MAGIC)], data[len(_MAGIC) + 1])
    if version not in _VERSIONS:
        raise NpyError(f"uses .npy format version {version}, not 1.0, 2.0 or 3.0")
    size_bytes, size_format, encoding = _VERSIONS[version]
    start = len(_MAGIC) + 2 + size_bytes
    if len(data) < start:
        raise NpyError("has a truncated .npy header")
    (length,) = struct.unpack(size_format, data[start - size_bytes : start])
    if len(data) < start + length:
        raise NpyError("has a truncated .npy header")
    try:
        text = data[start : start + length].decode(encoding)
    except UnicodeDecodeError:
        raise NpyError("has a malformed .npy header (not text)") from None
    return text, start + length


def _dtype(descr: str) -> np.dtype[Any]:
    simple = _SIMPLE_DESCR.match(descr)
    code = simple.group("code") if simple else None
    if code is not None and code.lstrip("<>|=").startswith("O"):
        raise NpyError(
            f"holds pickled Python objects (dtype {code}); refused: loading it could run "
            "code, and nablanet model files hold only numbers"
        )
    if code is None or not _NUMERIC_DESCR.match(code):
        shown = code if code is not None else descr[:40]
        raise NpyError(
            f"has unsupported dtype {shown}; only bool, integer and float arrays are allowed"
        )
    try:
        return np.dtype(code)
    except TypeError:
        raise NpyError(f"has an invalid dtype {code!r}") from None


def parse_npy(data: bytes, limit: int) -> NDArray[Any]:
    """The array a complete ``.npy`` member holds, as a read-only view of ``data``.

    Parameters
    ----------
    data : bytes
        The whole member, header and data.
    limit : int
        The most data bytes the header may declare.

    Returns
    -------
    ndarray
        In the stored dtype (byte order included) and shape, C or Fortran order as stored.

    Raises
    ------
    NpyError
        For a header NumPy would not write, a dtype other than bool, integer or float,
        a declared size over ``limit``, a size other than the bytes present, or a
        shape NumPy cannot hold.
    """
    text, offset = _header_text(data)
    match = _HEADER.match(text)
    if match is None:
        raise NpyError("has a malformed .npy header")
    dtype = _dtype(match.group("descr"))
    shape = tuple(int(s) for s in match.group("shape").replace(",", " ").split())
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if nbytes > limit:
        raise NpyError(f"declares {nbytes} bytes, over the limit of {limit}")
    stored = len(data) - offset
    if stored != nbytes:
        raise NpyError(
            f"declares {dtype} of shape {shape} ({nbytes} bytes) but holds {stored} bytes: "
            "truncated or corrupt"
        )
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    try:
        return flat.reshape(shape, order="F" if match.group("fortran") == "True" else "C")
    except ValueError as exc:
        # A zero-byte shape may still be one NumPy cannot hold (too many dimensions,
        # a dimension or element count over the largest intp).
        raise NpyError(f"declares a shape NumPy cannot hold ({exc})") from None
