"""scikit-learn estimators: `MLPClassifier` and `MLPRegressor`.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``
(1.9): the same constructor parameters with the same meaning and the same fitted
attributes, trained by nablanet's network and loop. Extra parameters, whose defaults
reproduce scikit-learn's behaviour, give what scikit-learn's MLP lacks: an activation
per layer, any output activation and loss (the source's conventions included),
dropout, restarts, callbacks and float32 training.

Where a meaning differs from scikit-learn
-----------------------------------------
- ``alpha``: scikit-learn adds ``(alpha / 2) ΣW² / n_batch`` to each batch's loss, so
  the network's weight decay (MATH.md λ) is ``alpha / batch_size`` (``alpha / n_samples``
  for L-BFGS, which uses the full batch). The last, smaller batch of an epoch uses the
  same λ here, where scikit-learn divides by its actual size.
- ``loss_`` / ``loss_curve_`` for regression: scikit-learn's squared loss averages over
  outputs as well as samples; nablanet's is ``½‖h − y‖²`` summed over outputs (MATH.md
  §4). They agree for a single output.
- Initial weights: Glorot's uniform range ±√(6 / (fan_in + fan_out)) as in scikit-learn
  (which narrows it for logistic layers), and zero biases where scikit-learn draws them
  from the same range.
- ``coefs_[l]`` has scikit-learn's shape ``(n_in, n_out)``: it is the transposed view
  ``W[l].T`` of the network's weight matrix, sharing its memory.
- ``loss_curve_`` is also recorded for the "lbfgs" solver (one entry per iteration).
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from nablanet.activations import get_activation
from nablanet.callbacks import Callback, EpochLogger, TrainState
from nablanet.data.validation import check_sample_weight
from nablanet.distributed.estimators import cluster_fit, cluster_scored
from nablanet.distributed.predict import rowwise
from nablanet.network import Network
from nablanet.optim import SGD, Adam
from nablanet.optim.schedules import InverseScaling
from nablanet.optim.scipy_min import LBFGS
from nablanet.training import History, train

Array = NDArray[Any]

_SOLVERS = ("lbfgs", "sgd", "adam")
_SCHEDULES = ("constant", "invscaling", "adaptive")
#: scikit-learn's name for each output activation, for ``out_activation_``.
_SKLEARN_NAMES = {"sigmoid": "logistic"}


class _ScikitLearnStopping(Callback):
    """scikit-learn's stopping rule, including the 'adaptive' learning rate.

    After each epoch the count of epochs without an improvement of ``tol`` grows (on the
    validation score with early stopping, else on the training loss); past
    ``n_iter_no_change`` the run stops — or, with the adaptive schedule, the learning
    rate is divided by 5 until it falls below 1e-6.
    """

    def __init__(self, est: _BaseMLP, early_stopping: bool, adaptive: bool) -> None:
        self.est = est
        self.early_stopping = early_stopping
        self.adaptive = adaptive
        self.best_theta: Array | None = None

    def on_train_begin(self, state: TrainState) -> None:
        self.best_theta = None

    def on_epoch_end(self, state: TrainState) -> bool:
        est, h = self.est, state.history
        if self.early_stopping:
            score = h.val_score[-1]
            assert est.validation_scores_ is not None and est.best_validation_score_ is not None
            est.validation_scores_.append(score)
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                self.best_theta = state.net.theta.copy()
        else:
            loss = h.train_loss[-1]
            assert est.best_loss_ is not None
            if loss > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, loss)
        if est._no_improvement_count > est.n_iter_no_change:
            if self.adaptive and state.learning_rate > 1e-6:
                state.learning_rate /= 5.0  # used from the next epoch on, and by later fits
                est._learning_rate = state.learning_rate
                est._no_improvement_count = 0
                return False
            return True
        return False

    def on_train_end(self, state: TrainState) -> None:
        if self.early_stopping and self.best_theta is not None:
            state.net.theta[...] = self.best_theta


class _BaseMLP(TransformerMixin, BaseEstimator):
    """Parameters and training shared by the classifier and the regressor.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default (100,)
        Units of each hidden layer.
    activation : str or list of str, default "relu"
        Hidden activation(s): "identity", "logistic" (= "sigmoid"), "tanh", "relu",
        "leaky_relu"; a list gives one per hidden layer.
    solver : {"lbfgs", "sgd", "adam"}, default "adam"
    alpha : float, default 1e-4
        L2 penalty, scaled as scikit-learn does (see the module notes).
    batch_size : int or "auto", default "auto"
        ``min(200, n_samples)`` for "auto"; unused by "lbfgs".
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        Schedule for "sgd".
    learning_rate_init : float, default 1e-3
    power_t : float, default 0.5
        Exponent of "invscaling".
    max_iter : int, default 200
        Epochs ("sgd", "adam") or iterations ("lbfgs").
    shuffle : bool, default True
    random_state : int, RandomState or None
    tol : float, default 1e-4
    verbose : bool, default False
        Print one line per epoch to standard output.
    warm_start : bool, default False
        Continue from the previous fit's weights.
    momentum : float, default 0.9
    nesterovs_momentum : bool, default True
    early_stopping : bool, default False
        Hold out ``validation_fraction`` and stop when its score stops improving.
    validation_fraction : float, default 0.1
    beta_1, beta_2, epsilon : float
        Adam's parameters.
    n_iter_no_change : int, default 10
    max_fun : int, default 15000
        Cost evaluations allowed to "lbfgs".
    output_activation : str, optional
        nablanet: the output layer's activation; None keeps scikit-learn's choice.
    loss : str, optional
        nablanet: "squared_error", "cross_entropy" or "binary_cross_entropy"; None keeps
        scikit-learn's choice for the output activation.
    dropout : float, default 0.0
        nablanet: probability of dropping a hidden unit while training.
    restarts : int, default 1
        nablanet: random initialisations tried; the best is kept (MATH.md §5).
    callbacks : list of Callback, optional
        nablanet: extra training callbacks.
    dtype : {None, "float32", "float64"}, default None
        nablanet: training precision; None keeps float32 input as float32 and uses
        float64 otherwise, as scikit-learn does.
    """

    _is_classifier = False

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str | Sequence[str] = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        output_activation: str | None = None,
        loss: str | None = None,
        dropout: float = 0.0,
        restarts: int = 1,
        callbacks: Sequence[Callback] | None = None,
        dtype: Any = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.output_activation = output_activation
        self.loss = loss
        self.dropout = dropout
        self.restarts = restarts
        self.callbacks = callbacks
        self.dtype = dtype

    # --- parameter checks -----------------------------------------------------------

    def _check_params(self) -> list[int]:
        """Validate the constructor parameters; return the hidden layer sizes."""
        try:
            hidden = [int(h) for h in np.atleast_1d(self.hidden_layer_sizes)]
        except (TypeError, ValueError):
            raise ValueError(
                f"hidden_layer_sizes must be integers, got {self.hidden_layer_sizes!r}"
            ) from None
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {self.hidden_layer_sizes!r}")
        names = [self.activation] if isinstance(self.activation, str) else list(self.activation)
        for name in names:
            get_activation(name)
        _one_of("solver", self.solver, _SOLVERS)
        _one_of("learning_rate", self.learning_rate, _SCHEDULES)
        _number("alpha", self.alpha, low=0.0)
        _number("learning_rate_init", self.learning_rate_init, low=0.0, low_open=True)
        _number("power_t", self.power_t, low=0.0)
        _number("tol", self.tol, low=0.0)
        _number("momentum", self.momentum, low=0.0, high=1.0)
        _number("validation_fraction", self.validation_fraction, 0.0, 1.0, True, True)
        _number("beta_1", self.beta_1, low=0.0, high=1.0, high_open=True)
        _number("beta_2", self.beta_2, low=0.0, high=1.0, high_open=True)
        _number("epsilon", self.epsilon, low=0.0, low_open=True)
        _number("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        for name in ("max_iter", "n_iter_no_change", "max_fun", "restarts"):
            _integer(name, getattr(self, name))
        if self.batch_size != "auto":
            _integer("batch_size", self.batch_size)
        if self.dtype is not None and np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be None, float32 or float64, got {self.dtype!r}")
        return hidden

    def _train_dtype(self, X: Array) -> Any:
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return np.float32 if X.dtype == np.float32 else np.float64

    # --- fitting --------------------------------------------------------------------

    @cluster_fit  # dask arrays: trained on the cluster (nablanet.distributed)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _BaseMLP:
        """Fit the model to data X and targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool) -> _BaseMLP:
        hidden = self._check_params()
        first = not hasattr(self, "net_") or not (self.warm_start or incremental)
        X, y = validate_data(
            self, X, y, reset=first, multi_output=True, dtype=(np.float64, np.float32),
            y_numeric=not self._is_classifier,
        )
        if first:
            self._random_state = check_random_state(self.random_state)
        dtype = self._train_dtype(X) if first else self.net_.dtype
        X = np.ascontiguousarray(X, dtype=dtype)
        Y = self._encode(y, fit=first, dtype=dtype)
        s = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
        if first:
            self._start(hidden, X.shape[1], Y.shape[1], dtype)
        if self.solver == "lbfgs":
            history, n_train = self._fit_lbfgs(X, Y, s)
        else:
            history, n_train = self._fit_stochastic(X, Y, y, s, incremental)
        self._record(history, n_train)
        return self

    def _start(self, hidden: list[int], n_in: int, n_out: int, dtype: Any) -> None:
        """Build a fresh network and reset the fitted record."""
        out = self._output_activation()
        self.net_ = Network(
            [n_in, *hidden, n_out],
            activation=self.activation,
            output_activation=out,
            loss=self._loss_name(out),
            # scikit-learn's scheme (Glorot's uniform range), whatever the activation.
            init="glorot",
            seed=int(self._random_state.randint(np.iinfo(np.int32).max)),
            dtype=dtype,
        )
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_: list[float] = []
        self.validation_loss_curve_: list[float] = []
        self._no_improvement_count = 0
        self._learning_rate = float(self.learning_rate_init)
        if self.early_stopping and self.solver != "lbfgs":
            self.validation_scores_: list[float] | None = []
            self.best_validation_score_: float | None = -np.inf
            self.best_loss_: float | None = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _optimizer(self) -> Any:
        if self.solver == "adam":
            return Adam(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)
        return SGD(self.learning_rate_init, self.momentum, nesterov=self.nesterovs_momentum)

    def _callbacks(self) -> list[Callback]:
        cbs = list(self.callbacks or [])
        if self.verbose:
            cbs.append(EpochLogger(sys.stdout))
        return cbs

    def _fit_stochastic(
        self, X: Array, Y: Array, y: Any, s: Array | None, incremental: bool
    ) -> tuple[History, int]:
        early = self.early_stopping and not incremental
        validation = None
        if early:
            stratify = y if self._is_classifier and np.ndim(y) == 1 else None
            parts = train_test_split(
                X, Y, *([] if s is None else [s]),
                random_state=self._random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            X, X_val, Y, Y_val = parts[:4]
            s = parts[4] if s is not None else None
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the "
                    "size of your dataset."
                )
            validation = (X_val, Y_val)
        m = X.shape[0]
        batch = min(200, m) if self.batch_size == "auto" else int(self.batch_size)
        if batch > m:
            warnings.warn(
                "Got `batch_size` larger than sample size. It is going to be clipped",
                stacklevel=3,
            )
        batch = min(batch, m)
        # scikit-learn divides the penalty by each batch's total sample weight.
        self.net_.weight_decay = self.alpha / (batch * (1.0 if s is None else float(s.mean())))
        schedule = None
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            schedule = InverseScaling(self.learning_rate_init, self.power_t, steps_per_epoch=m)
            # continue the schedule where an earlier call left it
            offset = self.n_iter_
            learning_rate: Any = lambda epoch, loss: schedule(epoch + offset, loss)  # noqa: E731
        else:
            learning_rate = self._learning_rate
        stopping = _ScikitLearnStopping(
            self, early, adaptive=self.solver == "sgd" and self.learning_rate == "adaptive"
        )
        history = self._train(
            X, Y, s,
            optimizer=self._optimizer(),
            learning_rate=learning_rate,
            epochs=1 if incremental else self.max_iter,
            batch_size=batch,
            shuffle=self.shuffle,
            validation_data=validation,
            callbacks=[stopping, *self._callbacks()],
        )
        if not incremental and history.best.stop_reason == "max_epochs":
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return history, m

    def _fit_lbfgs(self, X: Array, Y: Array, s: Array | None) -> tuple[History, int]:
        # scikit-learn divides the penalty by the total sample weight of the batch.
        self.net_.weight_decay = self.alpha / (X.shape[0] if s is None else float(s.sum()))
        history = self._train(
            X, Y, s,
            optimizer=LBFGS(max_iter=self.max_iter, tol=self.tol, max_fun=self.max_fun),
            learning_rate=None,
            epochs=self.max_iter,
            batch_size=None,
            shuffle=False,
            validation_data=None,
            callbacks=self._callbacks(),
        )
        if history.best.stop_reason == "max_epochs":
            warnings.warn(
                f"lbfgs failed to converge after {self.max_iter} iterations. Increase the "
                "number of iterations (max_iter) or scale the data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return history, X.shape[0]

    def _train(self, X: Array, Y: Array, s: Array | None, **kwargs: Any) -> History:
        seed = int(self._random_state.randint(np.iinfo(np.int32).max))
        return train(
            self.net_, X, Y,
            seed=seed,
            score=self._validation_score,
            restarts=self.restarts,
            dropout=self.dropout,
            sample_weight=s,
            **kwargs,
        )

    def _record(self, history: History, n_train: int) -> None:
        """Update the scikit-learn fitted attributes after a training call."""
        run = history.best
        self.history_ = history
        self.loss_curve_.extend(run.train_loss)
        self.validation_loss_curve_.extend(v for v in run.val_loss if not math.isnan(v))
        self.loss_ = float(run.train_loss[-1])
        if self.best_loss_ is not None:
            self.best_loss_ = min(self.best_loss_, min(run.train_loss))
        self.n_iter_ += run.n_epochs
        self.t_ += run.n_epochs * n_train
        self.n_layers_ = len(self.net_.layer_sizes)
        self.n_outputs_ = self.net_.layer_sizes[-1]
        name = self.net_.activations[-1].name
        self.out_activation_ = _SKLEARN_NAMES.get(name, name)

    # --- fitted views ---------------------------------------------------------------

    @property
    def coefs_(self) -> list[Array]:
        """Weight matrices in scikit-learn's shape (n_in, n_out): views ``W[l].T``."""
        check_is_fitted(self, "net_")
        return [W.T for W in self.net_.W]

    @property
    def intercepts_(self) -> list[Array]:
        """Bias vectors, views ``b[l]`` into the network's theta."""
        check_is_fitted(self, "net_")
        return list(self.net_.b)

    def _outputs(self, X: Any) -> Array:
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.net_.forward(np.asarray(X, dtype=self.net_.dtype))

    @rowwise  # a dask array: block by block on the cluster, a dask array back
    def transform(self, X: Any) -> Array:
        """Activations of the last hidden layer for X, shape (n_samples, units)."""
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.net_.hidden(np.asarray(X, dtype=self.net_.dtype))

    def check_gradient(self, X: Any, y: Any, **kwargs: Any) -> Any:
        """Gradient check of the fitted network on (X, y) in float64 (MATH.md §7)."""
        X, Y = self._encoded_pair(X, y)
        return self.net_.check_gradient(X, Y, **kwargs)

    def diagnose(self, X: Any, y: Any) -> Any:
        """Saturation, dead units and slow-learning weights on (X, y) (MATH.md §6)."""
        X, Y = self._encoded_pair(X, y)
        return self.net_.diagnose(X, Y)

    def _encoded_pair(self, X: Any, y: Any) -> tuple[Array, Array]:
        check_is_fitted(self, "net_")
        X, y = validate_data(self, X, y, reset=False, multi_output=True)
        return np.asarray(X, dtype=np.float64), self._encode(y, fit=False, dtype=np.float64)

    # --- model files (see nablanet.io: arrays + JSON, never pickle) ------------------

    def save(self, path: Any) -> None:
        """Write the fitted estimator to a safe model file (see `nablanet.io`)."""
        from nablanet.io import save

        save(self, path)

    def _to_state(self) -> tuple[dict[str, Any], dict[str, Array]]:
        """Header fields and arrays that rebuild this fitted estimator exactly."""
        from nablanet.io import network_state

        check_is_fitted(self, "net_")
        spec, arrays = network_state(self.net_)
        params = self.get_params()
        params["callbacks"] = None  # callbacks are code: they are never written to a file
        params["hidden_layer_sizes"] = [int(h) for h in np.atleast_1d(self.hidden_layer_sizes)]
        params["activation"] = (
            self.activation if isinstance(self.activation, str) else list(self.activation)
        )
        params["dtype"] = None if self.dtype is None else np.dtype(self.dtype).name
        if not isinstance(self.random_state, int | type(None)):
            params["random_state"] = None
        fitted = {key: _json_value(getattr(self, key)) for key in _FITTED_FIELDS}
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = [str(f) for f in self.feature_names_in_]
        header = {"kind": type(self).__name__, "network": spec, "params": params,
                  "fitted": fitted, **self._target_state(arrays)}
        return header, arrays

    @classmethod
    def _from_state(
        cls, header: dict[str, Any], arrays: dict[str, Array], *, source: str
    ) -> _BaseMLP:
        """Rebuild an estimator saved by `_to_state`, checking every field."""
        from nablanet import io

        params = io.check_field(header, "params", dict, source=source)
        if params.get("callbacks") is not None:
            raise io.ModelFileError(
                f"{source}: params.callbacks must be null (code is never loaded from a file)"
            )
        est = cls(**params)
        hidden = est._check_params()
        fitted = io.check_field(header, "fitted", dict, source=source)
        io.check_keys(fitted, _FITTED_FIELDS, ("feature_names_in_",), source=source,
                      where="header field 'fitted'")
        for key in _FITTED_FIELDS:
            value = fitted[key]
            types = _FITTED_TYPES[key]
            io.check_field(fitted, key, types, source=source, where="fitted")
            if isinstance(value, list) and not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in value
            ):
                raise io.ModelFileError(f"{source}: header field 'fitted.{key}' must hold numbers")
            setattr(est, key, value)
        if "feature_names_in_" in fitted:
            names = io.check_field(fitted, "feature_names_in_", list, source=source, where="fitted")
            if len(names) != est.n_features_in_ or not all(isinstance(n, str) for n in names):
                raise io.ModelFileError(f"{source}: feature names do not match n_features_in_")
            est.feature_names_in_ = np.asarray(names, dtype=object)
        net = io.network_from_state(
            header["network"], arrays, source=source, format_version=header["format_version"]
        )
        if list(net.layer_sizes[1:-1]) != hidden or net.layer_sizes[0] != est.n_features_in_:
            raise io.ModelFileError(
                f"{source}: the network's layers {list(net.layer_sizes)} do not match "
                f"n_features_in_={est.n_features_in_} and hidden_layer_sizes={hidden}"
            )
        est.net_ = net
        est._random_state = check_random_state(est.random_state)
        est._restore_target_state(header, arrays, source)
        est.n_layers_ = len(net.layer_sizes)
        est.n_outputs_ = net.layer_sizes[-1]
        name = net.activations[-1].name
        est.out_activation_ = _SKLEARN_NAMES.get(name, name)
        return est

    # --- to be provided by the subclasses -------------------------------------------

    def _target_state(self, arrays: dict[str, Array]) -> dict[str, Any]:
        raise NotImplementedError

    def _restore_target_state(
        self, header: dict[str, Any], arrays: dict[str, Array], source: str
    ) -> None:
        raise NotImplementedError

    def _output_activation(self) -> str:
        raise NotImplementedError

    def _loss_name(self, output_activation: str) -> str | None:
        raise NotImplementedError

    def _encode(self, y: Any, fit: bool, dtype: Any) -> Array:
        raise NotImplementedError

    def _validation_score(self, net: Network, X: Array, Y: Array) -> float:
        raise NotImplementedError


def _stochastic_solver(est: _BaseMLP) -> bool:
    """Let `partial_fit` exist only for minibatch solvers, as in scikit-learn."""
    if est.solver == "lbfgs":
        raise AttributeError(
            "partial_fit is only available for stochastic optimizers. lbfgs is not stochastic."
        )
    return True


_FITTED_TYPES: dict[str, Any] = {
    "n_iter_": int,
    "t_": int,
    "loss_": float,
    "best_loss_": (float, type(None)),
    "loss_curve_": list,
    "validation_loss_curve_": list,
    "validation_scores_": (list, type(None)),
    "best_validation_score_": (float, type(None)),
    "n_features_in_": int,
    "_no_improvement_count": int,
    "_learning_rate": float,
}
_FITTED_FIELDS = tuple(_FITTED_TYPES)


def _json_value(value: Any) -> Any:
    """A fitted attribute as plain JSON (non-finite floats have no JSON form: None)."""
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, np.integer | int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value) if math.isfinite(value) else None
    return value


def _one_of(name: str, value: Any, valid: Sequence[str]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")


def _number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    ok = ok and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if low_open else '['}{lo}, {hi}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")


def _integer(name: str, value: Any) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, a drop-in for scikit-learn's.

    Parameters are those of `sklearn.neural_network.MLPClassifier` plus nablanet's extras
    (see `_BaseMLP` and the module notes). Binary and multi-label problems get sigmoid
    outputs with binary cross-entropy, multi-class problems softmax with cross-entropy,
    unless ``output_activation`` / ``loss`` say otherwise. With
    ``output_activation="tanh"`` the classes are coded −1/+1 and the threshold is 0
    (the source's convention, MATH.md §4).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_, intercepts_ : list of ndarray
        Views into the network's parameters (``coefs_[l]`` is ``W[l].T``).
    loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_
        As in scikit-learn.
    validation_loss_curve_ : list of float
        nablanet: validation cost per epoch (with early stopping).
    n_iter_, t_, n_layers_, n_outputs_, out_activation_, n_features_in_,
    feature_names_in_
        As in scikit-learn.
    net_ : Network
        The trained network.
    history_ : History
        The last training call's record.
    """

    _is_classifier = True
    score = cluster_scored(ClassifierMixin.score)  # dask arrays: reduced on the cluster

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _output_activation(self) -> str:
        if self.output_activation is None:
            return "softmax" if self._target_kind == "multiclass" else "sigmoid"
        name = get_activation(self.output_activation).name
        if name not in ("sigmoid", "tanh", "softmax"):
            raise ValueError(
                f"output_activation for a classifier must be sigmoid, tanh or softmax, got "
                f"{self.output_activation!r}"
            )
        if name == "softmax" and self._target_kind == "multilabel-indicator":
            raise ValueError("multi-label targets need sigmoid or tanh outputs, not softmax")
        return name

    def _loss_name(self, output_activation: str) -> str | None:
        if self.loss is not None:
            return self.loss
        return {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}.get(
            output_activation, "squared_error"
        )

    def _encode(self, y: Any, fit: bool, dtype: Any) -> Array:
        """Code labels as output targets: one-hot, 0/1, or −1/+1 for tanh outputs."""
        if np.ndim(y) == 2 and np.shape(y)[1] == 1:
            y = column_or_1d(y, warn=True)  # a column vector is not multi-label
        if fit:
            labels = getattr(self, "_partial_fit_classes", None)
            self._binarizer = LabelBinarizer().fit(y if labels is None else labels)
            self.classes_ = self._binarizer.classes_
            kind = type_of_target(y)
            self._target_kind = "multiclass" if kind == "binary" and len(
                self.classes_
            ) > 2 else kind
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes in y, got 1 class: "
                    f"{self.classes_[0]!r}"
                )
        elif type_of_target(y) != "multilabel-indicator":
            unseen = np.setdiff1d(unique_labels(y), self.classes_)
            if unseen.size:
                raise ValueError(
                    f"y has classes not seen in the first fit: {unseen.tolist()}; known "
                    f"classes: {self.classes_.tolist()}"
                )
        Y = self._binarizer.transform(y).astype(dtype)
        out = self._output_activation()
        if Y.shape[1] == 1 and out == "softmax":
            Y = np.hstack([1.0 - Y, Y])
        if out == "tanh":
            Y = 2.0 * Y - 1.0
        return np.ascontiguousarray(Y)

    def _target_state(self, arrays: dict[str, Array]) -> dict[str, Any]:
        classes = self.classes_
        kind = classes.dtype.kind
        values = [str(c) for c in classes] if kind in "OUS" else classes.tolist()
        return {"classes": values, "classes_dtype": "object" if kind == "O" else classes.dtype.str,
                "target_kind": self._target_kind}

    def _restore_target_state(
        self, header: dict[str, Any], arrays: dict[str, Array], source: str
    ) -> None:
        from nablanet import io

        values = io.check_field(header, "classes", list, source=source)
        dtype = np.dtype(io.check_field(header, "classes_dtype", str, source=source))
        if dtype.kind not in "biufUO" or not all(
            isinstance(v, str | int | float | bool) for v in values
        ):
            raise io.ModelFileError(f"{source}: header field 'classes' has unsupported labels")
        kind = io.check_field(header, "target_kind", str, source=source)
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise io.ModelFileError(f"{source}: unknown target_kind {kind!r}")
        self.classes_ = np.array(values, dtype=dtype)
        if len(values) < 2 or not np.array_equal(np.unique(self.classes_), self.classes_):
            raise io.ModelFileError(
                f"{source}: header field 'classes' must hold at least two distinct labels in "
                f"sorted order, got {values!r}"
            )
        self._target_kind = kind
        if kind == "multilabel-indicator":
            self._binarizer = LabelBinarizer().fit(np.eye(len(values), dtype=int))
        else:
            self._binarizer = LabelBinarizer().fit(self.classes_)
        n_out = self.net_.layer_sizes[-1]
        expected = {1, 2} if len(values) == 2 and kind != "multilabel-indicator" else {len(values)}
        if n_out not in expected or self._output_activation() != self.net_.activations[-1].name:
            raise io.ModelFileError(
                f"{source}: the network's output layer ({n_out} "
                f"{self.net_.activations[-1].name} units) does not fit {len(values)} classes"
            )

    def _decide(self, A: Array) -> Array:
        """Decisions from outputs (or coded targets): class indices or an indicator."""
        threshold = 0.0 if self.net_.activations[-1].name == "tanh" else 0.5
        if self._target_kind == "multilabel-indicator":
            return (A > threshold).astype(int)
        if A.shape[1] == 1:
            return (A[:, 0] > threshold).astype(int)
        return A.argmax(axis=1)

    def _validation_score(self, net: Network, X: Array, Y: Array) -> float:
        pred = self._decide(net.forward(X)).reshape(X.shape[0], -1)
        true = self._decide(Y).reshape(X.shape[0], -1)
        return float(np.mean(np.all(pred == true, axis=1)))

    @available_if(_stochastic_solver)
    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> Any:
        """Run one epoch over (X, y), continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
        classes : array-like of shape (n_classes,), optional
            Every class of the problem; required on the first call.
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        if not hasattr(self, "net_"):
            if classes is None and type_of_target(y) != "multilabel-indicator":
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._partial_fit_classes = None if classes is None else np.asarray(classes)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"`classes={list(classes)}` is not the same as on the first call to "
                f"partial_fit: {self.classes_.tolist()}"
            )
        return self._fit(X, y, sample_weight, incremental=True)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Fit the model to data X and labels y; see `_BaseMLP.fit`."""
        self.__dict__.pop("_partial_fit_classes", None)
        return super().fit(X, y, sample_weight)

    @rowwise
    def predict(self, X: Any) -> Array:
        """Predicted class of each row (an indicator matrix for multi-label problems)."""
        decided = self._decide(self._outputs(X))
        if self._target_kind == "multilabel-indicator":
            return decided
        return self.classes_[decided]

    @rowwise
    def predict_proba(self, X: Any) -> Array:
        """Class probabilities, shape (n_samples, n_classes).

        Softmax outputs are probabilities already. A single sigmoid unit gives p for the
        second class and 1 − p for the first; tanh outputs are mapped by (a + 1)/2; one
        sigmoid unit per class (one-versus-all) is normalised to sum to one per row.
        """
        A = self._outputs(X)
        act = self.net_.activations[-1].name
        P = np.clip((A + 1.0) / 2.0, 0.0, 1.0) if act == "tanh" else A
        if self._target_kind == "multilabel-indicator":
            return P
        if P.shape[1] == 1:
            return np.hstack([1.0 - P, P])
        if act == "softmax":
            return P
        total = P.sum(axis=1, keepdims=True)
        return np.divide(P, total, out=np.full_like(P, 1.0 / P.shape[1]), where=total > 0)

    @rowwise
    def predict_log_proba(self, X: Any) -> Array:
        """Logarithm of `predict_proba` (−inf where a probability is 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, a drop-in for scikit-learn's.

    Parameters are those of `sklearn.neural_network.MLPRegressor` plus nablanet's extras
    (see `_BaseMLP`). The output is linear (identity) with squared error unless
    ``output_activation`` says otherwise. With a bounded output ("sigmoid" or "tanh")
    the targets are scaled into its range ([0, 1] or [−1, 1], from the training targets'
    minimum and maximum) for training, and predictions are scaled back (MATH.md §4).

    Attributes
    ----------
    See `MLPClassifier`, without ``classes_``.
    """

    score = cluster_scored(RegressorMixin.score)  # dask arrays: reduced on the cluster

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _output_activation(self) -> str:
        if self.output_activation is None:
            return "identity"
        name = get_activation(self.output_activation).name
        if name not in ("identity", "sigmoid", "tanh"):
            raise ValueError(
                f"output_activation for a regressor must be identity, sigmoid or tanh, got "
                f"{self.output_activation!r}"
            )
        return name

    def _loss_name(self, output_activation: str) -> str | None:
        return self.loss if self.loss is not None else "squared_error"

    def _encode(self, y: Any, fit: bool, dtype: Any) -> Array:
        """Targets as a matrix, scaled into a bounded output's range."""
        Y = np.asarray(y, dtype=np.float64)
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        if fit:
            out = self._output_activation()
            lo, hi = Y.min(axis=0), Y.max(axis=0)
            span = np.where(hi > lo, hi - lo, 1.0)
            if out == "sigmoid":  # into [0, 1]
                self._y_offset, self._y_scale = lo, span
            elif out == "tanh":  # into [-1, 1]
                self._y_offset, self._y_scale = lo + span / 2.0, span / 2.0
            else:
                self._y_offset, self._y_scale = np.zeros(Y.shape[1]), np.ones(Y.shape[1])
        elif Y.shape[1] != self._y_offset.shape[0]:
            raise ValueError(
                f"y has {Y.shape[1]} outputs, the model was fitted with {self._y_offset.shape[0]}"
            )
        return np.ascontiguousarray((Y - self._y_offset) / self._y_scale, dtype=dtype)

    def _target_state(self, arrays: dict[str, Array]) -> dict[str, Any]:
        arrays["y_offset"] = np.asarray(self._y_offset, dtype=np.float64)
        arrays["y_scale"] = np.asarray(self._y_scale, dtype=np.float64)
        return {}

    def _restore_target_state(
        self, header: dict[str, Any], arrays: dict[str, Array], source: str
    ) -> None:
        from nablanet import io

        n_out = self.net_.layer_sizes[-1]
        self._y_offset = io.check_finite_array(arrays, "y_offset", source=source, shape=(n_out,))
        self._y_scale = io.check_finite_array(arrays, "y_scale", source=source, shape=(n_out,))
        if (self._y_scale <= 0).any():
            raise io.ModelFileError(f"{source}: array 'y_scale' must be positive")
        if self._output_activation() != self.net_.activations[-1].name:
            raise io.ModelFileError(f"{source}: output_activation does not match the network")

    def _validation_score(self, net: Network, X: Array, Y: Array) -> float:
        # R² is unchanged by scaling each output column, so the scaled targets do.
        return float(r2_score(Y, net.forward(X)))

    @available_if(_stochastic_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Run one epoch over (X, y), continuing from the current weights."""
        return self._fit(X, y, sample_weight, incremental=True)

    @rowwise
    def predict(self, X: Any) -> Array:
        """Predicted targets; shape (n_samples,) for a single output."""
        A = self._outputs(X)
        Y = (A * self._y_scale + self._y_offset).astype(A.dtype, copy=False)
        return Y.ravel() if Y.shape[1] == 1 else Y
