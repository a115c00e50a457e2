"""Minibatch training on a cluster by periodic averaging ("local SGD").

A round: every row block starts from the same θ and optimizer state, takes up to K
(``sync_every``) minibatch steps of `sgd` or `adam` on its own rows, and returns its θ
and state. The new θ, and each moment of the optimizer's state (momentum's velocity,
Adam's m and v), is the row-weighted mean of the blocks' values::

    θ ← Σ_b w_b θ_b / Σ_b w_b        w_b = Σ_{i∈B_b} s_i (the block's rows, or weights)

The sums travel up the same fixed binary tree as `DaskObjective`'s, so the result is
bit-reproducible for a fixed seed and chunking (the unit of averaging is the row block,
not the worker, so it does not depend on where the scheduler put the blocks).

This approximates single-process minibatch training, it does not equal it: each block
shuffles only its own rows, and between synchronisations the blocks' trajectories drift
apart. K = 1 averages after every step (with plain SGD it is then minibatch SGD on a
batch of ``batch_size`` rows per block); larger K trades accuracy for fewer rounds.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._optional import requires_extra
from nablanet.distributed._blocks import aligned, one_thread, row_data, ship, tree_sum
from nablanet.distributed.objective import unpickle_network
from nablanet.kernels import fit_kernels, use_compiled
from nablanet.network import Network
from nablanet.optim import OPTIMIZERS, get_optimizer

Array = NDArray[Any]
#: ``progress(epoch, round, rounds_per_epoch, loss)`` after each round.
RoundCallback = Callable[[int, int, int, float], None]


@dataclass
class LocalSGDResult:
    """The record of a `local_sgd` call.

    Attributes
    ----------
    train_loss : list of float
        Per epoch: the row-weighted mean of the minibatch costs seen in that epoch.
    epoch_time : list of float
        Seconds per epoch.
    rounds : int
        Synchronisation rounds run (graph round trips).
    state : object
        The averaged optimizer state at the end (to continue training).
    """

    train_loss: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    rounds: int = 0
    state: Any = None


@dataclass(frozen=True)
class Job:
    """A `local_sgd` call's work, narrowed to one round and one block as it is handed out.

    Attributes
    ----------
    seed, sync_every, batch_size : int
        The call's settings: shuffling seed, K local steps per round, rows per minibatch.
    rounds_per_epoch : int
        Rounds that take the largest block through its minibatches once.
    epoch, round, block : int
        Where this piece of work stands (0 while the call's settings alone are meant).
    compiled : bool
        Whether the block's steps use the compiled kernels (the driver's `use_compiled`).
    """

    seed: int
    sync_every: int
    batch_size: int
    rounds_per_epoch: int
    epoch: int = 0
    round: int = 0
    block: int = 0
    compiled: bool = False

    @property
    def first_batch(self) -> int:
        """The block's first minibatch of this round (each round takes ``sync_every``)."""
        return self.round * self.sync_every


#: Arrays of an optimizer state that are not moments: a scratch buffer (uninitialised
#: memory, see `nablanet.optim.AdamWState`) and the fixed weight-decay mask.
_NOT_MOMENTS = frozenset({"work", "decay"})


def _average_fields(state: Any, n_params: int) -> list[str]:
    """The state's moments: its arrays shaped like θ, scratch and masks excepted."""
    return [
        f.name
        for f in dataclasses.fields(state)
        if f.name not in _NOT_MOMENTS
        and isinstance(getattr(state, f.name), np.ndarray)
        and getattr(state, f.name).shape == (n_params,)
    ]


def _batches(m: int, batch_size: int, seed: int, epoch: int, block: int) -> list[Array]:
    """The block's minibatches for an epoch: its rows shuffled by (seed, epoch, block)."""
    order = np.random.default_rng([seed, epoch, block]).permutation(m)
    return [order[i : i + batch_size] for i in range(0, m, batch_size)]


@one_thread
def _local_steps(blob: bytes, X: Array, Y: Array, s: Array | None, job: Job) -> dict[str, Any]:
    """One block's K steps from the round's (net, optimizer, state, learning rate).

    ``job`` says which block, round and epoch, and whether to use the compiled kernels
    (the driver's `use_compiled`). Returns the block's weighted sums: ``w θ``, ``w`` times
    each moment, ``w``, Σ rows·J and rows seen, and each integer counter of the state
    (combined by max).
    """
    net_blob, opt, state, lr = pickle.loads(blob)
    net = unpickle_network(net_blob)
    for name in _average_fields(state, net.n_params):  # aligned, as θ (see `aligned`)
        setattr(state, name, aligned(getattr(state, name), net.dtype))
    X, Y = aligned(X, net.dtype), aligned(Y, net.dtype)  # checked by `checked_block`
    w = None if s is None else np.asarray(s, dtype=np.float64)
    batches = _batches(X.shape[0], job.batch_size, job.seed, job.epoch, job.block)
    todo = batches[job.first_batch : job.first_batch + job.sync_every]
    theta, grad = net.theta, aligned(np.empty(net.n_params, dtype=net.dtype), net.dtype)
    loss, rows = 0.0, 0
    # the driver checks finiteness
    with np.errstate(over="ignore", invalid="ignore"), fit_kernels(job.compiled):
        for idx in todo:
            sb = None if w is None else w[idx]
            if sb is not None and not sb.sum() > 0:
                continue  # no weight in this batch: nothing to learn from it
            J = net.loss_and_grad_into(X[idx], Y[idx], theta, grad, sample_weight=sb)
            opt.step(theta, grad, state, lr)
            loss += J * len(idx)
            rows += len(idx)
    weight = 0.0 if not todo else float(X.shape[0] if w is None else w.sum())
    sums: dict[str, Any] = {"theta": weight * theta.astype(np.float64)}
    for name in _average_fields(state, net.n_params):
        sums[name] = weight * getattr(state, name).astype(np.float64)
    counters = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)
                if isinstance(getattr(state, f.name), int)}
    return {"sums": sums, "weight": weight, "loss": loss, "rows": rows, "counters": counters}


def _combine(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Add two blocks' results (a node of the reduction tree)."""
    return {
        "sums": {k: a["sums"][k] + b["sums"][k] for k in a["sums"]},
        "weight": a["weight"] + b["weight"],
        "loss": a["loss"] + b["loss"],
        "rows": a["rows"] + b["rows"],
        "counters": {k: max(a["counters"][k], b["counters"][k]) for k in a["counters"]},
    }


def local_sgd(
    net: Network,
    X: Any,
    Y: Any,
    *,
    optimizer: Any = "adam",
    sync_every: int = 10,
    epochs: int = 10,
    batch_size: int = 200,
    learning_rate: float | None = None,
    seed: int = 0,
    sample_weight: Any = None,
    progress: RoundCallback | None = None,
) -> LocalSGDResult:
    """Train ``net`` in place on dask arrays by K local steps per block, then averaging.

    Parameters
    ----------
    net : Network
    X : dask array of shape (m, s_1)
    Y : dask array of shape (m, s_{n_l}) or (m,)
    optimizer : {"sgd", "adam"} or a step optimizer instance, default "adam"
    sync_every : int, default 10
        K, the local steps each block takes between averagings.
    epochs : int, default 10
        Passes over every block's rows.
    batch_size : int, default 200
        Rows per local minibatch.
    learning_rate : float, optional
        Default: the optimizer's own.
    seed : int, default 0
        Seeds each block's shuffling (with the epoch and the block's index).
    sample_weight : dask array of shape (m,), optional
    progress : callable, optional
        ``progress(epoch, round, rounds_per_epoch, loss)`` after each round.

    Returns
    -------
    LocalSGDResult

    Notes
    -----
    One round moves θ and the moments out and back (about 2·(1 + moments)·|θ| numbers
    per block). An epoch takes ⌈n_b / K⌉ rounds, n_b the minibatches of the largest block.
    """
    for name, value in (("sync_every", sync_every), ("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(optimizer, str) and optimizer not in ("sgd", "adam"):
        raise ValueError(f"local SGD runs 'sgd' or 'adam', got {optimizer!r}")
    opt: Any = get_optimizer(optimizer) if isinstance(optimizer, str) else optimizer
    if not hasattr(opt, "step"):
        raise ValueError(f"local SGD needs a step optimizer ({', '.join(OPTIMIZERS)})")
    lr = float(opt.learning_rate if learning_rate is None else learning_rate)
    # The persisted arrays must stay referenced while the blocks are used: dropping them
    # releases their blocks on the cluster.
    *persisted, parts = row_data(net, X, Y, sample_weight)
    most_batches = max(math.ceil(int(n) / batch_size) for n in persisted[0].chunks[0])
    rounds_per_epoch = math.ceil(most_batches / sync_every)
    state = opt.init(net.theta)
    result = LocalSGDResult(state=state)
    job = Job(seed, sync_every, batch_size, rounds_per_epoch)
    with net.training_hold():  # one training per network at a time
        for epoch in range(epochs):
            _epoch(net, opt, state, lr, parts, job, epoch, result, progress)
    return result


def _epoch(
    net: Network, opt: Any, state: Any, lr: float, parts: list[Any], job: Job, epoch: int,
    result: LocalSGDResult, progress: RoundCallback | None,
) -> None:
    """One epoch's rounds; records its loss and time in ``result``.

    Raises
    ------
    TrainingDiverged
        When θ or the loss stops being finite; the network keeps the weights it had
        before that round.
    """
    from nablanet.training import History, TrainingDiverged

    t0 = time.perf_counter()
    loss, rows = 0.0, 0
    for r in range(job.rounds_per_epoch):
        kept = net.theta.copy()
        out = _round(net, opt, state, lr, parts, replace(job, epoch=epoch, round=r))
        result.rounds += 1
        loss, rows = loss + out["loss"], rows + out["rows"]
        if not np.isfinite(net.theta).all() or not math.isfinite(out["loss"]):
            net.theta[...] = kept
            raise TrainingDiverged(
                f"local SGD diverged in epoch {epoch + 1}, round {r + 1}; the network "
                f"keeps the weights from before that round. Try a smaller learning rate "
                f"(it was {lr:g}).", History()
            )
        if progress is not None:
            progress(epoch, r, job.rounds_per_epoch, out["loss"] / max(out["rows"], 1))
    result.train_loss.append(loss / max(rows, 1))
    result.epoch_time.append(time.perf_counter() - t0)


def _round(
    net: Network, opt: Any, state: Any, lr: float, parts: list[Any], job: Job
) -> dict[str, Any]:
    """One synchronisation round (``job``'s); writes the averaged θ into ``net`` and ``state``."""
    with requires_extra("dask"):
        import dask

    ref = ship((pickle.dumps(net, protocol=pickle.HIGHEST_PROTOCOL), opt, state, lr))
    task = dask.delayed(_local_steps, pure=False)
    compiled = use_compiled(math.inf)  # rows on a cluster are many, unless forced off
    tasks = [
        task(ref, xb, yb, sb, replace(job, block=b, compiled=bool(compiled)))
        for b, (xb, yb, sb) in enumerate(parts)
    ]
    (out,) = dask.compute(tree_sum(tasks, _combine))
    W = out["weight"]
    if W > 0:
        with np.errstate(over="ignore", invalid="ignore"):  # checked by the caller
            net.theta[...] = out["sums"]["theta"] / W
        for name in _average_fields(state, net.n_params):
            getattr(state, name)[...] = out["sums"][name] / W
        for name, value in out["counters"].items():
            setattr(state, name, value)
    return out
