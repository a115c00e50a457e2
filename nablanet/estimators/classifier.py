"""`MLPClassifier`: labels coded for the output activation, decisions at its threshold.

How a label becomes a target and an output a decision is asked of the output
activation (`nablanet.activations.Activation`): its two label codes (0/1, or −1/+1 for
tanh, the source's convention), the threshold halfway between them, and its natural loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d

from nablanet._remote import rowwise, scored
from nablanet.activations import ACTIVATIONS, Activation, get_activation
from nablanet.estimators._base import _BaseMLP, stochastic_solver
from nablanet.estimators._stopping import StoppingState
from nablanet.network import Network

Array = NDArray[Any]

#: Outputs a classifier can read as class probabilities: those with a bounded range.
CLASSIFIER_OUTPUTS = tuple(sorted(name for name, a in ACTIVATIONS.items() if a.bounded))


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, a drop-in for scikit-learn's.

    Parameters are those of `sklearn.neural_network.MLPClassifier` plus nablanet's extras
    (see `_BaseMLP` and the package notes). Binary and multi-label problems get sigmoid
    outputs with binary cross-entropy, multi-class problems softmax with cross-entropy,
    unless ``output_activation`` / ``loss`` say otherwise. With
    ``output_activation="tanh"`` the classes are coded −1/+1 and the threshold is 0
    (the source's convention).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_, intercepts_ : list of ndarray
        Views into the network's parameters (``coefs_[l]`` is ``W[l].T``); assigning the
        list or an item writes into the network, as in scikit-learn.
    loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_
        As in scikit-learn.
    validation_loss_curve_ : list of float
        nablanet: validation cost per epoch (with early stopping).
    n_iter_ : int
        The epochs ("sgd", "adam") or iterations ("lbfgs") of the last call, as
        scikit-learn 1.9 counts them (a ``partial_fit`` counts 1); ``t_`` and
        ``loss_curve_`` add up over warm starts and ``partial_fit`` calls.
    t_, n_layers_, n_outputs_, out_activation_, n_features_in_, feature_names_in_
        As in scikit-learn.
    net_ : Network
        The trained network.
    history_ : History
        The last training call's record.
    """

    _is_classifier = True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _output_activation(self) -> str:
        if self.output_activation is None:
            return "softmax" if self._target_kind == "multiclass" else "sigmoid"
        out = get_activation(self.output_activation)
        if not out.bounded:
            raise ValueError(
                f"output_activation for a classifier must have a bounded range "
                f"({', '.join(CLASSIFIER_OUTPUTS)}), got {self.output_activation!r}"
            )
        if not out.elementwise and self._target_kind == "multilabel-indicator":
            raise ValueError(
                f"multi-label targets need one independent output per label, which "
                f"{out.name} (a coupled layer) cannot give; use sigmoid or tanh"
            )
        return out.name

    def _output_width(self) -> int:
        n = len(self.classes_)
        if self._target_kind != "multilabel-indicator" and n <= 2:
            n = 1  # LabelBinarizer's one column for two classes (or one)
        if n == 1 and not get_activation(self._output_activation()).elementwise:
            n = 2  # a coupled layer needs one unit per class (`_encode`)
        return n

    def _output_coding(self) -> str:
        if self._target_kind == "multilabel-indicator":
            return f"one per label of {len(self.classes_)}"
        return f"{self._output_width()} for the classes {self.classes_.tolist()}"

    def _loss_name(self, output_activation: str) -> str | None:
        if self.loss is not None:
            return self.loss
        return get_activation(output_activation).classifier_loss

    def _encode(
        self, y: Any, fit: bool, dtype: Any, sample_weight: Array | None = None
    ) -> Array:
        """Code labels as output targets: one-hot, or the output's two label codes.

        The classes come from every row, weight 0 or not, as in scikit-learn.
        """
        if np.ndim(y) == 2 and np.shape(y)[1] == 1:
            y = column_or_1d(y, warn=True)  # a column vector is not multi-label
        if fit:
            self._learn_classes(y)
        elif type_of_target(y) != "multilabel-indicator":
            unseen = np.setdiff1d(unique_labels(y), self.classes_)
            if unseen.size:
                raise ValueError(
                    f"y has classes not seen in the first fit: {unseen.tolist()}; known "
                    f"classes: {self.classes_.tolist()}"
                )
        Y = self._binarizer.transform(y).astype(dtype)
        out = get_activation(self._output_activation())
        if Y.shape[1] == 1 and not out.elementwise:
            Y = np.hstack([1.0 - Y, Y])  # a coupled layer needs one unit per class
        negative, positive = out.labels
        if (negative, positive) != (0.0, 1.0):
            Y = negative + (positive - negative) * Y
        return np.ascontiguousarray(Y)

    def _learn_classes(self, y: Any) -> None:
        """Fit the label coding; the classes come from ``partial_fit``'s ``classes`` if given.

        A single class is accepted, as in scikit-learn: the model predicts it, and
        `predict_proba` has two columns (the second for "another class").
        """
        labels = getattr(self, "_partial_fit_classes", None)
        kind = type_of_target(y)
        if kind == "multilabel-indicator":
            # the columns of y are the labels; ``classes`` names them (scikit-learn's rule)
            self._binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._binarizer.classes_ if labels is None else unique_labels(labels)
            if len(self.classes_) != np.shape(y)[1]:
                raise ValueError(
                    f"classes has {len(self.classes_)} labels but the multi-label y has "
                    f"{np.shape(y)[1]} columns; give one class per column"
                )
        else:
            self._binarizer = LabelBinarizer().fit(y if labels is None else labels)
            self.classes_ = self._binarizer.classes_
            unseen = np.setdiff1d(unique_labels(y), self.classes_)
            if unseen.size:
                raise ValueError(
                    f"`y` has classes not in `classes`: {unseen.tolist()}; `classes` has "
                    f"{self.classes_.tolist()}"
                )
        binary_of_more = kind == "binary" and len(self.classes_) > 2
        self._target_kind = "multiclass" if binary_of_more else kind

    @classmethod
    def from_network(
        cls,
        net: Network,
        classes: Any,
        *,
        multilabel: bool = False,
        stopping: StoppingState | None = None,
        **params: Any,
    ) -> MLPClassifier:
        """A fitted classifier from its parts: a trained network and the classes it tells.

        Parameters
        ----------
        net : Network
            Trained, of `Dense` layers; its hidden layers match ``hidden_layer_sizes`` and
            its output has one unit per class (one unit for two classes with an
            elementwise output, one per label for multi-label targets). It is kept, not
            copied.
        classes : array-like of shape (n_classes,)
            The labels, in the order of the output units.
        multilabel : bool, default False
            Each output is one label of a multi-label (indicator) problem.
        stopping : StoppingState, optional
            scikit-learn's counters for a later warm start; fresh ones by default.
        **params
            The constructor's parameters. ``activation`` not given is the network's hidden
            activation(s); ``output_activation`` and ``loss`` not given are the network's
            where they differ from this classifier's natural choice (softmax for more than
            two classes, one sigmoid unit for two, and their cross-entropy), else None.
            Given, each must be the network's: the parameters describe the model that
            predicts, so a clone or a cold refit builds the same kind of network.

        Returns
        -------
        MLPClassifier
            Fitted: it predicts with ``net``; ``n_iter_``, ``t_`` and ``loss_curve_`` start
            empty.

        Raises
        ------
        ValueError
            If the network has layers other than `Dense`, or its hidden layers, their
            activations, its output (activation, width) or its loss do not fit the
            parameters and the classes.
        """

        def set_targets(est: Any) -> None:
            est.classes_ = np.array(classes, copy=True)
            if multilabel:
                est._target_kind = "multilabel-indicator"
                est._binarizer = LabelBinarizer().fit(np.eye(len(est.classes_), dtype=int))
            else:
                est._target_kind = "multiclass" if len(est.classes_) > 2 else "binary"
                est._binarizer = LabelBinarizer().fit(est.classes_)

        est: MLPClassifier = cls._from_network(net, set_targets, stopping, params)
        return est

    @property
    def target_kind_(self) -> str:
        """The problem: "binary", "multiclass" or "multilabel-indicator" (scikit-learn's words)."""
        check_is_fitted(self, "net_")
        return str(self._target_kind)

    def _check_warm_start(self, y: Any) -> None:
        """A warm start needs the classes of the previous fit, exactly (scikit-learn's rule)."""
        if self._target_kind == "multilabel-indicator":
            return  # a column count that differs is refused by the input checks
        classes = unique_labels(column_or_1d(y) if np.ndim(y) == 2 and np.shape(y)[1] == 1 else y)
        if set(classes) != set(self.classes_):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the "
                f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
            )

    def _target_state(self, arrays: dict[str, Array]) -> dict[str, Any]:
        from nablanet.io import fields

        values, dtype = fields.label_state(self.classes_)
        return {"classes": values, "classes_dtype": dtype, "target_kind": self._target_kind}

    def _restore_target_state(
        self, header: dict[str, Any], arrays: dict[str, Array], source: str
    ) -> None:
        from nablanet.io import fields
        from nablanet.io.container import ModelFileError

        values = fields.check_field(header, "classes", list, source=source)
        dtype = fields.check_field(header, "classes_dtype", str, source=source)
        kind = fields.check_field(header, "target_kind", str, source=source)
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise ModelFileError(f"{source}: unknown target_kind {kind!r}")
        # Exactly the saved labels: one that its dtype cannot hold is refused, not wrapped.
        # one class is a fitted problem (as in scikit-learn): `_decide` predicts it
        self.classes_ = fields.check_classes(values, dtype, source=source, minimum=1)
        self._target_kind = kind
        if kind == "multilabel-indicator":
            self._binarizer = LabelBinarizer().fit(np.eye(len(values), dtype=int))
        else:
            self._binarizer = LabelBinarizer().fit(self.classes_)
        n_out = self.net_.layer_sizes[-1]
        expected = {1, 2} if len(values) <= 2 and kind != "multilabel-indicator" else {len(values)}
        if n_out not in expected or self._output_activation() != self.net_.activations[-1].name:
            raise ModelFileError(
                f"{source}: the network's output layer ({n_out} "
                f"{self.net_.activations[-1].name} units) does not fit {len(values)} classes"
            )

    def _decide(self, A: Array) -> Array:
        """Decisions from outputs (or coded targets): class indices or an indicator."""
        threshold = self.net_.activations[-1].decision_threshold
        if self._target_kind == "multilabel-indicator":
            return (A > threshold).astype(int)
        if len(self.classes_) == 1:
            return np.zeros(A.shape[0], dtype=int)  # the one class there is
        if A.shape[1] == 1:
            return (A[:, 0] > threshold).astype(int)
        return A.argmax(axis=1)

    def _validation_score(
        self, net: Network, X: Array, Y: Array, sample_weight: Array | None = None
    ) -> float:
        """Accuracy (exact match of every label), weighted as scikit-learn's."""
        pred = self._decide(net.forward(X)).reshape(X.shape[0], -1)
        true = self._decide(Y).reshape(X.shape[0], -1)
        return float(np.average(np.all(pred == true, axis=1), weights=sample_weight))

    @available_if(stochastic_solver)
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

        Notes
        -----
        If it raises, the estimator is exactly as it was before the call.
        """
        self._check_params()  # first, as scikit-learn does
        if not hasattr(self, "net_"):
            if classes is None:  # multi-label too: scikit-learn asks for them
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._partial_fit_classes = np.asarray(classes)
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

    score = scored(ClassifierMixin.score)  # rows on a cluster: reduced there

    @rowwise  # rows on a cluster: block by block where they live (nablanet._remote)
    def predict(self, X: Any) -> Array:
        """Predicted class of each row (an indicator matrix for multi-label problems)."""
        decided = self._decide(self._outputs(X))
        if self._target_kind == "multilabel-indicator":
            return decided
        return self.classes_[decided]

    @rowwise
    def predict_proba(self, X: Any) -> Array:
        """Class probabilities, shape (n_samples, n_classes).

        Outputs coded by two labels (−1/+1 for tanh) are mapped onto [0, 1] first. Then a
        single unit gives p for the second class and 1 − p for the first; a coupled layer
        (softmax) gives probabilities already; one unit per class (one-versus-all) is
        normalised to sum to one per row.
        """
        A = self._outputs(X)
        out = self.net_.activations[-1]
        P = _as_probability(A, out)
        if self._target_kind == "multilabel-indicator":
            return P
        if P.shape[1] == 1:
            return np.hstack([1.0 - P, P])
        if not out.elementwise:
            return P
        total = P.sum(axis=1, keepdims=True)
        return np.divide(P, total, out=np.full_like(P, 1.0 / P.shape[1]), where=total > 0)

    @rowwise
    def predict_log_proba(self, X: Any) -> Array:
        """Logarithm of `predict_proba` (−inf where a probability is 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


def _as_probability(A: Array, out: Activation) -> Array:
    """Outputs mapped from the label codes (negative, positive) onto [0, 1]."""
    negative, positive = out.labels
    if (negative, positive) == (0.0, 1.0):
        return A
    return np.clip((A - negative) / (positive - negative), 0.0, 1.0)
