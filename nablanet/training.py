"""The training loop: minibatches, restarts, validation, callbacks and a divergence guard.

MATH.md §5: start from small random weights, descend along ∂J/∂θ, and — because
gradient descent can end in a local optimum — train from several random
initialisations and keep the best.

The hot loop per minibatch is: gather the rows into a reused buffer, one call of the
network's buffered ``_loss_and_grad`` writing into a reused gradient vector, and one
in-place optimizer step on the flat ``theta``. Nothing large is allocated per batch.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.callbacks import (
    Callback,
    LearningRateSchedule,
    ProgressBar,
    RunHistory,
    TrainState,
)
from nablanet.data.validation import check_pair, check_sample_weight
from nablanet.network import Network
from nablanet.optim import get_optimizer
from nablanet.optim.scipy_min import LBFGS, ConjugateGradient

Array = NDArray[Any]
Score = Callable[[Network, Array, Array], float]


#: The divergence guard: a run has diverged when a (minibatch) cost exceeds this many
#: times the run's first cost, taken as at least 1 (so that a run starting near J = 0,
#: such as a warm start, may still move). 1e4 × leaves ordinary noise and the spikes of
#: warm restarts far below it; an exploding run passes it within a few steps, long before
#: its cost overflows, and with weights that are still worth keeping.
EXPLOSION_FACTOR = 1e4


class TrainingDiverged(RuntimeError):
    """Raised when the cost or gradient stops being finite, or the cost explodes.

    "Explodes" means that a cost exceeds `EXPLOSION_FACTOR` times the run's first cost
    (at least 1). The network keeps the weights from the end of the last epoch that
    passed the guard; ``history`` holds the record up to that point.
    """

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """The record of a training call: one `RunHistory` per restart and the winner.

    Attributes
    ----------
    runs : list of RunHistory
    best_run : int
        Index of the run whose weights the network kept (lowest final loss).
    """

    runs: list[RunHistory] = field(default_factory=list)
    best_run: int = 0

    @property
    def best(self) -> RunHistory:
        """The winning run."""
        return self.runs[self.best_run]

    @property
    def train_loss(self) -> list[float]:
        """Per-epoch training loss of the winning run."""
        return self.best.train_loss

    @property
    def val_loss(self) -> list[float]:
        """Per-epoch validation loss of the winning run."""
        return self.best.val_loss

    @property
    def val_score(self) -> list[float]:
        """Per-epoch validation score of the winning run."""
        return self.best.val_score


def accuracy(net: Network, X: Array, Y: Array) -> float:
    """Share of rows classified right: argmax for several outputs, a threshold for one.

    With a single output unit the decision threshold lies halfway between the output
    activation's two label codes: 0.5 for 0/1 labels, 0 for tanh's −1/+1 (the source's).
    """
    out = net.forward(X)
    if out.shape[1] == 1:
        threshold = net.activations[-1].decision_threshold
        return float(np.mean((out[:, 0] > threshold) == (Y[:, 0] > threshold)))
    return float(np.mean(out.argmax(axis=1) == Y.argmax(axis=1)))


def run_seeds(seed: int | None, restarts: int) -> list[int]:
    """Distinct seeds for ``restarts`` initialisations, all derived from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(restarts)
    return [int(c.generate_state(1)[0]) for c in children]


def train(
    net: Network,
    X: Any,
    Y: Any,
    *,
    optimizer: Any = "adam",
    learning_rate: float | Callable[[int, float | None], float] | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    validation_data: tuple[Any, Any] | None = None,
    validation_fraction: float | None = None,
    score: Score | None = None,
    restarts: int = 1,
    dropout: float = 0.0,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
    sample_weight: Any = None,
) -> History:
    """Train ``net`` in place on inputs X and targets Y.

    Parameters
    ----------
    net : Network
    X : array-like or scipy.sparse CSR/CSC matrix of shape (m, s_1)
        Sparse inputs stay sparse: minibatches are sparse row slices.
    Y : array-like of shape (m, s_{n_l})
        Targets coded for the output activation (see `Network.loss_and_grad`).
    optimizer : str or optimizer object, default "adam"
        "gd" (batch gradient descent), "sgd", "adam", "lbfgs", "cg", or an instance from
        `nablanet.optim`. L-BFGS and CG always use the full batch; ``epochs`` is then
        their iteration limit.
    learning_rate : float or schedule, optional
        A constant, or ``schedule(epoch, loss) -> float`` (`nablanet.optim.schedules`).
        Default: the optimizer's own.
    epochs : int, default 100
    batch_size : int, optional
        Minibatch size; None uses the whole training set each step (batch descent).
    shuffle : bool, default True
        Reshuffle the samples every epoch (from ``seed``).
    seed : int, optional
        Seeds shuffling, dropout, the validation split and the restarts' initialisations.
        Same seed, data and machine give bit-identical weights.
    validation_data : (X_val, Y_val), optional
    validation_fraction : float, optional
        Hold out this share of the (shuffled) training data instead.
    score : callable ``score(net, X_val, Y_val) -> float``, optional
        Recorded per epoch on the validation data (e.g. `accuracy`).
    restarts : int, default 1
        Number of random initialisations (MATH.md §5). With 1 the network trains from its
        current weights; with k > 1 each run starts from fresh weights drawn from a seed
        derived from ``seed`` and the best run's weights are kept (lowest validation
        loss, or training cost without validation data).
    dropout : float, default 0.0
        Probability of dropping each hidden unit during training (inverted dropout: kept
        units are scaled by 1/(1 − p), so nothing changes at evaluation).
    callbacks : sequence of Callback
        E.g. `EarlyStopping`, `EpochLogger`; any may stop a run.
    progress : bool, default False
        Show a progress bar (only on a terminal).
    sample_weight : array-like of shape (m,), optional

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        When the cost becomes NaN or infinite, or exceeds `EXPLOSION_FACTOR` (1e4) times
        the run's first cost (at least 1); the network keeps the weights from the end of
        the last epoch that passed. The message names the cause it sees: a learning rate
        too large, or data holding values too large for any learning rate.
    RuntimeError
        When another thread is training the same network.
    """
    X, Y = check_pair(
        X, Y, n_inputs=net.layer_sizes[0], n_outputs=net.layer_sizes[-1], dtype=net.dtype
    )
    s = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
    if not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(restarts, int | np.integer) or restarts < 1:
        raise ValueError(f"restarts must be a positive integer, got {restarts!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if batch_size is not None and (not isinstance(batch_size, int | np.integer) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    opt = get_optimizer(optimizer) if isinstance(optimizer, str) else optimizer

    rng = np.random.default_rng(seed)
    X, Y, s, X_val, Y_val = _split_validation(
        net, X, Y, s, validation_data, validation_fraction, rng
    )
    cbs = list(callbacks)
    if learning_rate is not None and callable(learning_rate):
        cbs.insert(0, LearningRateSchedule(learning_rate))
    if progress:
        cbs.append(ProgressBar())
    if learning_rate is None or callable(learning_rate):
        base_lr = float(getattr(opt, "learning_rate", math.nan))
    else:
        base_lr = float(learning_rate)

    history = History()
    seeds = run_seeds(seed, restarts) if restarts > 1 else [None]
    best_theta = None
    with net._training():  # one training per network at a time
        for run, run_seed in enumerate(seeds):
            if run_seed is not None:
                net.reset(run_seed)
            h = RunHistory(seed=run_seed)
            history.runs.append(h)
            state = TrainState(net, 0, run, base_lr, h, X_val is not None, int(epochs))
            loop = _Loop(net, X, Y, s, X_val, Y_val, score, dropout, rng, history)
            if isinstance(opt, LBFGS | ConjugateGradient):
                loop.minimize(opt, state, cbs)
            else:
                loop.descend(opt, state, cbs, batch_size, shuffle)
            h.final_loss = loop.final_loss()
            if best_theta is None or h.final_loss < history.best.final_loss:
                history.best_run = run
                best_theta = net.theta.copy() if restarts > 1 else None
        if best_theta is not None:
            net.theta[...] = best_theta
    return history


def _split_validation(
    net: Network,
    X: Array,
    Y: Array,
    s: Array | None,
    validation_data: tuple[Any, Any] | None,
    fraction: float | None,
    rng: np.random.Generator,
) -> tuple[Array, Array, Array | None, Array | None, Array | None]:
    """Return the training part and the validation part (None, None when there is none)."""
    if validation_data is not None and fraction is not None:
        raise ValueError("give validation_data or validation_fraction, not both")
    if validation_data is not None:
        X_val, Y_val = check_pair(
            *validation_data,
            n_inputs=net.layer_sizes[0],
            n_outputs=net.layer_sizes[-1],
            dtype=net.dtype,
        )
        return X, Y, s, X_val, Y_val
    if fraction is None:
        return X, Y, s, None, None
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    m = X.shape[0]
    n_val = int(round(fraction * m))
    if n_val < 1 or n_val >= m:
        raise ValueError(
            f"validation_fraction={fraction} leaves {n_val} of {m} samples for validation"
        )
    perm = rng.permutation(m)
    val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return X[tr], Y[tr], None if s is None else s[tr], X[val], Y[val]


class _Loop:
    """One run's loop: the buffers it reuses and the bookkeeping around each epoch."""

    def __init__(
        self,
        net: Network,
        X: Array,
        Y: Array,
        s: Array | None,
        X_val: Array | None,
        Y_val: Array | None,
        score: Score | None,
        dropout: float,
        rng: np.random.Generator,
        history: History,
    ) -> None:
        self.net, self.X, self.Y, self.s = net, X, Y, s
        self.X_val, self.Y_val, self.score = X_val, Y_val, score
        self.dropout, self.rng, self.history = dropout, rng, history
        self.grad = np.empty(net.n_params, dtype=net.dtype)
        self.last_good = net.theta.copy()  # weights at the end of the last finite epoch
        self.last_good_loss = math.nan
        self.J_first: float | None = None  # the run's first finite cost: the guard's reference
        self.limit = sys.float_info.max  # a cost above this has diverged (inf and NaN too)

    # --- the pieces of an epoch ----------------------------------------------------

    def _masks(self, m: int, cache: dict[int, list[Array]]) -> list[Array | None] | None:
        """Fresh inverted-dropout masks for a batch of m rows (buffers reused per m)."""
        if not self.dropout:
            return None
        keep = 1.0 - self.dropout
        bufs = cache.get(m)
        if bufs is None:
            sizes = self.net.layer_sizes[1:-1]
            bufs = cache[m] = [np.empty((m, k), dtype=self.net.dtype) for k in sizes]
        for mask in bufs:
            self.rng.random(dtype=mask.dtype, out=mask)
            np.less(mask, keep, out=mask)
            mask *= 1.0 / keep
        return list(bufs)

    def _guard(self, state: TrainState, where: str, J: float) -> None:
        """Raise `TrainingDiverged` for a cost that is not finite or has exploded.

        The run's first finite cost sets the limit (see `EXPLOSION_FACTOR`).
        """
        if self.J_first is None and math.isfinite(J):
            self.J_first = J
            self.limit = min(EXPLOSION_FACTOR * max(J, 1.0), sys.float_info.max)
        if not J <= self.limit:  # also true for NaN
            raise self._diverged(state, where, J)

    def _diverged(self, state: TrainState, where: str, value: float) -> TrainingDiverged:
        net = self.net
        net.theta[...] = self.last_good
        kept = (
            f"the weights from the end of epoch {state.epoch} (loss {self.last_good_loss:.6g})"
            if state.epoch > 0
            else "the weights it started from"
        )
        if math.isfinite(value):
            what = (
                f"the cost grew to {value:.6g}, more than {EXPLOSION_FACTOR:g} times the "
                f"run's first cost ({self.J_first:.6g})"
            )
        else:
            what = f"the cost became {value}"
        return TrainingDiverged(
            f"training diverged at epoch {state.epoch + 1} ({where}): {what}. "
            f"The network keeps {kept}. "
            + self._advice(f"Try a smaller learning rate (it was {state.learning_rate:g})."),
            self.history,
        )

    def _advice(self, otherwise: str) -> str:
        """What to change: the data when it alone overflows, else ``otherwise``."""
        huge = math.sqrt(float(np.finfo(self.net.dtype).max))  # its square overflows
        for name, A in (("X", self.X), ("Y", self.Y)):
            value, row, col = _largest_entry(A)
            if value >= huge:
                return (
                    f"{name} holds a value of {value:.3g} (row {row}, column {col}): values "
                    f"this large overflow the network's sums (X·Wᵀ) and the cost whatever the "
                    f"learning rate. Scale the data (e.g. StandardScaler) or remove such rows."
                )
        if self.J_first is None:
            return (
                "The cost was not finite at the starting weights, before any step (so no "
                "step size is the cause): check the data's scale and the starting weights."
            )
        return otherwise

    def _end_epoch(self, state: TrainState, train_loss: float, seconds: float) -> None:
        """Record the epoch, keep the weights if finite, and measure validation."""
        net, h = self.net, state.history
        self._guard(state, "end of epoch", train_loss)
        if not np.isfinite(net.theta).all():
            raise self._diverged(state, "end of epoch", train_loss)
        np.copyto(self.last_good, net.theta)
        self.last_good_loss = train_loss
        h.train_loss.append(train_loss)
        h.learning_rate.append(state.learning_rate)
        h.epoch_time.append(seconds)
        if self.X_val is not None and self.Y_val is not None:
            h.val_loss.append(net._data_cost(self.X_val, self.Y_val))
            h.val_score.append(
                self.score(net, self.X_val, self.Y_val) if self.score else math.nan
            )
        else:
            h.val_loss.append(math.nan)
            h.val_score.append(math.nan)

    def final_loss(self) -> float:
        """The loss the run's final weights reach: validation, else full training cost."""
        if self.X_val is not None and self.Y_val is not None:
            return self.net._data_cost(self.X_val, self.Y_val)
        return self.net._data_cost(self.X, self.Y, self.s)

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
        net, X, Y, s, grad = self.net, self.X, self.Y, self.s, self.grad
        theta = net.theta
        m = X.shape[0]
        bs = m if batch_size is None else min(int(batch_size), m)
        opt_state = opt.init(theta)
        # Row buffers per batch size (the last batch of an epoch may be smaller).
        buffers: dict[int, tuple[Array, Array, Array | None]] = {}
        masks: dict[int, list[Array]] = {}
        order = np.arange(m)

        for cb in callbacks:
            cb.on_train_begin(state)
        for epoch in range(state.total_epochs):
            state.epoch = epoch
            for cb in callbacks:
                cb.on_epoch_begin(state)
            lr = state.learning_rate
            t0 = time.perf_counter()
            if shuffle and bs < m:
                self.rng.shuffle(order)
            total = 0.0
            # Overflow is expected when training diverges and is caught by the explicit
            # guard below, with a better message than NumPy's warning.
            with np.errstate(over="ignore", invalid="ignore"):
                for start in range(0, m, bs):
                    if bs == m:  # full batch: the data as it is, no gather
                        Xb, Yb, sb = X, Y, s
                    else:
                        Xb, Yb, sb = self._gather(order[start : start + bs], buffers)
                    masks_b = self._masks(Xb.shape[0], masks)
                    J = net._loss_and_grad(Xb, Yb, theta, grad, sb, masks_b)
                    if self.J_first is None or not J <= self.limit:  # the first J, or bad
                        self._guard(state, f"batch {start // bs + 1}", J)
                    total += J * Xb.shape[0]
                    opt.step(theta, grad, opt_state, lr)
            self._end_epoch(state, total / m, time.perf_counter() - t0)
            stop = [cb for cb in callbacks if cb.on_epoch_end(state)]
            if stop:
                state.history.stop_reason = type(stop[0]).__name__
                break
        for cb in callbacks:
            cb.on_train_end(state)

    def _gather(
        self, rows: Array, buffers: dict[int, tuple[Array, Array, Array | None]]
    ) -> tuple[Array, Array, Array | None]:
        """Copy the chosen rows into reused contiguous buffers (no allocation per batch).

        A sparse X is sliced instead: its minibatch is a new CSR matrix of those rows.
        """
        k = rows.shape[0]
        dense = isinstance(self.X, np.ndarray)
        bufs = buffers.get(k)
        if bufs is None:
            X, Y, s = self.X, self.Y, self.s
            bufs = buffers[k] = (
                np.empty((k, X.shape[1]), X.dtype) if dense else np.empty((0, 0)),
                np.empty((k, Y.shape[1]), Y.dtype),
                None if s is None else np.empty(k, s.dtype),
            )
        Xb, Yb, sb = bufs
        # mode="clip": with the default "raise", NumPy buffers `out` (a second copy);
        # the row indices are a permutation, always in range.
        if dense:
            np.take(self.X, rows, axis=0, out=Xb, mode="clip")
        else:
            Xb = self.X[rows]
        np.take(self.Y, rows, axis=0, out=Yb, mode="clip")
        if sb is not None and self.s is not None:
            np.take(self.s, rows, out=sb, mode="clip")
        return Xb, Yb, sb

    # --- quasi-Newton / conjugate gradient on the flat vector ------------------------

    def minimize(
        self, opt: LBFGS | ConjugateGradient, state: TrainState, callbacks: list[Callback]
    ) -> None:
        """Full-batch L-BFGS or CG through scipy; one "epoch" per iteration."""
        net, X, Y, s, grad = self.net, self.X, self.Y, self.s, self.grad
        theta = net.theta
        grad64 = np.empty(net.n_params)
        if self.dropout:
            raise ValueError("dropout needs a stochastic optimizer (sgd or adam), not L-BFGS/CG")

        def fun(x: Array) -> tuple[float, Array]:
            theta[...] = x  # the network always holds the point being evaluated
            J = net._loss_and_grad(X, Y, theta, grad, s)
            grad64[...] = grad
            return J, grad64

        t_last = time.perf_counter()

        def on_iteration(iteration: int, J: float) -> bool:
            nonlocal t_last
            state.epoch = iteration - 1  # scipy counts iterations from 1, epochs from 0
            now = time.perf_counter()
            self._end_epoch(state, J, now - t_last)
            t_last = now
            stop = [cb for cb in callbacks if cb.on_epoch_end(state)]
            if stop:
                state.history.stop_reason = type(stop[0]).__name__
            return bool(stop)

        for cb in callbacks:
            cb.on_train_begin(state)
        # epochs is the iteration limit; a copy leaves the caller's optimizer untouched.
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite J is checked below
            result = replace(opt, max_iter=state.total_epochs).minimize(
                fun, theta, callback=on_iteration
            )
        if result.message.startswith("stopped: non-finite"):
            raise TrainingDiverged(
                f"training diverged in {type(opt).__name__} iteration {state.epoch + 1}: "
                f"{result.message} (J={result.J:.6g}); the network keeps that point. "
                + self._advice("Check the data's scale and the weight decay."),
                self.history,
            )
        if state.history.stop_reason == "max_epochs" and result.success:
            state.history.stop_reason = "converged"
        for cb in callbacks:
            cb.on_train_end(state)


def _largest_entry(A: Any, rows_per_block: int = 4096) -> tuple[float, int, int]:
    """The largest |entry| of a finite matrix and its (row, column), in blocks of rows."""
    if not isinstance(A, np.ndarray):  # scipy.sparse CSR: only the stored entries
        if A.nnz == 0:
            return 0.0, 0, 0
        k = int(np.argmax(np.abs(A.data)))
        row = int(np.searchsorted(A.indptr, k, side="right")) - 1
        return float(abs(A.data[k])), row, int(A.indices[k])
    best = (0.0, 0, 0)
    for start in range(0, A.shape[0], rows_per_block):
        block = np.abs(A[start : start + rows_per_block])
        row, col = divmod(int(np.argmax(block)), block.shape[1])
        if block[row, col] > best[0]:
            best = (float(block[row, col]), start + row, col)
    return best
