"""``nablanet gradcheck``: backpropagation against central differences, in float64."""

from __future__ import annotations

import argparse
from typing import Any

from nablanet.cli import _common as c
from nablanet.cli._models import coordinates, load_model, model_gradient_check
from nablanet.cli.sources import load_for_model

#: The flags that describe a random network (refused with MODEL).
RANDOM_NETWORK_FLAGS = ("inputs", "layers", "outputs", "activation", "output", "loss",
                        "weight_decay")


def add_parser(subparsers: Any) -> None:
    """Add ``gradcheck`` and its flags."""
    p = c.add_command(
        subparsers, "gradcheck", "check backpropagation against finite differences",
        "Compare the gradient from backpropagation with central differences, in float64 "
        "(docs/math.md §7). Without MODEL: on a random network described by --inputs, "
        "--layers, --outputs etc. "
        "and random data. With MODEL: on the saved model and --samples rows of --data. "
        "Prints the relative difference and the worst coordinates; exit status 1 when "
        "the check fails.",
    )
    p.add_argument("model", metavar="MODEL", nargs="?", default=None,
                   help="a model file (default: a random network)")
    c.add_data(p)
    p.add_argument("--inputs", type=c.positive_int, default=None, metavar="N",
                   help="input features of the random network (default 4)")
    p.add_argument("--layers", type=c.hidden_layers, default=None, metavar="N,N,...",
                   help="units of each hidden layer of the random network, as in train "
                   "('none' for no hidden layer; default 5)")
    p.add_argument("--outputs", type=c.positive_int, default=None, metavar="N",
                   help="output units of the random network (default 3)")
    p.add_argument("--activation", type=c.names, default=None, metavar="NAME[,NAME...]",
                   help="hidden activation(s) of the random network (default sigmoid)")
    p.add_argument("--output", default=None, metavar="NAME",
                   help="output activation of the random network (default sigmoid)")
    p.add_argument("--loss", default=None, metavar="NAME",
                   help="loss of the random network (default: natural for the output)")
    p.add_argument("--weight-decay", type=c.non_negative_float, default=None,
                   metavar="LAMBDA", help="weight decay λ of the random network (default 1e-3)")
    p.add_argument("--samples", type=c.positive_int, default=None,
                   help="examples in the batch (default 10 for a random network, 20 rows "
                   "of the data for a model)")
    p.add_argument("--seed", type=int, default=0, help="seed of the network, data and sample")
    p.add_argument("--eps", type=c.positive_float, default=1e-4, help="finite-difference step")
    p.add_argument("--tol", type=c.positive_float, default=1e-7,
                   help="largest relative difference that passes")
    p.add_argument("--n-coords", type=c.positive_int, default=None, metavar="N",
                   help="check N coordinates drawn at random (default: all of them up to "
                   "2000 parameters, else 500)")


def run(args: argparse.Namespace) -> int:
    """Check the gradient; exit status 1 when the check fails."""
    report = _check_random(args) if args.model is None else _check_model(args)
    c.out(str(report))
    if not report.passed:
        raise c.CommandFailed(
            f"gradient check failed: relative difference {report.relative_difference:.3e} "
            f"is above the tolerance {args.tol:g}"
        )
    return 0


def _check_model(args: argparse.Namespace) -> Any:
    given = [f"--{n.replace('_', '-')}" for n in RANDOM_NETWORK_FLAGS
             if getattr(args, n) is not None]
    if given:
        raise c.UsageError(f"{', '.join(given)} describe a random network; with MODEL the "
                           "saved network is checked")
    model = load_model(args.model)
    data = load_for_model(args, model)
    assert data.y_test is not None
    report = model_gradient_check(
        model, data.X_test, data.y_test, samples=args.samples or 20, seed=args.seed,
        eps=args.eps, tol=args.tol, n_coords=args.n_coords,
    )
    c.out(f"{args.model}: {model.net_!r}")
    c.out(f"on {min(args.samples or 20, len(data.y_test))} samples of {data.description}")
    return report


def random_targets(output: Any, m: int, k: int, rng: Any) -> Any:
    """Targets a network with this output activation can fit.

    Coupled outputs (softmax) get one-hot rows; a bounded output gets the activation's own
    label codes (0/1 for sigmoid, −1/+1 for tanh); an unbounded one real numbers.
    """
    import numpy as np

    if not output.elementwise:
        return np.eye(k)[rng.integers(0, k, m)]
    if output.bounded:
        return np.asarray(output.labels)[rng.integers(0, 2, (m, k))]
    return rng.normal(size=(m, k))


def _check_random(args: argparse.Namespace) -> Any:
    import numpy as np

    from nablanet import Network

    hidden = (5,) if args.layers is None else args.layers
    sizes = (args.inputs or 4, *hidden, args.outputs or 3)
    net = Network(
        sizes,
        activation=args.activation or "sigmoid",
        output_activation=args.output or "sigmoid",
        loss=args.loss,
        weight_decay=1e-3 if args.weight_decay is None else args.weight_decay,
        seed=args.seed,
        dtype=np.float64,
    )
    rng = np.random.default_rng(args.seed)
    m = args.samples or 10
    X = rng.normal(size=(m, sizes[0]))
    Y = random_targets(net.activations[-1], m, sizes[-1], rng)
    c.out(repr(net))
    c.out(f"on {m} random examples")
    return net.check_gradient(X, Y, eps=args.eps, tol=args.tol,
                              n_coords=coordinates(args.n_coords, net.n_params), seed=args.seed)
