"""Functions a higher package lends to a lower one: methods whose work is done above.

An estimator's ``save(path)`` is `nablanet.save` (the table of model kinds in
`nablanet.io`, which stands above every estimator); its ``to_sklearn()`` and
``to_torch()`` are the converters of `nablanet.export`, which know every kind of model.
The estimators may not import those packages, so ``nablanet`` lends their functions here
when it is imported (`lend`), each named by ``"module:function"`` and imported on first
use; a method calls what it was lent (`lent`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_LENT: dict[str, str] = {}


def lend(**functions: str) -> None:
    """Lend each function, ``name="package.module:function"``."""
    for name, where in functions.items():
        module, _, function = where.partition(":")
        if not module or not function:
            raise ValueError(f"lend {name}= 'module:function', got {where!r}")
        _LENT[name] = where


def lent(name: str) -> Callable[..., Any]:
    """The function lent as ``name`` (its module imported now, if it was not yet).

    Raises
    ------
    LookupError
        If nothing was lent under ``name`` (``import nablanet`` lends them all).
    """
    where = _LENT.get(name)
    if where is None:
        raise LookupError(
            f"no function is lent as {name!r} (known: {', '.join(sorted(_LENT)) or 'none'}); "
            "importing nablanet lends them"
        )
    module, _, function = where.partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module), function)
    return found
