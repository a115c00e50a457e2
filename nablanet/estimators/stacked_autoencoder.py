"""`StackedAutoencoderClassifier`: UFLDL's stacked autoencoder with fine-tuning.

Greedy layer-wise pretraining: hidden layer 1 is a `SparseAutoencoder` of the inputs,
layer 2 a `SparseAutoencoder` of layer 1's features, and so on; a `SoftmaxRegression` on
the last features makes the output layer. The stacked weights then initialise an
`MLPClassifier` (sigmoid hidden units, softmax output, cross-entropy), which with
``fine_tune=True`` is trained as a whole by backpropagation (L-BFGS). Predicting, saving
and loading are the MLPClassifier's.

Weight decay: every autoencoder uses λ = ``weight_decay`` (1e-3 by default); the softmax
layer is pretrained with UFLDL's λ = 1e-4 for 100 iterations. UFLDL's exercise uses
λ = 3e-3 on MNIST, and on scikit-learn's digits (64 inputs) that λ makes the second
autoencoder learn a constant: its 200 features varied by at most 2e-5 across the training
rows, for every seed tried. Such a layer passes nothing on, fine-tuning starts at a saddle
(the softmax weights and the collapsed layer's weights both near zero, so each one's
gradient vanishes) and stops at iteration 0, and every prediction is one class. The
trivial solution W = 0, b = logit(ρ) costs only the variance of the layer's inputs
(reconstructing their mean) and no decay, so it wins whenever λ Σ W² of a useful code
exceeds that variance; sparse sigmoid features of an overcomplete first layer have little
variance. With λ = 1e-3 every layer keeps features that vary (about 0.15 at most, as the
first layer's). A layer that collapses anyway is reported with a warning, and so is a fit
whose training cost is that of guessing the class frequencies. UFLDL's
``stackedAECost`` decays only the softmax weights during fine-tuning; a network here has one
λ for all its weights, so fine-tuning uses the small softmax λ = 1e-4 for every layer
(with the autoencoders' 3e-3 on every layer, fine-tuning on 30 000 Fashion-MNIST rows
reached only 0.82 test accuracy).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from nablanet._checks import integer, number
from nablanet._lent import lent
from nablanet.estimators import _network_fit as fitting
from nablanet.estimators._state import restore_feature_names
from nablanet.estimators.autoencoder import SparseAutoencoder
from nablanet.estimators.classifier import MLPClassifier
from nablanet.estimators.softmax_regression import SoftmaxRegression

Array = NDArray[Any]

#: UFLDL's softmax layer: λ and L-BFGS iterations when it is trained on the features.
SOFTMAX_WEIGHT_DECAY = 1e-4
SOFTMAX_MAX_ITER = 100
#: λ of every weight during fine-tuning (see the module notes).
FINE_TUNE_WEIGHT_DECAY = SOFTMAX_WEIGHT_DECAY
#: A pretrained layer whose every feature varies less than this across the training rows
#: (standard deviation of sigmoid features in [0, 1]) has collapsed to a constant.
COLLAPSED_STD = 1e-3
#: A fit whose mean cross-entropy on its training rows is within this fraction of the
#: entropy of the class frequencies (the cost of predicting those frequencies) learnt
#: nothing from X.
GUESSING_MARGIN = 0.05


def _warn_if_collapsed(features: Array, layer: int, weight_decay: float) -> None:
    """Warn when every feature of a hidden layer of the final network is (nearly) constant.

    Checked on the fitted classifier, not on the pretrained features alone: a second
    autoencoder can come out nearly constant on a small table and fine-tuning still
    separate its units (iris and wine score 0.99 and 1.0 so); only a layer that is still
    constant after fine-tuning passes nothing on.
    """
    spread = float(features.std(axis=0).max())
    if spread < COLLAPSED_STD:
        warnings.warn(
            f"hidden layer {layer} collapsed: each of its {features.shape[1]} features "
            f"varies by at most {spread:.2g} across the training rows in the fitted "
            f"network, so it passes nothing on; its autoencoder learnt a constant, "
            f"weight_decay={weight_decay:g} being too large for the variance of its inputs: "
            "try a smaller weight_decay",
            UserWarning, stacklevel=4,
        )


def guessing_cost(y: Array) -> float:
    """The entropy of the class frequencies of ``y``: the cross-entropy of predicting them.

    Notes
    -----
    H = −Σ_k p_k ln p_k with p_k the share of class k in ``y``: the mean cross-entropy
    of a model that gives every row the probabilities p, whatever its X.
    """
    _, counts = np.unique(y, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def _warn_if_guessing(mlp: MLPClassifier, X: Array, y: Array) -> None:
    """Warn when the fitted classifier's training cost is that of guessing the frequencies."""
    proba = np.clip(mlp.predict_proba(X), 1e-300, 1.0)
    rows = np.arange(len(y))
    J = float(-np.log(proba[rows, np.searchsorted(mlp.classes_, y)]).mean())
    H = guessing_cost(y)
    if J >= (1 - GUESSING_MARGIN) * H:
        warnings.warn(
            f"the fit ends at the cost of guessing: its mean cross-entropy on the training "
            f"rows is J = {J:.4f}, and predicting the class frequencies costs "
            f"H = {H:.4f}; it learnt nothing from X (fine-tuning ran {mlp.n_iter_} "
            "iterations). Look for a collapsed layer warning above, scale X into [0, 1], "
            "or try a smaller weight_decay",
            UserWarning, stacklevel=4,
        )


class StackedAutoencoderClassifier(ClassifierMixin, BaseEstimator):
    """Sparse autoencoders pretrained layer by layer, softmax on top, then fine-tuned.

    Parameters
    ----------
    hidden_layer_sizes : sequence of int, default (200, 200)
    sparsity_target : float, default 0.1
        ρ of every autoencoder.
    sparsity_weight : float, default 3.0
        β of every autoencoder.
    weight_decay : float, default 1e-3
        λ of the autoencoders (not scaled by the number of samples); fine-tuning uses
        λ = 1e-4. UFLDL's 3e-3 collapses the second layer on small inputs such as
        scikit-learn's digits (see the module notes).
    pretrain_max_iter : int, default 400
        L-BFGS iterations of each autoencoder.
    max_iter : int, default 400
        L-BFGS iterations of fine-tuning.
    fine_tune : bool, default True
        False stops after pretraining (UFLDL's "before fine-tuning" network).
    random_state : int, RandomState or None

    Attributes
    ----------
    mlp_ : MLPClassifier
        The whole network; predictions come from it.
    autoencoders_ : list of SparseAutoencoder
        The pretrained layers (not written to model files).
    classes_, n_features_in_, net_
    """

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (200, 200),
        *,
        sparsity_target: float = 0.1,
        sparsity_weight: float = 3.0,
        weight_decay: float = 1e-3,
        pretrain_max_iter: int = 400,
        max_iter: int = 400,
        fine_tune: bool = True,
        random_state: Any = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.weight_decay = weight_decay
        self.pretrain_max_iter = pretrain_max_iter
        self.max_iter = max_iter
        self.fine_tune = fine_tune
        self.random_state = random_state

    def _check_params(self) -> list[int]:
        sizes = list(np.atleast_1d(self.hidden_layer_sizes))
        if not sizes:
            raise ValueError("hidden_layer_sizes must hold at least one size")
        hidden = [integer(h, "hidden_layer_sizes") for h in sizes]
        number(self.weight_decay, "weight_decay", low=0.0)
        integer(self.pretrain_max_iter, "pretrain_max_iter")
        integer(self.max_iter, "max_iter")
        if not isinstance(self.fine_tune, bool | np.bool_):
            raise ValueError(f"fine_tune must be True or False, got {self.fine_tune!r}")
        return hidden

    def fit(self, X: Any, y: Any) -> StackedAutoencoderClassifier:
        """Pretrain on X (shape (n_samples, n_features), in [0, 1]), then fine-tune on y."""
        with fitting.all_or_nothing(self):
            self._fit(X, y)
        return self

    def _fit(self, X: Any, y: Any) -> None:
        hidden = self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        rng = np.random.RandomState(fitting.seed_from(self.random_state))
        autoencoders, features = [], X
        for size in hidden:
            ae = SparseAutoencoder(
                size, sparsity_target=self.sparsity_target,
                sparsity_weight=self.sparsity_weight, weight_decay=self.weight_decay,
                max_iter=self.pretrain_max_iter, random_state=rng.randint(2**31 - 1),
            ).fit(features)
            autoencoders.append(ae)
            features = ae.transform(features)
        softmax = SoftmaxRegression(
            SOFTMAX_WEIGHT_DECAY, SOFTMAX_MAX_ITER, random_state=rng.randint(2**31 - 1)
        ).fit(features, y)
        mlp = self._stacked_mlp(X, y, hidden, autoencoders, softmax, rng.randint(2**31 - 1))
        if self.fine_tune:
            mlp.set_params(max_iter=self.max_iter)
            mlp.fit(X, y)  # warm start: backpropagation from the pretrained weights
        self.mlp_, self.autoencoders_ = mlp, autoencoders
        self.classes_, self.n_iter_ = mlp.classes_, mlp.n_iter_
        for layer in range(len(hidden)):
            _warn_if_collapsed(mlp.net_.hidden(X, layer), layer + 1, self.weight_decay)
        _warn_if_guessing(mlp, X, y)

    def _stacked_mlp(
        self, X: Array, y: Array, hidden: list[int], autoencoders: list[SparseAutoencoder],
        softmax: SoftmaxRegression, seed: int,
    ) -> MLPClassifier:
        """An MLPClassifier whose weights are the pretrained layers'."""
        mlp = MLPClassifier(
            hidden, activation="logistic", solver="lbfgs", output_activation="softmax",
            loss="cross_entropy", alpha=FINE_TUNE_WEIGHT_DECAY * X.shape[0],  # λ = alpha / m
            max_iter=1, warm_start=True, random_state=seed,
        )
        with warnings.catch_warnings():  # one iteration only builds the classifier
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(X, y)
        net = mlp.net_
        layers = [(ae.net_.W[0], ae.net_.b[0]) for ae in autoencoders]
        layers.append((softmax.net_.W[0], softmax.net_.b[0]))
        for l, (W, b) in enumerate(layers):
            net.W[l][...], net.b[l][...] = W, b
        mlp.n_iter_, mlp.loss_curve_ = 0, []  # the building iteration does not count
        return mlp

    @property
    def net_(self) -> Any:
        """The whole network (``mlp_.net_``)."""
        check_is_fitted(self, "mlp_")
        return self.mlp_.net_

    def predict(self, X: Any) -> Array:
        """The predicted class of each row."""
        X = self._input(X)
        return self.mlp_.predict(X)

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities (the softmax layer), shape (n_samples, n_classes)."""
        X = self._input(X)
        return self.mlp_.predict_proba(X)

    def _input(self, X: Any) -> Array:
        check_is_fitted(self, "mlp_")
        return validate_data(self, X, reset=False, dtype=np.float64)

    # --- model files (see nablanet.io) ----------------------------------------------

    def save(self, path: Any) -> None:
        """Write the fitted classifier to a safe model file (see `nablanet.io`)."""
        lent("save")(self, path)  # nablanet.save: lent (see nablanet._lent)

    def _to_state(self) -> tuple[dict[str, Any], dict[str, Array]]:
        check_is_fitted(self, "mlp_")
        mlp_header, arrays = self.mlp_._to_state()
        params = self.get_params()
        params["hidden_layer_sizes"] = [int(h) for h in np.atleast_1d(self.hidden_layer_sizes)]
        if not isinstance(self.random_state, int | type(None)):
            params["random_state"] = None
        header = {"kind": type(self).__name__, "params": params, "mlp": mlp_header}
        # The inner classifier was fitted on the checked array: the column names are ours.
        if hasattr(self, "feature_names_in_"):
            header["fitted"] = {"feature_names_in_": [str(f) for f in self.feature_names_in_]}
        return header, arrays

    @classmethod
    def _from_state(
        cls, header: dict[str, Any], arrays: dict[str, Array], *, source: str
    ) -> StackedAutoencoderClassifier:
        from nablanet.io import fields
        from nablanet.io.container import ModelFileError

        fields.check_keys(header, ("format", "format_version", "library_version", "kind",
                               "params", "mlp", "arrays"), ("created", "fitted"),
                      source=source, where="header")
        est = cls(**fields.check_field(header, "params", dict, source=source))
        hidden = est._check_params()
        sub = dict(fields.check_field(header, "mlp", dict, source=source))
        if sub.get("kind") != "MLPClassifier":
            raise ModelFileError(f"{source}: header field 'mlp.kind' must be 'MLPClassifier'")
        sub["format_version"] = header["format_version"]
        est.mlp_ = MLPClassifier._from_state(sub, arrays, source=source)
        if list(est.mlp_.net_.layer_sizes[1:-1]) != hidden:
            raise ModelFileError(f"{source}: the network does not match hidden_layer_sizes")
        est.classes_, est.n_iter_ = est.mlp_.classes_, est.mlp_.n_iter_
        est.n_features_in_ = est.mlp_.n_features_in_
        fitted = (
            fields.check_field(header, "fitted", dict, source=source) if "fitted" in header else {}
        )
        fields.check_keys(fitted, (), ("feature_names_in_",), source=source,
                      where="header field 'fitted'")
        restore_feature_names(est, fitted, source)
        return est
