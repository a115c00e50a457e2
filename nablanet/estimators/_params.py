"""The estimators' parameters: declared as scikit-learn declares its own, checked at each fit.

``PARAMETER_CONSTRAINTS`` is the estimators' ``_parameter_constraints``: scikit-learn's
estimator checks read it, and `check_params` enforces it with scikit-learn's wording
(``InvalidParameterError``, a ``ValueError``). What such declarations cannot say is
checked by `nablanet._checks`, in its wording: a bool is not a number (``True`` passes
as an integer to Python and to the declarations), every layer size is an integer >= 1,
every activation of a list is a known name, and ``dtype`` is float32 or float64.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from nablanet._arrays import check_dtype
from nablanet._checks import integer, number
from nablanet.activations import ACTIVATIONS, ALIASES, get_activation
from nablanet.losses import LOSSES

if TYPE_CHECKING:
    from nablanet.estimators._base import _BaseMLP

_NAMES = StrOptions(set(ACTIVATIONS) | set(ALIASES))

PARAMETER_CONSTRAINTS: dict[str, list[Any] | str] = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [_NAMES, list, tuple],
    "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    # np.inf: never stop on a plateau (scikit-learn's way to turn the rule off)
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    "output_activation": [None, _NAMES],
    "loss": [None, StrOptions(set(LOSSES))],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "restarts": [Interval(Integral, 1, None, closed="left")],
    "callbacks": [None, list, tuple],
    # anything np.dtype understands ("f4", np.float32, ...): checked by check_dtype
    "dtype": "no_validation",
}


def check_params(est: _BaseMLP) -> list[int]:
    """Validate ``est``'s constructor parameters; return its hidden layer sizes.

    Raises
    ------
    ValueError
        Naming the parameter, what it must be and the value.
    """
    check_declared(est)
    sizes = np.atleast_1d(est.hidden_layer_sizes).tolist()
    hidden = [integer(h, "hidden_layer_sizes") for h in sizes]
    names = [est.activation] if isinstance(est.activation, str) else est.activation
    for name in names:
        get_activation(name)
    return hidden


def check_declared(est: Any) -> None:
    """Validate the parameters ``est`` declares in its ``_parameter_constraints``, and dtype.

    Raises
    ------
    ValueError
        Naming the parameter, what it must be and the value.
    """
    est._validate_params()  # the declarations, with scikit-learn's wording
    for name, constraints in est._parameter_constraints.items():
        value = getattr(est, name)
        for c in constraints:
            if isinstance(c, Interval) and c.is_satisfied_by(value):
                _strict(c, value, name)
    if est.dtype is not None:
        check_dtype(est.dtype)


def _strict(c: Interval, value: Any, name: str) -> None:
    """Refuse what an Interval admits and nablanet does not: a bool as a number."""
    if c.type is Integral:  # every integer parameter has a lower bound
        integer(value, name, low=int(c.left))
    else:
        number(value, name, c.left, c.right, low_open=c.closed in ("right", "neither"),
               high_open=c.closed in ("left", "neither"))
