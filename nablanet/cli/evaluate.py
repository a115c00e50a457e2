"""``nablanet evaluate``: score a saved model on data."""

from __future__ import annotations

import argparse
from typing import Any

from nablanet.cli import _common as c
from nablanet.cli import cluster
from nablanet.cli._models import load_model
from nablanet.cli.sources import load_for_model


def add_parser(subparsers: Any) -> None:
    """Add ``evaluate`` and its flags."""
    p = c.add_command(
        subparsers, "evaluate", "score a saved model on data",
        "Score a saved model on the test split of a data set (or every row of a CSV "
        "file, its columns matched by name to the model's): accuracy, per-class "
        "precision/recall/F1 and the confusion matrix for a "
        "classifier; R², MAE and RMSE for a regressor.",
    )
    c.add_model(p)
    c.add_data(p)
    c.add_json(p)
    cluster.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Print the model's scores on the data."""
    from nablanet.report import evaluate_model, format_evaluation

    if cluster.requested(args):
        return cluster.run_evaluate(args)
    model = load_model(args.model)
    data = load_for_model(args, model)
    assert data.y_test is not None
    if data.y_test.ndim == 2:  # several targets: a line each
        from nablanet.cli.train import target_scores

        lines = target_scores(model, data.X_test, data.y_test, data.contract)
        c.out(f"{args.model} on {data.description}")
        for line in lines:
            c.out(line)
        return 0
    result = evaluate_model(model, data.X_test, data.y_test, data.class_names)
    _warn_training_rows(args.model, data.X_test)
    if args.json:
        c.print_json({"model": args.model, "data": data.description, **result})
    else:
        c.out(f"{args.model} on {data.description}")
        c.out(format_evaluation(result))
    return 0


def _warn_training_rows(path: str, X: Any) -> None:
    """Say so when the rows being scored include rows the model was trained on."""
    from nablanet.cli._fingerprint import training_rows_among
    from nablanet.io import read_metadata

    found = training_rows_among(read_metadata(path).get("training_rows"), X)
    if found is None or found[0] == 0:
        return
    matches, sampled, total = found
    c.err(f"{c.PROG}: warning: these rows include the model's training rows ({matches} of "
          f"the {sampled} of its {total} training rows its file remembers): the score is "
          "inflated; score held-out rows")
