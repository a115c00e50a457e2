"""A package's public names imported on first use (PEP 562), from a table name → module."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(
    exports: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``.

    Parameters
    ----------
    exports : dict
        Each public name → the module that defines it.
    namespace : dict
        The package's ``globals()``, with its ``__name__`` and ``__all__``: a name is
        imported from its module on first use and kept there; any other name is refused,
        with the ones the package has.
    """
    package, names = namespace["__name__"], namespace["__all__"]

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(
                f"module {package!r} has no attribute {name!r}; it has: {', '.join(names)}"
            )
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
