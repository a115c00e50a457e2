"""``nablanet autoencoder``: UFLDL's sparse autoencoder exercise.

``nablanet autoencoder --data patches --report DIR`` checks the gradient of J (sparsity
penalty included) with UFLDL's ε on a few patches, trains a `SparseAutoencoder` on
natural-image patches by L-BFGS and writes a report whose picture shows the learned
filters, the rows of W(1), as UFLDL's ``display_network`` draws them.

A command module: `add_parser` adds the subcommand to an argparse parser, `run` executes
it and returns the exit status.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from nablanet.cli import _common as c

if TYPE_CHECKING:  # numpy is imported only when the command runs
    from numpy.typing import NDArray

    Array = NDArray[Any]

#: --data sources: name -> what it is.
SOURCES = {
    "patches": "8×8 natural-image patches from scikit-learn's photographs (UFLDL's sampleIMAGES)",
    "digits": "scikit-learn's 8×8 digits scaled to [0, 1]",
}
#: Rows of the gradient check (UFLDL suggests a few patches: the check is 2|θ| costs).
GRADCHECK_ROWS = 10


def add_parser(subparsers: Any) -> None:
    """Add ``autoencoder`` and its flags."""
    p = c.add_command(
        subparsers, "autoencoder", "train UFLDL's sparse autoencoder and draw its filters",
        "Train a sparse autoencoder (UFLDL's exercise: J = mean ½‖x̂ − x‖² + (λ/2)ΣW² + "
        "β Σ KL(ρ‖ρ̂)) by L-BFGS, after checking its gradient numerically. With --report, "
        "write an HTML report whose picture shows the learned filters (edge detectors on "
        "natural-image patches).",
    )
    p.add_argument("--data", default="patches", choices=sorted(SOURCES),
                   help="patches: " + SOURCES["patches"] + "; digits: " + SOURCES["digits"])
    p.add_argument("--report", metavar="DIR", default=None, help="write the report into DIR")
    p.add_argument("--save", metavar="FILE", default=None, help="save the model to FILE")
    p.add_argument("--n-patches", type=c.integer(), default=10000, metavar="N",
                   help="patches to sample")
    p.add_argument("--hidden", type=c.integer(), default=25, metavar="N", help="hidden units")
    p.add_argument("--sparsity-target", type=c.number(0, 1, low_open=True, high_open=True),
                   default=0.01, metavar="ρ", help="desired mean activation")
    p.add_argument("--sparsity-weight", type=c.number(0), default=3.0, metavar="β",
                   help="weight of the sparsity penalty")
    p.add_argument("--weight-decay", type=c.number(0), default=1e-4, metavar="λ",
                   help="weight decay, not scaled by the number of samples")
    p.add_argument("--max-iter", type=c.integer(), default=400, metavar="N",
                   help="L-BFGS iterations")
    p.add_argument("--seed", type=c.integer(0), default=0, metavar="N",
                   help="the patch sample and the initial weights")
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> tuple[Array, int, str]:
    """The rows to learn from, the image side and a description."""
    if args.data == "patches":
        from nablanet.data import natural_image_patches

        X = natural_image_patches(args.n_patches, 8, seed=args.seed)
        return X, 8, f"{X.shape[0]} {SOURCES['patches']}"
    from sklearn.datasets import load_digits

    X = load_digits().data / 16.0
    return X, 8, f"{X.shape[0]} {SOURCES['digits']}"


def run(args: argparse.Namespace) -> int:
    """Check the gradient, train, print J and the time, write the report; 0 on success."""
    from nablanet.estimators.autoencoder import SparseAutoencoder

    c.check_outputs({"--save": args.save, "--report": args.report})
    X, side, description = _load(args)
    est = SparseAutoencoder(
        args.hidden, sparsity_target=args.sparsity_target, sparsity_weight=args.sparsity_weight,
        weight_decay=args.weight_decay, max_iter=args.max_iter, random_state=args.seed,
    )
    check = _gradient_check(est, X[:GRADCHECK_ROWS])
    c.out(f"data: {description}")
    c.out(f"gradient check ({GRADCHECK_ROWS} rows, ε = 1e-4): relative difference "
          f"{check.relative_difference:.3e} ({'passed' if check.passed else 'FAILED'})")
    if not check.passed:
        return 1
    start = time.perf_counter()
    est.fit(X)
    seconds = time.perf_counter() - start
    c.out(f"trained {est.n_iter_} L-BFGS iterations in {seconds:.1f} s: "
          f"J = {est.loss_curve_[-1]:.6f}")
    if args.save:
        est.save(args.save)
        c.out(f"model: {args.save}")
    if args.report:
        path = _write_report(args, est, X, side, description, check, seconds)
        c.out(f"report: {path}")
    return 0


def _gradient_check(est: Any, X: Array) -> Any:
    """The check UFLDL runs before training: backpropagation vs central differences at θ₀."""
    from nablanet.network import Network
    from nablanet.sparsity import Sparsity

    n = X.shape[1]
    net = Network([n, est.hidden_layer_size, n], weight_decay=est.weight_decay, init="ufldl",
                  seed=est.random_state, sparsity=Sparsity(est.sparsity_target,
                                                           est.sparsity_weight))
    return net.check_gradient(X, X, eps=1e-4)  # the one default threshold, 1e-7


def _write_report(args: argparse.Namespace, est: Any, X: Array, side: int, description: str,
                  check: Any, seconds: float) -> Any:
    from nablanet.report import write_report

    mean_activation = est.transform(X).mean(axis=0)
    settings = {
        "hidden units": est.hidden_layer_size,
        "ρ (sparsity target)": est.sparsity_target,
        "β (sparsity weight)": est.sparsity_weight,
        "λ (weight decay)": est.weight_decay,
        "L-BFGS iterations": est.n_iter_,
        "final J": round(est.loss_curve_[-1], 6),
        "training seconds": round(seconds, 1),
        "mean hidden activation ρ̂ (mean over units)": round(float(mean_activation.mean()), 4),
    }
    return write_report(
        args.report, estimator=est, title="Sparse autoencoder (UFLDL's exercise)",
        data_description=description, gradient_check=check, settings=settings,
        image_shape=(side, side),
    )
