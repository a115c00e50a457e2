"""Read and write the IDX format of MNIST and Fashion-MNIST.

An IDX file is a header followed by the array's elements in C order, big-endian::

    bytes 0-1   zero
    byte  2     type code (see ``IDX_TYPES``)
    byte  3     number of dimensions d
    4*d bytes   each dimension as a big-endian unsigned 32-bit integer
    the rest    prod(dimensions) elements of the type

The format is described at the MNIST page of Yann LeCun. Files are often gzipped;
`read_idx` recognises gzip by its magic bytes (``1f 8b``), not by the file's name.
Nothing here uses pickle: the payload is read as raw bytes and viewed as numbers.

A header is checked against two caps before anything is allocated: at most
``MAX_NDIM`` dimensions, and at most ``max_bytes`` of payload (``MAX_BYTES``, 1 GiB, by
default: MNIST's largest file holds 47 MB). A gzip member is decompressed only up to
the declared payload plus one byte, so a small file cannot unfold into gigabytes.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from typing import IO, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from nablanet._checks import integer
from nablanet.data.paths import check_regular_file
from nablanet.io.files import atomic_write

# type code -> big-endian dtype of the elements
IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}
_TYPE_NAMES = {
    0x08: "ubyte",
    0x09: "sbyte",
    0x0B: "short",
    0x0C: "int",
    0x0D: "float",
    0x0E: "double",
}
# native dtype (kind, itemsize) -> type code, for writing
_CODE_OF = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

MAX_NDIM = 32  # NumPy's own limit is 64; IDX's 255 would fail in reshape
MAX_BYTES = 1 << 30


class _ByteStream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _valid_types() -> str:
    return ", ".join(f"0x{code:02X} ({name})" for code, name in _TYPE_NAMES.items())


def _read_exactly(f: _ByteStream, n: int, path: str, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ValueError(
            f"IDX file {path!r} ends inside the header: expected {n} bytes for {what}, "
            f"found {len(data)}"
        )
    return data


def _read_payload(f: _ByteStream, expected: int) -> bytearray:
    """Read up to ``expected + 1`` bytes, in chunks.

    Reading in chunks, rather than allocating ``expected`` bytes up front, keeps a header
    that claims more than the file holds from reserving the memory; stopping one byte
    past ``expected`` keeps a gzip member that holds more from being decompressed.
    """
    payload = bytearray()
    while len(payload) <= expected:
        chunk = f.read(min(_CHUNK, expected + 1 - len(payload)))
        if not chunk:
            break
        payload += chunk
    return payload


def read_idx(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> NDArray[Any]:
    """Read an IDX file, gzipped or not.

    Parameters
    ----------
    path : str or path-like
        The file. Gzip compression is detected from the first two bytes.
    max_bytes : int, default MAX_BYTES (1 GiB)
        The largest payload accepted: a header declaring more is refused before
        anything is read or allocated. (For a shape with zero-length dimensions, the
        product of the other dimensions counts.)

    Returns
    -------
    ndarray of shape (d_1, ..., d_n)
        The array in native byte order: uint8, int8, int16, int32, float32 or float64
        according to the file's type code. It is writable and shares memory with
        nothing else.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Naming the file: if it is a FIFO, a device or a socket, if the first two bytes
        are not zero, the type code is unknown,
        the number of dimensions is zero or above ``MAX_NDIM``, the declared payload
        exceeds ``max_bytes``, the header is cut short, the gzip stream is corrupt, or the
        payload size differs from the product of the dimensions times the element size
        (the message gives the expected number of bytes and the number found, or, for a
        gzip member that holds more, that it holds more).
    """
    path_str = os.fspath(path)
    max_bytes = integer(max_bytes, "max_bytes", low=0)
    check_regular_file(path_str)
    with open(path_str, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not gzipped:
            return _read_idx_stream(raw, path_str, max_bytes, os.fstat(raw.fileno()).st_size)
        with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            try:
                return _read_idx_stream(gz, path_str, max_bytes, None)
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                raise ValueError(
                    f"IDX file {path_str!r} has a corrupt gzip stream: {exc}"
                ) from None


def _read_header(f: _ByteStream, path: str) -> tuple[int, tuple[int, ...]]:
    """The type code and the shape, checked."""
    magic = _read_exactly(f, 4, path, "the magic number")
    if magic[0] != 0 or magic[1] != 0:
        raise ValueError(
            f"IDX file {path!r} has a bad magic number 0x{magic.hex().upper()}: "
            "its first two bytes must be zero (is it an IDX file?)"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPES:
        raise ValueError(
            f"IDX file {path!r} has an unknown type code 0x{code:02X}; "
            f"valid codes are {_valid_types()}"
        )
    if not 1 <= ndim <= MAX_NDIM:
        raise ValueError(
            f"IDX file {path!r} declares {ndim} dimensions; 1 to {MAX_NDIM} are supported"
        )
    shape = struct.unpack(f">{ndim}I", _read_exactly(f, 4 * ndim, path, f"{ndim} dimensions"))
    return code, shape


def _read_idx_stream(
    f: _ByteStream, path: str, max_bytes: int, file_size: int | None
) -> NDArray[Any]:
    """The array of an IDX stream; ``file_size`` (None for gzip) is checked up front."""
    code, shape = _read_header(f, path)
    dtype = IDX_TYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    kind = f"{_TYPE_NAMES[code]} (type 0x{code:02X})"
    what = f"shape {shape} of {kind} needs {expected} payload bytes"
    # An empty array is bounded too: NumPy refuses a shape such as (0, 2**31, 2**31).
    bound = math.prod(max(d, 1) for d in shape) * dtype.itemsize
    if bound > max_bytes:
        needs = what if expected else f"shape {shape} of {kind} spans {bound} bytes"
        raise ValueError(
            f"IDX file {path!r} is too large: {needs}, above the cap of {max_bytes} "
            "(max_bytes=)"
        )
    # A plain file's size says up front whether the payload fits; a gzip member's is
    # known only by decompressing it, which stops one byte past the expected size.
    found = None if file_size is None else file_size - 4 - 4 * len(shape)
    payload, more = bytearray(), False
    if found is None or found == expected:
        payload = _read_payload(f, expected)
        more = found is None and len(payload) > expected
        found = len(payload)
    if found != expected:
        problem = "truncated" if found < expected else "too long"
        count = "more (the gzip member holds more)" if more else str(found)
        raise ValueError(f"IDX file {path!r} is {problem}: {what}, found {count}")
    arr = np.frombuffer(payload, dtype=dtype).reshape(shape)
    if dtype.itemsize > 1:
        return arr.astype(dtype.newbyteorder("="))  # one copy, to native byte order
    return arr  # a writable view of the bytearray, which it keeps alive


def write_idx(path: str | os.PathLike[str], array: Any, *, compress: bool | None = None) -> None:
    """Write an array as an IDX file.

    Parameters
    ----------
    path : str or path-like
        The destination, written atomically (`nablanet.io.files.atomic_write`): an
        existing file is replaced, a folder, FIFO or device refused.
    array : array-like of shape (d_1, ..., d_n), 1 <= n <= 255
        Of dtype uint8, int8, int16, int32, float32 or float64. Other dtypes are refused
        rather than silently converted.
    compress : bool, optional
        Gzip the file. By default, gzip when the name ends in ``.gz``. The gzip header
        carries no name or time, so equal arrays give equal files.

    Raises
    ------
    ValueError
        If the dtype has no IDX type code, the array is 0-dimensional or has more than
        255 dimensions, or a dimension does not fit in 32 bits.
    """
    arr = np.asarray(array)
    code = _CODE_OF.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        raise ValueError(
            f"cannot write dtype {arr.dtype} as IDX; supported dtypes are "
            "uint8, int8, int16, int32, float32 and float64"
        )
    if not 1 <= arr.ndim <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got an array of shape {arr.shape}")
    if any(d > 0xFFFFFFFF for d in arr.shape):
        raise ValueError(f"IDX dimensions must fit in 32 bits, got shape {arr.shape}")
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()
    path_str = os.fspath(path)
    if compress is None:
        compress = path_str.endswith(".gz")

    def write(raw: IO[bytes]) -> None:
        if compress:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                gz.write(header)
                gz.write(payload)
        else:
            raw.write(header)
            raw.write(payload)

    atomic_write(path_str, write)  # refuses devices, FIFOs and folders; all or nothing
