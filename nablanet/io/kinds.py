"""`save` and `load`: the kind of model a file holds decides how it is written and rebuilt.

A bare `Network` is kind ``"Network"`` (see `nablanet.io.network`); estimators are the
kinds of `nablanet.io.estimators.ESTIMATOR_KINDS`. Every file goes through the container
(`nablanet.io.container`): written atomically and sealed, read with every check first.
"""

from __future__ import annotations

import os
from typing import Any

from nablanet.io import estimators
from nablanet.io.container import INTEGRITY, MANIFEST
from nablanet.io.fields import check_keys
from nablanet.io.header import read_model, save_state
from nablanet.io.network import network_from_state, network_state
from nablanet.network import Network


def known_kinds() -> list[str]:
    """The model kinds `load` can rebuild."""
    return ["Network", *estimators.ESTIMATOR_KINDS]


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Save a `Network` or an estimator to ``path``, atomically (see `write_model`).

    Parameters
    ----------
    obj : Network or estimator
        An estimator provides ``_to_state() -> (header, arrays)``: ``header`` a JSON dict
        with ``"kind"`` (a kind `load` knows) and usually a ``"network"`` spec from
        `network_state`, but none of the fields `save` writes itself (``format``,
        ``format_version``, ``library_version``, ``created``, ``arrays``, ``integrity``).
    path : str or path-like
        Written exactly as given; no suffix is added.

    Raises
    ------
    TypeError
        If ``obj`` is neither a Network nor has ``_to_state``.
    ValueError
        If the state cannot be saved as a loadable file (see `write_model`,
        `network_state`).
    OSError
        If the file cannot be written (the error names ``path``).
    """
    if isinstance(obj, Network):
        spec, arrays = network_state(obj)
        state: dict[str, Any] = {"kind": "Network", "network": spec}
    else:
        state, arrays = estimators.estimator_state(obj, known_kinds())
    save_state(path, state, arrays)


def load(path: str | os.PathLike[str]) -> Any:
    """Load a model saved by `save`, checking everything; never executes code from the file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Network or estimator
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
    kind = header["kind"]
    if kind != "Network":
        return estimators.load_estimator(kind, header, arrays, source, known_kinds())
    required = ("format", "format_version", "library_version", "kind", "network", MANIFEST)
    check_keys(header, required, ("created",), source=source, where="header")
    check_keys(arrays, ("theta",), source=source, where="the Network file", item="array")
    return network_from_state(
        header["network"], arrays, source=source, format_version=header["format_version"]
    )
