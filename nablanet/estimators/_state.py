"""An estimator as a model file's header and arrays, and back (see `nablanet.io`).

``to_state(est) -> (header, arrays)``: the network's spec and ``theta``, the constructor
parameters (callbacks never: they are code), the fitted attributes as plain JSON and
whatever the subclass adds for its targets (classes, or the regressor's scaling).
``from_state(cls, header, arrays, source=...)`` rebuilds it, checking every field, and
raises `nablanet.io.ModelFileError` naming ``source`` for anything it cannot trust.
`nablanet.io` imports this package, so its helpers are imported inside the functions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from nablanet.estimators._optimizer import (
    KeptOptimizer,
    fits,
    state_arrays,
    state_from_arrays,
    state_names,
)

if TYPE_CHECKING:
    from nablanet.estimators._base import _BaseMLP

Array = NDArray[Any]

#: The fitted attributes a file holds, with their JSON types.
FITTED_TYPES: dict[str, Any] = {
    "n_iter_": int,
    "t_": int,
    "loss_": (float, type(None)),  # null: NaN, the loss of a run that diverged
    "best_loss_": (float, type(None)),
    "loss_curve_": list,
    "validation_loss_curve_": list,
    "validation_scores_": (list, type(None)),
    "best_validation_score_": (float, type(None)),
    "n_features_in_": int,
    "_no_improvement_count": int,
    "_learning_rate": float,
}
FITTED_FIELDS = tuple(FITTED_TYPES)
#: Fields that files written before training could resume lack (they resume afresh).
RESUME_FIELDS = ("optimizer", "random_state")


def to_state(est: _BaseMLP) -> tuple[dict[str, Any], dict[str, Array]]:
    """Header fields and arrays that rebuild the fitted ``est`` exactly."""
    from nablanet.io import network_state
    from nablanet.io.container import jsonable

    check_is_fitted(est, "net_")
    spec, arrays = network_state(est.net_)
    params = est.get_params()
    params["callbacks"] = None  # callbacks are code: they are never written to a file
    params.update(est._architecture_params())
    params["dtype"] = None if est.dtype is None else np.dtype(est.dtype).name
    if not isinstance(est.random_state, int | type(None)):
        params["random_state"] = None
    if params["n_iter_no_change"] == math.inf:  # scikit-learn's "never": JSON has no inf
        params["n_iter_no_change"] = "inf"
    # non-finite floats have no JSON form: None
    fitted = {key: jsonable(getattr(est, key)) for key in FITTED_FIELDS}
    if hasattr(est, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(f) for f in est.feature_names_in_]
    fitted.update(_resume_state(est, arrays))
    header = {"kind": type(est).__name__, "network": spec, "params": params,
              "fitted": fitted, **est._target_state(arrays)}
    return header, arrays


def from_state(
    cls: type[_BaseMLP], header: dict[str, Any], arrays: dict[str, Array], *, source: str
) -> _BaseMLP:
    """Rebuild an estimator written by `to_state`, checking every field."""
    from nablanet import io

    params = dict(io.check_field(header, "params", dict, source=source))
    if params.get("n_iter_no_change") == "inf":
        params["n_iter_no_change"] = math.inf
    if params.get("callbacks") is not None:
        raise io.ModelFileError(
            f"{source}: params.callbacks must be null (code is never loaded from a file)"
        )
    est = cls(**params)
    est._check_params()
    _restore_fitted(est, io.check_field(header, "fitted", dict, source=source), source)
    net = io.network_from_state(
        header["network"], arrays, source=source, format_version=header["format_version"]
    )
    if net.layer_sizes[0] != est.n_features_in_:
        raise io.ModelFileError(
            f"{source}: the network's {net.layer_sizes[0]} inputs do not match "
            f"n_features_in_={est.n_features_in_}"
        )
    try:
        est._check_architecture(net)
    except ValueError as exc:
        raise io.ModelFileError(f"{source}: {exc}") from None
    est.net_ = net
    est._random_state = check_random_state(est.random_state)
    fitted = header["fitted"]
    _restore_resume_state(est, fitted, arrays, source)
    est._restore_target_state(header, arrays, source)
    est._describe_network()
    return est


# --- what training needs to resume exactly: the optimizer and the random state --------


def _resume_state(est: _BaseMLP, arrays: dict[str, Array]) -> dict[str, Any]:
    """Header fields for the kept optimizer and the random state; their arrays into ``arrays``."""
    from nablanet.estimators._training import new_rule

    fitted: dict[str, Any] = {}
    kept = getattr(est, "_optimizer", None)
    # Only a state the current solver goes on with (the file is read with that solver's
    # rule); after set_params(solver=...) the next partial_fit starts afresh anyway.
    if kept is not None and kept.state is not None and fits(kept.state, new_rule(est),
                                                            est.net_.theta):
        values, t = state_arrays(kept.state)
        for name, values_ in values.items():
            arrays[f"optimizer_{name}"] = values_
        fitted["optimizer"] = {"t": t, "learning_rate": float(kept.learning_rate)}
    kind, key, pos, has_gauss, cached = est._random_state.get_state()
    if kind == "MT19937":
        arrays["random_state_key"] = np.asarray(key, dtype=np.uint32)
        fitted["random_state"] = {"pos": int(pos), "has_gauss": int(has_gauss),
                                  "cached_gaussian": float(cached)}
    return fitted


def _restore_resume_state(
    est: _BaseMLP, fitted: dict[str, Any], arrays: dict[str, Array], source: str
) -> None:
    """Set the kept optimizer and the random state from a file that holds them."""
    from nablanet import io

    if "optimizer" in fitted:
        record = io.check_field(fitted, "optimizer", dict, source=source, where="fitted")
        est._optimizer = _kept_optimizer(est, record, arrays, source)
    if "random_state" in fitted:
        record = io.check_field(fitted, "random_state", dict, source=source, where="fitted")
        est._random_state = _random_state(record, arrays, source)


def _kept_optimizer(
    est: _BaseMLP, record: dict[str, Any], arrays: dict[str, Array], source: str
) -> KeptOptimizer:
    """The optimizer of header field ``fitted.optimizer`` and its arrays, checked."""
    from nablanet import io
    from nablanet.estimators._training import new_rule

    where = "fitted.optimizer"
    io.check_keys(record, ("t", "learning_rate"), source=source, where=f"header field {where!r}")
    t = io.check_field(record, "t", int, source=source, where=where)
    rate = io.check_field(record, "learning_rate", (int, float), source=source, where=where)
    if t < 0 or not math.isfinite(rate) or rate <= 0:
        raise io.ModelFileError(
            f"{source}: header field {where!r} needs t >= 0 and a learning_rate > 0"
        )
    rule = new_rule(est)
    theta = est.net_.theta
    values = {
        name: io.check_array(arrays, f"optimizer_{name}", source=source, shape=theta.shape,
                             dtype=theta.dtype, finite=True)
        for name in state_names(rule)
    }
    if "v" in values and (values["v"] < 0).any():  # Adam's second moments
        raise io.ModelFileError(f"{source}: array 'optimizer_v' must not be negative")
    return KeptOptimizer(rule, state_from_arrays(rule, theta, values, t), float(rate))


def _random_state(
    record: dict[str, Any], arrays: dict[str, Array], source: str
) -> np.random.RandomState:
    """The MT19937 generator of header field ``fitted.random_state`` and its key, checked."""
    from nablanet import io

    where = "fitted.random_state"
    io.check_keys(record, ("pos", "has_gauss", "cached_gaussian"), source=source,
                  where=f"header field {where!r}")
    pos = io.check_field(record, "pos", int, source=source, where=where)
    has_gauss = io.check_field(record, "has_gauss", int, source=source, where=where)
    cached = io.check_field(record, "cached_gaussian", (int, float), source=source, where=where)
    key = io.check_array(arrays, "random_state_key", source=source, shape=(624,),
                         dtype=np.uint32)
    if not 0 <= pos <= 624 or has_gauss not in (0, 1) or not math.isfinite(cached):
        raise io.ModelFileError(f"{source}: header field {where!r} is not an MT19937 state")
    generator = np.random.RandomState()
    generator.set_state(("MT19937", key, pos, has_gauss, float(cached)))
    return generator


def _restore_fitted(est: _BaseMLP, fitted: dict[str, Any], source: str) -> None:
    """Set the fitted attributes from the header's ``fitted`` object."""
    from nablanet import io

    io.check_keys(fitted, FITTED_FIELDS, ("feature_names_in_", *RESUME_FIELDS), source=source,
                  where="header field 'fitted'")
    for key in FITTED_FIELDS:
        value = io.check_field(fitted, key, FITTED_TYPES[key], source=source, where="fitted")
        if isinstance(value, list):
            # null: a NaN (JSON has none), as the epoch a diverged run ended with
            if not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                       for v in value):
                raise io.ModelFileError(f"{source}: header field 'fitted.{key}' must hold numbers")
            value = [math.nan if v is None else v for v in value]
        elif key == "loss_" and value is None:
            value = math.nan
        setattr(est, key, value)
    restore_feature_names(est, fitted, source)


def restore_feature_names(est: Any, fitted: dict[str, Any], source: str) -> None:
    """Set ``feature_names_in_`` from ``fitted`` when the file holds them."""
    from nablanet import io

    if "feature_names_in_" in fitted:
        names = io.check_field(fitted, "feature_names_in_", list, source=source, where="fitted")
        if len(names) != est.n_features_in_ or not all(isinstance(n, str) for n in names):
            raise io.ModelFileError(f"{source}: feature names do not match n_features_in_")
        est.feature_names_in_ = np.asarray(names, dtype=object)

