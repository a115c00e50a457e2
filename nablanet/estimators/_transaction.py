"""A fit is all or nothing.

`all_or_nothing` wraps every ``fit`` and ``partial_fit``. On any exception (including
``TrainingDiverged``, bad data, a parameter out of range, and ``KeyboardInterrupt`` when no
epoch completed) it puts the estimator back: exactly as it was before the call when the
call continues a fitted model (``warm_start``, ``partial_fit``), and otherwise unfitted,
with no fitted attribute left. The network object itself is kept, its weights and weight
decay written back in place, so that views taken before (``coefs_``) stay valid.

One estimator is fitted by one thread at a time: a second ``fit`` or ``partial_fit`` of
the same instance while one runs is refused (RuntimeError) before it changes anything,
so that its failure cannot undo the first one's work.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_FITTING: weakref.WeakSet[Any] = weakref.WeakSet()  # estimators being fitted now
_FITTING_LOCK = threading.Lock()


@contextmanager
def _exclusive(est: Any) -> Iterator[None]:
    """Hold ``est`` for this thread's fit; refuse if another thread is fitting it."""
    with _FITTING_LOCK:
        if est in _FITTING:
            raise RuntimeError(
                f"this {type(est).__name__} is being fitted by another thread; fit one "
                "instance from one thread at a time (clone it to fit copies in parallel)"
            )
        _FITTING.add(est)
    try:
        yield
    finally:
        with _FITTING_LOCK:
            _FITTING.discard(est)


@contextmanager
def all_or_nothing(est: Any, continuing: bool) -> Iterator[None]:
    """Restore ``est``'s fitted state from before the block (or none) if the block raises.

    Parameters
    ----------
    est : estimator
        Its fitted state is every attribute that is not a constructor parameter.
    continuing : bool
        Whether the block trains the fitted network further (then its state is saved);
        otherwise a failure leaves ``est`` unfitted.
    """
    with _exclusive(est):
        params = est.get_params(deep=False)
        state = {k: v for k, v in vars(est).items() if k not in params}
        net = state.pop("net_", None) if continuing else None
        saved = copy.deepcopy(state) if continuing else {}
        weights = None if net is None else (net.theta.copy(), net.weight_decay)
        try:
            yield
        except BaseException:
            for key in [k for k in vars(est) if k not in params]:
                delattr(est, key)
            est.__dict__.update(saved)
            if net is not None and weights is not None:
                net.theta[...], net.weight_decay = weights
                est.net_ = net
            raise
