"""What a model file remembers of its training data, so `evaluate` can warn about reuse.

``nablanet train --out`` saves, beside the model, the names of the classes and a
fingerprint of the training rows: the 64-bit BLAKE2b hashes of the exact bytes of up to
`SAMPLE_ROWS` of them (as float64), drawn at random. ``evaluate`` hashes the rows it scores
the same way: a row found among the remembered ones is a training row, so a score that
includes it is inflated. With more training rows than the sample holds, a match proves
reuse and the count of matches is a lower bound.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Training rows whose hashes a model file keeps (8 bytes each).
SAMPLE_ROWS = 4096


def row_hashes(X: Any) -> NDArray[np.uint64]:
    """One 64-bit hash per row of ``X``, of its values as contiguous float64 bytes."""
    rows = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    rows = rows + 0.0  # -0.0 and 0.0 are the same value: hash them alike
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8).digest(), "little")
         for r in rows),
        dtype=np.uint64, count=rows.shape[0],
    )


def fingerprint(X: Any, seed: int) -> dict[str, Any]:
    """The metadata entry describing the training rows ``X``."""
    m = int(np.shape(X)[0])
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(m, size=min(m, SAMPLE_ROWS), replace=False))
    hashes = np.unique(row_hashes(np.asarray(X)[rows]))
    return {
        "rows": m,
        "sampled": int(rows.size),
        "hashes": base64.b64encode(hashes.astype("<u8").tobytes()).decode("ascii"),
    }


def training_rows_among(entry: Any, X: Any) -> tuple[int, int, int] | None:
    """``(matches, sampled, training rows)`` for the rows ``X``, or None without a fingerprint."""
    if not isinstance(entry, dict) or not isinstance(entry.get("hashes"), str):
        return None
    try:
        raw = base64.b64decode(entry["hashes"], validate=True)
    except ValueError:
        return None
    if len(raw) % 8:
        return None
    known = np.frombuffer(raw, dtype="<u8")
    matches = int(np.isin(np.unique(row_hashes(X)), known).sum())
    return matches, int(entry.get("sampled", known.size)), int(entry.get("rows", known.size))
