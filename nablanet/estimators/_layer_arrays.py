"""``coefs_`` and ``intercepts_``: lists of views into θ that write through when assigned.

In scikit-learn ``coefs_`` is a plain list of arrays that the model reads: replacing it,
or one of its items, changes the model. nablanet's parameters live in one vector θ
(``coefs_[l]`` is the view ``W[l].T``), so a plain list of views would take an item
assignment silently and leave the model as it was. `LayerArrays` is that list with its
item assignment copying into the view (shape checked, values finite and cast to the
network's dtype) and every change of length refused; `assign_all` does the same for a
whole new list, checking every item before writing any.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NoReturn, SupportsIndex

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]


def _checked(value: Any, view: Array, where: str) -> Array:
    """``value`` as an array of ``view``'s shape and dtype, or a ValueError naming ``where``."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise ValueError(f"{where} must be an array of shape {view.shape}: {exc}") from None
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"{where} must hold real numbers, got an array of dtype {array.dtype}"
        )
    if array.shape != view.shape:
        raise ValueError(
            f"{where} must have shape {view.shape} (the layer's), got {array.shape}"
        )
    with np.errstate(over="ignore"):
        cast = array.astype(view.dtype)
    if not np.isfinite(cast).all():
        raise ValueError(
            f"{where} must hold finite values in {view.dtype}, got NaN or infinity"
        )
    return cast


class LayerArrays(list):
    """One view per layer; assigning an item writes into the network's parameters.

    Parameters
    ----------
    views : sequence of ndarray
        Views into θ (``W[l].T`` or ``b[l]``).
    name : str
        ``"coefs_"`` or ``"intercepts_"``, for messages.
    """

    def __init__(self, views: Sequence[Array], name: str) -> None:
        super().__init__(views)
        self.name = name

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            positions = range(len(self))[index]
            values = list(value)
            if len(values) != len(positions):
                self._refuse_resize()
            arrays = [
                _checked(v, self[i], f"{self.name}[{i}]")
                for i, v in zip(positions, values, strict=True)
            ]
            for i, array in zip(positions, arrays, strict=True):
                self[i][...] = array
            return
        i = range(len(self))[index]  # IndexError for an index out of range
        self[i][...] = _checked(value, self[i], f"{self.name}[{i}]")

    def _refuse_resize(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            f"{self.name} holds one array per layer of the network: its length cannot "
            "change (assign an item, or the whole list, to change the weights)"
        )

    def __delitem__(self, index: Any) -> NoReturn:
        self._refuse_resize()

    def __iadd__(self, other: Iterable[Any]) -> NoReturn:  # type: ignore[misc]
        self._refuse_resize()

    def __imul__(self, other: SupportsIndex) -> NoReturn:
        self._refuse_resize()

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        # A copy or a pickle is a plain list of the arrays, as scikit-learn's coefs_: it
        # is detached from the network (and copy's rebuild by append would be refused).
        return (list, (list(self),))

    append = extend = insert = pop = remove = clear = _refuse_resize
    sort = reverse = _refuse_resize  # reordering would move arrays between layers


def assign_all(views: Sequence[Array], values: Any, name: str) -> None:
    """Write a whole new ``coefs_`` or ``intercepts_`` into the views, all or nothing.

    Raises
    ------
    ValueError
        If ``values`` has not one array per layer, or an array has the wrong shape, is
        not numeric or holds a value that is not finite.
    """
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise ValueError(
            f"{name} must be a list of {len(views)} arrays (one per layer), "
            f"got {type(values).__name__}"
        )
    if len(values) != len(views):
        raise ValueError(
            f"{name} must be a list of {len(views)} arrays (one per layer), got {len(values)}"
        )
    arrays = [
        _checked(v, view, f"{name}[{i}]")
        for i, (v, view) in enumerate(zip(values, views, strict=True))
    ]
    for view, array in zip(views, arrays, strict=True):
        view[...] = array
