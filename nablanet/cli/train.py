"""``nablanet train``: train a network on a data source, score it, save it."""

from __future__ import annotations

import argparse
from typing import Any

from nablanet.cli import _common as c
from nablanet.cli import _layers, cluster
from nablanet.cli._models import (
    fit,
    model_gradient_check,
    sample,
    score_line,
    settings,
)
from nablanet.cli.sources import Data, is_csv, load_for_training

#: Samples per step for adam and sgd unless --batch-size says otherwise: scikit-learn's
#: min(200, samples). With its 200 epochs too, default flags train as the library's
#: MLPClassifier/MLPRegressor with their defaults (iris, seeds 0-4: the same accuracy).
DEFAULT_BATCH_SIZE = "auto"
#: The learning rate each --optimizer uses unless --learning-rate says otherwise.
DEFAULT_LEARNING_RATES = {"adam": 0.001, "sgd": 0.01, "gd": 0.5, "lbfgs": None}

DESCRIPTION = (
    "Train a network on the training part of the data (a bundled or IDX data set's "
    "training split; for a CSV file all but --test-fraction of the rows), print its "
    "score on the test part, and save it with --out. A classifier unless the CSV "
    "target is a quantity (see --task); a regressor with the default output trains on "
    "standardised targets, and the saved model predicts in the target's own units.\n\n"
    "A CSV table is preprocessed as scikit-learn users do, and the model file keeps it: "
    "numeric columns are standardised (--no-scale: as they are), text columns one-hot "
    "encoded, missing cells ('', NA, NaN, ?, null) imputed with the column's median or "
    "most frequent value (--no-impute: refused), and identifier columns (a different "
    "value in every row) dropped. The model file keeps the columns' names: 'predict' and "
    "'evaluate' match a file's columns by name."
)


def add_parser(subparsers: Any) -> None:
    """Add ``train`` and its flags."""
    p = c.add_command(subparsers, "train", "train a network and save it", DESCRIPTION)
    c.add_data(p)
    p.add_argument("--task", choices=("auto", "classify", "regress"), default="auto",
                   help="classification or regression; 'auto': regression when a CSV "
                   "target holds fractions, or more than 20 distinct numbers with fewer than 5 "
                   "rows each on average")
    p.add_argument("--test-fraction", type=c.fraction, default=0.25, metavar="F",
                   help="share of a CSV file's rows held out (stratified by class) to test "
                   "the trained model; 0 trains on every row")
    _add_table_flags(p)
    _add_network_flags(p)
    _add_optimizer_flags(p)
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the weights, shuffling and splits: same seed, same model")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None,
                   help="training precision (default: the data's; float32 for image files)")
    p.add_argument("--out", metavar="MODEL", default=None,
                   help="write the trained model to this file (safe format, no pickle)")
    p.add_argument("--report", metavar="DIR", default=None,
                   help="write pictures and a self-contained report.html into DIR")
    p.add_argument("--remember-training-rows", action="store_true",
                   help="keep keyed hashes of the training rows in the --out file, so that "
                   "'evaluate' warns when it scores them. The key stays on this machine "
                   "(~/.config/nablanet/row-key), but anyone holding the model file and "
                   "that key can test whether a record was trained on: off by default; "
                   "'nablanet strip-rows MODEL' removes them")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    cluster.add_arguments(p)


def _add_table_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--test-out", metavar="FILE", default=None,
                   help="write the held-out rows of a CSV file, as read, to this CSV file, "
                   "for 'nablanet evaluate MODEL --data FILE'")
    p.add_argument("--no-scale", dest="scale", action="store_false",
                   help="use a CSV file's numeric columns as they are (default: standardised "
                   "with the training rows' mean and standard deviation)")
    p.add_argument("--no-impute", dest="impute", action="store_false",
                   help="refuse missing cells (default: the median of a numeric column, the "
                   "most frequent value of a text column, with an indicator column)")
    p.add_argument("--drop", type=c.names_list, action="extend", default=None,
                   metavar="COL[,COL...]", help="columns of a CSV file not to use as features")
    p.add_argument("--keep", type=c.names_list, action="extend", default=None,
                   metavar="COL[,COL...]", help="columns to use as features even when they "
                   "look like identifiers (a different value in every row)")


def _add_network_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layers", type=_layers.layers, default=(100,), metavar="LAYER,...",
                   help=_layers.HELP)
    p.add_argument("--input-shape", type=_layers.input_shape, default=None, metavar="C,H,W",
                   help="channels, height and width of a CSV file's rows, for convolutional "
                   "--layers (a data set's images have their own)")
    p.add_argument("--activation", type=c.names, default="relu", metavar="NAME[,NAME...]",
                   help="hidden activation: relu, leaky_relu, sigmoid (logistic), tanh, "
                   "identity; or one per hidden layer, e.g. tanh,relu")
    p.add_argument("--output", default=None, metavar="NAME",
                   help="output activation (default: softmax for several classes, sigmoid "
                   "for two, identity for regression; also tanh)")
    p.add_argument("--loss", default=None, metavar="NAME",
                   help="cross_entropy, binary_cross_entropy or squared_error (default: the "
                   "natural loss of the output activation)")
    p.add_argument("--dropout", type=c.fraction, default=0.0, metavar="P",
                   help="probability of dropping each hidden unit while training")


def _add_optimizer_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--optimizer", choices=("adam", "sgd", "gd", "lbfgs"), default="adam",
                   help="adam; sgd (minibatch, momentum); gd (batch gradient descent, "
                   "docs/math.md §5: every sample in each step, no momentum); lbfgs (full batch)")
    p.add_argument("--learning-rate", type=c.positive_float, default=None, metavar="RATE",
                   help="step size (default: 0.001 for adam, 0.01 for sgd, 0.5 for gd)")
    p.add_argument("--momentum", type=c.non_negative_float, default=None,
                   help="momentum of sgd (default 0.9; gd uses 0)")
    p.add_argument("--alpha", type=c.non_negative_float, default=1e-4,
                   help="L2 penalty on the weights, as in scikit-learn")
    p.add_argument("--epochs", type=c.positive_int, default=200,
                   help="passes over the training data (iterations for lbfgs)")
    p.add_argument("--batch-size", type=c.batch_size, default=None, metavar="N",
                   help="samples per step; default 'auto': scikit-learn's min(200, samples)")
    p.add_argument("--validation-fraction", type=c.fraction, default=None, metavar="F",
                   help="share of the training part held out to score each epoch (the "
                   "best-scoring epoch's weights are kept); default: none, or 0.1 with "
                   "--early-stopping")
    p.add_argument("--early-stopping", action="store_true",
                   help="stop when the validation score has not improved for --patience "
                   "epochs (holds out --validation-fraction, default 0.1)")
    p.add_argument("--patience", type=c.positive_int, default=10,
                   help="epochs without improvement before training stops: of the "
                   "validation score with --early-stopping, else of the training loss")
    p.add_argument("--restarts", type=c.positive_int, default=1,
                   help="random initialisations tried; the best is kept (docs/math.md §5)")


def check_flags(args: argparse.Namespace) -> None:
    """Refuse unknown names and contradictory flags before any data are read."""
    from nablanet.activations import get_activation
    from nablanet.losses import get_loss

    _layers.check_flags(args, cluster.requested(args))
    names = [args.activation] if isinstance(args.activation, str) else args.activation
    if len(names) > 1 and len(names) != len(args.layers):
        raise c.UsageError(
            f"--activation gives {len(names)} names for {len(args.layers)} hidden layers; "
            "give one name, or one per layer"
        )
    for name in names:
        get_activation(name)
    if args.output is not None:
        get_activation(args.output)
    if args.loss is not None:
        get_loss(args.loss)
    if args.early_stopping and (args.validation_fraction == 0 or args.optimizer == "lbfgs"):
        raise c.UsageError(
            "--early-stopping needs --validation-fraction > 0 and an optimizer other than "
            "lbfgs"
        )
    if args.optimizer == "gd" and args.batch_size is not None:
        raise c.UsageError("--optimizer gd uses every sample in each step; --batch-size is for "
                           "adam and sgd")
    if args.remember_training_rows and (args.out is None or cluster.requested(args)):
        raise c.UsageError("--remember-training-rows needs --out, and is not available with "
                           "--workers/--cluster")
    if args.dropout and args.optimizer == "lbfgs":
        raise c.UsageError("--dropout needs a stochastic optimizer (adam, sgd or gd), not "
                           "lbfgs")


def validation_fraction(args: argparse.Namespace) -> float:
    """The share held out for validation: none unless asked for.

    A default hold-out cost small data sets dearly: on iris, 12 validation rows reach
    accuracy 1.0 early and that undertrained epoch was kept (test accuracy 0.76).
    """
    if args.validation_fraction is not None:
        return float(args.validation_fraction)
    return 0.1 if args.early_stopping else 0.0


def build_estimator(
    args: argparse.Namespace, regression: bool, n_train: int, callbacks: list[Any],
    input_shape: tuple[int, int, int] | None = None,
) -> Any:
    """An MLPClassifier or MLPRegressor configured from the train flags.

    A ConvNetClassifier with ``input_shape`` when --layers gives convolution layers.
    """
    from nablanet import ConvNetClassifier, MLPClassifier, MLPRegressor

    solver = {"gd": "sgd"}.get(args.optimizer, args.optimizer)
    learning_rate = args.learning_rate or DEFAULT_LEARNING_RATES[args.optimizer]
    momentum = args.momentum
    if momentum is None:
        momentum = 0.0 if args.optimizer == "gd" else 0.9
    batch_size = DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size
    if args.optimizer == "gd":
        batch_size = n_train  # every sample in each step (clipped to the training part)
    fraction = validation_fraction(args)
    validate = fraction > 0 and args.optimizer != "lbfgs"
    cls: type[Any]
    if _layers.convolutional(args):
        architecture = {"layers": args.layers, "input_shape": input_shape}
        cls = ConvNetClassifier
    else:
        architecture = {"hidden_layer_sizes": args.layers}
        cls = MLPRegressor if regression else MLPClassifier
    return cls(
        **architecture,
        activation=args.activation,
        solver=solver,
        alpha=args.alpha,
        batch_size=batch_size,
        learning_rate_init=learning_rate or 0.001,
        max_iter=args.epochs,
        random_state=args.seed,
        momentum=momentum,
        nesterovs_momentum=args.optimizer == "sgd",
        # scikit-learn measures a validation part only with early stopping. With a
        # --validation-fraction but no --early-stopping its patience is the whole run: each
        # epoch's validation score is recorded and the best epoch's weights are kept, but
        # the run never stops early. Without a validation part, training stops when the
        # training loss has stopped falling for --patience epochs (it has converged).
        early_stopping=validate,
        validation_fraction=fraction if validate else 0.1,
        n_iter_no_change=args.epochs if validate and not args.early_stopping else args.patience,
        output_activation=args.output,
        loss=args.loss,
        dropout=args.dropout,
        restarts=args.restarts,
        callbacks=callbacks,
        dtype=args.dtype,
    )


def run(args: argparse.Namespace) -> int:
    """Train, print the test score, save the model and the report.

    Returns 130 when training was interrupted (Ctrl-C): the epochs completed are still
    scored and saved, as an interrupted ``fit`` keeps them.
    """
    c.check_outputs({"--out": args.out, "--report": args.report, "--test-out": args.test_out},
                    inputs=(args.data,))
    check_flags(args)
    if cluster.requested(args):
        return cluster.run_train(args, build_estimator, unstandardise_output)
    if args.test_out is not None and not is_csv(args.data):
        raise c.UsageError("--test-out writes the held-out rows of a CSV file; --data "
                           f"{args.data} has its own test split")
    key = _row_key(args)  # before training: a key that cannot be made must not cost the fit
    data = load_for_training(args)
    quiet = args.quiet
    if not quiet:
        c.err(f"data: {data.description}")
    progress = progress_callbacks(quiet, args.epochs)
    shape = _layers.shape_of(args, data) if _layers.convolutional(args) else None
    est = build_estimator(args, data.regression, int(data.X_train.shape[0]), progress, shape)
    target_scaling = _fit(est, data, args)
    for callback in progress:  # an interrupted fit leaves its bar open: close it now
        callback.on_train_end(None)
    interrupted = est.history_.best.stop_reason == "interrupted"
    if not quiet:
        c.err(est.net_.summary())
        if (why := stop_reason(est, args)) is not None:
            c.err(why)
    result = _score(est, data)
    if args.test_out is not None:
        _write_rows(args.test_out, data.test_rows)
        c.out(f"held-out rows written to {args.test_out} (score them with 'nablanet "
              f"evaluate MODEL --data {args.test_out}')")
    if args.out:
        metadata = _metadata(est, data, args, key)
        if target_scaling is not None:
            metadata["target_scaling"] = target_scaling
        save_model(est, data, args.out, metadata)
        c.out(f"model written to {args.out}")
    elif not quiet:
        c.err("note: the model was not saved; give --out MODEL to keep it")
    if args.report:
        path = _write_report(args.report, est, data, result, _settings(est, args, data),
                             seed=args.seed, targets_scaled=target_scaling is not None)
        c.out(f"report written to {path}")
    return 130 if interrupted else 0


def progress_callbacks(quiet: bool, epochs: int) -> list[Any]:
    """A progress bar on a terminal; elsewhere a line every tenth of the epochs."""
    import sys

    if quiet:
        return []
    from nablanet.training import EpochLogger, ProgressBar

    if sys.stderr.isatty():
        return [ProgressBar()]
    return [EpochLogger(sys.stderr, every=max(1, epochs // 10))]


def stop_reason(est: Any, args: argparse.Namespace) -> str | None:
    """Why training ended before its last epoch, in the flags' words (None: it ran them all)."""
    reason = est.history_.best.stop_reason
    if reason == "interrupted":
        return (f"training interrupted after {est.n_iter_} epochs; the model as it stood "
                "then is scored and saved")
    if reason == "converged":
        return f"training converged after {est.n_iter_} iterations"
    if reason == "max_epochs" or args.optimizer == "lbfgs":
        return None
    if est.early_stopping:
        scores = list(est.validation_scores_ or [])
        best = 1 + max(range(len(scores)), key=scores.__getitem__) if scores else est.n_iter_
        if args.early_stopping:
            return (f"early stopping after {est.n_iter_} epochs: the validation score did "
                    f"not improve for {args.patience} epochs (best "
                    f"{est.best_validation_score_:.4f} at epoch {best}, whose weights are "
                    "kept); give a larger --patience to train longer")
    return (f"stopped after {est.n_iter_} epochs: the training loss did not improve for "
            f"{args.patience} epochs (it has converged); give a larger --patience to go on")


def _score(est: Any, data: Data) -> Any:
    """Print the score on the test part (or why there is none); the evaluation, if any."""
    from nablanet.report import evaluate_model

    if data.y_test is None or not data.y_test.size:
        c.out(f"trained for {est.n_iter_} epochs (no test part: --test-fraction 0)")
        return None
    if data.regression and data.y_test.shape[0] < 2:
        c.out(f"test R²: not computed: the test part has {data.y_test.shape[0]} row and R² "
              "needs at least 2; give a larger --test-fraction, or more rows")
        return None
    if data.y_test.ndim == 2:
        for line in target_scores(est, data.X_test, data.y_test, data.contract):
            c.out(line)
        return None
    result = evaluate_model(est, data.X_test, data.y_test, data.class_names)
    c.out(score_line(result, "test"))
    return result


def target_scores(model: Any, X: Any, Y: Any, contract: dict[str, Any] | None) -> list[str]:
    """One line per target of a multi-output model: R² (regression) or accuracy (labels)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, r2_score

    P = np.asarray(model.predict(X)).reshape(Y.shape)
    names = (contract or {}).get("targets") or [f"target {j}" for j in range(Y.shape[1])]
    regression = not hasattr(model, "classes_")
    lines = []
    for j, name in enumerate(names):
        if regression:
            lines.append(f"{name}: R² {r2_score(Y[:, j], P[:, j]):.4f}")
        else:
            lines.append(f"{name}: accuracy {accuracy_score(Y[:, j], P[:, j]):.4f}")
    return [*lines, f"({Y.shape[0]} samples)"]


def _write_rows(path: str, rows: Any) -> None:
    """Write rows of a table as CSV (missing cells empty), as the model's files are written."""
    import io

    def write(f: Any) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        rows.to_csv(text, index=False, na_rep="", lineterminator="\n")
        text.flush()
        text.detach()

    c.write_atomically(path, write)


def save_model(est: Any, data: Data, path: str, metadata: dict[str, Any]) -> None:
    """Write the model file: the estimator, and with a CSV table its preprocessing."""
    if data.contract is None:
        from nablanet.io import save

        save(est, path, metadata=metadata)
        return
    from sklearn.pipeline import Pipeline

    from nablanet.cli._tables import CONTRACT, save_pipeline

    pipeline = Pipeline([("preprocess", data.preprocess), ("model", est)])
    save_pipeline(pipeline, path, {**metadata, CONTRACT: data.contract})


def _fit(est: Any, data: Data, args: argparse.Namespace) -> dict[str, Any] | None:
    """Fit, saying when training stopped before converging or diverged.

    Returns
    -------
    dict or None
        The standardisation of a regression target (its mean and standard deviation,
        already folded into the output layer), for the model file's metadata.
    """
    from nablanet.training import TrainingDiverged

    scaling = args.output is None and data.regression
    y = standardise(data.y_train) if scaling else (data.y_train, 0.0, 1.0)
    try:
        converged = fit(est, data.X_train, y[0])
    except TrainingDiverged as exc:
        if not args.out:
            raise
        raise c.CommandFailed(f"{exc} (nothing was written to {args.out})") from exc
    if scaling:
        unstandardise_output(est.net_, y[1], y[2])
    if not converged:
        limit = "iterations" if args.optimizer == "lbfgs" else "epochs"
        c.err(f"{c.PROG}: warning: training stopped at the limit of {est.n_iter_} {limit} "
              "before the loss converged; give more --epochs (or a larger --learning-rate) "
              "to train further")
    if not scaling:
        return None
    return {"trained_on": "(y - mean) / std, folded back into the output layer's W and b",
            "mean": y[1], "std": y[2]}


def standardise(y: Any) -> tuple[Any, Any, Any]:
    """``(y - mean) / std`` per target column, with the mean and std (1 where std is 0).

    Regression with the default identity output trains on standardised targets: an
    unscaled target (diabetes' progression: mean 152, std 77) leaves Adam's small steps
    far from the answer after the default epochs (test R² -3.2, the loss still falling).
    """
    import numpy as np

    mean = y.mean(axis=0)
    std = y.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (y - mean) / std, mean, std


def unstandardise_output(net: Any, mean: Any, std: Any) -> None:
    """Fold the inverse of `standardise` into an identity output layer, in place.

    Notes
    -----
    The output a = W x + b predicts (y − μ)/σ, so ``σ a + μ = (σ W) x + (σ b + μ)``: the
    saved network predicts y itself, and every later use of the model file (evaluate,
    predict, a Python user's ``load``) needs nothing more.
    """
    import numpy as np

    std = np.atleast_1d(std).astype(net.dtype)
    net.W[-1] *= std[:, None]
    net.b[-1] *= std
    net.b[-1] += np.atleast_1d(mean).astype(net.dtype)


def _row_key(args: argparse.Namespace) -> bytes | None:
    """The row key for --remember-training-rows (made on first use), or None without it."""
    if not args.remember_training_rows:
        return None
    from nablanet.cli import _fingerprint

    try:
        return _fingerprint.create_key()
    except OSError as exc:
        raise ValueError(
            f"--remember-training-rows: cannot make the row key {_fingerprint.key_file()} "
            f"({exc.strerror or exc}); set {_fingerprint.KEY_ENV} to a file this user can "
            "create"
        ) from None


def _metadata(est: Any, data: Data, args: argparse.Namespace,
              key: bytes | None) -> dict[str, Any]:
    """What the model file keeps beside the model: class names; nothing of the rows unless asked.

    A bundled data set's name is kept; a file's name is not (it can say whose data it
    was). The training rows are remembered, as keyed hashes, only with
    --remember-training-rows (see `nablanet.cli._fingerprint`).
    """
    from nablanet.cli import _fingerprint
    from nablanet.cli.sources import DATASETS
    from nablanet.report import label_names

    metadata: dict[str, Any] = {}
    if args.data in DATASETS:
        metadata["data"] = data.description
    if key is not None:  # --remember-training-rows
        metadata["training_rows"] = _fingerprint.fingerprint(data.X_train, args.seed, key)
    if hasattr(est, "classes_"):
        metadata["class_names"] = label_names(est.classes_, data.class_names)
    return metadata


def _settings(est: Any, args: argparse.Namespace, data: Data) -> dict[str, Any]:
    return {"data": data.description, "optimizer (nablanet --optimizer)": args.optimizer,
            **settings(est)}


def _write_report(directory: str, est: Any, data: Data, result: Any,
                  settings: dict[str, Any], seed: int, targets_scaled: bool) -> Any:
    from nablanet.report import write_report

    check = model_gradient_check(est, data.X_train, data.y_train, samples=20, seed=seed)
    rows = sample(len(data.y_train), 1000, seed)
    # targets_scaled: `_fit` standardised the target and folded that into the output layer.
    diagnosis = est.diagnose(data.X_train[rows], data.y_train[rows],
                             targets_scaled=targets_scaled)
    return write_report(
        directory,
        estimator=est,
        title=f"nablanet: {type(est).__name__} on {data.description.split(' (')[0]}",
        data_description=f"data: {data.description}",
        evaluation=result,
        gradient_check=check,
        diagnosis=diagnosis,
        settings=settings,
        image_shape=data.image_shape,
        explore=(data.X_test, data.y_test),
    )
