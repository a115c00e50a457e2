"""An estimator as a model file's header and arrays, and back (see `nablanet.io`).

``to_state(est) -> (header, arrays)``: the network's spec and ``theta``, the constructor
parameters (callbacks never: they are code), the fitted attributes as plain JSON and
whatever the subclass adds for its targets (classes, or the regressor's scaling).
``from_state(cls, header, arrays, source=...)`` rebuilds it, checking every field, and
raises `nablanet.io.ModelFileError` naming ``source`` for anything it cannot trust.
`nablanet.io` imports this package, so its helpers are imported inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from nablanet.estimators._base import _BaseMLP

Array = NDArray[Any]

#: The fitted attributes a file holds, with their JSON types.
FITTED_TYPES: dict[str, Any] = {
    "n_iter_": int,
    "t_": int,
    "loss_": float,
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


def to_state(est: _BaseMLP) -> tuple[dict[str, Any], dict[str, Array]]:
    """Header fields and arrays that rebuild the fitted ``est`` exactly."""
    from nablanet.io import network_state
    from nablanet.io.container import jsonable

    check_is_fitted(est, "net_")
    spec, arrays = network_state(est.net_)
    params = est.get_params()
    params["callbacks"] = None  # callbacks are code: they are never written to a file
    params["hidden_layer_sizes"] = [int(h) for h in np.atleast_1d(est.hidden_layer_sizes)]
    params["activation"] = (
        est.activation if isinstance(est.activation, str) else list(est.activation)
    )
    params["dtype"] = None if est.dtype is None else np.dtype(est.dtype).name
    if not isinstance(est.random_state, int | type(None)):
        params["random_state"] = None
    # non-finite floats have no JSON form: None
    fitted = {key: jsonable(getattr(est, key)) for key in FITTED_FIELDS}
    if hasattr(est, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(f) for f in est.feature_names_in_]
    header = {"kind": type(est).__name__, "network": spec, "params": params,
              "fitted": fitted, **est._target_state(arrays)}
    return header, arrays


def from_state(
    cls: type[_BaseMLP], header: dict[str, Any], arrays: dict[str, Array], *, source: str
) -> _BaseMLP:
    """Rebuild an estimator written by `to_state`, checking every field."""
    from nablanet import io

    params = io.check_field(header, "params", dict, source=source)
    if params.get("callbacks") is not None:
        raise io.ModelFileError(
            f"{source}: params.callbacks must be null (code is never loaded from a file)"
        )
    est = cls(**params)
    hidden = est._check_params()
    _restore_fitted(est, io.check_field(header, "fitted", dict, source=source), source)
    net = io.network_from_state(
        header["network"], arrays, source=source, format_version=header["format_version"]
    )
    if list(net.layer_sizes[1:-1]) != hidden or net.layer_sizes[0] != est.n_features_in_:
        raise io.ModelFileError(
            f"{source}: the network's layers {list(net.layer_sizes)} do not match "
            f"n_features_in_={est.n_features_in_} and hidden_layer_sizes={hidden}"
        )
    est.net_ = net
    est._random_state = check_random_state(est.random_state)
    est._restore_target_state(header, arrays, source)
    est._describe_network()
    return est


def _restore_fitted(est: _BaseMLP, fitted: dict[str, Any], source: str) -> None:
    """Set the fitted attributes from the header's ``fitted`` object."""
    from nablanet import io

    io.check_keys(fitted, FITTED_FIELDS, ("feature_names_in_",), source=source,
                  where="header field 'fitted'")
    for key in FITTED_FIELDS:
        value = io.check_field(fitted, key, FITTED_TYPES[key], source=source, where="fitted")
        if isinstance(value, list) and not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            raise io.ModelFileError(f"{source}: header field 'fitted.{key}' must hold numbers")
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

