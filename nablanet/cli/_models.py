"""What the commands that train or read a model share: loading, fitting, sampling."""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray


def load_model(path: str, estimator: bool = True) -> Any:
    """The model in ``path``; with ``estimator``, refuse a bare `Network`.

    Of a pipeline (a CSV table's preprocessing, then the estimator, as 'nablanet train'
    writes it) the estimator: the commands read the preprocessing themselves
    (`nablanet.cli.sources.load_for_model`).
    """
    from sklearn.pipeline import Pipeline

    import nablanet

    model = nablanet.load(path)
    if isinstance(model, Pipeline):
        model = model[-1]
    if estimator and not hasattr(model, "net_"):
        raise ValueError(
            f"{path} holds a bare Network, not a model trained by 'nablanet train' (an "
            "MLPClassifier or MLPRegressor); this command needs the latter"
        )
    return model


def progress_callbacks(quiet: bool) -> list[Any]:
    """A progress bar on a terminal, one line per epoch elsewhere, nothing when quiet."""
    if quiet:
        return []
    from nablanet.training import EpochLogger, ProgressBar

    return [ProgressBar()] if sys.stderr.isatty() else [EpochLogger(sys.stderr)]


def fit(est: Any, X: Any, y: Any) -> bool:
    """Fit ``est`` and return whether training converged before its iteration limit.

    scikit-learn's ConvergenceWarning is caught and returned rather than shown: its text
    names the estimator's parameters, and the command says it with its own flags.
    Floating-point overflow warnings are silenced: a run whose cost stops being finite
    raises `nablanet.training.TrainingDiverged`, whose one-line message says at which
    epoch and what to do, and that is all the user needs to read.
    """
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught, \
            np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Got `batch_size` larger than sample size")
        est.fit(X, y)
    converged = True
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            converged = False
        else:  # anything else is the user's to read
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return converged


def sample(n: int, k: int, seed: int) -> NDArray[Any]:
    """``k`` sorted row indices of ``n`` drawn without replacement (all when ``n <= k``)."""
    import numpy as np

    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, k, replace=False))


def model_gradient_check(est: Any, X: Any, y: Any, *, samples: int, seed: int,
                         eps: float = 1e-4, tol: float = 1e-7,
                         n_coords: int | None = None) -> Any:
    """A fitted estimator's gradient check on ``samples`` rows (500 coordinates if large)."""
    rows = sample(len(y), samples, seed)
    return est.check_gradient(X[rows], y[rows], eps=eps, tol=tol,
                              n_coords=coordinates(n_coords, est.net_.n_params), seed=seed)


def coordinates(n_coords: int | None, n_params: int) -> int | None:
    """Coordinates a gradient check tries: all up to 2000 parameters, else 500 at random."""
    return 500 if n_coords is None and n_params > 2000 else n_coords


def score_line(result: dict[str, Any], where: str) -> str:
    """One line: accuracy for a classifier, R² with MAE and RMSE for a regressor."""
    if result["task"] == "classification":
        return f"{where} accuracy: {result['accuracy']:.4f} ({result['n_samples']} samples)"
    return (f"{where} R²: {result['r2']:.4f} (MAE {result['mae']:.4g}, RMSE "
            f"{result['rmse']:.4g}, {result['n_samples']} samples)")


def settings(est: Any) -> dict[str, Any]:
    """The estimator's parameters for a report, with what a None default resolved to."""
    params = {k: v for k, v in est.get_params().items() if k != "callbacks"}
    if isinstance(params.get("hidden_layer_sizes"), tuple):
        params["hidden_layer_sizes"] = list(params["hidden_layer_sizes"])
    net = est.net_
    chosen = {"loss": net.loss.name, "output_activation": net.activations[-1].name,
              "dtype": net.dtype.name}
    for key, value in chosen.items():
        if key in params and params[key] is None:
            params[key] = f"{value} (default)"
    return params
