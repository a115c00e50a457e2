"""``train``, ``evaluate`` and ``predict`` on a Dask cluster (``--workers N`` or ``--cluster``).

With either flag the command runs its work on the cluster through `nablanet.distributed`:
the data are read by the workers (a folder of ``.npy`` shards, or CSV/Parquet files or a
glob of them; a bundled data set is sent to them in blocks), training is full-batch L-BFGS
on the exact distributed objective, and scores and predictions are computed block by block.
Only θ, the per-block sums and the predictions travel to this process.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nablanet._optional import requires_extra
from nablanet.cli import _common as c
from nablanet.cli.sources import DATASETS

if TYPE_CHECKING:
    from nablanet.cli.sources import Data

#: Rows per block when a bundled data set is sent to the workers.
BLOCK_ROWS = 8192


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--workers``, ``--cluster`` and ``--memory-limit`` to a command's parser."""
    from nablanet.distributed.cli import add_cluster_arguments

    add_cluster_arguments(p)


def requested(args: argparse.Namespace) -> bool:
    """Whether the command was asked to run on a cluster (a usage error: too many workers)."""
    from nablanet.distributed.cli import too_many_workers

    reason = too_many_workers(args)
    if reason is not None:
        raise c.UsageError(reason)
    return getattr(args, "workers", None) is not None or getattr(args, "cluster", None) is not None


def _blocks(data: Data, test: bool) -> tuple[Any, Any]:
    with requires_extra("dask"):
        import dask.array as da

    X, y = (data.X_test, data.y_test) if test else (data.X_train, data.y_train)
    return da.from_array(X, chunks=(BLOCK_ROWS, -1)), da.from_array(y, chunks=BLOCK_ROWS)


def _read(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """Dask arrays read on the workers from --data's files, with a description."""
    from nablanet.distributed.cli import read_distributed

    targets = getattr(args, "target", None) or [-1]
    if len(targets) > 1:
        raise c.UsageError("--workers/--cluster train on one --target column")
    target = targets[0]
    X, y = read_distributed(args.data, target=target)
    return X, y, f"{args.data} ({X.shape[0]} rows, {X.shape[1]} features, read by the workers)"


def _holdout(X: Any, y: Any, fraction: float, seed: int) -> tuple[Any, Any, Any, Any]:
    """A random ``fraction`` of the rows held out, drawn block by block on the workers."""
    with requires_extra("dask"):
        import dask.array as da

    test = da.random.default_rng(seed).random(X.shape[0], chunks=X.chunks[0]) < fraction
    return X[~test], y[~test], X[test], y[test]


def _regression(y: Any, task: str) -> bool:
    """The task: as asked, or regression for a float target with many distinct values."""
    if task != "auto":
        return task == "regress"
    if y.dtype.kind != "f":
        return False
    with requires_extra("dask"):
        import dask.array as da

    from nablanet.cli.sources import MAX_CLASSES_GUESSED

    return int(da.unique(y).size.compute()) > MAX_CLASSES_GUESSED


def _training_data(args: argparse.Namespace) -> tuple[Any, Any, Any, Any, str, bool]:
    if args.data in DATASETS:
        from nablanet.cli.sources import load_dataset

        data = load_dataset(args.data)
        return (*_blocks(data, False), *_blocks(data, True), data.description, False)
    X, y, what = _read(args)
    regression = _regression(y, args.task)
    X_train, y_train, X_test, y_test = _holdout(X, y, args.test_fraction, args.seed)
    return X_train, y_train, X_test, y_test, what, regression


def run_train(
    args: argparse.Namespace,
    build_estimator: Callable[..., Any],
    unstandardise_output: Callable[[Any, Any, Any], None],
) -> int:
    """Train by L-BFGS on the cluster, print the test score, save the model.

    ``build_estimator`` and ``unstandardise_output`` are the train command's own (passed
    in, so that this module does not import the command that imports it).
    """
    from nablanet.distributed.cli import cluster_from_args

    if args.optimizer != "lbfgs":
        raise c.UsageError(
            "--workers/--cluster train with the full-batch --optimizer lbfgs on the exact "
            "distributed objective; minibatch training on a cluster is "
            "nablanet.distributed.local_sgd in Python"
        )
    with cluster_from_args(args):
        X, y, X_test, y_test, what, regression = _training_data(args)
        c.err(f"data: {what}")
        est = build_estimator(args, regression, BLOCK_ROWS, _round_lines(args.quiet))
        mean, std = (y.mean().compute(), y.std().compute()) if regression else (0.0, 1.0)
        est.fit(X, (y - mean) / (std or 1.0) if regression else y)
        if regression:
            unstandardise_output(est.net_, mean, std or 1.0)
        c.err(f"trained for {est.n_iter_} L-BFGS iterations on the cluster")
        _print_score(est, X_test, y_test, "test ")
    if args.out:
        est.save(args.out)
        c.out(f"model written to {args.out}")
    return 0


def _round_lines(quiet: bool) -> list[Any]:
    """One progress line per L-BFGS iteration (a round of the cluster), unless quiet."""
    if quiet:
        return []
    from nablanet.training import EpochLogger

    return [EpochLogger()]  # standard error, looked up when writing: the estimator travels


def _print_score(model: Any, X: Any, y: Any, where: str) -> None:
    name = "accuracy" if hasattr(model, "classes_") else "R²"
    c.out(f"{where}{name}: {model.score(X, y):.4f} ({X.shape[0]} samples)")


def _model_data(args: argparse.Namespace) -> tuple[Any, Any, str]:
    if args.data in DATASETS:
        from nablanet.cli.sources import load_dataset

        data = load_dataset(args.data)
        return (*_blocks(data, True), f"the test split of {data.description}")
    return _read(args)


def _plain_model(path: str) -> Any:
    """The estimator in ``path``, refusing a pipeline: its preprocessing runs in this process.

    A model trained on a CSV table reads the table's columns by name through its
    preprocessing; the workers read arrays of numbers.
    """
    from nablanet.cli._models import load_model
    from nablanet.cli._tables import preprocessing_of

    if preprocessing_of(path) is not None:
        raise c.UsageError(f"{path} preprocesses a table's columns (a model trained on a CSV "
                           "file); --workers/--cluster run models of numeric arrays: leave "
                           "them out to use this one")
    return load_model(path)


def run_evaluate(args: argparse.Namespace) -> int:
    """Score a saved model on the cluster, block by block."""
    from nablanet.distributed.cli import cluster_from_args

    model = _plain_model(args.model)
    with cluster_from_args(args):
        X, y, what = _model_data(args)
        c.out(f"{args.model} on {what}")
        _print_score(model, X, y, "")
    return 0


def predictions(args: argparse.Namespace) -> tuple[list[str], list[Any]]:
    """The ``prediction`` column, computed block by block on the cluster."""
    from nablanet.distributed.cli import cluster_from_args

    model = _plain_model(args.model)
    if args.proba:
        raise c.UsageError("--proba is not available with --workers/--cluster")
    with cluster_from_args(args):
        X, y, _ = _model_data(args)
        if X.shape[1] != model.n_features_in_ and args.data not in DATASETS:
            with requires_extra("dask"):
                import dask.array as da

            # a file of features only: the column read as the target (the last) is one
            X = da.concatenate([X, y[:, None].astype(X.dtype)], axis=1)
        pred = model.predict(X).compute()
    return ["prediction"], [list(pred)]
