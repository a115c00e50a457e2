"""`save` and `load`: the kind of model a file holds decides how it is written and rebuilt.

A bare `Network` is kind ``"Network"`` (see `nablanet.io.network`); estimators are the
kinds of `nablanet.io.estimators.ESTIMATOR_KINDS`; a scikit-learn ``Pipeline`` or
``ColumnTransformer`` of them and the fitted preprocessors, or one such preprocessor, the
kinds of `nablanet.io.pipeline`. Every file goes through the container
(`nablanet.io.container`): written atomically and sealed, read with every check first.
"""

from __future__ import annotations

import os
from typing import Any

from nablanet.io import estimators, pipeline
from nablanet.io.container import INTEGRITY, MANIFEST, ModelFileError, jsonable
from nablanet.io.fields import check_keys
from nablanet.io.header import read_model, save_state
from nablanet.io.network import network_from_state, network_state
from nablanet.network import Network

#: The header field of `save`'s metadata.
METADATA = "metadata"


def known_kinds() -> list[str]:
    """The model kinds `load` can rebuild."""
    return ["Network", *estimators.ESTIMATOR_KINDS, *pipeline.kinds()]


def save(obj: Any, path: str | os.PathLike[str], *, metadata: Any = None) -> None:
    """Save a `Network`, an estimator or a pipeline to ``path``, atomically (`write_model`).

    Parameters
    ----------
    obj : Network, estimator, Pipeline, ColumnTransformer or preprocessor
        A scikit-learn ``Pipeline``/``ColumnTransformer`` (nested as deep as need be) may
        hold nablanet's estimators and the fitted preprocessors of
        `nablanet.io.preprocessors.PREPROCESSORS` (scalers, encoders, imputers, identity
        ``FunctionTransformer``, whitening); each is saved as arrays and JSON, never
        pickled. Any other step is refused, naming it.
        An estimator provides ``_to_state() -> (header, arrays)``: ``header`` a JSON dict
        with ``"kind"`` (a kind `load` knows) and usually a ``"network"`` spec from
        `network_state`, but none of the fields `save` writes itself (``format``,
        ``format_version``, ``library_version``, ``created``, ``arrays``, ``integrity``).
    path : str or path-like
        Written exactly as given; no suffix is added.
    metadata : dict, optional
        JSON data about the model that is not part of it (the command line keeps the
        class names and a fingerprint of the training rows there); covered by the file's
        digest like everything else, and read back by `read_metadata`.

    Raises
    ------
    TypeError
        If ``obj`` is neither a Network nor has ``_to_state`` nor is a pipeline of savable
        steps (the message names the step and points to skops).
    ValueError
        If the state cannot be saved as a loadable file (see `write_model`,
        `network_state`).
    OSError
        If the file cannot be written (the error names ``path``).
    """
    if isinstance(obj, Network):
        spec, arrays = network_state(obj)
        state: dict[str, Any] = {"kind": "Network", "network": spec}
    elif pipeline.handles(obj):
        state, arrays = pipeline.state(obj, known_kinds())
    else:
        state, arrays = estimators.estimator_state(obj, known_kinds())
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
        state = {**state, METADATA: jsonable(metadata)}
    save_state(path, state, arrays)


def _metadata(header: dict[str, Any], source: str) -> dict[str, Any]:
    """Take the optional metadata out of a header; a file's is always a JSON object."""
    metadata = header.pop(METADATA, {})
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{source}: header field {METADATA!r} must be an object")
    return metadata


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata saved with a model (see `save`), after every check `load` makes.

    Returns
    -------
    dict
        Empty when the file holds none (every file written before metadata existed).
    """
    source = os.fspath(path)
    header, _ = read_model(source)
    return _metadata(header, source)


def load(path: str | os.PathLike[str]) -> Any:
    """Load a model saved by `save`, checking everything; never executes code from the file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Network, estimator or pipeline
        Whatever kind was saved; it predicts bit for bit as the saved one did.

    Raises
    ------
    ModelFileError
        For any fault in the file (see `read_model`, `network_from_state`), or an unknown
        kind (the message lists the known ones). A FIFO or device is refused unread.
    OSError
        If ``path`` cannot be opened (FileNotFoundError, PermissionError,
        IsADirectoryError).
    """
    source = os.fspath(path)
    header, arrays = read_model(source)
    # The digest is the container's business, checked by read_model: kinds never see it.
    header.pop(INTEGRITY, None)
    _metadata(header, source)  # not part of the model: `read_metadata` returns it
    kind = header["kind"]
    if kind in pipeline.kinds():
        return pipeline.load(header, arrays, source, known_kinds())
    if kind != "Network":
        return estimators.load_estimator(kind, header, arrays, source, known_kinds())
    required = ("format", "format_version", "library_version", "kind", "network", MANIFEST)
    check_keys(header, required, ("created",), source=source, where="header")
    check_keys(arrays, ("theta",), source=source, where="the Network file", item="array")
    return network_from_state(
        header["network"], arrays, source=source, format_version=header["format_version"]
    )
