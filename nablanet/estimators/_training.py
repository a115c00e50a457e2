"""How an estimator's parameters become one call of `nablanet.train`.

``fit_stochastic`` (sgd, adam) and ``fit_lbfgs`` translate scikit-learn's settings (its
penalty scaling, batch size, schedules, validation split and stopping rule) into the
training loop's arguments, run it, and return a `Fitted` record. They change nothing on
the estimator but its network's weights and weight decay; the estimator commits the
record to its attributes (see ``_BaseMLP._commit``).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning

from nablanet.estimators._checkpoint import Checkpoint
from nablanet.estimators._stopping import ScikitLearnStopping, StoppingState
from nablanet.optim import SGD, Adam
from nablanet.optim.scipy_min import LBFGS
from nablanet.training import Callback, EpochLogger, History, train

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
        The estimator's ``n_iter_`` after this call: sgd and adam count on from the
        previous calls, L-BFGS counts this call's iterations only (as scikit-learn).
    """

    history: History
    n_train: int
    stopping: StoppingState | None
    n_iter: int


def fit_stochastic(
    est: _BaseMLP, X: Array, Y: Array, y: Any, s: Array | None, incremental: bool
) -> Fitted:
    """Minibatch training with scikit-learn's rules ("sgd", "adam")."""
    early = est.early_stopping and not incremental
    validation = None
    if early:
        X, Y, s, validation = _validation_split(est, X, Y, y, s)
    m = X.shape[0]
    batch = min(200, m) if est.batch_size == "auto" else int(est.batch_size)
    if batch > m:
        warnings.warn(
            "Got `batch_size` larger than sample size. It is going to be clipped",
            stacklevel=4,
        )
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
    history = _train(
        est, X, Y, s, stopping,
        optimizer=_optimizer(est),
        learning_rate=_learning_rate(est, m, stopping.start.learning_rate, incremental),
        epochs=1 if incremental else est.max_iter,
        batch_size=batch,
        shuffle=est.shuffle,
        validation_data=validation,
    )
    if not incremental and history.best.stop_reason == "max_epochs":
        warnings.warn(
            f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
            "optimization hasn't converged yet.",
            ConvergenceWarning,
            stacklevel=4,
        )
    n_iter = est.n_iter_ + history.best.n_epochs
    return Fitted(history, m, stopping.runs[history.best_run], n_iter)


def fit_lbfgs(est: _BaseMLP, X: Array, Y: Array, s: Array | None) -> Fitted:
    """Full-batch L-BFGS with scikit-learn's penalty scaling and limits."""
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
    )
    if history.best.stop_reason == "max_epochs":
        warnings.warn(
            f"lbfgs failed to converge after {est.max_iter} iterations. Increase the "
            "number of iterations (max_iter) or scale the data.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return Fitted(history, X.shape[0], None, history.best.n_epochs)


def _validation_split(
    est: _BaseMLP, X: Array, Y: Array, y: Any, s: Array | None
) -> tuple[Array, Array, Array | None, tuple[Array, Array]]:
    """scikit-learn's hold-out for early stopping (stratified for single-label targets)."""
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
    return X, Y, (parts[4] if s is not None else None), (X_val, Y_val)


def _optimizer(est: _BaseMLP) -> Any:
    if est.solver == "adam":
        return Adam(est.learning_rate_init, est.beta_1, est.beta_2, est.epsilon)
    return SGD(est.learning_rate_init, est.momentum, nesterov=est.nesterovs_momentum)


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
    checkpoint = Checkpoint(stopping)
    callbacks: list[Callback] = [] if stopping is None else [stopping]
    callbacks += list(est.callbacks or [])
    if est.verbose:
        callbacks.append(EpochLogger(sys.stdout))
    callbacks.append(checkpoint)  # last: it sees the epoch as every other callback left it
    try:
        return train(
            est.net_, X, Y,
            seed=seed,
            score=est._validation_score,
            restarts=est.restarts,
            dropout=est.dropout,
            sample_weight=s,
            callbacks=callbacks,
            **kwargs,
        )
    except KeyboardInterrupt:
        history = checkpoint.resume(est.net_)
        warnings.warn("Training interrupted by user.", stacklevel=5)
        return history
