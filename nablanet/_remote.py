"""Rows held elsewhere (on a Dask cluster): the hook the core calls and a higher package fills.

Training and the estimators work on rows in memory. The cluster code
(`nablanet.distributed`) builds on them, so they may not import it; instead it registers
a `RemoteRows` handler here when nablanet is imported. Given a collection the handler
`owns`, ``train`` runs the handler's loop, ``fit`` its data steps, ``predict`` and the
other row-by-row methods their block-by-block versions (`rowwise`), and ``score`` its
reduction (`scored`). Imports keep pointing one way: up the house, the handler knows the
core; the core knows only this protocol.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class RemoteRows(Protocol):
    """What the core asks of a kind of collection whose rows live elsewhere."""

    def owns(self, X: Any) -> bool:
        """Whether ``X`` is a collection of this kind (never imports its library)."""

    def train_loop(self, net: Any, X: Any, Y: Any, **options: Any) -> tuple[Any, bool]:
        """`nablanet.train`'s loop factory and whether there are validation rows."""

    def fit_rows(self) -> Any:
        """The data steps of an estimator's fit (``nablanet.estimators._rows.FitRows``)."""

    def map_rows(self, model: Any, method: str, X: Any) -> Any:
        """``model.method`` applied to each row block of X, as a collection of the kind."""

    def score(self, model: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
        """``model.score(X, y, sample_weight)``, reduced where the rows live."""


_HANDLERS: list[RemoteRows] = []


def register(handler: RemoteRows) -> None:
    """Hand the core the collections ``handler`` owns (once per handler)."""
    if handler not in _HANDLERS:
        _HANDLERS.append(handler)


def handler_for(X: Any) -> RemoteRows | None:
    """The handler that owns ``X``, or None for rows in memory."""
    for handler in _HANDLERS:
        if handler.owns(X):
            return handler
    return None


def rowwise(method: F) -> F:
    """Make a method ``(self, X, ...)`` map itself over row blocks held elsewhere."""

    @functools.wraps(method)
    def wrapper(self: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
        handler = handler_for(X)
        if handler is not None:
            return handler.map_rows(self, method.__name__, X)
        return method(self, X, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def scored(method: Callable[..., float]) -> Callable[..., float]:
    """Make a ``score(X, y, sample_weight)`` method reduce where the rows live."""

    @functools.wraps(method)
    def wrapper(self: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
        handler = handler_for(X)
        if handler is not None:
            return handler.score(self, X, y, sample_weight)
        return method(self, X, y, sample_weight)

    return wrapper
