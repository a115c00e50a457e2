"""``train --layers``: hidden layer sizes, or the words of a convolutional network.

``--layers 256,128`` gives the sizes of a fully connected network (an MLPClassifier or
MLPRegressor, as always). A word of the layer grammar (`nablanet.layers.grammar`) makes
it a `nablanet.ConvNetClassifier`: ``--layers conv20x5,maxpool2,conv40x5,maxpool2,100``.
Its input shape comes from the data set (Fashion-MNIST and MNIST 1×28×28, digits 1×8×8,
an IDX folder its images' size), or, for a CSV file, from ``--input-shape C,H,W``.
"""

from __future__ import annotations

import argparse
from typing import Any

from nablanet.cli._common import UsageError, hidden_layers
from nablanet.cli.sources import is_csv

#: What --layers' help says.
HELP = (
    "units of each hidden layer, e.g. 256,128; or the layers of a convolutional network, "
    "e.g. conv20x5,maxpool2,conv40x5,maxpool2,100: conv<filters>x<size> (options after "
    "colons: same, stride<n>, an activation: conv20x5:same:tanh), maxpool<size>, "
    "meanpool<size>, <units> (dense, e.g. 100 or 100:tanh)"
)


_NO_SHAPE = (
    "--data {data} holds rows, not images: convolutional --layers need --input-shape C,H,W "
    "(channels, height, width; C·H·W = the number of features)"
)


def layers(text: str) -> tuple[int, ...] | list[str]:
    """``--layers``: a tuple of sizes (a dense network) or the checked words of a conv net.

    Raises
    ------
    argparse.ArgumentTypeError
        With the grammar's message for the first word it refuses.
    """
    words = [w.strip() for w in text.split(",")]
    if text.strip() in ("", "none") or all(w.isdigit() for w in words):
        return hidden_layers(text)  # sizes: parsed without importing the layers (numpy)
    from nablanet.layers.grammar import parse_layers

    try:
        parse_layers(words)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return words


def input_shape(text: str) -> tuple[int, int, int]:
    """``--input-shape C,H,W``: three integers >= 1."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not C,H,W (channels, height, width: three integers >= 1, e.g. 1,28,28)"
        )
    return int(parts[0]), int(parts[1]), int(parts[2])


def convolutional(args: argparse.Namespace) -> bool:
    """Whether ``--layers`` gave words (a ConvNetClassifier) rather than sizes."""
    return isinstance(args.layers, list)


def check_flags(args: argparse.Namespace, cluster: bool) -> None:
    """Refuse what a convolutional network cannot take, before any data are read."""
    if not convolutional(args):
        if args.input_shape is not None:
            raise UsageError("--input-shape is for convolutional --layers (e.g. "
                             "conv20x5,maxpool2,100)")
        return
    from nablanet.layers.grammar import is_spatial, parse_layers

    if not is_spatial(parse_layers(args.layers)):
        raise UsageError(
            f"--layers {','.join(args.layers)}: activations per layer (100:tanh) are for "
            "convolutional networks; a fully connected one takes --activation tanh,relu"
        )
    if not isinstance(args.activation, str):
        raise UsageError(
            "--activation takes one name with convolutional --layers; give a layer its own "
            "after a colon, e.g. conv20x5:tanh"
        )
    if args.task == "regress":
        raise UsageError("convolutional --layers build a classifier; --task regress needs "
                         "sizes, e.g. --layers 100")
    if cluster:
        raise UsageError("--workers/--cluster train fully connected networks only; drop "
                         "them to train convolutional --layers here")
    if args.input_shape is None and is_csv(args.data):
        raise UsageError(_NO_SHAPE.format(data=args.data))


def shape_of(args: argparse.Namespace, data: Any) -> tuple[int, int, int]:
    """The input shape: --input-shape, else one channel of the data set's images.

    Raises
    ------
    UsageError
        For a CSV file (its rows have no shape) without --input-shape.
    """
    if data.regression:
        raise UsageError("convolutional --layers build a classifier; this target is a "
                         "quantity (see --task)")
    if args.input_shape is not None:
        return tuple(args.input_shape)
    if data.image_shape is None:
        raise UsageError(_NO_SHAPE.format(data=args.data))
    height, width = data.image_shape
    return 1, int(height), int(width)
