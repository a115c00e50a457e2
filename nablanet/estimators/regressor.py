"""`MLPRegressor`: targets scaled into a bounded output's range, predictions scaled back.

An identity output needs no scaling. A bounded output (sigmoid: [0, 1], tanh: [−1, 1],
as the activation's ``output_range`` says) gets the training targets' range mapped onto
its own, column by column: ``y = offset + scale · a``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import RegressorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from nablanet._remote import rowwise, scored
from nablanet.activations import ACTIVATIONS, Activation, get_activation
from nablanet.estimators._base import _BaseMLP, stochastic_solver
from nablanet.estimators._stopping import StoppingState
from nablanet.network import Network

Array = NDArray[Any]


#: The losses of regression, and the output each is the natural partner of.
REGRESSION_LOSSES = ("squared_error", "poisson")


def _regression_output(a: Activation) -> bool:
    """Whether a regressor can use ``a`` as its output.

    It must be elementwise, and either bounded (the targets are scaled into its range)
    or a regression loss's natural partner: identity, which reaches every real value,
    for squared error; exp, which reaches every positive one, for Poisson deviance.
    """
    return a.elementwise and (a.bounded or a.canonical_loss in REGRESSION_LOSSES)


#: Outputs a regressor accepts.
REGRESSOR_OUTPUTS = tuple(sorted(n for n, a in ACTIVATIONS.items() if _regression_output(a)))


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, a drop-in for scikit-learn's.

    Parameters are those of `sklearn.neural_network.MLPRegressor` plus nablanet's extras
    (see `_BaseMLP`). The output is linear (identity) with squared error unless
    ``output_activation`` says otherwise. ``loss="poisson"`` (scikit-learn ≥ 1.7) gives
    an exponential output with half the Poisson deviance, for targets ``y >= 0`` such
    as counts (a log link). With a bounded output ("sigmoid" or "tanh") the targets are
    scaled into its range ([0, 1] or [−1, 1], from the minimum and maximum of the
    targets of positive weight in the first fit) for training, and predictions are scaled
    back; a warm start or ``partial_fit`` whose targets go beyond that range is refused.

    Attributes
    ----------
    See `MLPClassifier`, without ``classes_``.
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _output_activation(self) -> str:
        if self.output_activation is None:
            return "exp" if self.loss == "poisson" else "identity"
        out = get_activation(self.output_activation)
        if not _regression_output(out):
            raise ValueError(
                f"output_activation for a regressor must be one of "
                f"{', '.join(REGRESSOR_OUTPUTS)}, got {self.output_activation!r}"
            )
        return out.name

    def _output_width(self) -> int:
        return int(self._y_offset.shape[0])

    def _output_coding(self) -> str:
        return "one per target, as target_offset and target_scale have"

    def _loss_name(self, output_activation: str) -> str | None:
        if self.loss is not None:
            return self.loss
        natural = get_activation(output_activation).canonical_loss
        return natural if natural in REGRESSION_LOSSES else "squared_error"

    def _encode(
        self, y: Any, fit: bool, dtype: Any, sample_weight: Array | None = None
    ) -> Array:
        """Targets as a matrix, scaled into a bounded output's range.

        A fit takes the range from the rows that count: those of positive weight.
        """
        Y = np.asarray(y, dtype=np.float64)
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        if self._loss_name(self._output_activation()) == "poisson" and (Y < 0).any():
            raise ValueError(
                f"loss='poisson' needs targets y >= 0 (counts, rates); y has {int((Y < 0).sum())} "
                f"negative value(s), the smallest {Y.min():g}"
            )
        if fit:
            counted = Y if sample_weight is None else Y[sample_weight > 0]
            self._y_offset, self._y_scale = _scaling(
                counted, get_activation(self._output_activation())
            )
        elif Y.shape[1] != self._y_offset.shape[0]:
            raise ValueError(
                f"y has {Y.shape[1]} outputs, the model was fitted with {self._y_offset.shape[0]}"
            )
        return np.ascontiguousarray((Y - self._y_offset) / self._y_scale, dtype=dtype)

    def _check_continued_targets(self, Y: Array, s: Array | None) -> None:
        """Refuse targets outside the range the first fit's scaling lets the output reach.

        A bounded output reaches only the targets' range in the fit that set the scaling;
        training further on targets beyond it would pull the outputs against their bounds
        and predict a clipped range without a word. Rows of weight 0 do not count.
        """
        out = get_activation(self._output_activation())
        if not out.bounded:
            return
        counted = Y if s is None else Y[s > 0]
        if counted.shape[0] == 0:
            return
        low, high = out.output_range
        # a float32 coding of the range's own ends may round just past the bounds
        slack = 1e-6 * (high - low)
        beyond = (counted.min(axis=0) < low - slack) | (counted.max(axis=0) > high + slack)
        if beyond.any():
            j = int(np.flatnonzero(beyond)[0])
            seen = counted[:, j].astype(np.float64) * self._y_scale[j] + self._y_offset[j]
            reach = self._y_offset[j] + np.array([low, high]) * self._y_scale[j]
            raise ValueError(
                f"y (output {j}) spans [{seen.min():g}, {seen.max():g}], but the "
                f"{out.name} output reaches only [{reach[0]:g}, {reach[1]:g}]: the range of "
                f"the targets of the fit that set the scaling. Fit afresh on targets that "
                f"span the whole range, scale the targets yourself, or use "
                f"output_activation='identity', which reaches every value"
            )

    @classmethod
    def from_network(
        cls,
        net: Network,
        *,
        target_offset: Any = None,
        target_scale: Any = None,
        stopping: StoppingState | None = None,
        **params: Any,
    ) -> MLPRegressor:
        """A fitted regressor from its parts: a trained network and its targets' scaling.

        Parameters
        ----------
        net : Network
            Trained, of `Dense` layers; its hidden layers match ``hidden_layer_sizes``. It
            is kept, not copied.
        target_offset, target_scale : array-like of shape (n_outputs,), optional
            Predictions are ``target_offset + target_scale · a`` (see `target_scaling_`);
            0 and 1 by default.
        stopping : StoppingState, optional
            scikit-learn's counters for a later warm start; fresh ones by default.
        **params
            The constructor's parameters. ``activation`` not given is the network's hidden
            activation(s); ``output_activation`` and ``loss`` not given are the network's
            where they differ from this regressor's natural choice (identity and squared
            error), else None. Given, each must be the network's.

        Returns
        -------
        MLPRegressor
            Fitted: it predicts with ``net``; ``n_iter_``, ``t_`` and ``loss_curve_`` start
            empty.

        Raises
        ------
        ValueError
            If the network has layers other than `Dense`, or does not fit the parameters
            (hidden layers, activations, loss), or a scale is not positive.
        """
        n_out = net.layer_sizes[-1]
        offset = np.zeros(n_out) if target_offset is None else np.asarray(target_offset, float)
        scale = np.ones(n_out) if target_scale is None else np.asarray(target_scale, float)
        if offset.shape != (n_out,) or scale.shape != (n_out,) or not (scale > 0).all():
            raise ValueError(
                f"target_offset and target_scale must be {n_out} numbers each (one per "
                f"output), the scales positive; got shapes {offset.shape} and {scale.shape}"
            )

        def set_targets(est: Any) -> None:
            est._y_offset, est._y_scale = offset, scale

        est: MLPRegressor = cls._from_network(net, set_targets, stopping, params)
        return est

    @property
    def target_scaling_(self) -> tuple[Array, Array]:
        """``(offset, scale)`` of each output: a prediction is ``offset + scale · a``.

        Both are 0 and 1 unless a bounded output made fit scale the targets into its range.
        """
        check_is_fitted(self, "net_")
        return self._y_offset.copy(), self._y_scale.copy()

    @property
    def targets_scaled_(self) -> bool:
        """Whether fit scaled the targets (into a bounded output's range) before training."""
        check_is_fitted(self, "net_")
        return bool((self._y_offset != 0).any() or (self._y_scale != 1).any())

    def _target_state(self, arrays: dict[str, Array]) -> dict[str, Any]:
        arrays["y_offset"] = np.asarray(self._y_offset, dtype=np.float64)
        arrays["y_scale"] = np.asarray(self._y_scale, dtype=np.float64)
        return {}

    def _restore_target_state(
        self, header: dict[str, Any], arrays: dict[str, Array], source: str
    ) -> None:
        from nablanet.io import fields
        from nablanet.io.container import ModelFileError

        n_out = self.net_.layer_sizes[-1]
        self._y_offset = fields.check_finite_array(
            arrays, "y_offset", source=source, shape=(n_out,)
        )
        self._y_scale = fields.check_finite_array(arrays, "y_scale", source=source, shape=(n_out,))
        if (self._y_scale <= 0).any():
            raise ModelFileError(f"{source}: array 'y_scale' must be positive")
        if self._output_activation() != self.net_.activations[-1].name:
            raise ModelFileError(f"{source}: output_activation does not match the network")

    def _validation_score(
        self, net: Network, X: Array, Y: Array, sample_weight: Array | None = None
    ) -> float:
        # R² (weighted or not) is unchanged by scaling each output column, so the scaled
        # targets do.
        from sklearn.metrics import r2_score  # here: only early stopping needs it

        return float(r2_score(Y, net.forward(X), sample_weight=sample_weight))

    @available_if(stochastic_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Run one epoch over (X, y), continuing from the current weights.

        If it raises, the estimator is exactly as it was before the call.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    score = scored(RegressorMixin.score)  # rows on a cluster: reduced there

    @rowwise  # rows on a cluster: block by block where they live (nablanet._remote)
    def predict(self, X: Any) -> Array:
        """Predicted targets; shape (n_samples,) for a single output."""
        A = self._outputs(X)
        Y = (A * self._y_scale + self._y_offset).astype(A.dtype, copy=False)
        return Y.ravel() if Y.shape[1] == 1 else Y


def _scaling(Y: Array, out: Activation) -> tuple[Array, Array]:
    """``(offset, scale)`` mapping each column's [min, max] onto the output's range.

    Unbounded outputs get (0, 1); a constant column is treated as having span 1.
    """
    if not out.bounded:
        return np.zeros(Y.shape[1]), np.ones(Y.shape[1])
    lo, hi = Y.min(axis=0), Y.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    low, high = out.output_range
    scale = span / (high - low)
    return lo - low * scale, scale
