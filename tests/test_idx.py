import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nablanet.data.idx import read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def _header(code: int, shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_each_type_code(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    a = rng.uniform(-100, 100, size=(3, 4, 5)).astype(dtype)
    a.flat[0], a.flat[1] = info.min, info.max
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, a)
    with open(path, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == compress
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype)
    assert b.dtype.isnative
    assert b.shape == a.shape
    np.testing.assert_array_equal(b, a)
    assert b.flags.writeable


def test_big_endian_bytes_written_by_hand(tmp_path):
    # int16 [258, -2] and float64 [1.5]: bytes worked out from the IDX spec, not write_idx
    p = tmp_path / "short.idx"
    p.write_bytes(b"\x00\x00\x0b\x01\x00\x00\x00\x02" + b"\x01\x02" + b"\xff\xfe")
    np.testing.assert_array_equal(read_idx(p), np.array([258, -2], dtype=np.int16))
    q = tmp_path / "double.idx"
    q.write_bytes(b"\x00\x00\x0e\x01\x00\x00\x00\x01" + struct.pack(">d", 1.5))
    assert read_idx(q).tolist() == [1.5]
    r = tmp_path / "ubyte.idx"
    r.write_bytes(b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03" + bytes(range(6)))
    np.testing.assert_array_equal(read_idx(r), np.arange(6, dtype=np.uint8).reshape(2, 3))


def test_write_idx_bytes_match_spec(tmp_path):
    p = tmp_path / "w.idx"
    write_idx(p, np.array([[1, 2, 3]], dtype=np.int32))
    assert p.read_bytes() == _header(0x0C, (1, 3)) + struct.pack(">3i", 1, 2, 3)


def test_gzip_detected_by_magic_not_name(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    gz_named_plain = tmp_path / "labels-idx1-ubyte"
    write_idx(gz_named_plain, a, compress=True)
    plain_named_gz = tmp_path / "labels-idx1-ubyte.gz"
    write_idx(plain_named_gz, a, compress=False)
    np.testing.assert_array_equal(read_idx(gz_named_plain), a)
    np.testing.assert_array_equal(read_idx(plain_named_gz), a)


def test_gzip_output_is_reproducible(tmp_path):
    a = np.arange(100, dtype=np.float32)
    write_idx(tmp_path / "1.gz", a)
    write_idx(tmp_path / "2.gz", a)
    assert (tmp_path / "1.gz").read_bytes() == (tmp_path / "2.gz").read_bytes()


def _write(tmp_path, data: bytes, compress: bool):
    p = tmp_path / "x"
    p.write_bytes(gzip.compress(data) if compress else data)
    return p


@pytest.mark.parametrize("compress", [False, True])
def test_bad_magic(tmp_path, compress):
    p = _write(tmp_path, b"\x00\x01\x08\x01\x00\x00\x00\x01\x05", compress)
    with pytest.raises(ValueError, match=r"bad magic number 0x00010801.*first two bytes"):
        read_idx(p)


def test_text_file_is_not_idx(tmp_path):
    p = _write(tmp_path, b"label,x\n1,2\n", False)
    with pytest.raises(ValueError, match="bad magic number"):
        read_idx(p)


@pytest.mark.parametrize("compress", [False, True])
def test_unknown_type_code(tmp_path, compress):
    p = _write(tmp_path, _header(0x0A, (1,)) + b"\x00", compress)
    with pytest.raises(ValueError, match=r"unknown type code 0x0A; valid codes are 0x08"):
        read_idx(p)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_payload(tmp_path, compress):
    p = _write(tmp_path, _header(0x0B, (2, 3)) + bytes(11), compress)
    with pytest.raises(
        ValueError, match=r"truncated: shape \(2, 3\).*needs 12 payload bytes, found 11"
    ):
        read_idx(p)


@pytest.mark.parametrize("compress", [False, True])
def test_extra_bytes(tmp_path, compress):
    p = _write(tmp_path, _header(0x0B, (2, 3)) + bytes(15), compress)
    found = "more" if compress else "15"  # a gzip member is not decompressed past 13
    with pytest.raises(ValueError, match=rf"too long: .*needs 12 payload bytes, found {found}"):
        read_idx(p)


def test_truncated_header(tmp_path):
    p = _write(tmp_path, b"\x00\x00\x08\x03\x00\x00\x00\x02", False)
    with pytest.raises(ValueError, match=r"ends inside the header: expected 12 bytes"):
        read_idx(p)
    q = _write(tmp_path, b"", False)
    with pytest.raises(ValueError, match=r"ends inside the header: expected 4 bytes .* found 0"):
        read_idx(q)


def test_zero_dimensions_refused(tmp_path):
    p = _write(tmp_path, b"\x00\x00\x08\x00\x07", False)
    with pytest.raises(ValueError, match="declares 0 dimensions"):
        read_idx(p)


def test_huge_claimed_shape_is_refused_not_allocated(tmp_path):
    # 4 GiB x 4 GiB x 8 bytes claimed; the reader must not try to allocate it
    p = _write(tmp_path, _header(0x0E, (0xFFFFFFFF, 0xFFFFFFFF)) + bytes(16), False)
    with pytest.raises(ValueError, match=r"too large: .*above the cap of 1073741824"):
        read_idx(p)
    q = _write(tmp_path, _header(0x0E, (3, 4)) + bytes(10), False)
    with pytest.raises(ValueError, match=r"truncated: .*needs 96 payload bytes, found 10"):
        read_idx(q)


class _CountingGzip(gzip.GzipFile):
    """A GzipFile that counts the bytes it hands out (decompresses)."""

    handed_out = 0

    def read(self, size=-1):
        data = super().read(size)
        _CountingGzip.handed_out += len(data)
        return data


@pytest.fixture
def counting_gzip(monkeypatch):
    _CountingGzip.handed_out = 0
    monkeypatch.setattr(gzip, "GzipFile", _CountingGzip)
    return _CountingGzip


def test_gzip_declaring_little_and_holding_much_stops_early(tmp_path, counting_gzip):
    # declares 10 bytes and holds 64 MiB: decompressing stops one byte past the 10
    p = _write(tmp_path, _header(0x08, (10,)) + bytes(1 << 26), True)
    with pytest.raises(ValueError, match=r"too long: .*needs 10 payload bytes, found more"):
        read_idx(p)
    assert counting_gzip.handed_out == 8 + 11


def test_gzip_declaring_2_gib_is_refused_before_decompressing(tmp_path, counting_gzip):
    p = _write(tmp_path, _header(0x08, (1 << 31,)) + bytes(1 << 26), True)
    with pytest.raises(ValueError, match=r"too large: shape \(2147483648,\) of ubyte"):
        read_idx(p)
    assert counting_gzip.handed_out == 8  # the header only
    assert read_idx(_write(tmp_path, _header(0x08, (5,)) + bytes(5), True)).size == 5


def test_max_bytes_option(tmp_path):
    p = _write(tmp_path, _header(0x0B, (2, 3)) + bytes(12), False)
    assert read_idx(p, max_bytes=12).shape == (2, 3)
    with pytest.raises(ValueError, match="above the cap of 11"):
        read_idx(p, max_bytes=11)
    with pytest.raises(ValueError, match="max_bytes must be an integer"):
        read_idx(p, max_bytes=True)


def test_empty_shape_with_huge_dimensions_refused(tmp_path):
    # NumPy itself refuses such a shape ("array is too big"), in a message naming no file
    p = _write(tmp_path, _header(0x08, (0, 2**31, 2**31)), False)
    with pytest.raises(ValueError, match=r"too large: shape \(0, 2147483648, 2147483648\)"):
        read_idx(p)
    assert read_idx(_write(tmp_path, _header(0x08, (0, 5)), False)).shape == (0, 5)


def test_too_many_dimensions_refused(tmp_path):
    p = _write(tmp_path, _header(0x08, (1,) * 70) + b"\x00", False)
    with pytest.raises(ValueError, match="declares 70 dimensions; 1 to 32 are supported"):
        read_idx(p)


def test_corrupt_gzip(tmp_path):
    good = gzip.compress(_header(0x08, (100,)) + bytes(100))
    p = tmp_path / "cut.gz"
    p.write_bytes(good[: len(good) - 12])
    with pytest.raises(ValueError, match="corrupt gzip stream"):
        read_idx(p)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file or directory: .*nope"):
        read_idx(tmp_path / "nope")


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.float16, np.bool_, np.complex64])
def test_write_refuses_unsupported_dtype(tmp_path, dtype):
    with pytest.raises(ValueError, match=rf"cannot write dtype {np.dtype(dtype)} as IDX"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=dtype))


def test_write_refuses_scalar(tmp_path):
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        write_idx(tmp_path / "x", np.uint8(3))


@settings(max_examples=60, deadline=None)
@given(
    a=hnp.arrays(
        dtype=st.sampled_from([np.dtype(d) for d in DTYPES]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    ),
    compress=st.booleans(),
)
def test_round_trip_property(tmp_path_factory, a, compress):
    path = tmp_path_factory.mktemp("rt") / "a"
    write_idx(path, a, compress=compress)
    b = read_idx(path)
    assert b.shape == a.shape
    assert b.dtype == a.dtype
    # bitwise equality: NaN payloads, -0.0 and infinities must survive
    assert b.tobytes() == np.ascontiguousarray(a).tobytes()


def test_fifo_is_refused_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "labels-idx1-ubyte"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"labels-idx1-ubyte is not a regular file \(a FIFO\)"):
        read_idx(fifo)
