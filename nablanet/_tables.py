"""Looking names up in the library's tables (activations, losses, initialisers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def lookup(table: Mapping[str, T], name: object, what: str, aliases: Mapping[str, str] = {}) -> T:
    """Return ``table[name]`` (following ``aliases``).

    Raises
    ------
    ValueError
        For an unknown name, with a message that lists every valid one.
    """
    key = aliases.get(name, name) if isinstance(name, str) else name
    if isinstance(key, str) and key in table:
        return table[key]
    valid = ", ".join(sorted([*table, *aliases]))
    raise ValueError(f"unknown {what} {name!r}; valid: {valid}")
