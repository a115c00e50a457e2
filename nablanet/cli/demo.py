"""``nablanet demo``: a tour on the bundled digits, offline.

A gradient check, training, the test results, diagnostics and (with --report) a report.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from nablanet.cli import _common as c
from nablanet.cli._models import fit, model_gradient_check, progress_callbacks, settings


def add_parser(subparsers: Any) -> None:
    """Add ``demo`` and its flags."""
    p = c.add_command(
        subparsers, "demo", "gradient check, training, evaluation and report on the digits",
        "A tour on scikit-learn's bundled digits, offline: a gradient check, training, "
        "the test results, diagnostics and (with --report) a report with pictures.",
    )
    p.add_argument("--report", metavar="DIR", default=None,
                   help="write pictures and report.html into DIR")
    p.add_argument("--epochs", type=c.positive_int, default=60, help="training epochs")
    p.add_argument("--out", metavar="MODEL", default=None, help="also save the model here")
    p.add_argument("--seed", type=int, default=0, help="seed of everything random")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    """Run the tour: check, train, evaluate, diagnose, and save what was asked for."""
    from nablanet.data import load_digits
    from nablanet.report import evaluate_model, format_evaluation

    c.check_outputs({"--out": args.out, "--report": args.report})
    start = time.perf_counter()
    data = load_digits(seed=args.seed)
    c.out("nablanet demo: scikit-learn's bundled 8x8 handwritten digits (no download)")
    c.out(f"  {data.X_train.shape[0]} training and {data.X_test.shape[0]} test images of "
          f"{data.n_features} pixels, {data.n_classes} classes")
    _gradient_check(data, args.seed)
    est = _train(data, args)

    c.out("\n3. Evaluation on the test images")
    result = evaluate_model(est, data.X_test, data.y_test, data.class_names)
    c.out(c.indent(format_evaluation(result)))

    c.out("\n4. Diagnostics on the training images (docs/math.md §6)")
    diagnosis = est.diagnose(data.X_train, data.y_train)
    c.out(c.indent(str(diagnosis)))

    if args.out:
        est.save(args.out)
        c.out(f"\nmodel written to {args.out}")
    if args.report:
        path = _report(args, data, est, result, diagnosis)
        c.out(f"\nreport written to {path} (open it in a browser; it works offline; its "
              "gradient check is of the trained network)")
    c.out(f"\ntest accuracy {result['accuracy']:.4f}; demo took "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def _gradient_check(data: Any, seed: int) -> None:
    import numpy as np

    from nablanet import Network
    from nablanet.data import one_hot

    small = Network([64, 25, 10], activation="sigmoid", output_activation="softmax",
                    weight_decay=1e-3, seed=seed, dtype=np.float64)
    c.out("\n1. Gradient check (docs/math.md §7): backpropagation against central "
          "differences, on a freshly initialised 64-25-10 network (every one of its "
          f"{small.n_params} coordinates; not the network trained below)")
    Y, _ = one_hot(data.y_train[:20], np.arange(10))
    c.out(f"   {small!r}, on 20 images")
    report = small.check_gradient(data.X_train[:20], Y)
    c.out(c.indent(str(report)))
    if not report.passed:
        raise c.CommandFailed("the gradient check failed: backpropagation is wrong")


def _train(data: Any, args: argparse.Namespace) -> Any:
    from nablanet import MLPClassifier

    c.out(f"\n2. Training: one hidden layer of 64 relu units, softmax output, Adam, "
          f"{args.epochs} epochs, 2 random initialisations (the better is kept)")
    est = MLPClassifier(
        hidden_layer_sizes=(64,), solver="adam", learning_rate_init=0.005, alpha=1e-4,
        max_iter=args.epochs, early_stopping=True, validation_fraction=0.1,
        n_iter_no_change=args.epochs, restarts=2, random_state=args.seed,
        # a bar on a terminal; no per-epoch lines in a log, where they would bury the tour
        callbacks=progress_callbacks(args.quiet or not sys.stderr.isatty()),
    )
    t0 = time.perf_counter()
    fit(est, data.X_train, data.y_train)
    c.out(c.indent(est.net_.summary()))
    c.out(f"   trained in {time.perf_counter() - t0:.1f} s")
    return est


def _report(args: argparse.Namespace, data: Any, est: Any, result: Any, diagnosis: Any) -> Any:
    from nablanet.report import write_report

    check = model_gradient_check(est, data.X_train, data.y_train, samples=20, seed=args.seed)
    return write_report(
        args.report,
        estimator=est,
        title="nablanet demo: digits",
        data_description=f"data: digits ({data.X_train.shape[0]} training and "
        f"{data.X_test.shape[0]} test images of 8x8 pixels)",
        evaluation=result,
        gradient_check=check,
        diagnosis=diagnosis,
        settings={"data": "digits", **settings(est)},
        image_shape=data.image_shape,
        explore=(data.X_test, data.y_test),
    )
