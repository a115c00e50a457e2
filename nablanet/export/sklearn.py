"""Fitted scikit-learn MLPs to nablanet estimators (`from_sklearn`) and back (`to_sklearn`).

nablanet's `MLPClassifier` and `MLPRegressor` take scikit-learn's parameters with the
same meaning (``alpha`` included: both add ``(alpha / 2) ΣW² / n_batch`` to a batch's
loss, so it is copied as it is), and ``coefs_[l]`` is ``W[l]ᵀ`` in both. A conversion
copies the parameters, the weights and the fitted record, so the converted model
predicts what the original does (to rounding: about 1e-16 in float64).

What is copied as it was recorded: ``n_iter_``, ``t_``, ``loss_``, ``best_loss_``,
``loss_curve_`` (empty for scikit-learn's "lbfgs", which keeps none),
``validation_scores_``, ``best_validation_score_``, ``n_features_in_`` and
``feature_names_in_``. For a regressor with several outputs scikit-learn's loss also
averages over the outputs, nablanet's sums over them: the copied curves keep the
meaning of the library that recorded them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from nablanet.activations import get_activation
from nablanet.export._graph import kind_of
from nablanet.network import Network

#: scikit-learn's name of each hidden activation it has (it has no leaky relu).
_SKLEARN_ACTIVATIONS = {"identity": "identity", "sigmoid": "logistic", "tanh": "tanh",
                        "relu": "relu"}
#: nablanet's parameters, each with the value that behaves as scikit-learn does.
_NABLANET_ONLY = {"output_activation": None, "loss": None, "dropout": 0.0, "restarts": 1,
                  "callbacks": None, "dtype": None}
_MULTILABEL = "multilabel-indicator"


def is_sklearn_mlp(obj: Any) -> bool:
    """Whether ``obj`` is a scikit-learn MLPClassifier or MLPRegressor (fitted or not)."""
    if isinstance(obj, type):  # the class itself: its methods need an instance
        return False
    tags = getattr(obj, "__sklearn_tags__", None)
    kind = tags().estimator_type if tags is not None else None
    params = set(obj.get_params()) if hasattr(obj, "get_params") else set()
    # scikit-learn's MLPs have max_fun; nablanet's own estimators also have dropout.
    return kind in ("classifier", "regressor") and "max_fun" in params and "dropout" not in params


def _sklearn_kind(fitted: Any) -> str:
    """"classifier" or "regressor" for a scikit-learn MLP."""
    if not is_sklearn_mlp(fitted):
        raise TypeError(
            "from_sklearn needs a fitted sklearn.neural_network.MLPClassifier or "
            f"MLPRegressor, got {type(fitted).__name__}"
        )
    return str(fitted.__sklearn_tags__().estimator_type)


def from_sklearn(fitted: Any) -> Any:
    """A nablanet estimator that predicts exactly as a fitted scikit-learn MLP.

    Parameters
    ----------
    fitted : sklearn.neural_network.MLPClassifier or MLPRegressor
        Fitted.

    Returns
    -------
    nablanet.MLPClassifier or nablanet.MLPRegressor
        Same parameters, weights (``coefs_``, ``intercepts_``, in the same dtype),
        classes and fitted record; ``predict`` and ``predict_proba`` agree with the
        original's to about 1e-16 in float64. It can be saved with `nablanet.save`
        (a model file that loads without executing code, unlike a pickle).

    Raises
    ------
    TypeError
        If ``fitted`` is not a scikit-learn MLP.
    sklearn.exceptions.NotFittedError
        If it was not fitted.
    ValueError
        For weights that do not fit the hidden layer sizes, or an output activation
        nablanet would not give the problem.
    """
    from nablanet.estimators import MLPClassifier, MLPRegressor, StoppingState

    kind = _sklearn_kind(fitted)
    check_is_fitted(fitted, "coefs_")
    params = fitted.get_params()
    if params.get("loss") != "poisson":  # "poisson" gives the exp output, as in nablanet
        params.pop("loss", None)
    coefs = [np.asarray(c) for c in fitted.coefs_]
    sizes = [coefs[0].shape[0], *[c.shape[1] for c in coefs]]
    hidden = list(np.atleast_1d(fitted.hidden_layer_sizes))
    if sizes[1:-1] != hidden:
        raise ValueError(f"coefs_ shapes {[c.shape for c in coefs]} do not match "
                         f"hidden_layer_sizes={fitted.hidden_layer_sizes!r}")
    cls = MLPClassifier if kind == "classifier" else MLPRegressor
    out = get_activation(fitted.out_activation_).name
    net = Network(sizes, activation=fitted.activation, output_activation=out,
                  loss=cls(**params).loss_for(out), init="glorot", seed=0, dtype=coefs[0].dtype)
    for W, b, coef, intercept in zip(net.W, net.b, coefs, fitted.intercepts_, strict=True):
        W[...] = coef.T  # in place: W and b stay views of theta
        b[...] = intercept
    stopping = _stopping(fitted, StoppingState)
    if kind == "classifier":
        # scikit-learn's outputs tell the problem: one logistic unit per label for
        # multi-label targets (softmax for several classes, one unit for one or two)
        multilabel = get_activation(fitted.out_activation_).elementwise and fitted.n_outputs_ > 1
        est = MLPClassifier.from_network(net, fitted.classes_, multilabel=multilabel,
                                         stopping=stopping, **params)
    else:
        est = MLPRegressor.from_network(net, stopping=stopping, **params)
    _copy_record(est, fitted)
    return est


def _stopping(fitted: Any, state: Any) -> Any:
    """scikit-learn's stopping counters of ``fitted``, as nablanet's `StoppingState`."""
    scores = getattr(fitted, "validation_scores_", None)
    scores = None if scores is None else [float(v) for v in scores]
    best = getattr(fitted, "best_validation_score_", None)
    loss = float(fitted.loss_)
    best_loss = getattr(fitted, "best_loss_", None if scores else loss)
    optimizer = getattr(fitted, "_optimizer", None)
    # scikit-learn's SGD keeps the adaptive schedule's current rate; Adam's attribute of
    # the same name is the bias-corrected step, not a rate to continue from.
    sgd_rate = getattr(optimizer, "learning_rate", None) if fitted.solver == "sgd" else None
    return state(
        learning_rate=float(fitted.learning_rate_init if sgd_rate is None else sgd_rate),
        no_improvement_count=int(getattr(fitted, "_no_improvement_count", 0)),
        best_loss=None if best_loss is None else float(best_loss),
        best_validation_score=None if best is None else float(best),
        validation_scores=scores,
    )


def _copy_record(est: Any, fitted: Any) -> None:
    """The fitted record nablanet's estimators keep, from scikit-learn's."""
    est.n_iter_ = int(fitted.n_iter_)
    est.t_ = int(getattr(fitted, "t_", 0))
    est.loss_ = float(fitted.loss_)
    est.loss_curve_ = [float(v) for v in getattr(fitted, "loss_curve_", [])]
    if hasattr(fitted, "feature_names_in_"):
        est.feature_names_in_ = np.array(fitted.feature_names_in_, dtype=object)


def _sklearn_outputs(est: Any, kind: str) -> tuple[str, int]:
    """The output activation and width scikit-learn gives the estimator's problem.

    One class is a binary problem to scikit-learn's label binarizer: one logistic unit.
    """
    if kind == "regressor":  # a log link for Poisson regression, else a linear output
        return ("exp" if est.loss == "poisson" else "identity"), est.net_.layer_sizes[-1]
    n = len(est.classes_)
    if est.target_kind_ == _MULTILABEL:
        return "logistic", n
    return ("logistic", 1) if n <= 2 else ("softmax", n)


def _inexpressible(est: Any, kind: str) -> list[str]:
    """Each setting of ``est`` that scikit-learn's MLP cannot express, in words."""
    problems = []
    hidden = [a.name for a in est.net_.activations[:-1]]
    unknown = sorted({n for n in hidden if n not in _SKLEARN_ACTIVATIONS})
    if unknown:
        problems.append(f"hidden activation {', '.join(map(repr, unknown))} (scikit-learn "
                        f"has {', '.join(_SKLEARN_ACTIVATIONS.values())})")
    if len(set(hidden)) > 1:
        problems.append(f"one activation per hidden layer {hidden!r} (scikit-learn uses one "
                        "for every hidden layer)")
    name, width = _sklearn_outputs(est, kind)
    out = est.net_.activations[-1]
    if out is not get_activation(name) or est.net_.layer_sizes[-1] != width:
        problems.append(f"output layer of {est.net_.layer_sizes[-1]} {out.name} units "
                        f"(scikit-learn uses {width} {name} units for this problem)")
    # the loss nablanet pairs with scikit-learn's output activation when none is given
    natural = type(est)().loss_for(name)
    if est.net_.loss.name != natural or est.loss not in (None, natural):
        problems.append(f"loss {est.net_.loss.name!r} (scikit-learn uses {natural!r})")
    for param, default in _NABLANET_ONLY.items():
        value = getattr(est, param)
        if param not in ("output_activation", "loss") and value != default and not (
            param == "callbacks" and not value
        ):
            problems.append(f"{param}={value!r} (scikit-learn has no such parameter)")
    return problems


def _sklearn_private_state(sk: Any, est: Any, kind: str) -> dict[str, Any]:
    """The private attributes a fitted scikit-learn MLP reads in its own methods.

    scikit-learn sets them in its fit; a model that did not come from one needs them too.
    """
    state: dict[str, Any] = {
        # its early stopping ends by restoring these: a warm-started fit without a better
        # validation score would fail without them
        "_best_coefs": [c.copy() for c in sk.coefs_],
        "_best_intercepts": [b.copy() for b in sk.intercepts_],
        "_no_improvement_count": est.stopping_state_.no_improvement_count,
        "_random_state": check_random_state(sk.random_state),
    }
    if kind == "classifier":
        state["_label_binarizer"] = LabelBinarizer().fit(
            np.eye(len(sk.classes_), dtype=int) if est.target_kind_ == _MULTILABEL
            else sk.classes_
        )
    return state


def to_sklearn(est: Any) -> Any:
    """A fitted scikit-learn MLP that predicts exactly as a fitted nablanet estimator.

    Parameters
    ----------
    est : nablanet.MLPClassifier or nablanet.MLPRegressor
        Fitted.

    Returns
    -------
    sklearn.neural_network.MLPClassifier or MLPRegressor
        Same parameters, weights (copies), classes and fitted record.

    Raises
    ------
    ValueError
        Naming every setting scikit-learn cannot express: leaky relu or one activation per
        hidden layer, an output activation or loss other than scikit-learn's choice
        (a tanh-output classifier, a scaled sigmoid/tanh regressor, two softmax units for
        two classes), ``dropout``, ``restarts``, ``callbacks`` and ``dtype``.
    sklearn.exceptions.NotFittedError
        If ``est`` was not fitted.
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    kind = kind_of(est)
    # nablanet's MLPs, recognised by their extras (dropout); not a bare Network, nor the
    # UFLDL estimators, which scikit-learn's MLPs do not mirror
    if kind not in ("classifier", "regressor") or "dropout" not in est.get_params():
        raise TypeError("to_sklearn needs a fitted nablanet MLPClassifier or MLPRegressor, "
                        f"got {type(est).__name__}")
    check_is_fitted(est, "net_")
    problems = _inexpressible(est, kind)
    if problems:
        raise ValueError(f"scikit-learn's MLP{kind.capitalize()} cannot express: "
                         + "; ".join(problems))
    cls = MLPClassifier if kind == "classifier" else MLPRegressor
    params = {key: value for key, value in est.get_params().items()
              if key in cls().get_params()}
    hidden = est.net_.activations[:-1]
    if hidden:
        params["activation"] = _SKLEARN_ACTIVATIONS[hidden[0].name]
    elif params.get("activation") not in _SKLEARN_ACTIVATIONS.values():
        params["activation"] = "relu"  # no hidden layer uses it: scikit-learn's default
    if kind == "regressor":
        params["loss"] = "poisson" if est.loss == "poisson" else "squared_error"
    sk = cls(**params)
    sk.coefs_ = [np.array(W.T) for W in est.net_.W]
    sk.intercepts_ = [np.array(b) for b in est.net_.b]
    if kind == "classifier":
        sk.classes_ = np.array(est.classes_, copy=True)
    for key in ("n_iter_", "t_", "loss_", "best_loss_", "validation_scores_",
                "best_validation_score_", "n_features_in_"):
        if hasattr(est, key):  # no loss_ before a fit: an estimator from_network has none
            setattr(sk, key, getattr(est, key))
    sk.loss_curve_ = list(est.loss_curve_)
    if hasattr(est, "feature_names_in_"):
        sk.feature_names_in_ = np.array(est.feature_names_in_, dtype=object)
    sk.n_layers_ = len(est.net_.layer_sizes)
    sk.n_outputs_ = est.net_.layer_sizes[-1]
    sk.out_activation_ = _sklearn_outputs(est, kind)[0]
    for key, value in _sklearn_private_state(sk, est, kind).items():
        setattr(sk, key, value)
    return sk
