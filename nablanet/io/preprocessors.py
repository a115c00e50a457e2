"""Fitted preprocessors in model files: each one's parameters and fitted arrays, never pickled.

A preprocessor is a table entry (`PREPROCESSORS`): its class, and each fitted attribute
with the codec that writes and checks it. Saving reads the attributes ``fit`` left on the
object; it refuses an attribute the table does not name (a configuration the table does
not cover, or a scikit-learn version that keeps more state), so nothing is silently lost.
Loading builds the object from its parameters, checks them with scikit-learn's own
parameter constraints, and sets each attribute after its codec has checked it. A node::

    {"kind": "StandardScaler", "params": {"copy": true, "with_mean": true, ...},
     "fitted": {"n_features_in_": 13, "feature_names_in_": ["alcohol", ...],
                "mean_": true, "var_": true, "scale_": true, "n_samples_seen_": true}}

``true`` marks an attribute held in the array ``PREFIX + name`` (the name without a leading
underscore; the prefix is the step's place in the pipeline, see `nablanet.io.pipeline`) and
``null`` an attribute that is None; text (category names, column names, the most frequent
string of a column) is JSON. Parameter values are JSON too; the few that JSON lacks are
tagged: ``{"float": "nan"}``, ``{"tuple": [...]}``, ``{"dtype": "float64"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from numpy.typing import NDArray

from nablanet.io import codecs
from nablanet.io.codecs import Codec
from nablanet.io.container import short
from nablanet.io.fields import check_keys
from nablanet.io.steps import (
    OUTPUT_CONFIG,
    SKOPS_HINT,
    Claims,
    Place,
    build,
    load_output_config,
    params_state,
    save_output_config,
)

Array = NDArray[Any]


def _indicator() -> Codec:
    """SimpleImputer's ``indicator_``: None, or a fitted MissingIndicator (a nested node)."""

    def save(value: Any, at: Place, name: str, arrays: dict[str, Array]) -> Any:
        if value is None:
            return None
        inner = Place(at.source, f"{at.path} > {name}", at.prefix + "i_")
        return node_state(value, inner, arrays)

    def load(entry: Any, at: Place, name: str, arrays: Any, sizes: dict[str, int]) -> Any:
        if entry is None:
            return None
        inner = Place(at.source, f"{at.path} > {name}", at.prefix + "i_")
        if not isinstance(entry, dict) or entry.get("kind") != "MissingIndicator":
            raise at.fail(f"fitted {name} must be null or a MissingIndicator")
        return node_from_state(entry, inner, arrays)

    return Codec(save, load)


# --- the table -----------------------------------------------------------------------------


def _sklearn(module: str, name: str) -> Callable[[], type]:
    def find() -> type:
        import importlib

        return getattr(importlib.import_module(module), name)

    return find


def _nablanet(name: str) -> Callable[[], type]:
    def find() -> type:
        from nablanet.estimators import whitening  # its transformers: ZCA and PCA whitening

        return getattr(whitening, name)

    return find


def _identity_only(est: Any) -> str | None:
    """Why a FunctionTransformer cannot be saved: it runs a function, which is code."""
    if est.func is not None or est.inverse_func is not None or est.kw_args or est.inv_kw_args:
        return "a FunctionTransformer is saved only as the identity (func=None, inverse_func=None)"
    if est.feature_names_out not in (None, "one-to-one"):
        return "its feature_names_out is a function"
    return None


def _no_infrequent(est: Any) -> str | None:
    """Why an encoder cannot be saved: the grouping of infrequent categories is not kept."""
    if getattr(est, "_infrequent_enabled", False):
        return "grouping infrequent categories (min_frequency, max_categories) is not saved"
    return None


@dataclass(frozen=True)
class Kind:
    """One preprocessor: its class, its fitted attributes, and what refuses a configuration."""

    find: Callable[[], type]
    fitted: dict[str, Codec]
    optional: tuple[str, ...] = ("feature_names_in_",)
    refuse: Callable[[Any], str | None] = field(default=lambda est: None)
    #: Why a loaded state does not hang together (sizes the codecs cannot see alone).
    inconsistent: Callable[[Any], str | None] = field(default=lambda est: None)


def _encoder_sizes(est: Any) -> str | None:
    """Each feature's output width must be its categories, less the one it drops."""
    drops = est.drop_idx_ if est.drop_idx_ is not None else [None] * len(est.categories_)
    for i, (cats, drop) in enumerate(zip(est.categories_, drops, strict=True)):
        if drop is not None and drop >= len(cats):
            return f"drop_idx_[{i}] = {drop} is past its {len(cats)} categories"
        if est._n_features_outs[i] != len(cats) - (drop is not None):
            return f"_n_features_outs[{i}] does not match its {len(cats)} categories"
    return None


def _missing_categories(est: Any) -> str | None:
    """Each missing-value entry names a feature and, in its categories, the missing one."""
    for i, at in est._missing_indices.items():
        if i >= len(est.categories_) or at >= len(est.categories_[i]):
            return f"_missing_indices names category {at} of feature {i}, which it lacks"
    return None


def _kept_components(est: Any) -> str | None:
    if not 1 <= est.n_components_ <= est.n_features_in_:
        return f"n_components_ = {est.n_components_} is not in 1..{est.n_features_in_}"
    return None


def _indicated_features(est: Any) -> str | None:
    if est._n_features != est.n_features_in_ or (
        est.features_.size and not 0 <= est.features_.min() <= est.features_.max()
        < est.n_features_in_
    ):
        return "features_ must be indices of its n_features_in_ columns"
    return None


def _imputer_indicator(est: Any) -> str | None:
    indicator = est.indicator_
    if indicator is not None and indicator.n_features_in_ != est.n_features_in_:
        return "its indicator_ reads another number of columns"
    return None


N = codecs.count()
_F = "f"

#: The preprocessors a model file holds, by class name (see the module notes).
PREPROCESSORS: dict[str, Kind] = {
    "StandardScaler": Kind(
        _sklearn("sklearn.preprocessing", "StandardScaler"),
        {"n_features_in_": N, "feature_names_in_": codecs.names(),
         "mean_": codecs.array(_F, ("n",), optional=True, finite=True),
         "var_": codecs.array(_F, ("n",), optional=True, finite=True),
         "scale_": codecs.array(_F, ("n",), optional=True, finite=True),
         "n_samples_seen_": codecs.samples_seen()},
    ),
    "MinMaxScaler": Kind(
        _sklearn("sklearn.preprocessing", "MinMaxScaler"),
        {"n_features_in_": N, "feature_names_in_": codecs.names(),
         "n_samples_seen_": codecs.samples_seen(),
         **{a: codecs.array(_F, ("n",)) for a in ("scale_", "min_", "data_min_", "data_max_",
                                           "data_range_")}},
    ),
    "MaxAbsScaler": Kind(
        _sklearn("sklearn.preprocessing", "MaxAbsScaler"),
        {"n_features_in_": N, "feature_names_in_": codecs.names(),
         "n_samples_seen_": codecs.samples_seen(),
         "max_abs_": codecs.array(_F, ("n",)), "scale_": codecs.array(_F, ("n",), finite=True)},
    ),
    "RobustScaler": Kind(
        _sklearn("sklearn.preprocessing", "RobustScaler"),
        {"n_features_in_": N, "feature_names_in_": codecs.names(),
         "center_": codecs.array(_F, ("n",), optional=True, finite=True),
         "scale_": codecs.array(_F, ("n",), optional=True, finite=True)},
    ),
    "OneHotEncoder": Kind(
        _sklearn("sklearn.preprocessing", "OneHotEncoder"),
        {"n_features_in_": N, "feature_names_in_": codecs.names(),
         "_infrequent_enabled": codecs.false(), "categories_": codecs.label_lists(),
         "drop_idx_": codecs.indices_or_none("n"),
         "_drop_idx_after_grouping": codecs.indices_or_none("n"),
         "_n_features_outs": codecs.int_list("n")},
        inconsistent=_encoder_sizes,
        refuse=_no_infrequent,
    ),
    "OrdinalEncoder": Kind(
        _sklearn("sklearn.preprocessing", "OrdinalEncoder"),
        {"n_features_in_": N, "feature_names_in_": codecs.names(),
         "_infrequent_enabled": codecs.false(), "categories_": codecs.label_lists(),
         "_missing_indices": codecs.int_dict()},
        refuse=_no_infrequent,
        inconsistent=_missing_categories,
    ),
    "SimpleImputer": Kind(
        _sklearn("sklearn.impute", "SimpleImputer"),
        {"n_features_in_": N, "feature_names_in_": codecs.names(), "_fit_dtype": codecs.dtype(),
         "_fill_dtype": codecs.dtype(), "statistics_": codecs.labels("n"),
         "indicator_": _indicator()},
        optional=("feature_names_in_", "_fill_dtype"),
        inconsistent=_imputer_indicator,
    ),
    "MissingIndicator": Kind(
        _sklearn("sklearn.impute", "MissingIndicator"),
        {"n_features_in_": N, "feature_names_in_": codecs.names(), "_n_features": N,
         "_precomputed": codecs.json_value(bool), "features_": codecs.array("iu", (None,))},
        inconsistent=_indicated_features,
    ),
    "FunctionTransformer": Kind(
        _sklearn("sklearn.preprocessing", "FunctionTransformer"),
        {"n_features_in_": N, "feature_names_in_": codecs.names()},
        optional=("n_features_in_", "feature_names_in_"),
        refuse=_identity_only,
    ),
    "ZCAWhitening": Kind(
        _nablanet("ZCAWhitening"),
        {"n_features_in_": N, "feature_names_in_": codecs.names(),
         "mean_": codecs.array(_F, ("n",), finite=True),
         "explained_variance_": codecs.array(_F, ("n",), finite=True),
         "components_": codecs.array(_F, ("n", "n"), finite=True),
         "whitening_": codecs.array(_F, ("n", "n"), finite=True),
         "_unwhitening": codecs.array(_F, ("n", "n"), finite=True)},
    ),
    "PCAWhitening": Kind(
        _nablanet("PCAWhitening"),
        {"n_features_in_": N, "feature_names_in_": codecs.names(), "n_components_": N,
         "mean_": codecs.array(_F, ("n",), finite=True),
         "explained_variance_": codecs.array(_F, ("n",), finite=True),
         "components_": codecs.array(_F, ("n_components_", "n"), finite=True)},
        inconsistent=_kept_components,
    ),
}

#: The classes a pipeline may hold besides nablanet's estimators, for messages.
SAVED_PREPROCESSORS = tuple(k for k in PREPROCESSORS if k != "MissingIndicator")


def kind_of(est: Any) -> str | None:
    """The table's name for ``est``'s class, or None (a subclass is not its parent)."""
    name = type(est).__name__
    kind = PREPROCESSORS.get(name)
    if kind is None:
        return None
    try:
        return name if type(est) is kind.find() else None
    except (ImportError, AttributeError):
        return None


def fitted_attributes(est: Any) -> dict[str, Any]:
    """What ``fit`` left on ``est``: every instance attribute that is not a parameter.

    ``set_output``'s choice is kept apart (see `save_output_config`).
    """
    params = est.get_params(deep=False)
    return {k: v for k, v in vars(est).items() if k not in params and k != OUTPUT_CONFIG}


def node_state(est: Any, at: Place, arrays: dict[str, Array]) -> dict[str, Any]:
    """A preprocessor's node (see the module notes); its arrays go into ``arrays``.

    Raises
    ------
    TypeError
        For a configuration the table does not cover (naming the step and what is not
        saved, and pointing to skops).
    """
    name = kind_of(est)
    if name is None:
        raise TypeError(f"cannot save {at.path}: {type(est).__name__} is not a supported step")
    kind = PREPROCESSORS[name]
    why = kind.refuse(est)
    if why is not None:
        raise TypeError(f"cannot save {at.path} ({name}): {why}; {SKOPS_HINT}")
    node: dict[str, Any] = {"kind": name, "params": params_state(est, at.path)}
    save_output_config(est, node, at)
    attributes = fitted_attributes(est)
    if not attributes:
        return node  # unfitted (a ColumnTransformer keeps one for an empty selection)
    unknown = sorted(set(attributes) - set(kind.fitted))
    missing = sorted(set(kind.fitted) - set(attributes) - set(kind.optional))
    if unknown or missing:
        what = f"state {unknown[0]!r}" if unknown else f"no {missing[0]!r}"
        raise TypeError(
            f"cannot save {at.path} ({name}): it holds {what}, which nablanet's model files "
            f"do not describe (a setting they do not cover); {SKOPS_HINT}"
        )
    fitted = {}
    for attr, value in attributes.items():
        try:
            fitted[attr] = kind.fitted[attr].save(value, at, attr, arrays)
        except TypeError as exc:
            raise TypeError(f"cannot save {at.path} ({name}): {exc}; {SKOPS_HINT}") from None
    node["fitted"] = fitted
    return node


def node_from_state(node: dict[str, Any], at: Place, arrays: Claims) -> Any:
    """Rebuild the preprocessor of `node_state`, checking every field and array.

    Raises
    ------
    ModelFileError
        Naming the file, the step and the fault.
    """
    name = node.get("kind")
    kind = PREPROCESSORS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise at.fail(f"unknown step kind {short(name)}")
    check_keys(node, ("kind", "params"), ("fitted", "output_config"), source=at.source,
               where=at.path)
    est = build(kind.find(), node["params"], at)
    load_output_config(est, node, at)
    if kind.refuse(est) is not None:
        raise at.fail(f"{name}: {kind.refuse(est)}")
    if "fitted" not in node:
        return est
    fitted = node["fitted"]
    if not isinstance(fitted, dict):
        raise at.fail("field 'fitted' must be an object")
    required = tuple(a for a in kind.fitted if a not in kind.optional)
    check_keys(fitted, required, kind.optional, source=at.source, where=f"{at.path}: fitted")
    sizes: dict[str, int] = {}
    values: dict[str, Any] = {}
    counts = [a for a in fitted if kind.fitted[a] is N]  # sizes first: arrays are checked by them
    for attr in counts + [a for a in fitted if a not in counts]:
        values[attr] = kind.fitted[attr].load(fitted[attr], at, attr, arrays, sizes)
        if attr in counts:
            sizes["n" if attr == "n_features_in_" else attr] = values[attr]
    if "n" not in sizes and "feature_names_in_" in fitted:
        raise at.fail("fitted feature_names_in_ needs n_features_in_")
    for attr, value in values.items():
        setattr(est, attr, value)
    why = kind.inconsistent(est)
    if why is not None:
        raise at.fail(f"{name}: {why}")
    return est
