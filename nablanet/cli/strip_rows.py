"""``nablanet strip-rows``: remove what a model file remembers of its training data.

Model files written by ``train --remember-training-rows``, or by nablanet versions that
kept unkeyed hashes of the training rows, let whoever holds them test whether a record was
trained on (see `nablanet.cli._fingerprint`). This command rewrites such a file without
those hashes and without the data's name, through the same writer as ``train --out``
(sealed, atomic: the file is either the old one or the new one, never half of one). The
model itself (weights, settings, history) is unchanged and predicts exactly as before.
"""

from __future__ import annotations

import argparse
from typing import Any

from nablanet.cli import _common as c


def add_parser(subparsers: Any) -> None:
    """Add ``strip-rows`` and its flags."""
    p = c.add_command(
        subparsers, "strip-rows", "remove the training rows' hashes from a model file",
        "Rewrite a model file without what it remembers of its training data (hashes of "
        "training rows, the data's name), sealed and atomically. The model predicts "
        "exactly as before. A file that remembers nothing is left untouched.",
    )
    c.add_model(p, help="the model file to rewrite")
    p.add_argument("--out", metavar="MODEL", default=None,
                   help="write the stripped model here instead of rewriting MODEL")


def run(args: argparse.Namespace) -> int:
    """Rewrite the model file without its training data's traces."""
    from nablanet.cli._fingerprint import TRAINING_FIELDS, without_training_data
    from nablanet.io import load, read_metadata, save

    out = args.out or args.model
    if args.out is not None:
        c.check_writable(args.out, "--out", inputs=(args.model,))
    metadata = read_metadata(args.model)
    found = [field for field in TRAINING_FIELDS if field in metadata]
    if not found and args.out is None:
        c.out(f"{args.model} remembers nothing of its training data: left as it was")
        return 0
    model = load(args.model)
    kept = without_training_data(metadata)
    save(model, out, metadata=kept or None)
    removed = ", ".join(found) if found else "nothing to remove"
    c.out(f"wrote {out} without its training data's traces ({removed})")
    return 0
