"""How an estimator's parameters become one call of `nablanet.train`.

``fit_stochastic`` (sgd, adam) and ``fit_lbfgs`` translate scikit-learn's settings (its
penalty scaling, batch size, schedules, validation split and stopping rule) into the
training loop's arguments, run it, and return a `Fitted` record. They change nothing on
the estimator but its network's weights and weight decay; the estimator commits the
record to its attributes (see ``_BaseMLP._commit``).
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning

from nablanet.estimators._checkpoint import Checkpoint
from nablanet.estimators._optimizer import KeptOptimizer
from nablanet.estimators._stopping import ScikitLearnStopping, StoppingState
from nablanet.estimators._warnings import warn
from nablanet.optim import SGD, Adam
from nablanet.optim.scipy_min import LBFGS
from nablanet.training import Callback, History, TrainingDiverged, TrainState, train

if TYPE_CHECKING:
    from nablanet.estimators._base import _BaseMLP

Array = NDArray[Any]


@dataclass
class Fitted:
    """What one training call produced, for the estimator to commit.

    Attributes
    ----------
    history : History
    n_train : int
        Samples trained on per epoch (``t_`` grows by this much per epoch).
    stopping : StoppingState or None
        scikit-learn's counters after the kept run (None for L-BFGS, which has none).
    n_iter : int
        The estimator's ``n_iter_`` after this call: the epochs or iterations of this
        call only, as scikit-learn 1.9 counts them (a ``partial_fit`` counts 1).
    optimizer : KeptOptimizer or None
        The optimizer for the next ``partial_fit`` to go on with (None for L-BFGS).
    """

    history: History
    n_train: int
    stopping: StoppingState | None
    n_iter: int
    optimizer: KeptOptimizer | None = None


def fit_stochastic(
    est: _BaseMLP, X: Array, Y: Array, y: Any, s: Array | None, incremental: bool,
    continuing: bool = False,
) -> Fitted:
    """Minibatch training with scikit-learn's rules ("sgd", "adam").

    A ``fit`` starts a new optimizer; ``partial_fit`` goes on with the one the last call
    left (its moments or velocity, step count and rate), as scikit-learn does. A call
    ``continuing`` a fitted network (warm start, ``partial_fit``) trains it once: restarts
    would throw its weights away.
    """
    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True")
    early = est.early_stopping
    validation = s_val = None
    if early:
        X, Y, s, validation, s_val = _validation_split(est, X, Y, y, s)
    m = X.shape[0]
    batch = min(200, m) if est.batch_size == "auto" else int(est.batch_size)
    if batch > m:
        warn("Got `batch_size` larger than sample size. It is going to be clipped")
    batch = min(batch, m)
    # scikit-learn divides the penalty by each batch's total sample weight.
    est.net_.weight_decay = est.alpha / (batch * (1.0 if s is None else float(s.mean())))
    start = est._stopping_state(early)
    if not incremental:
        # scikit-learn builds a new optimizer for every fit, warm or not: the rate
        # starts again from learning_rate_init ("adaptive"'s divisions are forgotten).
        start.learning_rate = float(est.learning_rate_init)
    stopping = ScikitLearnStopping(
        start,
        tol=est.tol,
        n_iter_no_change=est.n_iter_no_change,
        early_stopping=early,
        adaptive=est.solver == "sgd" and est.learning_rate == "adaptive",
    )
    optimizer = _optimizer(est, incremental, stopping.start.learning_rate)
    history = _train(
        est, X, Y, s, stopping,
        optimizer=optimizer,
        learning_rate=_learning_rate(est, m, stopping.start.learning_rate, incremental),
        epochs=1 if incremental else est.max_iter,
        batch_size=batch,
        shuffle=est.shuffle,
        validation_data=validation,
        # scikit-learn weights the validation score by the held-out rows' sample weights
        score=functools.partial(est._validation_score, sample_weight=s_val),
        restarts=1 if continuing else est.restarts,
    )
    run = history.best
    if not incremental and run.stop_reason == "max_epochs":
        warn(
            f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
            "optimization hasn't converged yet.",
            ConvergenceWarning,
        )
    counters = stopping.runs[history.best_run]
    kept = KeptOptimizer(
        optimizer.rule,
        None if run.stop_reason == "diverged" else optimizer.runs[history.best_run],
        rate_in_force(est, counters.learning_rate, est.t_ + run.n_epochs * m),
    )
    return Fitted(history, m, counters, run.n_epochs, kept)


def fit_lbfgs(
    est: _BaseMLP, X: Array, Y: Array, s: Array | None, continuing: bool = False
) -> Fitted:
    """Full-batch L-BFGS with scikit-learn's penalty scaling and limits (restarts: as above)."""
    # scikit-learn divides the penalty by the total sample weight of the batch.
    est.net_.weight_decay = est.alpha / (X.shape[0] if s is None else float(s.sum()))
    history = _train(
        est, X, Y, s, None,
        optimizer=LBFGS(max_iter=est.max_iter, tol=est.tol, max_fun=est.max_fun),
        learning_rate=None,
        epochs=est.max_iter,
        batch_size=None,
        shuffle=False,
        validation_data=None,
        score=None,
        restarts=1 if continuing else est.restarts,
    )
    if history.best.stop_reason == "max_epochs":
        warn(
            f"lbfgs failed to converge after {est.max_iter} iterations. Increase the "
            "number of iterations (max_iter) or scale the data.",
            ConvergenceWarning,
        )
    return Fitted(history, X.shape[0], None, history.best.n_epochs)


def _validation_split(
    est: _BaseMLP, X: Array, Y: Array, y: Any, s: Array | None
) -> tuple[Array, Array, Array | None, tuple[Array, Array], Array | None]:
    """scikit-learn's hold-out for early stopping (stratified for single-label targets).

    Returns the training part (X, Y, weights), the validation pair and its weights.
    """
    # Imported here: sklearn.model_selection (and sklearn.metrics with it) is a fifth of a
    # first fit's start-up, and only early stopping needs it.
    from sklearn.model_selection import train_test_split

    stratify = y if est._is_classifier and np.ndim(y) == 1 else None
    parts = train_test_split(
        X, Y, *([] if s is None else [s]),
        random_state=est._random_state,
        test_size=est.validation_fraction,
        stratify=stratify,
    )
    X, X_val, Y, Y_val = parts[:4]
    if X_val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' or the "
            "size of your dataset."
        )
    s, s_val = (parts[4], parts[5]) if s is not None else (None, None)
    if s_val is not None and not s_val.sum() > 0:
        raise ValueError(
            f"The {X_val.shape[0]} rows held out for early stopping all have sample weight "
            "0, so they cannot score the model. Increase 'validation_fraction', change "
            "'random_state', or drop the rows of weight 0."
        )
    return X, Y, s, (X_val, Y_val), s_val


def _optimizer(est: _BaseMLP, incremental: bool, rate: float) -> KeptOptimizer:
    """A new optimizer for ``fit``; for ``partial_fit`` the one the last call left."""
    kept = getattr(est, "_optimizer", None) if incremental else None
    return KeptOptimizer(new_rule(est), None if kept is None else kept.state, rate)


def new_rule(est: _BaseMLP) -> SGD | Adam:
    """The update rule of ``est``'s solver, from its parameters as they are now."""
    if est.solver == "adam":
        return Adam(est.learning_rate_init, est.beta_1, est.beta_2, est.epsilon)
    return SGD(est.learning_rate_init, est.momentum, nesterov=est.nesterovs_momentum)


def rate_in_force(est: _BaseMLP, rate: float, t: int) -> float:
    """The rate the next epoch starts from, after ``t`` samples seen in all.

    "invscaling": α₀ / (t + 1)^power_t (scikit-learn's ``iteration_ends``); otherwise the
    rate the stopping rule left ("adaptive" divides it by 5 on a plateau).
    """
    if est.solver == "sgd" and est.learning_rate == "invscaling":
        return float(est.learning_rate_init) / float(t + 1) ** float(est.power_t)
    return float(rate)


def _learning_rate(est: _BaseMLP, m: int, rate: float, incremental: bool) -> Any:
    """A constant rate, or scikit-learn's "invscaling" schedule continued from ``t_``.

    scikit-learn sets α = α₀ / (t + 1)^power_t at the end of each epoch, t being the
    samples seen so far (``t_``, over every call); a fit (warm or not) builds a new
    optimizer whose first epoch runs at α₀, while ``partial_fit`` keeps the optimizer.
    """
    if est.solver == "sgd" and est.learning_rate == "invscaling":
        from nablanet.optim.schedules import InverseScaling  # here: only this rate needs it

        schedule = InverseScaling(est.learning_rate_init, est.power_t)
        t0 = est.t_

        def invscaling(epoch: int, loss: float | None) -> float:
            if epoch == 0 and not incremental:
                return float(est.learning_rate_init)
            return schedule(t0 + epoch * m, loss)

        return invscaling
    return rate


def _train(
    est: _BaseMLP,
    X: Array,
    Y: Array,
    s: Array | None,
    stopping: ScikitLearnStopping | None,
    **kwargs: Any,
) -> History:
    """One call of `train`; Ctrl-C keeps the completed epochs, with scikit-learn's warning."""
    seed = int(est._random_state.randint(np.iinfo(np.int32).max))
    optimizer = kwargs["optimizer"]
    checkpoint = Checkpoint(stopping, optimizer if isinstance(optimizer, KeptOptimizer) else None)
    callbacks: list[Callback] = [] if stopping is None else [stopping]
    callbacks += list(est.callbacks or [])
    if est.verbose:
        callbacks.append(IterationLogger(sys.stdout, kwargs["restarts"] > 1))
    callbacks.append(checkpoint)  # last: it sees the epoch as every other callback left it
    try:
        return train(
            est.net_, X, Y,
            seed=seed,
            dropout=est.dropout,
            sample_weight=s,
            callbacks=callbacks,
            **kwargs,
        )
    except KeyboardInterrupt:
        history = checkpoint.resume(est.net_)
        warn("Training interrupted by user.")
        return history
    except TrainingDiverged as exc:
        # scikit-learn's early stopping returns the best validated model of a run that
        # diverged; nablanet does too, with a warning, when there is one to return.
        if stopping is None or not stopping.early_stopping or kwargs["restarts"] > 1:
            raise
        kept = checkpoint.diverged(est.net_)
        if kept is None:
            raise
        best = stopping.runs[-1].best_validation_score
        # the guard's cause and advice, without its word on the weights, which differs here
        cause, _, rest = str(exc).partition(" The network keeps")
        advice = rest.partition("). ")[2] if rest else ""
        warn(
            f"Training diverged in epoch {kept.best.n_epochs}; the weights with the best "
            f"validation score ({best:.6g}) are kept. {cause} {advice}".rstrip(),
            ConvergenceWarning,
        )
        return kept


class IterationLogger(Callback):
    """scikit-learn's verbose line, ``Iteration N, loss = J``, then nablanet's fields.

    N counts the epochs (L-BFGS: iterations) of the current call, as scikit-learn's
    ``n_iter_``; the fields after it are the validation score, the learning rate and
    the epoch's time (and the run, when there are several).
    """

    def __init__(self, stream: IO[str], show_run: bool) -> None:
        self.stream = stream
        self.show_run = show_run

    def on_epoch_end(self, state: TrainState) -> None:
        h = state.history
        parts = [f"Iteration {state.epoch + 1}, loss = {h.train_loss[-1]:.8f}"]
        if state.has_validation and not math.isnan(h.val_score[-1]):
            parts.append(f"validation score = {h.val_score[-1]:.6f}")
        if not math.isnan(h.learning_rate[-1]):
            parts.append(f"learning rate = {h.learning_rate[-1]:.6g}")
        parts.append(f"time = {h.epoch_time[-1]:.3f}s")
        if self.show_run:
            parts.append(f"run = {state.run + 1}")
        self.stream.write(", ".join(parts) + "\n")
        self.stream.flush()
