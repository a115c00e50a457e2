"""Whether a file is UTF-8 text, and if not, what it looks like.

The text readers call `scan_text` before parsing, so that a gzip, a NumPy ``.npy``, an IDX
file or a UTF-16 export gets one sentence naming the file and what it seems to be, rather
than ``'utf-8' codec can't decode byte 0x8b in position 1``. The same pass counts the line
breaks, which bounds the number of rows a reader must make room for.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from nablanet.data.idx import IDX_TYPES
from nablanet.data.paths import check_regular_file

_BLOCK = 1 << 20

# Leading bytes -> what a file starting with them is. Longer signatures first, so that a
# UTF-32 byte-order mark is not taken for UTF-16's.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "UTF-32 text (little-endian byte-order mark)"),
    (b"\x00\x00\xfe\xff", "UTF-32 text (big-endian byte-order mark)"),
    (b"\xff\xfe", "UTF-16 text (little-endian byte-order mark)"),
    (b"\xfe\xff", "UTF-16 text (big-endian byte-order mark)"),
    (b"\x1f\x8b", "a gzip file (decompress it first)"),
    (b"\x93NUMPY", "a NumPy .npy file (load it with numpy.load)"),
    (b"PK\x03\x04", "a zip archive (a NumPy .npz, a nablanet model or a zipped file)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"BZh", "a bzip2 file (decompress it first)"),
    (b"\xfd7zXZ\x00", "an xz file (decompress it first)"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
)


def describe_binary(head: bytes) -> str | None:
    """What a file starting with ``head`` looks like, or None if nothing is recognised.

    Parameters
    ----------
    head : bytes
        The first bytes of the file (16 are enough).
    """
    for magic, what in SIGNATURES:
        if head.startswith(magic):
            return what
    if len(head) >= 4 and head[0] == head[1] == 0 and head[2] in IDX_TYPES and head[3] > 0:
        return f"an IDX file (type 0x{head[2]:02X}, {head[3]} dimension(s); use read_idx)"
    if len(head) >= 8 and head[1:8:2].count(0) == 4 and 0 not in head[0:8:2]:
        return "UTF-16 text (little-endian, no byte-order mark)"
    if len(head) >= 8 and head[0:8:2].count(0) == 4 and 0 not in head[1:8:2]:
        return "UTF-16 text (big-endian, no byte-order mark)"
    return None


@dataclass(frozen=True)
class TextScan:
    """What one pass over a UTF-8 text file found.

    Attributes
    ----------
    size : int
        Its size in bytes.
    line_breaks : int
        The number of line feed plus carriage return bytes: at least the number of
        lines minus one, whichever line ending the file uses.
    """

    size: int
    line_breaks: int


def _not_text(path: str, why: str) -> ValueError:
    return ValueError(f"{path} is not UTF-8 text: {why}")


def scan_text(path: str, limit: int | None = None) -> TextScan:
    """Check that a file is UTF-8 text and count its line breaks, reading it once in blocks.

    Parameters
    ----------
    path : str
        The file. A UTF-8 byte-order mark is allowed.
    limit : int, optional
        Stop after about this many bytes (whole blocks of 1 MiB): check only the file's
        head. The counts then cover what was read.

    Returns
    -------
    TextScan

    Raises
    ------
    OSError
        If the file cannot be read.
    ValueError
        If the path is a FIFO, a device or a socket (which could block or never end), or
        ``"{path} is not UTF-8 text: ..."``, saying what the file looks like when its first
        bytes are recognised (gzip, NumPy, zip, IDX, UTF-16 or UTF-32), else giving the
        offset and line of the first byte that is not UTF-8 or of a NUL byte.
    """
    check_regular_file(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = breaks = 0
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            if size == 0 and (what := describe_binary(block[:16])) is not None:
                raise _not_text(path, f"it looks like {what}")
            bad = _first_bad_byte(decoder, block, size)
            if bad is not None:
                offset, what = bad
                line = breaks + block.count(b"\n", 0, max(offset - size, 0)) + 1
                raise _not_text(path, what.format(where=f"byte offset {offset} (line {line})"))
            size += len(block)
            breaks += block.count(b"\n") + block.count(b"\r")
            if limit is not None and size >= limit:
                return TextScan(size, breaks)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _not_text(path, f"it ends inside a UTF-8 character (byte {size})") from None
    return TextScan(size, breaks)


def _first_bad_byte(
    decoder: codecs.IncrementalDecoder, block: bytes, start: int
) -> tuple[int, str] | None:
    """File offset of the first undecodable or NUL byte of ``block``, and what it is.

    The text has a ``{where}`` field for the place. ``start`` is the block's offset.
    """
    pending = decoder.getstate()[0]  # the start of a character cut by the last block
    try:
        decoder.decode(block)
    except UnicodeDecodeError as exc:
        byte = (pending + block)[exc.start]
        return start - len(pending) + exc.start, (
            f"byte 0x{byte:02x} at {{where}} is not valid UTF-8; save the file as UTF-8"
        )
    nul = block.find(b"\x00")
    if nul >= 0:
        return start + nul, "a NUL byte at {where}: is it a binary file?"
    return None
