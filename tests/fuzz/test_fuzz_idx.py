"""Fuzz the IDX reader: any file gives the right array or a ValueError naming the file.

Targets: arbitrary bytes, plain and gzipped; near-valid headers (type codes, numbers of
dimensions, huge dimensions, payloads a few bytes short or long) whose outcome is known
exactly; and damaged gzip members (cut, a flipped byte, trailing bytes, two members).
"""

from __future__ import annotations

import atexit
import gzip
import math
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
from _fuzz import count, run_fuzz
from hypothesis import given
from hypothesis import strategies as st

from nablanet.data.idx import IDX_TYPES, MAX_BYTES, MAX_NDIM, read_idx

_FOLDER = Path(tempfile.mkdtemp(prefix="nablanet-fuzz-idx-"))
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)


def _write(data: bytes) -> Path:
    path = _FOLDER / "data-idx"
    path.write_bytes(data)
    return path


def _outcome(path: Path):
    """The array, or the ValueError's message (which must name the file)."""
    try:
        return read_idx(path)
    except ValueError as exc:
        assert str(path) in str(exc), f"message does not name the file: {exc}"
        return str(exc)


def test_arbitrary_bytes():
    @given(data=st.binary(max_size=300), compress=st.booleans())
    def run(data, compress):
        count("idx arbitrary bytes")
        out = _outcome(_write(gzip.compress(data) if compress else data))
        if isinstance(out, np.ndarray):
            assert out.dtype.isnative and 1 <= out.ndim <= MAX_NDIM

    run_fuzz(run)


@st.composite
def near_valid_idx(draw):
    code = draw(st.sampled_from([*IDX_TYPES, 0x00, 0x0A, 0x0F, 0xFF]))
    ndim = draw(st.sampled_from([0, 1, 2, 3, 4, MAX_NDIM, MAX_NDIM + 1, 255]))
    small = st.integers(0, 4)
    huge = st.sampled_from([2**31, 2**32 - 1, 70_000])
    shape = [draw(st.one_of(small, huge) if draw(st.integers(0, 5)) == 0 else small)
             for _ in range(ndim)]
    itemsize = IDX_TYPES[code].itemsize if code in IDX_TYPES else 1
    expected = math.prod(shape) * itemsize
    delta = draw(st.sampled_from([0, 0, 0, -1, 1, 3, -4]))
    n_payload = max(0, min(expected, 4096) + delta)
    payload = draw(st.binary(min_size=n_payload, max_size=n_payload))
    header = bytes([0, 0, code, ndim]) + struct.pack(f">{ndim}I", *shape)
    return header, payload, code, shape, expected


def test_near_valid_headers_have_exactly_one_outcome():
    @given(case=near_valid_idx(), compress=st.booleans())
    def run(case, compress):
        count("idx near-valid header")
        header, payload, code, shape, expected = case
        data = header + payload
        out = _outcome(_write(gzip.compress(data) if compress else data))
        bound = math.prod(max(d, 1) for d in shape) * (IDX_TYPES[code].itemsize
                                                        if code in IDX_TYPES else 1)
        valid = (code in IDX_TYPES and 1 <= len(shape) <= MAX_NDIM
                 and bound <= MAX_BYTES and len(payload) == expected)
        if not valid:
            assert isinstance(out, str), f"accepted a bad file: {case}"
            return
        assert isinstance(out, np.ndarray), out
        want = np.frombuffer(payload, dtype=IDX_TYPES[code]).reshape(shape)
        assert out.shape == tuple(shape) and out.dtype == want.dtype.newbyteorder("=")
        assert out.tobytes() == want.astype(out.dtype).tobytes()

    run_fuzz(run)


@st.composite
def damaged_gzip(draw):
    n = draw(st.integers(0, 40))
    good = bytes([0, 0, 0x08, 1]) + struct.pack(">I", n) + bytes(range(n))
    member = gzip.compress(good, mtime=0)
    damage = draw(st.sampled_from(["cut", "flip", "trailing", "two members", "raw deflate"]))
    if damage == "cut":
        member = member[: draw(st.integers(2, len(member) - 1))]
    elif damage == "flip":
        i = draw(st.integers(2, len(member) - 1))
        member = member[:i] + bytes([member[i] ^ draw(st.integers(1, 255))]) + member[i + 1:]
    elif damage == "trailing":
        member += draw(st.binary(min_size=1, max_size=12))
    elif damage == "two members":
        member += gzip.compress(draw(st.binary(max_size=8)), mtime=0)
    else:
        member = b"\x1f\x8b" + zlib.compress(good)[2:]
    return member, good, damage


def test_damaged_gzip_members():
    @given(case=damaged_gzip())
    def run(case):
        count("idx damaged gzip")
        member, good, damage = case
        out = _outcome(_write(member))
        if isinstance(out, np.ndarray):
            # accepted only if what was decompressed is exactly the good file
            assert out.tobytes() == good[8:], damage

    run_fuzz(run)
