"""What the UFLDL estimators share: one training call, and model files of a bare network.

`fit_network` trains a `Network` by full-batch L-BFGS (UFLDL's minFunc) or by
minibatches ("adam", "sgd"). `estimator_state` / `restore_estimator` write and read an
estimator whose whole fitted state is its network plus a few JSON fields (never pickle;
see `nablanet.io`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.utils import check_random_state

from nablanet._checks import integer, number, one_of
from nablanet.estimators._transaction import all_or_nothing as _all_or_nothing
from nablanet.network import Network
from nablanet.optim import SGD, Adam
from nablanet.optim.scipy_min import LBFGS
from nablanet.training import History, train

Array = NDArray[Any]

SOLVERS = ("lbfgs", "adam", "sgd")
#: The fitted attributes written to a model file besides the network.
_FITTED = ("n_features_in_", "n_iter_", "loss_curve_")


def all_or_nothing(est: Any) -> AbstractContextManager[None]:
    """A fit that raises leaves ``est`` unfitted (see `nablanet.estimators._transaction`).

    These estimators always fit from scratch, so no earlier state is kept.
    """
    return _all_or_nothing(est, continuing=False)


def check_solver_params(est: Any) -> None:
    """The solver settings every UFLDL estimator has: solver, max_iter, tol, learning rate."""
    one_of(est.solver, SOLVERS, "solver")
    integer(est.max_iter, "max_iter")
    number(est.tol, "tol", low=0.0)
    number(est.learning_rate_init, "learning_rate_init", low=0.0, low_open=True)
    integer(est.batch_size, "batch_size")


def seed_from(random_state: Any) -> int:
    """An int seed drawn from scikit-learn's ``random_state`` (None, int or RandomState)."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def fit_network(
    net: Network,
    X: Array,
    Y: Array,
    est: Any,
    seed: int,
    sample_weight: Array | None = None,
) -> History:
    """Train ``net`` on (X, Y) with ``est``'s solver, max_iter, tol and learning rate.

    "lbfgs" is full-batch L-BFGS for ``max_iter`` iterations (stopping earlier when
    max|∂J/∂θ| <= tol or on scipy's default ``ftol``, see `LBFGS`); "adam" and "sgd" run
    ``max_iter`` epochs of minibatches of ``batch_size`` rows.
    """
    if est.solver == "lbfgs":
        return train(
            net, X, Y, optimizer=LBFGS(max_iter=est.max_iter, tol=est.tol),
            epochs=est.max_iter, batch_size=None, shuffle=False, seed=seed,
            sample_weight=sample_weight,
        )
    optimizer = Adam(est.learning_rate_init) if est.solver == "adam" else SGD(
        est.learning_rate_init, 0.9, nesterov=True
    )
    return train(
        net, X, Y, optimizer=optimizer, learning_rate=est.learning_rate_init,
        epochs=est.max_iter, batch_size=min(est.batch_size, X.shape[0]), seed=seed,
        sample_weight=sample_weight,
    )


def record_history(est: Any, history: History) -> None:
    """Set ``loss_curve_`` (J per iteration or epoch) and ``n_iter_``."""
    est.history_ = history
    est.loss_curve_ = [float(J) for J in history.train_loss]
    est.n_iter_ = len(est.loss_curve_)


def estimator_state(
    est: Any, extra: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Array]]:
    """Header and arrays of an estimator whose fitted state is ``net_`` plus JSON fields."""
    from nablanet.io.network import network_state

    spec, arrays = network_state(est.net_)
    params = est.get_params()
    if not isinstance(params.get("random_state"), int | type(None)):
        params["random_state"] = None
    if params.get("dtype") is not None:
        params["dtype"] = np.dtype(params["dtype"]).name
    fitted = {
        "n_features_in_": int(est.n_features_in_),
        "n_iter_": int(est.n_iter_),
        "loss_curve_": [float(J) for J in est.loss_curve_],
    }
    header = {"kind": type(est).__name__, "network": spec, "params": params, "fitted": fitted}
    header.update(extra or {})
    return header, arrays


def restore_estimator(
    cls: Any, header: dict[str, Any], arrays: dict[str, Array], source: str,
    extra: tuple[str, ...] = (),
) -> Any:
    """Rebuild an estimator written by `estimator_state`, checking every field."""
    from nablanet.io import fields
    from nablanet.io import network as network_io
    from nablanet.io.container import ModelFileError

    fields.check_keys(
        header, ("format", "format_version", "library_version", "kind", "network", "params",
                 "fitted", "arrays", *extra), ("created",), source=source, where="header")
    params = fields.check_field(header, "params", dict, source=source)
    est = cls(**params)
    est._check_params()
    fitted = fields.check_field(header, "fitted", dict, source=source)
    fields.check_keys(fitted, _FITTED, source=source, where="header field 'fitted'")
    est.n_features_in_ = integer(
        fields.check_field(fitted, "n_features_in_", int, source=source, where="fitted"),
        "n_features_in_")
    est.n_iter_ = fields.check_field(fitted, "n_iter_", int, source=source, where="fitted")
    curve = fields.check_field(fitted, "loss_curve_", list, source=source, where="fitted")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in curve):
        raise ModelFileError(f"{source}: header field 'fitted.loss_curve_' must hold numbers")
    est.loss_curve_ = [float(v) for v in curve]
    est.net_ = network_io.network_from_state(
        header["network"], arrays, source=source, format_version=header["format_version"]
    )
    if est.net_.layer_sizes[0] != est.n_features_in_:
        raise ModelFileError(
            f"{source}: the network's {est.net_.layer_sizes[0]} inputs do not match "
            f"n_features_in_={est.n_features_in_}"
        )
    return est
