"""One training run: the epochs of a step optimizer, or one whole-run minimizer, on one network.

The hot loop per minibatch is: gather the rows into a reused buffer, one call of the
network's unchecked ``loss_and_grad_into`` writing into a reused gradient vector, and one
in-place optimizer step on the flat ``theta``. Nothing large is allocated per batch.
Around each epoch: the divergence guard (`nablanet.training.guard`), the record
(`RunHistory`) and the callbacks.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.network import Network
from nablanet.network_parts import PartedPass
from nablanet.optim import Minimizer, Status
from nablanet.training.blas_threads import ThreadChoice
from nablanet.training.callbacks import Callback
from nablanet.training.guard import Guard
from nablanet.training.history import History, TrainingDiverged, TrainState

Array = NDArray[Any]
Score = Callable[[Network, Array, Array], float]


@dataclass(frozen=True)
class TrainingData:
    """The validated data of a training call (X dense or CSR, everything else dense)."""

    X: Any
    Y: Array
    sample_weight: Array | None
    X_val: Any | None
    Y_val: Array | None

    @property
    def has_validation(self) -> bool:
        """Whether there is validation data."""
        return self.X_val is not None


class RunLoop:
    """One run's loop: the buffers it reuses and the bookkeeping around each epoch.

    Three methods touch the whole data set, and only they: `_full_batch` (J and ∂J/∂θ
    over all training rows), `_validation` and `final_loss`. A loop over data held
    elsewhere (`nablanet.distributed.training`) overrides those three.
    """

    def __init__(
        self,
        net: Network,
        data: TrainingData,
        score: Score | None,
        dropout: float,
        rng: np.random.Generator,
        history: History,
    ) -> None:
        self.net, self.data, self.score = net, data, score
        self.dropout, self.rng = dropout, rng
        self.grad = np.empty(net.n_params, dtype=net.dtype)
        self.guard = Guard(net, data.X, data.Y, history, self._cost_at)

    # --- the pieces of an epoch ----------------------------------------------------

    def _masks(self, m: int, cache: dict[int, list[Array | None]]) -> list[Array | None] | None:
        """Fresh inverted-dropout masks for a batch of m rows (buffers reused per m).

        One per hidden layer: None for a layer that takes no dropout (`Layer.takes_dropout`).
        """
        if not self.dropout:
            return None
        keep = 1.0 - self.dropout
        bufs = cache.get(m)
        if bufs is None:
            hidden = self.net.layers[:-1]
            bufs = cache[m] = [
                np.empty((m, layer.n_out), dtype=self.net.dtype) if layer.takes_dropout else None
                for layer in hidden
            ]
        for mask in bufs:
            if mask is not None:
                self.rng.random(dtype=mask.dtype, out=mask)
                np.less(mask, keep, out=mask)
                mask *= 1.0 / keep
        return list(bufs)

    def _end_epoch(self, state: TrainState, train_loss: float, seconds: float, advice: str) -> None:
        """Guard, record the epoch, keep the weights as good, and measure validation."""
        net, h = self.net, state.history
        self.guard.check(state, "end of epoch", train_loss, advice)
        if not np.isfinite(net.theta).all():
            raise self.guard.diverged(state, "end of epoch", train_loss, advice)
        self.guard.keep(train_loss)
        h.train_loss.append(train_loss)
        h.learning_rate.append(state.learning_rate)
        h.epoch_time.append(seconds)
        val_loss, val_score = self._validation()
        h.val_loss.append(val_loss)
        h.val_score.append(val_score)

    def _validation(self) -> tuple[float, float]:
        """The validation cost and score at the network's θ (NaN, NaN without one)."""
        d, net = self.data, self.net
        if d.X_val is None or d.Y_val is None:
            return math.nan, math.nan
        score = self.score(net, d.X_val, d.Y_val) if self.score else math.nan
        return net.cost_unchecked(d.X_val, d.Y_val), score

    def _full_batch(self, theta: Array, grad: Array) -> float:
        """J over the whole training set at ``theta``, ∂J/∂θ written into ``grad``."""
        d = self.data
        if self.parted is not None:
            return self.parted(d.X, d.Y, theta, grad, d.sample_weight)
        return self.net.loss_and_grad_into(d.X, d.Y, theta, grad, sample_weight=d.sample_weight)

    @functools.cached_property
    def parted(self) -> PartedPass | None:
        """The whole set's J and ∂J/∂θ in fixed parts of rows, or None where not split.

        Built at the first full-batch step (a loop over data held elsewhere asks for none).
        """
        return PartedPass.for_rows(self.net, self.data.X.shape[0])

    def _cost_at(self, theta: Array) -> float:
        """J over the whole training set at ``theta`` (the network's θ is left as it was)."""
        net, d = self.net, self.data
        current = net.theta.copy()
        net.theta[...] = theta
        try:
            return net.cost_unchecked(d.X, d.Y, sample_weight=d.sample_weight)
        finally:
            net.theta[...] = current

    def final_loss(self) -> float:
        """The loss the run's final weights reach: validation, else full training cost."""
        d = self.data
        if d.X_val is not None and d.Y_val is not None:
            return self.net.cost_unchecked(d.X_val, d.Y_val)
        return self.net.cost_unchecked(d.X, d.Y, sample_weight=d.sample_weight)

    # --- first-order methods: minibatch (or full-batch) descent ---------------------

    def descend(
        self,
        opt: Any,
        state: TrainState,
        callbacks: list[Callback],
        batch_size: int | None,
        shuffle: bool,
    ) -> None:
        """Run epochs of minibatch steps until ``state.total_epochs`` or a stop."""
        m = self.data.X.shape[0]
        bs = m if batch_size is None else min(int(batch_size), m)
        epoch = _Epoch(self, opt, bs, shuffle and bs < m)
        try:
            for cb in callbacks:
                cb.on_train_begin(state)
            for e in range(state.total_epochs):
                state.epoch = e
                for cb in callbacks:
                    cb.on_epoch_begin(state)
                t0 = time.perf_counter()
                train_loss = epoch.run(state)
                advice = f"Try a smaller learning rate (it was {state.learning_rate:g})."
                self._end_epoch(state, train_loss, time.perf_counter() - t0, advice)
                if _stopped(state, callbacks):
                    break
        finally:
            epoch.threads.close()  # before the callbacks: theirs are the fit's threads again
        for cb in callbacks:
            cb.on_train_end(state)

    def _threads(self, rows: int) -> ThreadChoice:
        """The run's choice of BLAS threads for steps of ``rows`` rows (`blas_threads`).

        Nothing to choose for full-batch steps split in parts: each part runs on one BLAS
        thread, the parts shared among threads that sleep (`nablanet.network_parts`).
        """
        whole = rows == self.data.X.shape[0] and not self.dropout  # dropout: unsplit steps
        if whole and self.parted is not None:
            rows = 0
        return ThreadChoice(self.net.layer_sizes, rows)

    # --- quasi-Newton / conjugate gradient on the flat vector ------------------------

    def minimize(self, opt: Minimizer, state: TrainState, callbacks: list[Callback]) -> None:
        """Full-batch L-BFGS or CG (any `Minimizer`); one "epoch" per iteration."""
        net, grad = self.net, self.grad
        theta = net.theta
        grad64 = np.empty(net.n_params)
        if self.dropout:
            raise ValueError("dropout needs a stochastic optimizer (sgd or adam), not L-BFGS/CG")
        advice = "Check the data's scale and the weight decay."

        threads = self._threads(self.data.X.shape[0])

        def fun(x: Array) -> tuple[float, Array]:
            theta[...] = x  # the network always holds the point being evaluated
            with threads.step():  # each evaluation is one full-batch step
                J = self._full_batch(theta, grad)
            if self.guard.J_start is None:  # the cost at the starting weights
                self.guard.J_start = J
            grad64[...] = grad
            return J, grad64

        t_last = time.perf_counter()

        def on_iteration(iteration: int, J: float) -> bool:
            nonlocal t_last
            state.epoch = iteration - 1  # scipy counts iterations from 1, epochs from 0
            now = time.perf_counter()
            self._end_epoch(state, J, now - t_last, advice)
            t_last = now
            return _stopped(state, callbacks)

        try:
            for cb in callbacks:
                cb.on_train_begin(state)
            with np.errstate(over="ignore", invalid="ignore"):  # non-finite J: checked below
                result = opt.minimize(
                    fun, theta, callback=on_iteration, max_iter=state.total_epochs
                )
        finally:
            threads.close()
        if result.status == Status.DIVERGED:  # its message says which point θ holds
            J = f" (J={result.J:.6g} there)" if math.isfinite(result.J) else ""
            raise TrainingDiverged(
                f"training diverged in {type(opt).__name__} iteration {state.epoch + 1}: "
                f"{result.message}{J}. " + self.guard.advice(advice),
                self.guard.history,
            )
        if state.history.stop_reason == "max_epochs" and result.status == Status.CONVERGED:
            state.history.stop_reason = "converged"
        for cb in callbacks:
            cb.on_train_end(state)


class _Epoch:
    """The minibatch steps of one epoch, with the buffers they reuse from epoch to epoch."""

    def __init__(self, loop: RunLoop, opt: Any, batch_size: int, shuffle: bool) -> None:
        self.loop, self.opt, self.bs, self.shuffle = loop, opt, batch_size, shuffle
        self.opt_state = opt.init(loop.net.theta)
        m = loop.data.X.shape[0]
        self.order = np.arange(m)
        # The total sample weight, for each minibatch's share of it (a full batch is all).
        weights = loop.data.sample_weight
        self.weight = 1.0 if weights is None or batch_size >= m else float(weights.sum())
        # Row buffers per batch size (the last batch of an epoch may be smaller).
        self.buffers: dict[int, tuple[Array, Array, Array | None]] = {}
        self.masks: dict[int, list[Array | None]] = {}
        # Last: it takes the process's thread choice, which only `close` gives back.
        self.threads = loop._threads(batch_size)

    def run(self, state: TrainState) -> float:
        """One pass over the data; returns the mean minibatch cost."""
        loop, d, bs = self.loop, self.loop.data, self.bs
        net, theta, grad, guard = loop.net, loop.net.theta, loop.grad, loop.guard
        m, lr = d.X.shape[0], state.learning_rate
        if self.shuffle:
            loop.rng.shuffle(self.order)
        total, counted = 0.0, 0  # Σ J·rows over the batches that count, and their rows
        # Overflow is expected when training diverges and is caught by the explicit
        # guard below, with a better message than NumPy's warning.
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, m, bs):
                if bs == m:  # full batch: the data as it is, no gather
                    Xb, Yb, weight_b = d.X, d.Y, d.sample_weight
                else:
                    Xb, Yb, weight_b = self._gather(self.order[start : start + bs])
                if bs == m:
                    share = 1.0  # the whole set: no sum over data that may be held elsewhere
                elif weight_b is None:
                    share = Xb.shape[0] / m
                else:
                    share = float(weight_b.sum()) / self.weight
                if share == 0.0:  # all its sample weights are 0: it adds nothing to J
                    continue
                masks = loop._masks(Xb.shape[0], self.masks)
                with self.threads.step():
                    if bs == m and masks is None:  # the whole set: the loop's own pass
                        J = loop._full_batch(theta, grad)
                    else:
                        J = net.loss_and_grad_into(
                            Xb, Yb, theta, grad, sample_weight=weight_b, dropout_masks=masks
                        )
                if guard.J_start is None or not (J <= guard.ceiling and J * share <= guard.limit):
                    advice = f"Try a smaller learning rate (it was {lr:g})."
                    guard.check(state, f"batch {start // bs + 1}", J, advice, share)
                total += J * Xb.shape[0]
                counted += Xb.shape[0]
                self.opt.step(theta, grad, self.opt_state, lr)
        return total / counted

    def _gather(self, rows: Array) -> tuple[Any, Array, Array | None]:
        """Copy the chosen rows into reused contiguous buffers (no allocation per batch).

        A sparse X is sliced instead: its minibatch is a new CSR matrix of those rows.
        """
        d, k = self.loop.data, rows.shape[0]
        dense = isinstance(d.X, np.ndarray)
        bufs = self.buffers.get(k)
        if bufs is None:
            bufs = self.buffers[k] = (
                np.empty((k, d.X.shape[1]), d.X.dtype) if dense else np.empty((0, 0)),
                np.empty((k, d.Y.shape[1]), d.Y.dtype),
                None if d.sample_weight is None else np.empty(k, d.sample_weight.dtype),
            )
        Xb, Yb, weight_b = bufs
        # mode="clip": with the default "raise", NumPy buffers `out` (a second copy);
        # the row indices are a permutation, always in range.
        if dense:
            np.take(d.X, rows, axis=0, out=Xb, mode="clip")
        else:
            Xb = d.X[rows]
        np.take(d.Y, rows, axis=0, out=Yb, mode="clip")
        if weight_b is not None and d.sample_weight is not None:
            np.take(d.sample_weight, rows, out=weight_b, mode="clip")
        return Xb, Yb, weight_b


#: Builds one run's loop from that run's history.
MakeLoop = Callable[[History], RunLoop]


def _stopped(state: TrainState, callbacks: list[Callback]) -> bool:
    """Ask every callback at the end of an epoch; record the first that stops the run."""
    stop = [cb for cb in callbacks if cb.on_epoch_end(state)]
    if stop:
        state.history.stop_reason = type(stop[0]).__name__
    return bool(stop)
