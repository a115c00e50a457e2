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
        "Predict the test split of a data set (or every row of a CSV file, its columns "
        "matched by name to the model's; the target column may be left out, and is "
        "ignored if present) and write a CSV: a header row, then one row per sample (one "
        "column per target for a model of several).",
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
        targets = (data.contract or {}).get("targets")
        header, columns = _columns(model, data.X_test, data.class_names, args.proba, targets)

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


def _columns(model: Any, X: Any, class_names: Any, proba: bool,
             targets: list[str] | None = None) -> tuple[list[str], list[list[Any]]]:
    """The header and the columns of the output: labels (and probabilities) or values.

    One target gives the column ``prediction``; several (``targets``, the names the model
    was trained on) one column each, named after its target.
    """
    import numpy as np

    from nablanet.report import label_names

    pred = np.asarray(model.predict(X))
    if pred.ndim == 2 and pred.shape[1] > 1:
        names = targets if targets and len(targets) == pred.shape[1] else [
            f"prediction_{j}" for j in range(pred.shape[1])]
        if proba:
            raise c.UsageError("--proba is for a model with one target")
        text = "{:.10g}" if pred.dtype.kind == "f" else "{}"
        return list(names), [[text.format(v) for v in pred[:, j]] for j in range(pred.shape[1])]
    if not hasattr(model, "classes_"):
        P = pred.reshape(pred.shape[0], -1)
        return ["prediction"], [[f"{v:.10g}" for v in P[:, 0]]]
    columns: list[list[Any]] = [label_names(pred.tolist(), class_names)]
    header = ["prediction"]
    if proba:
        P = model.predict_proba(X)
        names = label_names(model.classes_.tolist(), class_names)
        header += [f"p({name})" for name in names]
        columns += [[f"{p:.6g}" for p in P[:, j]] for j in range(P.shape[1])]
    return header, columns
