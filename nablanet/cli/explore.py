"""``nablanet explore``: the backpropagation explorer of a saved model, one offline page."""

from __future__ import annotations

import argparse
from typing import Any

from nablanet.cli import _common as c
from nablanet.cli._models import load_model, sample
from nablanet.cli.sources import load_for_model


def add_parser(subparsers: Any) -> None:
    """Add ``explore`` and its flags."""
    p = c.add_command(
        subparsers, "explore", "write an interactive page showing backprop on a model",
        "Write one self-contained HTML page (it opens offline) that draws the model for "
        "chosen samples of the data: z, a and δ of every unit (BP1, BP2), the terms "
        "a_k δ_j of any weight's gradient (BP4), saturated and dead units, and a nudge "
        "of one weight beside ε·∂C/∂w (docs/math.md §6, §7), and the training curves "
        "the model file keeps.",
    )
    c.add_model(p)
    c.add_data(p)
    p.add_argument("--rows", type=c.positive_int, default=20,
                   help="samples drawn from the data that the page holds")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample")
    p.add_argument("--out", metavar="FILE", required=True, help="the HTML page to write")


def run(args: argparse.Namespace) -> int:
    """Write the explorer page of the model on a sample of the data."""
    from nablanet.explorer import explore

    c.check_outputs({"--out": args.out}, inputs=(args.model, args.data))
    model = load_model(args.model)
    data = load_for_model(args, model)
    assert data.y_test is not None
    rows = sample(len(data.y_test), args.rows, args.seed)
    page = explore(model, data.X_test[rows], data.y_test[rows], rows=len(rows),
                   title=f"{args.model} on {len(rows)} samples of {data.description}",
                   image_shape=data.image_shape)
    page.save(args.out)
    c.err(f"wrote {args.out} ({len(rows)} samples of {data.description})")
    return 0
