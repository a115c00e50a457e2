"""`SparseAutoencoder`: UFLDL's sparse autoencoder as a scikit-learn transformer.

The network is x → a(2) = f(W(1) x + b(1)) → x̂ = g(W(2) a(2) + b(2)), trained to
reconstruct its input with the cost (UFLDL's exercise, docs/sparsity.md)::

    J = (1/m) Σ_i ½ ‖x̂_i − x_i‖²  +  (λ/2) (‖W(1)‖² + ‖W(2)‖²)  +  β Σ_j KL(ρ ‖ ρ̂_j)

λ is exactly UFLDL's weight decay (not divided by the number of samples, unlike
scikit-learn's ``alpha``). The hidden activations a(2) are the learned features
(`transform`); the rows of W(1) are the filters (`components_`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from nablanet._checks import integer, number
from nablanet._lent import lent
from nablanet.activations import get_activation
from nablanet.estimators import _network_fit as fitting
from nablanet.network import Network
from nablanet.sparsity import Sparsity

Array = NDArray[Any]


class SparseAutoencoder(TransformerMixin, BaseEstimator):
    """A one-hidden-layer autoencoder with UFLDL's sparsity penalty and weight decay.

    Parameters
    ----------
    hidden_layer_size : int, default 25
        Number of hidden units (features).
    sparsity_target : float, default 0.01
        ρ: the desired mean activation of each hidden unit (of its range mapped to [0, 1]).
    sparsity_weight : float, default 3.0
        β: the weight of β Σ_j KL(ρ ‖ ρ̂_j) in J; 0 gives a plain autoencoder.
    weight_decay : float, default 1e-4
        λ in (λ/2) Σ W², UFLDL's value, not scaled by the number of samples.
    activation : {"sigmoid", "tanh"}, default "sigmoid"
        The hidden units (the penalty needs a bounded range).
    output_activation : str, default "sigmoid"
        "sigmoid" for inputs scaled into [0, 1] (UFLDL's exercise); "identity" for UFLDL's
        linear decoder on unscaled inputs.
    solver : {"lbfgs", "adam", "sgd"}, default "lbfgs"
    max_iter : int, default 400
        L-BFGS iterations, or epochs for "adam" / "sgd".
    tol : float, default 1e-9
        L-BFGS stops when max|∂J/∂θ| <= tol, or earlier when an iteration lowers J
        by a relative (J_k − J_k+1) / max(|J_k|, |J_k+1|, 1) <= 2.2e-9 (scipy's default
        ``ftol``, which scikit-learn's MLP also uses): that test often stops it first.
        Not used by "adam" and "sgd", which run ``max_iter`` epochs.
    learning_rate_init : float, default 1e-3
        Step size of "adam" / "sgd".
    batch_size : int, default 200
        Rows per minibatch of "adam" / "sgd".
    random_state : int, RandomState or None
        Initial weights (UFLDL's uniform range ±sqrt(6 / (s_in + s_out + 1))) and batches.
    dtype : {None, "float32", "float64"}, default None
        None trains float32 input in float32 and anything else in float64.

    Attributes
    ----------
    net_ : Network
        The fitted network; ``net_.cost(X, X)`` and ``net_.loss_and_grad(X, X)`` include
        the sparsity penalty and the weight decay.
    components_ : ndarray of shape (hidden_layer_size, n_features_in_)
        W(1): row j is hidden unit j's filter.
    loss_curve_ : list of float
        J after each iteration (or epoch).
    n_iter_, n_features_in_, history_
    """

    def __init__(
        self,
        hidden_layer_size: int = 25,
        *,
        sparsity_target: float = 0.01,
        sparsity_weight: float = 3.0,
        weight_decay: float = 1e-4,
        activation: str = "sigmoid",
        output_activation: str = "sigmoid",
        solver: str = "lbfgs",
        max_iter: int = 400,
        tol: float = 1e-9,
        learning_rate_init: float = 1e-3,
        batch_size: int = 200,
        random_state: Any = None,
        dtype: Any = None,
    ) -> None:
        self.hidden_layer_size = hidden_layer_size
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.weight_decay = weight_decay
        self.activation = activation
        self.output_activation = output_activation
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.random_state = random_state
        self.dtype = dtype

    def _check_params(self) -> Sparsity:
        integer(self.hidden_layer_size, "hidden_layer_size")
        number(self.weight_decay, "weight_decay", low=0.0)
        get_activation(self.activation)
        get_activation(self.output_activation)
        fitting.check_solver_params(self)
        if self.dtype is not None and np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be None, float32 or float64, got {self.dtype!r}")
        return Sparsity(self.sparsity_target, self.sparsity_weight)

    def fit(self, X: Any, y: Any = None) -> SparseAutoencoder:
        """Learn features of X (shape (n_samples, n_features)) by reconstructing it."""
        with fitting.all_or_nothing(self):
            self._fit(X)
        return self

    def _fit(self, X: Any) -> None:
        penalty = self._check_params()
        X = validate_data(self, X, dtype=(np.float64, np.float32))
        dtype = self.dtype if self.dtype is not None else X.dtype
        X = np.ascontiguousarray(X, dtype=dtype)
        n = X.shape[1]
        seed = fitting.seed_from(self.random_state)
        net = Network(
            [n, self.hidden_layer_size, n], activation=self.activation,
            output_activation=self.output_activation, loss="squared_error",
            weight_decay=self.weight_decay, init="ufldl", seed=seed, dtype=dtype,
            sparsity=penalty,
        )
        history = fitting.fit_network(net, X, X, self, seed)
        self.net_ = net
        fitting.record_history(self, history)

    @property
    def components_(self) -> Array:
        """W(1), shape (hidden_layer_size, n_features_in_): one filter per row."""
        check_is_fitted(self, "net_")
        return self.net_.W[0]

    def _input(self, X: Any) -> Array:
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return np.asarray(X, dtype=self.net_.dtype)

    def transform(self, X: Any) -> Array:
        """The hidden activations a(2) = f(W(1) x + b(1)), shape (n_samples, hidden)."""
        X = self._input(X)  # first: it raises NotFittedError before net_ is looked up
        return self.net_.hidden(X)

    def inverse_transform(self, H: Any) -> Array:
        """Decode features: x̂ = g(W(2) h + b(2)), shape (n_samples, n_features_in_)."""
        check_is_fitted(self, "net_")
        H = np.asarray(H, dtype=self.net_.dtype)
        if H.ndim != 2 or H.shape[1] != self.hidden_layer_size:
            raise ValueError(
                f"H must have shape (n_samples, {self.hidden_layer_size}), got {H.shape}"
            )
        Z = H @ self.net_.W[1].T + self.net_.b[1]
        return self.net_.activations[-1](Z)

    def score(self, X: Any, y: Any = None) -> float:
        """−(1/m) Σ_i ½ ‖x̂_i − x_i‖²: the negative mean reconstruction cost (no penalties)."""
        X = self._input(X)
        R = self.net_.forward(X) - X
        return -0.5 * float(np.einsum("ij,ij->", R, R, dtype=np.float64)) / X.shape[0]

    def check_gradient(self, X: Any, **kwargs: Any) -> Any:
        """Gradient check of J (penalty included) on rows X, in float64 (UFLDL's ε)."""
        X = self._input(X)
        return self.net_.check_gradient(X, X, **kwargs)

    def get_feature_names_out(self, input_features: Any = None) -> Array:
        """``sparseautoencoder0``, ``sparseautoencoder1``, ..."""
        check_is_fitted(self, "net_")
        return np.asarray(
            [f"sparseautoencoder{i}" for i in range(self.hidden_layer_size)], dtype=object
        )

    # --- model files (see nablanet.io) ----------------------------------------------

    def save(self, path: Any) -> None:
        """Write the fitted autoencoder to a safe model file (see `nablanet.io`)."""
        lent("save")(self, path)  # nablanet.save: lent (see nablanet._lent)

    def _to_state(self) -> tuple[dict[str, Any], dict[str, Array]]:
        check_is_fitted(self, "net_")
        return fitting.estimator_state(self)

    @classmethod
    def _from_state(
        cls, header: dict[str, Any], arrays: dict[str, Array], *, source: str
    ) -> SparseAutoencoder:
        from nablanet.io.container import ModelFileError

        est = fitting.restore_estimator(cls, header, arrays, source)
        sizes = est.net_.layer_sizes
        if sizes != (est.n_features_in_, est.hidden_layer_size, est.n_features_in_) or (
            est.net_.sparsity != [Sparsity(est.sparsity_target, est.sparsity_weight)]
        ):
            raise ModelFileError(f"{source}: the network does not match the parameters")
        return est
