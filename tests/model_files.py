"""Hand tools for model files, written independently of nablanet.io: tests build hostile
files with them, so that each refusal is tested against a file the writer would never make.

The digest (format version 3): the zip comment is ``nablanet-sha256:`` followed by the
SHA-256, in hex, of every byte of the file before those 64 digits.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

SEAL = b"nablanet-sha256:"


def seal(path: Path) -> Path:
    """Seal a file as save does: a comment with the SHA-256 of the bytes before its digits."""
    with zipfile.ZipFile(path, "a") as zf:
        zf.comment = SEAL + b"0" * 64
    data = path.read_bytes()[:-64]
    path.write_bytes(data + hashlib.sha256(data).hexdigest().encode())
    return path


def members(path: Path) -> dict[str, bytes]:
    """Every zip member's bytes, by member name (``"theta.npy"``)."""
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_members(path: Path, content: dict[str, bytes], *, sealed: bool = True) -> Path:
    """A zip of exactly these members (stored, valid CRCs), sealed unless told otherwise."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return seal(path) if sealed else path


def header_of(path: Path) -> dict[str, Any]:
    """The JSON header of a model file, decoded."""
    raw = members(path)["header.npy"]
    return json.loads(np.load(io.BytesIO(raw), allow_pickle=False).tobytes())


def header_member(header: Any) -> bytes:
    """The .npy bytes of a header member holding ``header`` (a dict, or raw bytes)."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(raw, np.uint8), allow_pickle=False)
    return buf.getvalue()


def with_header(path: Path, header: Any, *, sealed: bool = True) -> Path:
    """The same file with another header (the arrays and the manifest untouched)."""
    content = members(path)
    content["header.npy"] = header_member(header)
    return write_members(path, content, sealed=sealed)
