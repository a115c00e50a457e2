"""The ``nablanet`` command: the whole library for people who never write Python.

Subcommands: ``train``, ``evaluate``, ``predict``, ``gradcheck``, ``diagnose``, ``info``
and ``demo``. Every subcommand that reads data takes ``--data SOURCE``: ``digits`` (bundled,
the default), ``fashion-mnist``, a folder of MNIST-style IDX files, or a CSV file.

Conventions: results go to standard output (so they pipe), progress and messages to
standard error; a user's mistake is one line ``nablanet: error: ...`` and exit status 2
(a usage error: a bad flag or value) or 1 (a failure: a missing file, bad data, a model
file that is not one, a failed gradient check), never a traceback (``--debug`` shows it).

Nothing heavy is imported at module level: numpy, scikit-learn and matplotlib load inside
the commands, so ``nablanet --help`` answers at once. The commands hold no logic that
the library lacks: they parse flags, call nablanet, and print.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray

PROG = "nablanet"
DATA_HELP = (
    "where the data come from: 'digits' (scikit-learn's bundled 8x8 digits, the default), "
    "'fashion-mnist' (Debian's dataset-fashion-mnist package or nablanet's cache), a "
    "folder holding the four MNIST-style IDX files, or a CSV file (see --target)"
)
TARGET_HELP = (
    "the target column of a CSV file: a header name or a 0-based index (negative counts "
    "from the end; default -1, the last column)"
)
#: Samples per step for adam and sgd unless --batch-size says otherwise.
DEFAULT_BATCH_SIZE = 100
#: The learning rate each --optimizer uses unless --learning-rate says otherwise.
DEFAULT_LEARNING_RATES = {"adam": 0.001, "sgd": 0.01, "gd": 0.5, "lbfgs": None}


class UsageError(Exception):
    """A mistake in the command line found after parsing: exit status 2."""


class CommandFailed(Exception):
    """A command that ran but did not succeed (e.g. a failed gradient check): status 1."""


# --- argument types (checked while parsing: a bad value is a usage error) ---------------


def _positive_int_list(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers, e.g. 256,128"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"every layer needs at least 1 unit, got {text!r}")
    return sizes


def _hidden_layers(text: str) -> tuple[int, ...]:
    return () if text.strip() in ("", "none") else _positive_int_list(text)


def _names(text: str) -> str | list[str]:
    names = [s.strip() for s in text.split(",")]
    if any(not s for s in names):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty name")
    return names[0] if len(names) == 1 else names


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _fraction(text: str) -> float:
    value = _non_negative_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _target(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def _batch_size(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


# --- the parser ----------------------------------------------------------------------------


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the descriptions' line breaks."""


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits", metavar="SOURCE", help=DATA_HELP)
    p.add_argument("--target", type=_target, default=-1, metavar="COLUMN", help=TARGET_HELP)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the full traceback of an error")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nablanet`` command (imports nothing heavy).

    Returns
    -------
    argparse.ArgumentParser
    """
    from nablanet import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Feedforward neural networks exactly as the mathematics of backpropagation "
            "says: train, evaluate, predict, check gradients and diagnose, from the "
            "command line.\n\nRun 'nablanet demo' to see it all on the bundled digits, "
            "or 'nablanet COMMAND --help' for a command's options."
        ),
        epilog=(
            "exit status: 0 success, 1 failure (bad data or model file, failed gradient "
            "check), 2 usage error"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, description: str,
                func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=summary, description=description,
                           formatter_class=_Formatter)
        p.set_defaults(func=func)
        _add_common(p)
        return p

    # train
    p = command(
        "train", "train a network and save it",
        "Train a network on the training part of the data (a bundled or IDX data set's "
        "training split; for a CSV file all but --test-fraction of the rows), print its "
        "score on the test part, and save it with --out. A classifier unless the CSV "
        "target holds decimal numbers or --task regress says so.\n\n"
        "CSV features are used as they are: scale them to about [0, 1] or unit variance "
        "first for quick training.",
        _train,
    )
    _add_data(p)
    p.add_argument("--task", choices=("auto", "classify", "regress"), default="auto",
                   help="classification or regression; 'auto': regression when the target "
                   "holds decimal numbers")
    p.add_argument("--test-fraction", type=_fraction, default=0.25, metavar="F",
                   help="share of a CSV file's rows held out (stratified by class) to test "
                   "the trained model; 0 trains on every row")
    p.add_argument("--layers", type=_hidden_layers, default=(100,), metavar="N,N,...",
                   help="units of each hidden layer, e.g. 256,128")
    p.add_argument("--activation", type=_names, default="relu", metavar="NAME[,NAME...]",
                   help="hidden activation: relu, leaky_relu, sigmoid (logistic), tanh, "
                   "identity; or one per hidden layer, e.g. tanh,relu")
    p.add_argument("--output", default=None, metavar="NAME",
                   help="output activation (default: softmax for several classes, sigmoid "
                   "for two, identity for regression; also tanh)")
    p.add_argument("--loss", default=None, metavar="NAME",
                   help="cross_entropy, binary_cross_entropy or squared_error (default: the "
                   "natural loss of the output activation)")
    p.add_argument("--optimizer", choices=("adam", "sgd", "gd", "lbfgs"), default="adam",
                   help="adam; sgd (minibatch, momentum); gd (batch gradient descent, "
                   "MATH.md §5: every sample in each step, no momentum); lbfgs (full batch)")
    p.add_argument("--learning-rate", type=_positive_float, default=None, metavar="RATE",
                   help="step size (default: 0.001 for adam, 0.01 for sgd, 0.5 for gd)")
    p.add_argument("--momentum", type=_non_negative_float, default=None,
                   help="momentum of sgd (default 0.9; gd uses 0)")
    p.add_argument("--alpha", type=_non_negative_float, default=1e-4,
                   help="L2 penalty on the weights, as in scikit-learn")
    p.add_argument("--epochs", type=_positive_int, default=100,
                   help="passes over the training data (iterations for lbfgs)")
    p.add_argument("--batch-size", type=_batch_size, default=None, metavar="N",
                   help="samples per step (default 100), or 'auto' for scikit-learn's "
                   "min(200, samples)")
    p.add_argument("--validation-fraction", type=_fraction, default=0.1, metavar="F",
                   help="share of the training part held out to score each epoch (the "
                   "best-scoring epoch's weights are kept); 0 for none")
    p.add_argument("--early-stopping", action="store_true",
                   help="stop when the validation score has not improved for --patience "
                   "epochs (needs --validation-fraction > 0)")
    p.add_argument("--patience", type=_positive_int, default=10,
                   help="epochs without improvement before --early-stopping stops")
    p.add_argument("--restarts", type=_positive_int, default=1,
                   help="random initialisations tried; the best is kept (MATH.md §5)")
    p.add_argument("--dropout", type=_fraction, default=0.0, metavar="P",
                   help="probability of dropping each hidden unit while training")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the weights, shuffling and splits: same seed, same model")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None,
                   help="training precision (default: the data's; float32 for image files)")
    p.add_argument("--out", metavar="MODEL", default=None,
                   help="write the trained model to this file (safe format, no pickle)")
    p.add_argument("--report", metavar="DIR", default=None,
                   help="write pictures and a self-contained report.html into DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")

    # evaluate
    p = command(
        "evaluate", "score a saved model on data",
        "Score a saved model on the test split of a data set (or every row of a CSV "
        "file): accuracy, per-class precision/recall/F1 and the confusion matrix for a "
        "classifier; R², MAE and RMSE for a regressor.",
        _evaluate,
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by 'nablanet train'")
    _add_data(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead")

    # predict
    p = command(
        "predict", "predict with a saved model",
        "Predict the test split of a data set (or every row of a CSV file; the target "
        "column may be left out) and write a CSV: a header row, then one row per "
        "sample.",
        _predict,
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by 'nablanet train'")
    _add_data(p)
    p.add_argument("--out", metavar="FILE", default="-",
                   help="the CSV file to write; '-' for standard output")
    p.add_argument("--proba", action="store_true",
                   help="add one column per class with its predicted probability")

    # gradcheck
    p = command(
        "gradcheck", "check backpropagation against finite differences",
        "Compare the gradient from backpropagation with central differences, in float64 "
        "(MATH.md §7). Without MODEL: on a random network described by --layers etc. "
        "and random data. With MODEL: on the saved model and --samples rows of --data. "
        "Prints the relative difference and the worst coordinates; exit status 1 when "
        "the check fails.",
        _gradcheck,
    )
    p.add_argument("model", metavar="MODEL", nargs="?", default=None,
                   help="a model file (default: a random network)")
    _add_data(p)
    p.add_argument("--layers", type=_positive_int_list, default=None, metavar="N,N,...",
                   help="every layer's units, input and output included (random network; "
                   "default 4,5,3)")
    p.add_argument("--activation", type=_names, default=None, metavar="NAME[,NAME...]",
                   help="hidden activation(s) of the random network (default sigmoid)")
    p.add_argument("--output", default=None, metavar="NAME",
                   help="output activation of the random network (default sigmoid)")
    p.add_argument("--loss", default=None, metavar="NAME",
                   help="loss of the random network (default: natural for the output)")
    p.add_argument("--weight-decay", type=_non_negative_float, default=None, metavar="LAMBDA",
                   help="weight decay λ of the random network (default 1e-3)")
    p.add_argument("--samples", type=_positive_int, default=None,
                   help="examples in the batch (default 10 for a random network, 20 rows "
                   "of the data for a model)")
    p.add_argument("--seed", type=int, default=0, help="seed of the network, data and sample")
    p.add_argument("--eps", type=_positive_float, default=1e-4, help="finite-difference step")
    p.add_argument("--tol", type=_positive_float, default=1e-7,
                   help="largest relative difference that passes")
    p.add_argument("--n-coords", type=_positive_int, default=None, metavar="N",
                   help="check N coordinates drawn at random (default: all of them up to "
                   "2000 parameters, else 500)")

    # diagnose
    p = command(
        "diagnose", "why a saved model learns slowly",
        "Per layer: how many units are saturated (f'(z) near 0, so they learn slowly), "
        "how many ReLUs are dead, the size of the errors δ and how fast the weights "
        "move, with sentences saying what it means (MATH.md §6).",
        _diagnose,
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by 'nablanet train'")
    _add_data(p)
    p.add_argument("--samples", type=_positive_int, default=1000,
                   help="examples drawn from the data (all of them if fewer)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")

    # info
    p = command(
        "info", "describe a saved model",
        "Architecture, parameter count, training settings and training history of a "
        "saved model.",
        _info,
    )
    p.add_argument("model", metavar="MODEL", help="a model file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")

    # demo
    p = command(
        "demo", "gradient check, training, evaluation and report on the digits",
        "A tour on scikit-learn's bundled digits, offline: a gradient check, training, "
        "the test results, diagnostics and (with --report) a report with pictures.",
        _demo,
    )
    p.add_argument("--report", metavar="DIR", default=None,
                   help="write pictures and report.html into DIR")
    p.add_argument("--epochs", type=_positive_int, default=60, help="training epochs")
    p.add_argument("--out", metavar="MODEL", default=None, help="also save the model here")
    p.add_argument("--seed", type=int, default=0, help="seed of everything random")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    return parser


# --- data ------------------------------------------------------------------------------------


@dataclass
class _Data:
    """What a command needs of a data source, whatever its kind."""

    description: str
    X_train: NDArray[Any]
    y_train: NDArray[Any]
    X_test: NDArray[Any]
    y_test: NDArray[Any] | None  # None: a CSV of features only (predict)
    image_shape: tuple[int, int] | None = None
    class_names: tuple[str, ...] | None = None
    regression: bool = False


def _is_csv(source: str) -> bool:
    """Whether --data names a CSV file (the names of the data sets win over file names)."""
    if source in ("digits", "fashion-mnist"):
        return False
    return source.lower().endswith(".csv") or os.path.isfile(source)


def _load_dataset(source: str) -> _Data:
    from nablanet import datasets

    if source == "digits":
        data = datasets.load_digits()
    elif source == "fashion-mnist":
        data = datasets.load_fashion_mnist()
    elif os.path.isdir(source):
        data = datasets.load_idx_folder(source)
    else:
        raise FileNotFoundError(
            f"data source {source!r} not found: give digits, fashion-mnist, a folder of IDX "
            "files or a CSV file"
        )
    return _Data(
        description=f"{data.name} ({data.X_train.shape[0]} training and "
        f"{data.X_test.shape[0]} test samples, {data.n_features} features, "
        f"{data.n_classes} classes)",
        X_train=data.X_train,
        y_train=data.y_train,
        X_test=data.X_test,
        y_test=data.y_test,
        image_shape=data.image_shape,
        class_names=data.class_names,
    )


def _regression_target(y: NDArray[Any], task: str) -> bool:
    if task == "auto":
        return y.dtype.kind == "f"
    if task == "regress" and y.dtype.kind not in "iuf":
        raise ValueError(f"--task regress needs numeric targets, got e.g. {str(y[0])!r}")
    return task == "regress"


def _load_for_training(args: argparse.Namespace) -> _Data:
    """The training and test parts: a data set's splits, or a split of a CSV file."""
    if not _is_csv(args.data):
        data = _load_dataset(args.data)
        if args.task == "regress":
            raise UsageError(f"--data {args.data} holds classes; --task regress needs a CSV")
        return data
    import numpy as np

    from nablanet.datasets import read_csv, stratified_split

    X, y, _ = read_csv(args.data, target=args.target)
    regression = _regression_target(y, args.task)
    if regression:
        y = y.astype(np.float64)
    what = f"{args.data} ({X.shape[0]} rows, {X.shape[1]} features, " + (
        "regression)" if regression else f"{np.unique(y).size} classes)"
    )
    if args.test_fraction == 0:
        return _Data(what + ", every row used for training", X, y, X[:0], y[:0],
                     regression=regression)
    if regression:
        rng = np.random.default_rng(args.seed)
        order = rng.permutation(X.shape[0])
        n_test = int(np.ceil(args.test_fraction * X.shape[0]))
        if n_test >= X.shape[0]:
            raise ValueError(f"--test-fraction {args.test_fraction} leaves no training rows")
        test, train = order[:n_test], order[n_test:]
        X_train, X_test, y_train, y_test = X[train], X[test], y[train], y[test]
    else:
        X_train, X_test, y_train, y_test = stratified_split(
            X, y, test_size=args.test_fraction, seed=args.seed
        )
    what += f", {X_test.shape[0]} rows held out for testing"
    return _Data(what, X_train, y_train, X_test, y_test, regression=regression)


def _load_for_model(args: argparse.Namespace, model: Any, need_target: bool = True) -> _Data:
    """The data a saved model is scored on: a data set's test split, or a whole CSV."""
    if not _is_csv(args.data):
        data = _load_dataset(args.data)
        data.description = f"{args.data} test split ({data.X_test.shape[0]} samples)"
        return data
    from nablanet.datasets import read_csv

    n_features = int(model.n_features_in_)
    if not need_target and _csv_width(args.data) == n_features:
        X = _read_features_csv(args.data)
        return _Data(f"{args.data} ({X.shape[0]} rows)", X[:0], X[:0], X, None)
    X, y, _ = read_csv(args.data, target=args.target)
    if X.shape[1] != n_features:
        raise ValueError(
            f"{args.data} has {X.shape[1]} feature columns besides the target, but the model "
            f"expects {n_features}"
        )
    return _Data(f"{args.data} ({X.shape[0]} rows)", X[:0], y[:0], X, y)


def _csv_width(path: str) -> int:
    """Fields in the first non-blank row of a CSV file."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.reader(f):
            if row and any(c.strip() for c in row):
                return len(row)
    return 0


def _read_features_csv(path: str) -> NDArray[Any]:
    """Read a CSV file that has no target column (for predict).

    `nablanet.datasets.read_csv` always takes a target out. It gets a copy of the file
    with a constant last column as the target, so its header detection and its error
    messages (row numbers and column names and indices) apply to every real column.
    """
    import csv
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, os.path.basename(path))
        with open(path, newline="", encoding="utf-8-sig") as src, \
                open(copy, "w", newline="", encoding="utf-8") as dst:
            writer = csv.writer(dst, lineterminator="\n")
            for row in csv.reader(src):
                writer.writerow([*row, "0"] if row else row)
        from nablanet.datasets import read_csv

        try:
            X, _, _ = read_csv(copy, target=-1)
        except ValueError as exc:
            raise ValueError(str(exc).replace(copy, path)) from None
    return X


# --- models ----------------------------------------------------------------------------------


def _load_model(path: str, estimator: bool = True) -> Any:
    import nablanet

    model = nablanet.load(path)
    if estimator and not hasattr(model, "net_"):
        raise ValueError(
            f"{path} holds a bare Network, not a model trained by 'nablanet train' (an "
            "MLPClassifier or MLPRegressor); this command needs the latter"
        )
    return model


def _progress_callbacks(quiet: bool) -> list[Any]:
    if quiet:
        return []
    from nablanet.callbacks import EpochLogger, ProgressBar

    return [ProgressBar()] if sys.stderr.isatty() else [EpochLogger(sys.stderr)]


def _build_estimator(
    args: argparse.Namespace, regression: bool, n_train: int, callbacks: list[Any]
) -> Any:
    """An MLPClassifier or MLPRegressor configured from the train flags."""
    from nablanet import MLPClassifier, MLPRegressor

    solver = {"gd": "sgd"}.get(args.optimizer, args.optimizer)
    learning_rate = args.learning_rate or DEFAULT_LEARNING_RATES[args.optimizer]
    momentum = args.momentum
    if momentum is None:
        momentum = 0.0 if args.optimizer == "gd" else 0.9
    # 100 rather than scikit-learn's 200: on Fashion-MNIST (256,128), 20 epochs, seeds
    # 0-6, the mean test accuracy was 0.8906 against 0.8884 with batches of 200.
    batch_size = DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size
    if args.optimizer == "gd":
        batch_size = n_train  # every sample in each step (clipped to the training part)
    validate = args.validation_fraction > 0 and args.optimizer != "lbfgs"
    cls = MLPRegressor if regression else MLPClassifier
    return cls(
        hidden_layer_sizes=args.layers,
        activation=args.activation,
        solver=solver,
        alpha=args.alpha,
        batch_size=batch_size,
        learning_rate_init=learning_rate or 0.001,
        max_iter=args.epochs,
        random_state=args.seed,
        momentum=momentum,
        nesterovs_momentum=args.optimizer == "sgd",
        # scikit-learn measures a validation part only with early stopping. Without
        # --early-stopping its patience is the whole run: each epoch's validation score
        # is recorded and the best epoch's weights are kept, but the run never stops early.
        early_stopping=validate,
        validation_fraction=args.validation_fraction if validate else 0.1,
        n_iter_no_change=args.patience if args.early_stopping else args.epochs,
        output_activation=args.output,
        loss=args.loss,
        dropout=args.dropout,
        restarts=args.restarts,
        callbacks=callbacks,
        dtype=args.dtype,
    )


def _fit(est: Any, X: Any, y: Any) -> Any:
    """Fit quietly: the epoch limit is the user's choice, not a warning.

    Floating-point overflow warnings are silenced too: a run whose cost stops being
    finite raises `nablanet.training.TrainingDiverged`, whose one-line message says at
    which epoch and what to do, and that is all the user needs to read.
    """
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Got `batch_size` larger than sample size")
        return est.fit(X, y)


def _settings(est: Any, args: argparse.Namespace, data: _Data) -> dict[str, Any]:
    params = {k: v for k, v in est.get_params().items() if k != "callbacks"}
    if isinstance(params.get("hidden_layer_sizes"), tuple):
        params["hidden_layer_sizes"] = list(params["hidden_layer_sizes"])
    return {"data": data.description, "optimizer (nablanet --optimizer)": args.optimizer,
            **params}


def _sample(n: int, k: int, seed: int) -> NDArray[Any]:
    import numpy as np

    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, k, replace=False))


def _model_gradient_check(est: Any, X: Any, y: Any, *, samples: int, seed: int,
                          eps: float = 1e-4, tol: float = 1e-7,
                          n_coords: int | None = None) -> Any:
    rows = _sample(len(y), samples, seed)
    if n_coords is None and est.net_.n_params > 2000:
        n_coords = 500
    return est.check_gradient(X[rows], y[rows], eps=eps, tol=tol, n_coords=n_coords, seed=seed)


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _json(obj: Any) -> None:
    import json

    _out(json.dumps(_finite(obj), indent=2, allow_nan=False, default=_json_default))


def _finite(obj: Any) -> Any:
    """NaN and infinity have no JSON form: they become null."""
    import math

    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _score_line(result: dict[str, Any], where: str) -> str:
    if result["task"] == "classification":
        return f"{where} accuracy: {result['accuracy']:.4f} ({result['n_samples']} samples)"
    return (f"{where} R²: {result['r2']:.4f} (MAE {result['mae']:.4g}, RMSE "
            f"{result['rmse']:.4g}, {result['n_samples']} samples)")


# --- the commands ----------------------------------------------------------------------------


def _check_writable(path: str | None, flag: str) -> None:
    """Refuse an output path that cannot be written before a long computation, not after."""
    if path is None:
        return
    if flag == "--report":  # a folder, created with its parents
        if os.path.exists(path) and not os.path.isdir(path):
            raise FileExistsError(f"--report {path}: a file of that name exists; give a folder")
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{flag} {path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{flag} {path} is a folder; give a file name")


def _check_train_flags(args: argparse.Namespace) -> None:
    """Refuse unknown names and contradictory flags before any data are read."""
    from nablanet.activations import get_activation
    from nablanet.losses import get_loss

    names = [args.activation] if isinstance(args.activation, str) else args.activation
    if len(names) > 1 and len(names) != len(args.layers):
        raise UsageError(
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
        raise UsageError(
            "--early-stopping needs --validation-fraction > 0 and an optimizer other than "
            "lbfgs"
        )
    if args.optimizer == "gd" and args.batch_size is not None:
        raise UsageError("--optimizer gd uses every sample in each step; --batch-size is for "
                         "adam and sgd")
    if args.dropout and args.optimizer == "lbfgs":
        raise UsageError("--dropout needs a stochastic optimizer (adam, sgd or gd), not lbfgs")


def _train(args: argparse.Namespace) -> int:
    from nablanet.report import evaluate_model

    _check_writable(args.out, "--out")
    _check_writable(args.report, "--report")
    _check_train_flags(args)
    data = _load_for_training(args)
    quiet = args.quiet
    if not quiet:
        _err(f"data: {data.description}")
    est = _build_estimator(args, data.regression, int(data.X_train.shape[0]),
                           _progress_callbacks(quiet))
    _fit(est, data.X_train, data.y_train)
    if not quiet:
        _err(est.net_.summary())
    result = None
    if data.y_test is not None and data.y_test.size:
        result = evaluate_model(est, data.X_test, data.y_test, data.class_names)
        _out(_score_line(result, "test"))
    else:
        _out(f"trained for {est.n_iter_} epochs (no test part: --test-fraction 0)")
    if args.out:
        est.save(args.out)
        _out(f"model written to {args.out}")
    elif not quiet:
        _err("note: the model was not saved; give --out MODEL to keep it")
    if args.report:
        path = _write_train_report(args.report, est, data, result, _settings(est, args, data),
                                   seed=args.seed)
        _out(f"report written to {path}")
    return 0


def _write_train_report(directory: str, est: Any, data: _Data, result: Any,
                        settings: dict[str, Any], seed: int) -> Any:
    from nablanet.report import write_report

    check = _model_gradient_check(est, data.X_train, data.y_train, samples=20, seed=seed)
    rows = _sample(len(data.y_train), 1000, seed)
    diagnosis = est.diagnose(data.X_train[rows], data.y_train[rows])
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
    )


def _evaluate(args: argparse.Namespace) -> int:
    from nablanet.report import evaluate_model, format_evaluation

    model = _load_model(args.model)
    data = _load_for_model(args, model)
    assert data.y_test is not None
    result = evaluate_model(model, data.X_test, data.y_test, data.class_names)
    if args.json:
        _json({"model": args.model, "data": data.description, **result})
    else:
        _out(f"{args.model} on {data.description}")
        _out(format_evaluation(result))
    return 0


def _predict(args: argparse.Namespace) -> int:
    import csv

    import numpy as np

    from nablanet.report import label_names

    model = _load_model(args.model)
    classifier = hasattr(model, "classes_")
    if args.proba and not classifier:
        raise UsageError("--proba needs a classifier; this model is a regressor")
    data = _load_for_model(args, model, need_target=False)
    pred = np.asarray(model.predict(data.X_test))
    header: list[str]
    if classifier:
        labels = label_names(pred.tolist(), data.class_names)
        columns: list[list[Any]] = [labels]
        header = ["prediction"]
        if args.proba:
            P = model.predict_proba(data.X_test)
            names = label_names(model.classes_.tolist(), data.class_names)
            header += [f"p({name})" for name in names]
            columns += [[f"{p:.6g}" for p in P[:, j]] for j in range(P.shape[1])]
    else:
        P = pred.reshape(pred.shape[0], -1)
        header = ["prediction"] if P.shape[1] == 1 else [f"prediction_{j}"
                                                           for j in range(P.shape[1])]
        columns = [[f"{v:.10g}" for v in P[:, j]] for j in range(P.shape[1])]

    def write(stream: Any) -> None:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(zip(*columns, strict=True))

    if args.out == "-":
        write(sys.stdout)
    else:
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            write(f)
        _err(f"wrote {len(pred)} predictions to {args.out}")
    return 0


def _random_targets(output: str, loss: str | None, m: int, k: int, rng: Any) -> Any:
    """Targets a network with this output can fit: one-hot, 0/1, ±1 or real numbers."""
    import numpy as np

    if output == "softmax":
        return np.eye(k)[rng.integers(0, k, m)]
    if output in ("sigmoid", "logistic"):
        return rng.integers(0, 2, (m, k)).astype(np.float64)
    if output == "tanh":
        return 2.0 * rng.integers(0, 2, (m, k)) - 1.0
    return rng.normal(size=(m, k))


def _gradcheck(args: argparse.Namespace) -> int:
    if args.model is None:
        report = _gradcheck_random(args)
    else:
        given = [f"--{n.replace('_', '-')}" for n in ("layers", "activation", "output", "loss",
                                                       "weight_decay")
                 if getattr(args, n) is not None]
        if given:
            raise UsageError(f"{', '.join(given)} describe a random network; with MODEL the "
                             "saved network is checked")
        model = _load_model(args.model)
        data = _load_for_model(args, model)
        assert data.y_test is not None
        report = _model_gradient_check(
            model, data.X_test, data.y_test, samples=args.samples or 20, seed=args.seed,
            eps=args.eps, tol=args.tol, n_coords=args.n_coords,
        )
        _out(f"{args.model}: {model.net_!r}")
        _out(f"on {min(args.samples or 20, len(data.y_test))} samples of {data.description}")
    _out(str(report))
    if not report.passed:
        raise CommandFailed(
            f"gradient check failed: relative difference {report.relative_difference:.3e} "
            f"is above the tolerance {args.tol:g}"
        )
    return 0


def _gradcheck_random(args: argparse.Namespace) -> Any:
    import numpy as np

    from nablanet import Network

    sizes = args.layers or (4, 5, 3)
    if len(sizes) < 2:
        raise UsageError("--layers needs at least an input and an output size, e.g. 4,5,3")
    output = args.output or "sigmoid"
    net = Network(
        sizes,
        activation=args.activation or "sigmoid",
        output_activation=output,
        loss=args.loss,
        weight_decay=1e-3 if args.weight_decay is None else args.weight_decay,
        seed=args.seed,
        dtype=np.float64,
    )
    rng = np.random.default_rng(args.seed)
    m = args.samples or 10
    X = rng.normal(size=(m, sizes[0]))
    Y = _random_targets(net.activations[-1].name, args.loss, m, sizes[-1], rng)
    _out(repr(net))
    _out(f"on {m} random examples")
    return net.check_gradient(X, Y, eps=args.eps, tol=args.tol, n_coords=args.n_coords,
                              seed=args.seed)


def _diagnose(args: argparse.Namespace) -> int:
    model = _load_model(args.model)
    data = _load_for_model(args, model)
    assert data.y_test is not None
    rows = _sample(len(data.y_test), args.samples, args.seed)
    diagnosis = model.diagnose(data.X_test[rows], data.y_test[rows])
    if args.json:
        _json({"model": args.model, "data": data.description, "samples": len(rows),
               "loss": diagnosis.loss, "J": diagnosis.J, "layers": diagnosis.as_dicts(),
               "findings": diagnosis.findings()})
    else:
        _out(f"{args.model} on {len(rows)} samples of {data.description}")
        _out(str(diagnosis))
    return 0


def _info(args: argparse.Namespace) -> int:
    import math

    from nablanet.io import read_model

    model = _load_model(args.model, estimator=False)
    header, _ = read_model(args.model)
    net = getattr(model, "net_", model)
    info: dict[str, Any] = {
        "model": args.model,
        "kind": header.get("kind"),
        "created": header.get("created"),
        "library_version": header.get("library_version"),
        "layer_sizes": list(net.layer_sizes),
        "activations": [a.name for a in net.activations],
        "loss": net.loss.name,
        "n_params": net.n_params,
        "n_weights": net.n_weights,
        "dtype": net.dtype.name,
    }
    if hasattr(model, "net_"):
        params = {k: v for k, v in model.get_params().items() if k != "callbacks"}
        curve = list(model.loss_curve_)
        scores = model.validation_scores_
        info["settings"] = params
        if hasattr(model, "classes_"):
            info["classes"] = model.classes_.tolist()
        info["history"] = {
            "epochs": int(model.n_iter_),
            "first_loss": curve[0] if curve else None,
            "final_loss": curve[-1] if curve else None,
            "best_validation_score": model.best_validation_score_
            if model.best_validation_score_ is not None
            and math.isfinite(model.best_validation_score_) else None,
            "validation_scores": len(scores) if scores else 0,
        }
    if args.json:
        _json(info)
        return 0
    _out(f"{args.model}: {info['kind']}, written {info['created']} by nablanet "
         f"{info['library_version']}")
    _out("")
    _out(net.summary())
    _out(f"parameters: {net.n_params} ({net.n_weights} weights, "
         f"{net.n_params - net.n_weights} biases)")
    if "settings" in info:
        if "classes" in info:
            _out(f"classes: {', '.join(map(str, info['classes']))}")
        _out("")
        _out("training settings:")
        width = max(len(k) for k in info["settings"])
        for key, value in info["settings"].items():
            _out(f"  {key:<{width}}  {value}")
        h = info["history"]
        _out("")
        _out("training history:")
        _out(f"  epochs run       {h['epochs']}")
        if h["final_loss"] is not None:
            _out(f"  loss             {h['first_loss']:.6g} (first epoch) -> "
                 f"{h['final_loss']:.6g} (last)")
        if h["best_validation_score"] is not None:
            _out(f"  best validation  {h['best_validation_score']:.4f}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from nablanet import MLPClassifier, Network
    from nablanet.datasets import load_digits, one_hot
    from nablanet.report import evaluate_model, format_evaluation

    _check_writable(args.out, "--out")
    _check_writable(args.report, "--report")
    start = time.perf_counter()
    data = load_digits(seed=args.seed)
    _out("nablanet demo: scikit-learn's bundled 8x8 handwritten digits (no download)")
    _out(f"  {data.X_train.shape[0]} training and {data.X_test.shape[0]} test images of "
         f"{data.n_features} pixels, {data.n_classes} classes")

    _out("\n1. Gradient check (MATH.md §7): backpropagation against central differences")
    small = Network([64, 25, 10], activation="sigmoid", output_activation="softmax",
                    weight_decay=1e-3, seed=args.seed, dtype=np.float64)
    Y, _ = one_hot(data.y_train[:20], np.arange(10))
    _out(f"   {small!r}, on 20 images")
    report = small.check_gradient(data.X_train[:20], Y)
    _out(_indent(str(report)))
    if not report.passed:
        raise CommandFailed("the gradient check failed: backpropagation is wrong")

    _out(f"\n2. Training: one hidden layer of 64 relu units, softmax output, Adam, "
         f"{args.epochs} epochs, 2 random initialisations (the better is kept)")
    est = MLPClassifier(
        hidden_layer_sizes=(64,), solver="adam", learning_rate_init=0.005, alpha=1e-4,
        max_iter=args.epochs, early_stopping=True, validation_fraction=0.1,
        n_iter_no_change=args.epochs, restarts=2, random_state=args.seed,
        # a bar on a terminal; no per-epoch lines in a log, where they would bury the tour
        callbacks=_progress_callbacks(args.quiet or not sys.stderr.isatty()),
    )
    t0 = time.perf_counter()
    _fit(est, data.X_train, data.y_train)
    _out(_indent(est.net_.summary()))
    _out(f"   trained in {time.perf_counter() - t0:.1f} s")

    _out("\n3. Evaluation on the test images")
    result = evaluate_model(est, data.X_test, data.y_test, data.class_names)
    _out(_indent(format_evaluation(result)))

    _out("\n4. Diagnostics on the training images (MATH.md §6)")
    diagnosis = est.diagnose(data.X_train, data.y_train)
    _out(_indent(str(diagnosis)))

    if args.out:
        est.save(args.out)
        _out(f"\nmodel written to {args.out}")
    if args.report:
        from nablanet.report import write_report

        check = _model_gradient_check(est, data.X_train, data.y_train, samples=20,
                                      seed=args.seed)
        path = write_report(
            args.report,
            estimator=est,
            title="nablanet demo: digits",
            data_description=f"data: digits ({data.X_train.shape[0]} training and "
            f"{data.X_test.shape[0]} test images of 8x8 pixels)",
            evaluation=result,
            gradient_check=check,
            diagnosis=diagnosis,
            settings={"data": "digits", **{k: v for k, v in est.get_params().items()
                                           if k != "callbacks"}},
            image_shape=data.image_shape,
        )
        _out(f"\nreport written to {path} (open it in a browser; it works offline)")
    _out(f"\ntest accuracy {result['accuracy']:.4f}; demo took "
         f"{time.perf_counter() - start:.1f} s")
    return 0


def _indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


# --- entry point -----------------------------------------------------------------------------


def _user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a mistake in the input rather than a bug in nablanet."""
    if isinstance(exc, ValueError | OSError | UsageError | CommandFailed):
        return True
    training = sys.modules.get("nablanet.training")  # not imported: no training, no divergence
    return training is not None and isinstance(exc, training.TrainingDiverged)


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())  # one line, whatever the message held


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    _err(f"{PROG}: warning: {' '.join(str(message).split())}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nablanet`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 success, 1 failure, 2 usage error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (status 2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    debug = bool(getattr(args, "debug", False))
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return int(args.func(args))
        except KeyboardInterrupt:
            _err(f"{PROG}: interrupted")
            return 130
        except BrokenPipeError:
            # the reader of our output went away (e.g. `| head`): stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
        except Exception as exc:
            if debug:
                raise
            if _user_error(exc):
                _err(f"{PROG}: error: {_message(exc)}")
                return 2 if isinstance(exc, UsageError) else 1
            _err(
                f"{PROG}: error: internal error ({type(exc).__name__}: {_message(exc)}); "
                "rerun with --debug for the traceback and please report it"
            )
            return 1


if __name__ == "__main__":
    sys.exit(main())
