"""`SoftmaxRegression`: UFLDL's softmax regression on the network engine.

A network with no hidden layer: p(y = k | x) = softmax(W x + b)_k, trained on::

    J = −(1/m) Σ_i Σ_k 1{y_i = k} log p(y_i = k | x_i)  +  (λ/2) ‖W‖²

λ is UFLDL's weight decay, on the weights only (not the biases). It equals
scikit-learn's ``LogisticRegression(C=1/(λ m))`` with the multinomial loss: that cost is
(1/2)‖W‖² + C Σ_i (log-loss), which divided by C m is J.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from nablanet._checks import number
from nablanet._lent import lent
from nablanet.activations import get_activation
from nablanet.estimators import _network_fit as fitting
from nablanet.network import Network

Array = NDArray[Any]


class SoftmaxRegression(ClassifierMixin, BaseEstimator):
    """Multinomial logistic (softmax) regression with UFLDL's weight decay.

    Parameters
    ----------
    weight_decay : float, default 1e-4
        λ in (λ/2) ‖W‖², not scaled by the number of samples; biases are not decayed.
    max_iter : int, default 100
        L-BFGS iterations (epochs for "adam" / "sgd").
    solver : {"lbfgs", "adam", "sgd"}, default "lbfgs"
    random_state : int, RandomState or None
        The small random initial weights (and the batches of "adam" / "sgd").
    tol : float, default 1e-6
        L-BFGS stops when max|∂J/∂θ| <= tol, or earlier when an iteration lowers J
        by a relative (J_k − J_k+1) / max(|J_k|, |J_k+1|, 1) <= 2.2e-9 (scipy's default
        ``ftol``, which scikit-learn's MLP also uses): that test often stops it first.
        Not used by "adam" and "sgd", which run ``max_iter`` epochs.
    learning_rate_init : float, default 1e-3
    batch_size : int, default 200

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_features_in_)
        W, a view into the network's parameters.
    intercept_ : ndarray of shape (n_classes,)
    net_ : Network
    loss_curve_, n_iter_, n_features_in_, history_
    """

    def __init__(
        self,
        weight_decay: float = 1e-4,
        max_iter: int = 100,
        solver: str = "lbfgs",
        random_state: Any = None,
        *,
        tol: float = 1e-6,
        learning_rate_init: float = 1e-3,
        batch_size: int = 200,
    ) -> None:
        self.weight_decay = weight_decay
        self.max_iter = max_iter
        self.solver = solver
        self.random_state = random_state
        self.tol = tol
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size

    def _check_params(self) -> None:
        number(self.weight_decay, "weight_decay", low=0.0)
        fitting.check_solver_params(self)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SoftmaxRegression:
        """Fit to X (shape (n_samples, n_features)) and labels y (shape (n_samples,)).

        ``sample_weight`` (shape (n_samples,)) makes the log-loss a weighted mean.
        """
        with fitting.all_or_nothing(self):
            self._fit(X, y, sample_weight)
        return self

    def _fit(self, X: Any, y: Any, sample_weight: Any) -> None:
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"SoftmaxRegression needs at least 2 classes in y, got 1 class: "
                f"{encoder.classes_[0]!r}"
            )
        k = len(encoder.classes_)
        Y = np.eye(k)[encoder.transform(y)]
        seed = fitting.seed_from(self.random_state)
        net = Network([X.shape[1], k], output_activation="softmax", loss="cross_entropy",
                      weight_decay=self.weight_decay, init="normal", seed=seed)
        s = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        history = fitting.fit_network(net, np.ascontiguousarray(X), Y, self, seed, s)
        self.net_, self.classes_ = net, encoder.classes_
        fitting.record_history(self, history)

    @property
    def coef_(self) -> Array:
        """W, shape (n_classes, n_features_in_)."""
        check_is_fitted(self, "net_")
        return self.net_.W[0]

    @property
    def intercept_(self) -> Array:
        """b, shape (n_classes,)."""
        check_is_fitted(self, "net_")
        return self.net_.b[0]

    def predict_proba(self, X: Any) -> Array:
        """p(y = k | x) for every class, shape (n_samples, n_classes)."""
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.net_.forward(X)

    def predict_log_proba(self, X: Any) -> Array:
        """Log p(y = k | x) (−inf where a probability underflows to 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _scores(self, X: Any) -> Array:
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.net_.W[0].T + self.net_.b[0]

    def decision_function(self, X: Any) -> Array:
        """W x + b, shape (n_samples, n_classes); for two classes z₁ − z₀, shape (n_samples,).

        The two-class form is scikit-learn's convention: positive means the second class.
        """
        Z = self._scores(X)
        return Z[:, 1] - Z[:, 0] if Z.shape[1] == 2 else Z

    def predict(self, X: Any) -> Array:
        """The most probable class of each row."""
        scores = self._scores(X)  # checks that the model is fitted
        return self.classes_[scores.argmax(axis=1)]

    # --- model files (see nablanet.io) ----------------------------------------------

    def save(self, path: Any) -> None:
        """Write the fitted model to a safe model file (see `nablanet.io`)."""
        lent("save")(self, path)  # nablanet.save: lent (see nablanet._lent)

    def _to_state(self) -> tuple[dict[str, Any], dict[str, Array]]:
        from nablanet.io import fields

        check_is_fitted(self, "net_")
        labels, dtype = fields.label_state(self.classes_)  # as MLPClassifier saves them
        return fitting.estimator_state(self, {"classes": labels, "classes_dtype": dtype})

    @classmethod
    def _from_state(
        cls, header: dict[str, Any], arrays: dict[str, Array], *, source: str
    ) -> SoftmaxRegression:
        from nablanet.io import fields
        from nablanet.io.container import ModelFileError

        est = fitting.restore_estimator(
            cls, header, arrays, source, extra=("classes", "classes_dtype")
        )
        labels = fields.check_field(header, "classes", list, source=source)
        dtype = fields.check_field(header, "classes_dtype", str, source=source)
        # Exactly the saved labels: one that its dtype cannot hold is refused, not wrapped.
        est.classes_ = fields.check_classes(labels, dtype, source=source)
        sizes = est.net_.layer_sizes
        if len(sizes) != 2 or sizes[1] != len(labels) or len(labels) < 2 or (
            est.net_.activations[-1] is not get_activation("softmax")
        ):
            raise ModelFileError(
                f"{source}: the network {list(sizes)} does not fit {len(labels)} classes"
            )
        return est
