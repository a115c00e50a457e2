"""``nablanet diagnose``: why a saved model learns slowly (saturation, dead units, δ)."""

from __future__ import annotations

import argparse
from typing import Any

from nablanet.cli import _common as c
from nablanet.cli._models import load_model, sample
from nablanet.cli.sources import load_for_model


def add_parser(subparsers: Any) -> None:
    """Add ``diagnose`` and its flags."""
    p = c.add_command(
        subparsers, "diagnose", "why a saved model learns slowly",
        "Per layer: how many units are saturated (f'(z) near 0, so they learn slowly), "
        "how many ReLUs are dead, the size of the errors δ and how fast the weights "
        "move, with sentences saying what it means (docs/math.md §6).",
    )
    c.add_model(p)
    c.add_data(p)
    p.add_argument("--samples", type=c.positive_int, default=1000,
                   help="examples drawn from the data (all of them if fewer)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample")
    c.add_json(p)


def run(args: argparse.Namespace) -> int:
    """Print the diagnosis of the model on a sample of the data."""
    model = load_model(args.model)
    data = load_for_model(args, model)
    assert data.y_test is not None
    rows = sample(len(data.y_test), args.samples, args.seed)
    diagnosis = model.diagnose(data.X_test[rows], data.y_test[rows],
                               targets_scaled=targets_were_scaled(args.model))
    if args.json:
        c.print_json({"model": args.model, "data": data.description, "samples": len(rows),
                      "loss": diagnosis.loss, "J": diagnosis.J, "layers": diagnosis.as_dicts(),
                      "findings": diagnosis.findings()})
    else:
        c.out(f"{args.model} on {len(rows)} samples of {data.description}")
        c.out(str(diagnosis))
    return 0


def targets_were_scaled(path: str) -> bool:
    """Whether ``nablanet train`` standardised the model's targets (and folded it back)."""
    from nablanet.io import read_metadata

    return "target_scaling" in read_metadata(path)
