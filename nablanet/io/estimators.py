"""Estimators in model files: the registry of kinds, and the checks around their own state.

An estimator saves itself through ``_to_state() -> (header, arrays)`` (its header holds its
``kind`` and usually a ``network`` spec from `nablanet.io.network.network_state`) and is
rebuilt by the class method ``_from_state(header, arrays, source=...)``, which checks its
own fields with `nablanet.io.fields`. `ESTIMATOR_KINDS` maps each kind to a function
returning its class. The dependency points one way: this module imports the estimator
classes (inside those functions, so that loading a bare Network never imports
scikit-learn); the estimators import nothing of io at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpy.typing import NDArray

from nablanet.io.container import COMMON_FIELDS, INTEGRITY, MANIFEST, ModelFileError, fail, short

Array = NDArray[Any]


# Each class is imported through the package's public names, which stay put when a module
# moves inside nablanet; inside these functions, so that loading a Network imports none.


def _classifier() -> type:
    from nablanet import MLPClassifier

    return MLPClassifier


def _regressor() -> type:
    from nablanet import MLPRegressor

    return MLPRegressor


def _convnet_classifier() -> type:
    from nablanet import ConvNetClassifier

    return ConvNetClassifier


def _sparse_autoencoder() -> type:
    from nablanet import SparseAutoencoder

    return SparseAutoencoder


def _softmax_regression() -> type:
    from nablanet import SoftmaxRegression

    return SoftmaxRegression


def _stacked_autoencoder() -> type:
    from nablanet import StackedAutoencoderClassifier

    return StackedAutoencoderClassifier


#: kind -> a function returning the class that rebuilds a file of that kind.
ESTIMATOR_KINDS: dict[str, Callable[[], type]] = {
    "MLPClassifier": _classifier,
    "MLPRegressor": _regressor,
    "ConvNetClassifier": _convnet_classifier,
    "SparseAutoencoder": _sparse_autoencoder,
    "SoftmaxRegression": _softmax_regression,
    "StackedAutoencoderClassifier": _stacked_autoencoder,
}

# What an estimator's own checks raise on a hostile value they did not foresee (a label
# too large for its dtype, a parameter of the wrong type): still a refusal of the file.
STATE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, ArithmeticError)


def estimator_state(obj: Any, known: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An estimator's header fields and arrays, checked before anything is written.

    Parameters
    ----------
    obj : estimator
        Provides ``_to_state``.
    known : list of str
        Every kind `load` reads, for the message.

    Raises
    ------
    TypeError
        If ``obj`` has no ``_to_state`` or it returns no dict.
    ValueError
        For an unknown kind or a field that `save` writes itself.
    """
    to_state = getattr(obj, "_to_state", None)
    if to_state is None:
        raise TypeError(
            f"save needs a Network or an estimator, got {type(obj).__name__} "
            "(which has no _to_state)"
        )
    state, arrays = to_state()
    if not isinstance(state, dict):
        raise TypeError(f"_to_state must return a dict header, got {type(state).__name__}")
    kind = state.get("kind")
    if kind not in ESTIMATOR_KINDS:
        raise ValueError(
            f"_to_state gave kind {short(kind)}, which load cannot read; known kinds: "
            f"{', '.join(known)}"
        )
    clash = sorted(set(state) & {*COMMON_FIELDS, MANIFEST, INTEGRITY} - {"kind"})
    if clash:
        raise ValueError(f"_to_state must not set the header fields {', '.join(clash)}")
    return state, arrays


def load_estimator(
    kind: str, header: dict[str, Any], arrays: dict[str, Array], source: str, known: list[str]
) -> Any:
    """Rebuild an estimator of ``kind`` from a checked file; every refusal is a ModelFileError.

    Raises
    ------
    ModelFileError
        For an unknown kind (listing the known ones), an unavailable class, or any fault
        the estimator's ``_from_state`` finds.
    """
    find = ESTIMATOR_KINDS.get(kind)
    if find is None:
        raise fail(source, f"unknown model kind {short(kind)}; known kinds: {', '.join(known)}")
    try:
        cls = find()
    except (ImportError, AttributeError) as exc:
        raise fail(
            source, f"model kind {kind!r} needs a class that is unavailable ({exc})"
        ) from exc
    try:
        return cls._from_state(header, arrays, source=source)  # type: ignore[attr-defined]
    except ModelFileError:
        raise
    except STATE_ERRORS as exc:
        raise fail(source, f"invalid {kind} state ({type(exc).__name__}: {exc})") from exc
