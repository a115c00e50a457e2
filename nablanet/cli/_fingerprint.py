"""What a model file may remember of its training rows, so that `evaluate` can warn about reuse.

By default, nothing: ``nablanet train --out`` writes no trace of the training rows (no
hashes of them, not even the data file's name). A table of few possible rows (four
categorical columns, say) can be enumerated, so any unkeyed hash of a row would let whoever
holds the file test a candidate record, or recover the training rows outright.

With ``--remember-training-rows`` the file keeps *keyed* 64-bit BLAKE2b hashes of up to
`SAMPLE_ROWS` training rows (their values as float64 bytes), drawn at random. The key is a
32-byte secret in `key_file` (under the user's configuration folder, created 0600 on first
use); it is never written into a model file. ``evaluate`` hashes the rows it scores with
the same key: a row found among the remembered ones is a training row, so a score that
includes it is inflated. Without the key the hashes tell nothing about any row; with it
(this user on this machine, or anyone given a copy of the key file), anyone holding the
model file can test whether a record was trained on. ``nablanet strip-rows MODEL`` removes
them from a file.

Files written by earlier versions hold *unkeyed* hashes (an entry without ``"key_id"``):
they still load, ``evaluate`` ignores them (trusting them would keep an oracle alive),
``info`` says they are there, and only ``strip-rows`` rewrites the file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Training rows whose hashes a model file keeps with --remember-training-rows (8 bytes each).
SAMPLE_ROWS = 4096
#: The metadata fields that describe the training data: the rows and the data's name.
TRAINING_FIELDS = ("training_rows", "data")
#: The environment variable naming the key file (default: `key_file`'s own choice).
KEY_ENV = "NABLANET_ROW_KEY"
_KEY_BYTES = 32
_SCHEME = "blake2b-64-keyed"


def key_file() -> Path:
    """Where the key lives: the file $NABLANET_ROW_KEY names, else ``row-key``.

    ``row-key`` lies in the folder ``nablanet`` of the configuration folder
    ($XDG_CONFIG_HOME, else ~/.config).
    """
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV])
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "nablanet" / "row-key"


def read_key() -> bytes | None:
    """The key, or None when this machine has none (or it is not a 32-byte regular file)."""
    from nablanet.io.files import NotRegularFile, open_regular

    try:
        with open_regular(os.fspath(key_file())) as f:
            key = f.read(_KEY_BYTES + 1)
    except (OSError, NotRegularFile):
        return None
    return key if len(key) == _KEY_BYTES else None


def create_key() -> bytes:
    """The key, made on first use: 32 random bytes in a file only its owner can read (0600)."""
    key = read_key()
    if key is not None:
        return key
    path = key_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Written whole beside it (mkstemp: 0600), then linked into place, which fails if a
    # key is there: a process starting at the same time never reads a half-written key.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(_KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    except FileExistsError:  # made meanwhile by another process, or not a usable key file
        key = read_key()
        if key is None:
            raise ValueError(f"{path} exists but is not a nablanet row key (32 bytes); "
                             "move it away") from None
        return key
    finally:
        os.unlink(tmp)
    key = read_key()
    assert key is not None  # just linked: our own 32 bytes
    return key


def key_id(key: bytes) -> str:
    """A name for the key that reveals nothing of it: which key hashed a file's rows."""
    return hashlib.blake2b(key, digest_size=8, person=b"nablanet-key-id").hexdigest()


def row_hashes(X: Any, key: bytes) -> NDArray[np.uint64]:
    """One keyed 64-bit hash per row of ``X``, of its values as contiguous float64 bytes."""
    rows = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    rows = rows + 0.0  # -0.0 and 0.0 are the same value: hash them alike
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8, key=key).digest(), "little")
         for r in rows),
        dtype=np.uint64, count=rows.shape[0],
    )


def fingerprint(X: Any, seed: int, key: bytes) -> dict[str, Any]:
    """The metadata entry remembering the training rows ``X`` (keyed hashes of a sample)."""
    m = int(np.shape(X)[0])
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(m, size=min(m, SAMPLE_ROWS), replace=False))
    hashes = np.unique(row_hashes(np.asarray(X)[rows], key))
    return {
        "scheme": _SCHEME,
        "key_id": key_id(key),
        "rows": m,
        "sampled": int(rows.size),
        "hashes": base64.b64encode(hashes.astype("<u8").tobytes()).decode("ascii"),
    }


def remembered(metadata: dict[str, Any]) -> str:
    """What a file's metadata keeps of its training rows: "none", "keyed" or "unkeyed"."""
    entry = metadata.get("training_rows")
    if entry is None:
        return "none"
    if isinstance(entry, dict) and entry.get("scheme") == _SCHEME and "key_id" in entry:
        return "keyed"
    return "unkeyed"


def describe(metadata: dict[str, Any], model: str) -> str:
    """The line ``info`` prints about the training rows a file remembers."""
    kind = remembered(metadata)
    if kind == "none":
        return "training rows: none remembered"
    strip = f"remove them with 'nablanet strip-rows {model}'"
    if kind == "unkeyed":
        return ("training rows: UNKEYED hashes written by an older nablanet: anyone holding "
                "this file can test whether a record was trained on; evaluate ignores them; "
                + strip)
    entry = metadata["training_rows"]
    mine = (key := read_key()) is not None and key_id(key) == entry.get("key_id")
    where = (f"this machine's key ({key_file()})" if mine
             else "a key that is not on this machine")
    return (f"training rows: keyed hashes of {entry.get('sampled')} of {entry.get('rows')} "
            f"rows (--remember-training-rows), with {where}; anyone holding both this file "
            f"and that key can test whether a record was trained on; {strip}")


def training_rows_among(entry: Any, X: Any) -> tuple[int, int, int] | None:
    """``(matches, sampled, training rows)`` for the rows ``X``, or None.

    None without keyed hashes, or when this machine's key is not the one that hashed
    them: unkeyed hashes of older files are ignored.
    """
    if not isinstance(entry, dict) or remembered({"training_rows": entry}) != "keyed":
        return None
    key = read_key()
    if key is None or key_id(key) != entry["key_id"] or not isinstance(entry.get("hashes"), str):
        return None
    try:
        raw = base64.b64decode(entry["hashes"], validate=True)
    except ValueError:
        return None
    if len(raw) % 8:
        return None
    known = np.frombuffer(raw, dtype="<u8")
    matches = int(np.isin(np.unique(row_hashes(X, key)), known).sum())
    return matches, int(entry.get("sampled", known.size)), int(entry.get("rows", known.size))


def without_training_data(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata less what it says of the training data (`TRAINING_FIELDS`)."""
    return {k: v for k, v in metadata.items() if k not in TRAINING_FIELDS}
