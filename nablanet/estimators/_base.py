"""What the classifier and the regressor share: parameters, fitting, fitted views, files.

A fit is all or nothing (`_transaction`). Training itself (`_training`) changes only the
network's weights; the estimator's attributes change when it succeeded
(`_BaseMLP._commit`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from nablanet._remote import rowwise
from nablanet.activations import get_activation
from nablanet.estimators import _state
from nablanet.estimators._inputs import SPARSE_FORMATS, as_network_matrix, prediction_matrix
from nablanet.estimators._layer_arrays import LayerArrays, assign_all
from nablanet.estimators._params import PARAMETER_CONSTRAINTS, check_params
from nablanet.estimators._rows import TargetCoding, fit_rows
from nablanet.estimators._stopping import StoppingState
from nablanet.estimators._training import Fitted, fit_lbfgs, fit_stochastic
from nablanet.estimators._transaction import all_or_nothing
from nablanet.network import Network
from nablanet.training import Callback

Array = NDArray[Any]

#: scikit-learn's name for each output activation, for ``out_activation_``.
SKLEARN_NAMES = {"sigmoid": "logistic"}


class _BaseMLP(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
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
        L2 penalty, scaled as scikit-learn does (see the package notes).
    batch_size : int or "auto", default "auto"
        ``min(200, n_samples)`` for "auto"; unused by "lbfgs".
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        Schedule for "sgd".
    learning_rate_init : float, default 1e-3
        The rate every ``fit`` starts from, warm starts included (scikit-learn builds a
        new optimizer each time); ``partial_fit`` goes on with the optimizer the last
        call left: its state (moments, velocity, step count) and the rate in force.
    power_t : float, default 0.5
        Exponent of "invscaling".
    max_iter : int, default 200
        Epochs ("sgd", "adam") or iterations ("lbfgs").
    shuffle : bool, default True
    random_state : int, RandomState or None
    tol : float, default 1e-4
    verbose : bool, default False
        Print scikit-learn's line per epoch to standard output, ``Iteration N, loss = J``,
        then the validation score, the learning rate and the epoch's time.
    warm_start : bool, default False
        Continue from the previous fit's weights.
    momentum : float, default 0.9
    nesterovs_momentum : bool, default True
    early_stopping : bool, default False
        Hold out ``validation_fraction`` and stop when its score stops improving.
    validation_fraction : float, default 0.1
    beta_1, beta_2, epsilon : float
        Adam's parameters.
    n_iter_no_change : int or np.inf, default 10
        Epochs without an improvement of ``tol`` before stopping; ``np.inf`` never stops.
    max_fun : int, default 15000
        Cost evaluations allowed to "lbfgs".
    output_activation : str, optional
        nablanet: the output layer's activation; None keeps scikit-learn's choice.
    loss : str, optional
        "squared_error", "cross_entropy", "binary_cross_entropy" or "poisson" (the
        regressor's, as in scikit-learn ≥ 1.7: an exponential output); None keeps
        scikit-learn's choice for the output activation.
    dropout : float, default 0.0
        nablanet: probability of dropping a hidden unit while training.
    restarts : int, default 1
        nablanet: random initialisations tried by a fit that starts afresh; the best is
        kept. A warm start or ``partial_fit`` trains the fitted weights once.
    callbacks : list of Callback, optional
        nablanet: extra training callbacks.
    dtype : {None, "float32", "float64"}, default None
        nablanet: training precision; None keeps float32 input as float32 and uses
        float64 otherwise, as scikit-learn does.

    Notes
    -----
    The parameters are declared as scikit-learn declares its own (see `_params`).
    """

    _is_classifier = False

    _parameter_constraints = PARAMETER_CONSTRAINTS

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR and CSC, as scikit-learn's MLP
        return tags

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
        return check_params(self)

    def _train_dtype(self, X: Array) -> Any:
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return np.float32 if X.dtype == np.float32 else np.float64

    # --- fitting --------------------------------------------------------------------

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Fit the model to data X and targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Or a collection whose rows live on a cluster (a dask array, see
            `nablanet.distributed`): the same fit runs there, with the "lbfgs" solver.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self

        Notes
        -----
        If it raises, the estimator is unfitted afterwards, or, with ``warm_start``
        continuing a fitted model, exactly as it was before the call.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _continues(self, incremental: bool) -> bool:
        """Whether this call trains the fitted network further."""
        return hasattr(self, "net_") and bool(self.warm_start or incremental)

    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool) -> Any:
        """The one fit path; where the rows live changes only the data steps (`_rows`)."""
        continuing = self._continues(incremental)
        rows = fit_rows(X)
        rows.check_solver(self.solver)
        with self._all_or_nothing(continuing):
            hidden = self._check_params()
            X, y, sample_weight = rows.validate(self, X, y, sample_weight, reset=not continuing)
            if not continuing:
                self._random_state = check_random_state(self.random_state)
            dtype = self.net_.dtype if continuing else self._train_dtype(X)
            X = rows.matrix(X, dtype)
            Y, s = rows.targets(
                self._target_coding(), y, sample_weight, X.shape[0], dtype, continuing,
                incremental,
            )
            if not continuing:
                self._start(hidden, X.shape[1], Y.shape[1], dtype)
            if self.solver == "lbfgs":
                fitted = fit_lbfgs(self, X, Y, s, continuing)
            else:
                fitted = fit_stochastic(self, X, Y, y, s, incremental, continuing)
            self._commit(fitted)
        return self

    def _target_coding(self) -> TargetCoding:
        return TargetCoding(
            self._encode, self._check_warm_start, self._check_continued_targets,
            self._is_classifier,
        )

    def _all_or_nothing(self, continuing: bool) -> Any:
        """The context every fit runs in (`_transaction`)."""
        return all_or_nothing(self, continuing)

    def _start(self, hidden: list[int], n_in: int, n_out: int, dtype: Any) -> None:
        """Build a fresh network and reset the fitted record."""
        seed = int(self._random_state.randint(np.iinfo(np.int32).max))
        self.net_ = self._new_network(hidden, n_in, n_out, dtype, seed)
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_: list[float] = []
        self.validation_loss_curve_: list[float] = []
        early = self.early_stopping and self.solver != "lbfgs"
        self._set_stopping(StoppingState.fresh(float(self.learning_rate_init), early))

    def _new_network(
        self, hidden: Any, n_in: int, n_out: int, dtype: Any, seed: int
    ) -> Network:
        """A fresh network: ``hidden`` (what `_check_params` gave), then n_out outputs."""
        out = self._output_activation()
        return Network(
            [n_in, *hidden, n_out],
            activation=self.activation,
            output_activation=out,
            loss=self._loss_name(out),
            # scikit-learn's scheme (Glorot's uniform range), whatever the activation.
            init="glorot",
            seed=seed,
            dtype=dtype,
        )

    def _check_architecture(self, net: Network) -> None:
        """Refuse a network whose hidden layers are not those the parameters describe.

        Raises
        ------
        ValueError
            Naming both.
        """
        hidden = self._check_params()
        if list(net.layer_sizes[1:-1]) != hidden:
            raise ValueError(
                f"the network's hidden layers {list(net.layer_sizes[1:-1])} do not match "
                f"hidden_layer_sizes={self.hidden_layer_sizes!r}"
            )

    def _architecture_params(self) -> dict[str, Any]:
        """The parameters that describe the hidden layers, as plain JSON (for model files)."""
        return {
            "hidden_layer_sizes": [int(h) for h in np.atleast_1d(self.hidden_layer_sizes)],
            "activation": (
                self.activation if isinstance(self.activation, str) else list(self.activation)
            ),
        }

    def _stopping_state(self, early_stopping: bool) -> StoppingState:
        """scikit-learn's counters as this estimator holds them."""
        best_loss = self.best_loss_
        if best_loss is None and not early_stopping:  # partial_fit after early stopping
            best_loss = np.inf
        best_score, scores = self.best_validation_score_, self.validation_scores_
        if best_score is None and early_stopping:  # a warm start that turns it on
            best_score, scores = -np.inf, []
        return StoppingState(
            self._learning_rate, self._no_improvement_count, best_loss, best_score, scores,
        ).copy()

    def _set_stopping(self, s: StoppingState) -> None:
        self._learning_rate = s.learning_rate
        self._no_improvement_count = s.no_improvement_count
        self.best_loss_ = s.best_loss
        self.best_validation_score_ = s.best_validation_score
        self.validation_scores_ = s.validation_scores

    def _commit(self, fitted: Fitted) -> None:
        """Update the scikit-learn fitted attributes after a successful training call."""
        run = fitted.history.best
        if fitted.stopping is not None:
            self._set_stopping(fitted.stopping)
        self.history_ = fitted.history
        if fitted.optimizer is None:
            self.__dict__.pop("_optimizer", None)
        else:
            fitted.optimizer.runs = []  # the record of this call's runs is not kept
            self._optimizer = fitted.optimizer
        self.loss_curve_.extend(run.train_loss)
        self.validation_loss_curve_.extend(v for v in run.val_loss if not np.isnan(v))
        # L-BFGS started at a minimum stops before its first iteration: no epoch is
        # recorded, and the loss is that of the unchanged weights.
        self.loss_ = float(run.train_loss[-1] if run.train_loss else run.final_loss)
        if self.best_loss_ is not None:
            self.best_loss_ = min([self.best_loss_, *run.train_loss])
        self.n_iter_ = fitted.n_iter
        self.t_ += run.n_epochs * fitted.n_train
        self._describe_network()

    def _describe_network(self) -> None:
        self.n_layers_ = len(self.net_.layer_sizes)
        self.n_outputs_ = self.net_.layer_sizes[-1]
        name = self.net_.activations[-1].name
        self.out_activation_ = SKLEARN_NAMES.get(name, name)

    # --- fitted views ---------------------------------------------------------------

    @property
    def coefs_(self) -> list[Array]:
        """Weight matrices in scikit-learn's shape (n_in, n_out): views ``W[l].T``.

        Assigning the list, or one of its items, writes the new weights into the network
        (same shapes, finite values, cast to the network's dtype), as in scikit-learn.
        """
        check_is_fitted(self, "net_")
        return LayerArrays([W.T for W in self.net_.W], "coefs_")

    @coefs_.setter
    def coefs_(self, values: Sequence[Any]) -> None:
        self._check_settable("coefs_")
        assign_all([W.T for W in self.net_.W], values, "coefs_")

    @property
    def intercepts_(self) -> list[Array]:
        """Bias vectors, views ``b[l]`` into the network's theta (assignable as `coefs_`)."""
        check_is_fitted(self, "net_")
        return LayerArrays(list(self.net_.b), "intercepts_")

    @intercepts_.setter
    def intercepts_(self, values: Sequence[Any]) -> None:
        self._check_settable("intercepts_")
        assign_all(list(self.net_.b), values, "intercepts_")

    def _check_settable(self, name: str) -> None:
        if not hasattr(self, "net_"):
            raise NotFittedError(
                f"{name} can be assigned on a fitted {type(self).__name__} only (its "
                f"network gives the shapes): fit it first, e.g. with max_iter=1"
            )

    def _inputs(self, X: Any) -> Any:
        """X checked against the fit, in the network's dtype (see `_inputs`)."""
        return prediction_matrix(self, X)

    def _outputs(self, X: Any) -> Array:
        X = self._inputs(X)  # first: it raises NotFittedError before net_ is looked up
        return self.net_.forward(X)

    @rowwise  # rows on a cluster: block by block where they live (nablanet._remote)
    def transform(self, X: Any) -> Array:
        """Activations of the last hidden layer for X, shape (n_samples, units)."""
        X = self._inputs(X)
        return self.net_.hidden(X)

    @property
    def _n_features_out(self) -> int:
        """Columns of `transform`, the last hidden layer's units.

        scikit-learn's mixin names them ``mlpclassifier0``, ``mlpclassifier1``, ... in
        ``get_feature_names_out``, which ``set_output(transform="pandas")`` needs.
        """
        check_is_fitted(self, "net_")
        if len(self.net_.layer_sizes) < 3:  # as `transform`, which has nothing to give
            raise ValueError("this network has no hidden layer")
        return self.net_.layer_sizes[-2]

    # --- a fitted estimator from its parts (another library's MLP: nablanet.export) ---

    @classmethod
    def _from_network(
        cls,
        net: Network,
        set_targets: Callable[[_BaseMLP], None],
        stopping: StoppingState | None,
        params: dict[str, Any],
    ) -> Any:
        """The subclasses' ``from_network``: ``set_targets`` codes the targets on the new one."""
        est = cls(**params)
        est._check_architecture(net)
        set_targets(est)
        out = est._output_activation()
        if net.activations[-1].name != out:
            raise ValueError(
                f"the network's output activation {net.activations[-1].name!r} is not the one "
                f"{cls.__name__} gives this problem ({out!r})"
            )
        est._random_state = check_random_state(est.random_state)
        est.net_ = net
        est.n_iter_, est.t_ = 0, 0
        est.loss_curve_, est.validation_loss_curve_ = [], []
        early = est.early_stopping and est.solver != "lbfgs"
        est._set_stopping(stopping or StoppingState.fresh(float(est.learning_rate_init), early))
        est.n_features_in_ = net.layer_sizes[0]
        est._describe_network()
        return est

    @property
    def stopping_state_(self) -> StoppingState:
        """scikit-learn's stopping counters as the next fit continues from them (a copy)."""
        check_is_fitted(self, "net_")
        return StoppingState(
            self._learning_rate, self._no_improvement_count, self.best_loss_,
            self.best_validation_score_, self.validation_scores_,
        ).copy()

    def loss_for(self, output_activation: str) -> str:
        """The loss this estimator trains ``output_activation`` with.

        ``loss`` when given, else the output's natural partner for this kind of problem
        (cross-entropy for softmax, squared error for identity, ...).
        """
        name = self._loss_name(get_activation(output_activation).name)
        assert name is not None
        return name

    def check_gradient(self, X: Any, y: Any, **kwargs: Any) -> Any:
        """Gradient check of the fitted network on (X, y) in float64."""
        X, Y = self._encoded_pair(X, y)
        return self.net_.check_gradient(X, Y, **kwargs)

    @property
    def targets_scaled_(self) -> bool:
        """Whether fit scaled the targets before training (a classifier's never are)."""
        check_is_fitted(self, "net_")
        return False

    def diagnose(self, X: Any, y: Any, *, targets_scaled: bool | None = None) -> Any:
        """Saturation, dead, collapsed and starved units, vanishing gradients on (X, y).

        Inputs are named by ``feature_names_in_`` when the fit had column names. Targets
        are not called unscaled when ``targets_scaled`` (default: `targets_scaled_`) is
        true. See `nablanet.diagnostics.diagnose`.
        """
        X, Y = self._encoded_pair(X, y)
        names = getattr(self, "feature_names_in_", None)  # set only by a fit on named columns
        scaled = self.targets_scaled_ if targets_scaled is None else targets_scaled
        return self.net_.diagnose(
            X, Y, feature_names=None if names is None else [str(n) for n in names],
            targets_scaled=scaled,
        )

    def _encoded_pair(self, X: Any, y: Any) -> tuple[Array, Array]:
        check_is_fitted(self, "net_")
        # sparse X as fit and predict take it (the network's trace reads CSR)
        X, y = validate_data(self, X, y, reset=False, multi_output=True,
                             accept_sparse=SPARSE_FORMATS)
        return as_network_matrix(X, np.float64), self._encode(y, fit=False, dtype=np.float64)

    # --- other homes: scikit-learn and PyTorch (see nablanet.export) ------------------

    def to_sklearn(self) -> Any:
        """A fitted scikit-learn MLP that predicts as this one; see `nablanet.to_sklearn`.

        Raises
        ------
        ValueError
            Naming each setting scikit-learn's MLP cannot express.
        """
        from nablanet.export.sklearn import to_sklearn

        return to_sklearn(self)

    def to_torch(self) -> Any:
        """A ``torch.nn.Sequential`` with these weights; see `nablanet.to_torch`."""
        from nablanet.export.torch import to_torch

        return to_torch(self)

    # --- model files (arrays + JSON, never pickle: see nablanet.io) -------------------

    def save(self, path: Any) -> None:
        """Write the fitted estimator to a safe model file (see `nablanet.io`)."""
        from nablanet.io import save

        save(self, path)

    def _to_state(self) -> tuple[dict[str, Any], dict[str, Array]]:
        """Header fields and arrays that rebuild this fitted estimator exactly."""
        return _state.to_state(self)

    @classmethod
    def _from_state(
        cls, header: dict[str, Any], arrays: dict[str, Array], *, source: str
    ) -> _BaseMLP:
        """Rebuild an estimator saved by `_to_state`, checking every field."""
        return _state.from_state(cls, header, arrays, source=source)

    # --- to be provided by the subclasses -------------------------------------------

    def _target_state(self, arrays: dict[str, Array]) -> dict[str, Any]:
        raise NotImplementedError

    def _restore_target_state(
        self, header: dict[str, Any], arrays: dict[str, Array], source: str
    ) -> None:
        raise NotImplementedError

    def _check_warm_start(self, y: Any) -> None:
        """Refuse targets a warm start cannot continue with (the classifier's classes)."""

    def _check_continued_targets(self, Y: Array, s: Array | None) -> None:
        """Refuse coded targets the fitted output cannot reach (the regressor's scaling)."""

    def _output_activation(self) -> str:
        raise NotImplementedError

    def _loss_name(self, output_activation: str) -> str | None:
        raise NotImplementedError

    def _encode(
        self, y: Any, fit: bool, dtype: Any, sample_weight: Array | None = None
    ) -> Array:
        raise NotImplementedError

    def _validation_score(
        self, net: Network, X: Array, Y: Array, sample_weight: Array | None = None
    ) -> float:
        raise NotImplementedError


def stochastic_solver(est: _BaseMLP) -> bool:
    """Let `partial_fit` exist only for minibatch solvers, as in scikit-learn."""
    if est.solver == "lbfgs":
        raise AttributeError(
            "partial_fit is only available for stochastic optimizers. lbfgs is not stochastic."
        )
    return True
