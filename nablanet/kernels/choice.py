"""Which implementation the kernels run: their compiled loops or their NumPy twins.

A `Kernel` is a loop that numba compiles on first use (cached on disk) and its NumPy twin,
the same formula as whole-array passes. One context variable decides which a call runs,
and who decided it:

- nothing set (the default): the twins. Predictions, gradient checks and calls of
  ``loss_and_grad`` never load numba, which costs about half a second of CPU in a fresh
  process, more than they would save;
- a fit decides for itself (`use_compiled`, then `fit_kernels`): compiled when one epoch's
  work repays the loading (`COMPILE_AT`), for that fit only;
- `compiled_kernels` forces the choice, for everything inside, fits included.

The choice depends on the sizes of an epoch only, never on what the process has loaded,
so a fit gives the same bits in a fresh process and in a warm one. It belongs to the
current thread (a context variable), so a fit in one thread does not change the
arithmetic of a prediction in another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple

#: One epoch's work (array entries the kernels would touch in one pass over the training
#: rows) from which a fit compiles them: loading numba and the kernels costs about 0.5 s of
#: CPU in a fresh process, and they save 2-7 ns per entry (measured on digits and
#: Fashion-MNIST shapes), so at this size they repay the loading within about 25 epochs.
#: Digits' default fit (~4e5 per epoch) stays below; Fashion-MNIST (~6e7) is above.
#: Per epoch, not per fit: the iteration limit, restarts and early stopping do not enter
#: the choice, so they cannot change the last bits of a fit's weights.
COMPILE_AT = 5e6


class Choice(NamedTuple):
    """What the kernels run now, and whether a user forced it.

    Attributes
    ----------
    compiled : bool
        Whether a kernel called now runs its compiled loop (else its NumPy twin).
    forced : bool or None
        The choice `compiled_kernels` forced for every fit inside it; None leaves it to
        each fit (`use_compiled`).
    """

    compiled: bool = False
    forced: bool | None = None


#: Nothing chosen: the twins, and each fit decides for itself.
UNSET = Choice()

_CHOICE: ContextVar[Choice] = ContextVar("nablanet_kernels", default=UNSET)


def current() -> Choice:
    """The choice in force in this thread (see `Choice`)."""
    return _CHOICE.get()


@contextmanager
def _choosing(choice: Choice) -> Iterator[None]:
    token = _CHOICE.set(choice)
    try:
        yield
    finally:
        _CHOICE.reset(token)


def compiled_kernels(enabled: bool = True) -> AbstractContextManager[None]:
    """Use the compiled kernels (or, with ``enabled=False``, their NumPy twins) inside.

    By default a fit decides for itself (`use_compiled`) and everything else (a
    prediction, a gradient check, a call of ``loss_and_grad``) uses the NumPy twins;
    this forces the choice, fits included, e.g. for a loop of your own over many steps.
    The setting belongs to the current thread (a context variable), so a fit in one
    thread does not change the arithmetic of a prediction in another.

    Examples
    --------
    >>> import nablanet
    >>> with nablanet.compiled_kernels():  # doctest: +SKIP
    ...     for X_batch, Y_batch in batches:
    ...         J, grad = net.loss_and_grad(X_batch, Y_batch)
    """
    return _choosing(Choice(compiled=bool(enabled), forced=bool(enabled)))


def fit_kernels(enabled: bool) -> AbstractContextManager[None]:
    """A fit's own choice (`use_compiled`), for that fit only.

    Unlike `compiled_kernels` it forces nothing: a smaller fit started inside (from a
    callback, say) still makes its own choice, unless the user forced one around both.
    """
    return _choosing(_CHOICE.get()._replace(compiled=bool(enabled)))


def use_compiled(elements: float) -> bool:
    """Whether a fit whose epoch touches ``elements`` array entries should compile kernels.

    The choice forced by `compiled_kernels` if any; else whether an epoch's work is large
    enough to repay loading the kernels (`COMPILE_AT`).
    """
    forced = _CHOICE.get().forced
    return elements >= COMPILE_AT if forced is None else forced


class Kernel:
    """A loop that numba compiles on first use, and its NumPy twin: call it as either.

    Parameters
    ----------
    name : str
        The kernel's name in the module that defines it (pickles refer to it by name).
    loop : callable
        The loop in plain Python over scalars, compiled by numba with ``cache=True``
        (on disk), ``nogil=True`` and ``error_model="numpy"`` (no Python division
        checks, so the loops vectorise).
    twin : callable
        The same formula in whole-array NumPy passes, with the same arguments.

    Notes
    -----
    ``kernel(*args)`` runs ``loop`` where the `current` choice is compiled, else ``twin``.
    Both write their results into the arrays passed in.
    """

    def __init__(self, name: str, loop: Callable[..., Any], twin: Callable[..., Any]) -> None:
        self.__name__ = name
        self.__module__ = twin.__module__
        self.__doc__ = loop.__doc__
        self.python_loop = loop
        self.twin = twin
        self._compiled: Callable[..., Any] | None = None

    @property
    def compiled(self) -> Callable[..., Any]:
        """The compiled loop (numba loads it from its cache, or compiles it, on first use)."""
        if self._compiled is None:
            import numba  # here, not at import: see the module docstring

            self._compiled = numba.njit(cache=True, nogil=True, error_model="numpy")(
                self.python_loop
            )
        return self._compiled

    def __call__(self, *args: Any) -> Any:
        """Run the compiled loop or the NumPy twin, as the `current` choice says."""
        if _CHOICE.get().compiled:
            loop = self._compiled
            return (self.compiled if loop is None else loop)(*args)
        return self.twin(*args)

    def __reduce__(self) -> str:
        # A loss holds its kernel; a pickled loss refers to it by name, as to a function.
        return self.__name__

    def __repr__(self) -> str:
        return f"<kernel {self.__module__}.{self.__name__}>"
