"""Review finding: an empty array with a huge declared dimension escapes as ValueError."""

import io
import json
import zipfile

import numpy as np
import pytest

import nablanet
from nablanet.io import ModelFileError, container


def _npy(descr: str, shape: str) -> bytes:
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    text += " " * ((64 - (len(text) + 11) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1")


def _sealed_file(path, members):
    """A zip sealed exactly as `write_model` seals it, holding hand-made .npy members."""
    header = json.dumps({"format": "nablanet-model", "format_version": 3}).encode()
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.frombuffer(header, np.uint8))
    with open(path, "w+b") as f:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("header.npy", buf.getvalue())
            for name, data in members.items():
                zf.writestr(f"{name}.npy", data)
            zf.comment = container._SEAL + b"0" * 64
        container._seal(f)


@pytest.mark.parametrize("shape", [
    "(0, 9999999999999999999)",  # a dimension over the largest intp
    "(0, 1000000000000000000, 1000000000000000000)",  # 0 bytes, but too big a shape
    "(" + "1, " * 70 + "0)",  # more dimensions than NumPy allows
])
def test_zero_size_member_with_impossible_shape_is_a_model_file_error(tmp_path, shape):
    """parse_npy checks the byte count (0 == 0) and then reshapes: NumPy's ValueError
    ("Maximum allowed dimension exceeded", "array is too big") escaped `load`, without
    the file's name, where every refusal must be a ModelFileError."""
    path = tmp_path / "m.npz"
    _sealed_file(path, {"theta": _npy("<f8", shape)})
    with pytest.raises(ModelFileError, match="m.npz"):
        nablanet.load(path)
