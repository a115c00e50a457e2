"""The training loop: minibatches, restarts, validation, callbacks and a divergence guard.

docs/math.md §5: start from small random weights, descend along ∂J/∂θ, and — because
gradient descent can end in a local optimum — train from several random
initialisations and keep the best.

`train` checks its arguments once, splits off the validation data, and runs one
`RunLoop` (`nablanet.training.run`) per initialisation: the epochs of a step optimizer,
or one whole-run `Minimizer` (which kind an optimizer is, it says itself). Rows on a
cluster come with their own loop, from the handler that holds them (`nablanet._remote`,
filled by `nablanet.distributed`, which wraps this loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._arrays import check_sample_weight
from nablanet._checks import integer, number
from nablanet._remote import handler_for
from nablanet.kernels import fit_kernels, use_compiled
from nablanet.network import Network
from nablanet.optim import AdamW, get_optimizer, is_minimizer
from nablanet.training.callbacks import Callback, LearningRateSchedule, ProgressBar
from nablanet.training.history import History, RunHistory, TrainState
from nablanet.training.run import MakeLoop, RunLoop, Score, TrainingData

Array = NDArray[Any]
#: A step's fixed cost in the kernels' calls, in array entries of equal saving.
STEP_ENTRIES = 10_000
Schedule = Callable[[int, float | None], float]


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
    learning_rate: float | Schedule | None = None,
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
    X : array-like or scipy.sparse CSR/CSC matrix of shape (m, s_1) or ``(m, *input_shape)``
        Images as the network reads them (`Network.check_inputs`). Sparse inputs stay
        sparse: minibatches are sparse row slices. Dask arrays (with Y, the weights and the
        validation data dask arrays too) train on their cluster with the full-batch methods
        (see `nablanet.distributed`).
    Y : array-like of shape (m, s_{n_l})
        Targets coded for the output activation (see `Network.loss_and_grad`).
    optimizer : str or optimizer object, default "adam"
        "gd" (batch gradient descent), "sgd", "adam", "adamw", "lbfgs", "cg", or an
        instance from `nablanet.optim`. "adamw" by name decays the weights only, never the
        biases (``decay_mask=slice(0, net.n_weights)``). L-BFGS and CG always use the
        full batch; ``epochs`` is then their iteration limit.
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
        Number of random initialisations (docs/math.md §5). With 1 the network trains from its
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
        When the cost becomes NaN or infinite, exceeds √(the dtype's largest value), or
        exceeds `EXPLOSION_FACTOR` (1e4) times the cost of all the data at the starting
        weights (at least 1), divided by the batch's share of the data (the rule:
        `nablanet.training.guard`); the network keeps the weights from the end of
        the last epoch that passed. The message names the cause it sees: a learning rate
        too large, or data holding values too large for any learning rate.
    RuntimeError
        When another thread is training the same network.
    """
    epochs, restarts = integer(epochs, "epochs"), integer(restarts, "restarts")
    dropout = number(dropout, "dropout", 0.0, 1.0, high_open=True)
    if batch_size is not None:
        batch_size = integer(batch_size, "batch_size")
    opt = _optimizer_for(net, optimizer) if isinstance(optimizer, str) else optimizer
    rng = np.random.default_rng(seed)
    remote = handler_for(X)
    if remote is not None:  # rows on a cluster: its loop over the objective summed per block
        make_loop, has_val = remote.train_loop(
            net, X, Y, sample_weight=sample_weight, validation_data=validation_data,
            validation_fraction=validation_fraction, score=score, dropout=dropout, rng=rng,
            batch_size=batch_size, optimizer=optimizer,
        )
        compiled = use_compiled(math.inf)  # rows on a cluster are many by definition
    else:
        make_loop, has_val, m = _local_loop(
            net, X, Y, sample_weight, validation_data, validation_fraction, score, dropout, rng
        )
        compiled = use_compiled(kernel_work(net, m, None if is_minimizer(opt) else batch_size))
    cbs = _callbacks(callbacks, learning_rate, progress)

    def one_run(run: int, run_seed: int | None, history: History) -> RunHistory:
        if run_seed is not None:
            net.reset(run_seed)
        h = RunHistory(seed=run_seed)
        history.runs.append(h)
        lr = _base_learning_rate(opt, learning_rate)
        state = TrainState(net, 0, run, lr, h, has_val, epochs)
        loop = make_loop(history)
        if is_minimizer(opt):
            loop.minimize(opt, state, cbs)
        else:
            loop.descend(opt, state, cbs, batch_size, shuffle)
        h.final_loss = loop.final_loss()
        return h

    seeds: list[int | None] = [*run_seeds(seed, restarts)] if restarts > 1 else [None]
    with net.training_hold(), fit_kernels(compiled):
        return _best_of(net, seeds, one_run)


def _optimizer_for(net: Network, name: str) -> Any:
    """The optimizer ``name`` builds for ``net``, with its defaults.

    AdamW by name decays the weights only, ``decay_mask=slice(0, net.n_weights)``: biases
    are never decayed in nablanet (as with `Network`'s ``weight_decay``). An `AdamW`
    instance passed to `train` decays what its own ``decay_mask`` says.
    """
    opt = get_optimizer(name)
    if isinstance(opt, AdamW):
        opt.decay_mask = slice(0, net.n_weights)  # nablanet's layout: weights, then biases
    return opt


def kernel_work(net: Network, m: int, batch_size: int | None) -> float:
    """Array entries that the compiled kernels (`nablanet.kernels`) would touch in an epoch.

    Each step's hidden and output layers (rows × units), the optimizer's passes over θ
    (two, with weight decay's), and a per-step share for the calls' fixed cost
    (`STEP_ENTRIES`): what the kernels save is proportional to it.
    """
    rows = m if batch_size is None else min(batch_size, m)
    steps = math.ceil(m / rows)
    units = sum(net.layer_sizes[1:])
    return steps * (rows * units + 2 * net.n_params + STEP_ENTRIES)


def _local_loop(
    net: Network,
    X: Any,
    Y: Any,
    sample_weight: Any,
    validation_data: tuple[Any, Any] | None,
    validation_fraction: float | None,
    score: Score | None,
    dropout: float,
    rng: np.random.Generator,
) -> tuple[MakeLoop, bool, int]:
    """Validate in-memory data and split off validation rows.

    Returns the loop factory, whether there are validation rows, and the training rows.
    """
    X, Y = net.check_inputs(X, Y)  # images (m, *input_shape) become rows, as in forward
    s = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
    data = _split_validation(net, X, Y, s, validation_data, validation_fraction, rng)

    def make_loop(history: History) -> RunLoop:
        return RunLoop(net, data, score, dropout, rng, history)

    return make_loop, data.has_validation, data.X.shape[0]


def _best_of(
    net: Network,
    seeds: list[int | None],
    one_run: Callable[[int, int | None, History], RunHistory],
) -> History:
    """Run once per seed and leave the network with the run of lowest final loss."""
    history = History()
    best_theta = None
    for run, run_seed in enumerate(seeds):
        h = one_run(run, run_seed, history)
        if best_theta is None or h.final_loss < history.best.final_loss:
            history.best_run = run
            best_theta = net.theta.copy() if len(seeds) > 1 else None
    if best_theta is not None:
        net.theta[...] = best_theta
    return history


def _callbacks(
    callbacks: Sequence[Callback], learning_rate: float | Schedule | None, progress: bool
) -> list[Callback]:
    """The run's callbacks: a schedule first, the caller's, a progress bar last."""
    cbs = list(callbacks)
    if learning_rate is not None and callable(learning_rate):
        cbs.insert(0, LearningRateSchedule(learning_rate))
    if progress:
        cbs.append(ProgressBar())
    return cbs


def _base_learning_rate(opt: Any, learning_rate: float | Schedule | None) -> float:
    """The rate of the first epoch: the constant given, else the optimizer's own."""
    if learning_rate is None or callable(learning_rate):
        return float(getattr(opt, "learning_rate", math.nan))
    return float(learning_rate)


def _split_validation(
    net: Network,
    X: Any,
    Y: Array,
    s: Array | None,
    validation_data: tuple[Any, Any] | None,
    fraction: float | None,
    rng: np.random.Generator,
) -> TrainingData:
    """Return the training part and the validation part (None, None when there is none)."""
    if validation_data is not None and fraction is not None:
        raise ValueError("give validation_data or validation_fraction, not both")
    if validation_data is not None:
        X_val, Y_val = net.check_inputs(*validation_data)
        return TrainingData(X, Y, s, X_val, Y_val)
    if fraction is None:
        return TrainingData(X, Y, s, None, None)
    fraction = number(fraction, "validation_fraction", 0.0, 1.0, low_open=True, high_open=True)
    m = X.shape[0]
    n_val = int(round(fraction * m))
    if n_val < 1 or n_val >= m:
        raise ValueError(
            f"validation_fraction={fraction} leaves {n_val} of {m} samples for validation"
        )
    perm = rng.permutation(m)
    val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return TrainingData(X[tr], Y[tr], None if s is None else s[tr], X[val], Y[val])
