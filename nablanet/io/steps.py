"""What every saved step shares: its place in the file, its parameters, its arrays.

- `Place`: where a step is -- the file (for messages), its path in the pipeline
  (``the pipeline > step 'columntransformer' > transformer 'numbers'``) and the prefix of
  its arrays (``s0_t0_``), which the walk over the steps derives and never reads from a
  file;
- parameters: `encode_param` / `decode_param` write ``get_params(deep=False)`` as JSON,
  tagging the few values JSON lacks (``{"float": "nan"}``, ``{"tuple": [...]}``,
  ``{"dtype": "float64"}``, ``{"dict": {...}}``); a function or an object is refused, and
  `build` checks the parameters read with scikit-learn's own constraints;
- `Claims`: the file's arrays, each taken by the step that reads it; one left over is
  refused;
- ``set_output``'s choice, which any step may carry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.io.container import ModelFileError, fail, short
from nablanet.io.fields import check_array, check_keys

Array = NDArray[Any]

#: Where to turn for what a model file cannot hold.
SKOPS_HINT = (
    "for arbitrary objects use skops (skops.io.dump and skops.io.load, which also "
    "avoid pickle's arbitrary code)"
)


class Place:
    """Where a node is: the file (for messages), its path in the pipeline, its array prefix."""

    def __init__(self, source: str, path: str, prefix: str) -> None:
        self.source = source
        self.path = path
        self.prefix = prefix

    def fail(self, message: str) -> ModelFileError:
        """A refusal naming the file and the step."""
        return fail(self.source, f"{self.path}: {message}")

    def array(self, name: str) -> str:
        """The array that holds fitted attribute ``name`` of this node."""
        return self.prefix + name.lstrip("_")



# --- parameters --------------------------------------------------------------------------

_TAGS = ("float", "tuple", "dtype", "dict")
#: Parameter values that name a NumPy type (OneHotEncoder's ``dtype=np.float64``).
_PARAM_DTYPES = ("float64", "float32", "float16", "int64", "int32", "int16", "int8",
                 "uint64", "uint32", "uint16", "uint8", "bool")


def encode_param(value: Any, name: str) -> Any:
    """A constructor parameter as JSON (tagged where JSON lacks the type).

    Raises
    ------
    TypeError
        For a value that is code or an object (a function, an estimator, a Memory).
    """
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [encode_param(v, name) for v in value]}
    if isinstance(value, list):
        return [encode_param(v, name) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: encode_param(v, name) for k, v in value.items()}}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufU":
        return [encode_param(v, name) for v in value.tolist()]
    if isinstance(value, type) and issubclass(value, np.generic) or isinstance(value, np.dtype):
        text = np.dtype(value).name
        if text in _PARAM_DTYPES:
            return {"dtype": text}
    raise TypeError(f"parameter {name}={short(value)} is code or an object, not data")


def decode_param(value: Any, name: str, at: Place) -> Any:
    """The parameter `encode_param` wrote; only the tags it writes are read."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list):
        return [decode_param(v, name, at) for v in value]
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _TAGS:
        tag, inner = next(iter(value.items()))
        if tag == "float" and inner in ("nan", "inf", "-inf"):
            return float(inner)
        if tag == "tuple" and isinstance(inner, list):
            return tuple(decode_param(v, name, at) for v in inner)
        if tag == "dtype" and inner in _PARAM_DTYPES:
            return np.dtype(inner).type
        if tag == "dict" and isinstance(inner, dict):
            return {k: decode_param(v, name, at) for k, v in inner.items()}
    raise at.fail(f"parameter {name!r} holds {short(value)}, which no saved parameter is")


def params_state(est: Any, path: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``est.get_params(deep=False)`` as JSON, but the parameters in ``skip``.

    Raises
    ------
    TypeError
        Naming the step and the parameter that is not data.
    """
    params = {k: v for k, v in est.get_params(deep=False).items() if k not in skip}
    try:
        return {k: encode_param(v, k) for k, v in params.items()}
    except TypeError as exc:
        raise TypeError(
            f"cannot save {path} ({type(est).__name__}): {exc}; {SKOPS_HINT}"
        ) from None


def build(cls: type, params: Any, at: Place, given: dict[str, Any] | None = None) -> Any:
    """An unfitted ``cls`` from saved parameters, checked against scikit-learn's constraints.

    Parameters
    ----------
    cls : type
        A scikit-learn estimator class.
    params : dict
        The node's ``"params"``: every constructor parameter but those in ``given``.
    at : Place
    given : dict, optional
        Parameters already rebuilt (a pipeline's ``steps``).

    Raises
    ------
    ModelFileError
        For a missing or unknown parameter, an untagged object, or a value scikit-learn's
        constraints refuse.
    """
    given = given or {}
    if not isinstance(params, dict):
        raise at.fail("field 'params' must be an object")
    names = [k for k in cls._get_param_names() if k not in given]  # type: ignore[attr-defined]
    check_keys(params, names, source=at.source, where=f"{at.path}: field 'params'")
    est = cls(**{k: decode_param(v, k, at) for k, v in params.items()}, **given)
    if hasattr(type(est), "_parameter_constraints"):
        try:
            est._validate_params()
        except (ValueError, TypeError) as exc:
            raise at.fail(f"invalid parameters ({exc})") from None
    return est


class Claims:
    """The file's arrays, recording which ones nodes took: any left over is refused."""

    def __init__(self, arrays: Mapping[str, Array], source: str) -> None:
        self.arrays = arrays
        self.source = source
        self.taken: set[str] = set()

    def take(self, at: Place, name: str, *, dtype_kind: str,
             shape: tuple[int | None, ...] | None, finite: bool = False) -> Array:
        """Array ``name`` of the step at ``at``: its dtype kind, shape and values checked."""
        arr = check_array(self.arrays, name, source=f"{at.source}: {at.path}", shape=shape,
                          dtype_kind=dtype_kind, finite=finite)
        self.taken.add(name)
        return arr

    def with_prefix(self, prefix: str) -> dict[str, Array]:
        """Every array under ``prefix``, the prefix removed, all taken."""
        names = [n for n in self.arrays if n.startswith(prefix)]
        self.taken.update(names)
        return {n[len(prefix):]: self.arrays[n] for n in names}

    def check_all_taken(self) -> None:
        """Refuse an array that no step reads."""
        left = sorted(set(self.arrays) - self.taken)
        if left:
            raise fail(self.source, f"unexpected array {left[0]!r}: no step of the model reads it")


# --- set_output ------------------------------------------------------------------------------

#: What ``set_output(transform=...)`` may have chosen.
OUTPUT_CONTAINERS = ("default", "pandas", "polars")
#: The attribute ``set_output`` sets, which any step may carry.
OUTPUT_CONFIG = "_sklearn_output_config"


def save_output_config(est: Any, node: dict[str, Any], at: Place) -> None:
    """Keep ``set_output``'s choice in ``node["output_config"]`` when ``est`` has one.

    Raises
    ------
    TypeError
        For a choice that is not a dict of names.
    """
    if OUTPUT_CONFIG not in vars(est):
        return
    config = vars(est)[OUTPUT_CONFIG]
    if not isinstance(config, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in config.items()
    ):
        raise TypeError(f"cannot save {at.path}: its set_output configuration {short(config)} "
                        f"is not data; {SKOPS_HINT}")
    node["output_config"] = dict(config)


def load_output_config(est: Any, node: dict[str, Any], at: Place) -> None:
    """Set ``set_output``'s choice from ``node["output_config"]`` when the node has one."""
    if "output_config" not in node:
        return
    config = node["output_config"]
    ok = isinstance(config, dict) and all(
        k in ("transform", "fit_transform") and v in OUTPUT_CONTAINERS for k, v in config.items()
    )
    if not ok:
        raise at.fail(f"field 'output_config' must map transform to one of "
                      f"{', '.join(OUTPUT_CONTAINERS)}")
    setattr(est, OUTPUT_CONFIG, dict(config))
