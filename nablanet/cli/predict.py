"""``nablanet predict``: a saved model's predictions as CSV."""

from __future__ import annotations

import argparse
import io
import sys
from typing import IO, Any

from nablanet.cli import _common as c
from nablanet.cli import cluster
from nablanet.cli._models import load_model
from nablanet.cli.sources import load_for_model


def add_parser(subparsers: Any) -> None:
    """Add ``predict`` and its flags."""
    p = c.add_command(
        subparsers, "predict", "predict with a saved model",
        "Predict the test split of a data set (or every row of a CSV file; the target "
        "column may be left out) and write a CSV: a header row, then one row per "
        "sample.",
    )
    c.add_model(p)
    c.add_data(p)
    p.add_argument("--out", metavar="FILE", default="-",
                   help="the CSV file to write; '-' for standard output")
    p.add_argument("--proba", action="store_true",
                   help="add one column per class with its predicted probability")
    cluster.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Write the predictions (and with --proba the probabilities) as CSV."""
    if args.out != "-":
        c.check_writable(args.out, "--out", inputs=(args.model, args.data))
    if cluster.requested(args):
        header, columns = cluster.predictions(args)
    else:
        model = load_model(args.model)
        if args.proba and not hasattr(model, "classes_"):
            raise c.UsageError("--proba needs a classifier; this model is a regressor")
        data = load_for_model(args, model, need_target=False)
        header, columns = _columns(model, data.X_test, data.class_names, args.proba)

    def write(stream: Any) -> None:
        import csv

        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(zip(*columns, strict=True))

    def write_bytes(f: IO[bytes]) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        write(text)
        text.flush()
        text.detach()  # the atomic write closes the file itself

    if args.out == "-":
        write(sys.stdout)
    else:
        c.write_atomically(args.out, write_bytes)
        c.err(f"wrote {len(columns[0])} predictions to {args.out}")
    return 0


def _columns(model: Any, X: Any, class_names: Any, proba: bool
             ) -> tuple[list[str], list[list[Any]]]:
    """The header and the columns of the output: labels (and probabilities) or values."""
    import numpy as np

    from nablanet.report import label_names

    pred = np.asarray(model.predict(X))
    if not hasattr(model, "classes_"):
        P = pred.reshape(pred.shape[0], -1)
        header = ["prediction"] if P.shape[1] == 1 else [f"prediction_{j}"
                                                           for j in range(P.shape[1])]
        return header, [[f"{v:.10g}" for v in P[:, j]] for j in range(P.shape[1])]
    columns: list[list[Any]] = [label_names(pred.tolist(), class_names)]
    header = ["prediction"]
    if proba:
        P = model.predict_proba(X)
        names = label_names(model.classes_.tolist(), class_names)
        header += [f"p({name})" for name in names]
        columns += [[f"{p:.6g}" for p in P[:, j]] for j in range(P.shape[1])]
    return header, columns
