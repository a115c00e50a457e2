"""`ConvNetClassifier`: `MLPClassifier`'s fit, predictions and files over convolution layers.

The estimator is an `MLPClassifier` whose hidden layers are given as layers
(`nablanet.layers`: convolutions, poolings, dense layers) instead of sizes; the output
layer is added as there (softmax for several classes, a sigmoid unit for two). Only the
pieces that depend on the architecture differ, each one of `_BaseMLP`'s seams:

- ``_check_params`` parses ``layers`` (words of `nablanet.layers.grammar`, `Layer`
  objects or their specs) into fresh layers: the given ones are never built or changed,
  so scikit-learn's ``clone`` and ``get_params`` see the parameters as they were given;
- ``_new_network`` stacks them on the input shape, then the output layer;
- ``_check_architecture`` and ``_architecture_params`` tie a network (a model file's, or
  `from_network`'s) to the parameters;
- inputs of shape (m, C, H, W) are flattened to (m, C·H·W) rows, channel first, before
  scikit-learn's checks, which read two-dimensional arrays.

Training (solvers, sample weights, early stopping, warm starts, ``partial_fit``,
dropout, float32) is `MLPClassifier`'s own fit path, unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from nablanet.estimators._base import stochastic_solver
from nablanet.estimators._layer_arrays import LayerArrays, assign_all
from nablanet.estimators._params import _NAMES, PARAMETER_CONSTRAINTS, check_declared
from nablanet.estimators.classifier import MLPClassifier
from nablanet.layers import Conv2D, Dense, Layer
from nablanet.layers.grammar import parse_layers
from nablanet.network import Network
from nablanet.training import Callback

Array = NDArray[Any]

#: Nielsen's first convolutional network (chapter 6): 20 filters of 5×5, max pooling
#: 2×2, a dense layer of 100.
DEFAULT_LAYERS = ("conv20x5", "maxpool2", "100")

_CONSTRAINTS = {
    name: rule for name, rule in PARAMETER_CONSTRAINTS.items()
    if name not in ("hidden_layer_sizes", "activation")
}


class ConvNetClassifier(MLPClassifier):
    """A convolutional network classifier with scikit-learn's interface.

    Parameters
    ----------
    layers : str or sequence, default ("conv20x5", "maxpool2", "100")
        The hidden layers, first to last: words of `nablanet.layers.grammar`
        (``"conv20x5"``: 20 filters of 5×5; ``"maxpool2"``, ``"meanpool2"``; ``"100"``:
        a dense layer of 100 units; options after colons, ``"conv20x5:same:tanh"``), or
        one comma-separated string of them, or `nablanet.layers` objects (`Conv2D`,
        `MaxPool2D`, `MeanPool2D`, `Dense`), or their specs (`Layer.to_spec`). Each fit
        builds copies: the given layers are never changed. The output layer is added as
        in `MLPClassifier`.
    input_shape : (int, int, int), optional
        (channels, height, width) of one example: rows of X hold C·H·W values, channel
        first (PyTorch's order). None takes the shape of a four-dimensional X, else a
        square image (1, √n, √n) for n features that are a square number, else a row
        of pixels (1, 1, n).
    activation : str, default "relu"
        The activation of every word of ``layers`` that names none.
    solver, alpha, batch_size, learning_rate, learning_rate_init, power_t, max_iter, \
shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum, \
early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun, \
output_activation, loss, dropout, restarts, callbacks, dtype
        As in `MLPClassifier`. ``dropout`` drops units of the dense hidden layers only
        (Nielsen, chapter 6: the shared filters of a convolution need no dropout).

    Attributes
    ----------
    classes_, loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_, \
validation_loss_curve_, n_iter_, t_, n_layers_, n_outputs_, out_activation_, \
n_features_in_, feature_names_in_, net_, history_
        As in `MLPClassifier`; ``n_features_in_`` is C·H·W.
    input_shape_ : tuple of int
        The (channels, height, width) the network reads.
    coefs_, intercepts_ : list of ndarray
        One view per layer with weights (poolings have none): a convolution's filters
        as (filters, channels, height, width), PyTorch's layout; a dense layer's
        weights as scikit-learn's (n_in, n_out). Assignable, as in `MLPClassifier`.

    Notes
    -----
    ``transform`` gives the last hidden layer's activations, flattened (channel, row,
    column) when it is a convolution or a pooling. Input must be dense: a convolution
    reads whole patches.
    """

    _parameter_constraints = {
        **_CONSTRAINTS,
        "layers": [str, list, tuple],
        "input_shape": [None, list, tuple],
        "activation": [_NAMES],
    }

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False  # images are dense: see _rows
        return tags

    def __init__(
        self,
        layers: str | Sequence[Any] = DEFAULT_LAYERS,
        input_shape: Sequence[int] | None = None,
        activation: str = "relu",
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
        self.layers = layers
        self.input_shape = input_shape
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

    # --- the architecture: parameters, network, model files ----------------------------

    def _check_params(self) -> list[Layer]:  # type: ignore[override]
        """Validate the parameters; return fresh copies of the hidden layers."""
        check_declared(self)
        if self.input_shape is not None:
            _checked_shape(self.input_shape)
        assert isinstance(self.activation, str)  # the declarations admit one name only
        return parse_layers(self.layers, self.activation)

    def _new_network(
        self, hidden: Any, n_in: int, n_out: int, dtype: Any, seed: int
    ) -> Network:
        """The hidden layers on the input shape, then the output layer of `MLPClassifier`."""
        out = self._output_activation()
        # The output's initial weights as MLPClassifier's: Glorot's range (scikit-learn's).
        layers = [*hidden, Dense(n_out, activation=out, init="glorot")]
        return Network(layers, loss=self._loss_name(out), seed=seed, dtype=dtype,
                       input_shape=self._shape_for(n_in))

    def _shape_for(self, n_in: int) -> tuple[int, ...]:
        """The shape of one example of n_in values (see ``input_shape``)."""
        if self.input_shape is not None:
            shape = _checked_shape(self.input_shape)
            if math.prod(shape) != n_in:
                raise ValueError(
                    f"input_shape={shape} holds {math.prod(shape)} values per example, but X "
                    f"has {n_in} features"
                )
            return shape
        seen = self.__dict__.get("_seen_shape")
        if seen is not None:
            return seen
        side = math.isqrt(n_in)
        return (1, side, side) if side * side == n_in else (1, 1, n_in)

    def _check_architecture(self, net: Network) -> None:
        """Refuse a network whose hidden layers are not those of ``layers`` and ``input_shape``.

        Raises
        ------
        ValueError
            Naming the first layer that differs.
        """
        hidden = self._check_params()
        found = [layer.to_spec() for layer in net.layers[:-1]]
        wanted = [layer.to_spec() for layer in hidden]
        if found != wanted:
            diff = next((i for i, (a, b) in enumerate(zip(found, wanted, strict=False))
                         if a != b),
                        min(len(found), len(wanted)))
            raise ValueError(
                f"the network's hidden layers do not match layers={self.layers!r}: "
                f"{len(found)} hidden layers against {len(wanted)}, the first difference "
                f"at layer {diff + 1}"
            )
        if self.input_shape is not None and _checked_shape(self.input_shape) != net.input_shape:
            raise ValueError(
                f"the network reads inputs of shape {net.input_shape}, not "
                f"input_shape={tuple(self.input_shape)}"
            )

    def _architecture_params(self) -> dict[str, Any]:
        """``layers`` as words and specs, ``input_shape`` as a list: plain JSON."""
        layers = self.layers
        if not isinstance(layers, str):
            layers = [item.to_spec() if isinstance(item, Layer) else item for item in layers]
        shape = None if self.input_shape is None else [int(n) for n in self.input_shape]
        return {"layers": layers, "input_shape": shape}

    # --- inputs: images as rows ----------------------------------------------------------

    def _rows(self, X: Any) -> tuple[Any, tuple[int, ...] | None]:
        """X as rows of C·H·W values, and the (C, H, W) of a four-dimensional X.

        Raises
        ------
        TypeError
            For a scipy.sparse matrix.
        ValueError
            For an X of three or more than four dimensions, or a four-dimensional X whose
            examples are not of the fitted (or given) input shape.
        """
        if sp.issparse(X):
            raise TypeError(
                f"{type(self).__name__} needs dense input (a convolution reads whole "
                "patches), got a scipy.sparse matrix; pass X.toarray()"
            )
        if not (isinstance(X, np.ndarray) and X.ndim > 2):
            return X, None
        if X.ndim != 4:
            raise ValueError(
                f"X must be rows (m, C·H·W) or feature maps (m, C, H, W), got shape {X.shape}"
            )
        shape = tuple(int(n) for n in X.shape[1:])
        net = self.__dict__.get("net_")
        expected = net.input_shape if net is not None else (
            None if self.input_shape is None else _checked_shape(self.input_shape))
        if expected is not None and shape != expected:
            raise ValueError(
                f"X holds examples of shape {shape}, but the network reads {expected} "
                "(channels, height, width)"
            )
        return X.reshape(X.shape[0], -1), shape

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Fit to images X, rows (m, C·H·W) or maps (m, C, H, W), and labels y.

        See `MLPClassifier.fit`.
        """
        X, self._seen_shape = self._rows(X)
        try:
            return super().fit(X, y, sample_weight)
        finally:
            self.__dict__.pop("_seen_shape", None)

    @available_if(stochastic_solver)
    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> Any:
        """One epoch over (X, y), rows or maps; see `MLPClassifier.partial_fit`."""
        X, self._seen_shape = self._rows(X)
        try:
            return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)
        finally:
            self.__dict__.pop("_seen_shape", None)

    def _inputs(self, X: Any) -> Any:
        return super()._inputs(self._rows(X)[0])

    def _encoded_pair(self, X: Any, y: Any) -> tuple[Array, Array]:
        return super()._encoded_pair(self._rows(X)[0], y)

    # --- fitted views ----------------------------------------------------------------------

    @property
    def input_shape_(self) -> tuple[int, ...]:
        """(channels, height, width) of one example, as the network reads it."""
        check_is_fitted(self, "net_")
        return tuple(self.net_.input_shape)

    def _weight_views(self, which: str) -> list[Array]:
        net = self.net_
        views = []
        for layer, W, b in zip(net.layers, net.W, net.b, strict=True):
            if layer.n_weights:
                views.append(b if which == "b" else W.T if isinstance(layer, Dense) else W)
        return views

    @property
    def coefs_(self) -> list[Array]:
        """Each weighted layer's weights, a view: filters (F, C, kh, kw); dense (n_in, n_out)."""
        check_is_fitted(self, "net_")
        return LayerArrays(self._weight_views("W"), "coefs_")

    @coefs_.setter
    def coefs_(self, values: Sequence[Any]) -> None:
        self._check_settable("coefs_")
        assign_all(self._weight_views("W"), values, "coefs_")

    @property
    def intercepts_(self) -> list[Array]:
        """Each weighted layer's biases, a view (one per filter for a convolution)."""
        check_is_fitted(self, "net_")
        return LayerArrays(self._weight_views("b"), "intercepts_")

    @intercepts_.setter
    def intercepts_(self, values: Sequence[Any]) -> None:
        self._check_settable("intercepts_")
        assign_all(self._weight_views("b"), values, "intercepts_")

    @property
    def filters_(self) -> Array:
        """The first convolution's filters, a copy of shape (F, C, kh, kw).

        Raises
        ------
        ValueError
            If the network has no convolution.
        """
        check_is_fitted(self, "net_")
        return first_filters(self.net_)

    def to_sklearn(self) -> Any:
        """Refused: scikit-learn's MLP has no convolution or pooling layer.

        Raises
        ------
        ValueError
            Always, naming why.
        """
        raise ValueError(
            "scikit-learn's MLPClassifier has no convolution or pooling layer: a "
            "ConvNetClassifier cannot become one (save it with nablanet.save instead)"
        )


def first_filters(net: Network) -> Array:
    """A copy of the first `Conv2D` layer's W, of shape (F, C, kh, kw).

    Raises
    ------
    ValueError
        If ``net`` has no convolution.
    """
    for layer, W in zip(net.layers, net.W, strict=True):
        if isinstance(layer, Conv2D):
            return np.array(W)
    raise ValueError("the network has no convolution layer, so no filters to show")


def _checked_shape(shape: Any) -> tuple[int, int, int]:
    """``input_shape`` as three integers >= 1, or a ValueError that says what it must be."""
    values = tuple(shape) if isinstance(shape, list | tuple) else ()
    if len(values) != 3 or not all(
        isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 1 for n in values
    ):
        raise ValueError(
            f"input_shape must be (channels, height, width), three integers >= 1, got {shape!r}"
        )
    return int(values[0]), int(values[1]), int(values[2])
