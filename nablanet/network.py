"""The network h_{W,b}: forward propagation, the cost J and backpropagation (docs/math.md §2–§6).

A network is a stack of layers (`nablanet.layers`) over one flat θ. Samples are rows;
for a batch X of shape (m, s_1) and each layer l::

    Z(l+1) = op_l(A(l); W(l), b(l))      the layer's forward   (Dense: A Wᵀ + b, §3)
    A(l+1) = f(Z(l+1))

    Δ(n_l) = rows w_i δ_i, δ_i = ∂C_i/∂z_i   from the loss   (BP1)
    Δ(l)   = op_lᵀ(Δ(l+1)) ⊙ f'(Z(l))    the layer's backward, times f' here  (BP2)
    ∂J/∂b(l), ∂J/∂W(l)                   the layer's backward, into the flat gradient
                                         (BP3, BP4; + λ W(l), added here in one pass)

One convention throughout (§6): δ_i = ∂C_i/∂z_i is example i's own error, and row i of
Δ is w_i δ_i, where w_i is example i's share of the mean cost (1/m, or s_i / Σ s with
sample weights). The mean is taken once, at BP1; BP3 and BP4 never divide again.
`Trace` keeps both δ (``delta``) and Δ (``Delta``).

The hot path writes into buffers kept per batch size (`nablanet.workspace`), overwrites
Z with A in place (every derivative is written from a = f(z)), and writes gradients
straight into the flat gradient vector, so that a training step allocates next to nothing.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from nablanet import kernels
from nablanet._arrays import check_dtype, check_matrix, check_pair, check_sample_weight, is_sparse
from nablanet._checks import number
from nablanet.activations import Activation, get_activation
from nablanet.layers import Dense, Layer
from nablanet.layout import Layout, from_row_major
from nablanet.losses import Loss, get_loss
from nablanet.sparsity import Sparsity, SparsityPass, penalties_for
from nablanet.trace import Trace, TraceLayer
from nablanet.workspace import PerThread, Workspace

if TYPE_CHECKING:
    from nablanet.diagnostics import Diagnosis
    from nablanet.gradcheck import GradientCheckReport

Array = NDArray[Any]

__all__ = ["Network", "Trace", "TraceLayer"]

#: How θ stores each W(l) in pickles: 2 is column-major (see `nablanet.layout`); a pickle
#: without the mark was written with the row-major layout 1 and is converted on loading.
_THETA_LAYOUT = 2

#: Rows per chunk when evaluating (not training on) many samples: bounds the buffers.
_CHUNK_ROWS = 4096


def _chunks(m: int) -> list[slice]:
    """Row slices of at most `_CHUNK_ROWS` covering ``range(m)``."""
    return [slice(start, min(start + _CHUNK_ROWS, m)) for start in range(0, m, _CHUNK_ROWS)]


def dense_layers(
    layer_sizes: Sequence[int],
    activation: str | Sequence[str],
    output_activation: str,
    init: str | Sequence[str],
) -> list[Layer]:
    """The `Dense` layers of a network given by its sizes ``(s_1, ..., s_{n_l})``."""
    layout = Layout(tuple(layer_sizes))  # checks the sizes
    n_hidden = layout.n_layers - 1
    if isinstance(activation, str):
        # Looked up even when there is no hidden layer: a misspelt name is always refused.
        hidden = [get_activation(activation).name] * n_hidden
    else:
        hidden = [get_activation(n).name for n in activation]
        if len(hidden) != n_hidden:
            raise ValueError(
                f"activation needs one name per hidden layer ({n_hidden}), got {activation!r}"
            )
    n = layout.n_layers
    inits = [init] * n if isinstance(init, str) else list(init)
    if len(inits) != n:
        raise ValueError(f"init needs one name per weight layer ({n}), got {init!r}")
    names = [*hidden, get_activation(output_activation).name]
    return [
        Dense(units, activation=name, init=i)
        for units, name, i in zip(layout.layer_sizes[1:], names, inits, strict=True)
    ]


def _stack(
    layers: Sequence[int] | Sequence[Layer],
    activation: str | Sequence[str] | None,
    output_activation: str | None,
    init: str | Sequence[str] | None,
    input_shape: Sequence[int] | None,
) -> tuple[list[Layer], tuple[int, ...], str | list[str] | None]:
    """`Network`'s layers, input shape and ``init`` from either form of its arguments.

    Layers are copied (each network builds its own); sizes become `Dense` layers.
    ``init`` is what a model file records: one name where all layers share it, None
    where they differ (the network then records `Network.init_names`).
    """
    if not (len(layers) and all(isinstance(layer, Layer) for layer in layers)):
        if input_shape is not None:
            raise ValueError("input_shape goes with layers; sizes already start with it")
        sizes = cast(Sequence[int], layers)
        init = "auto" if init is None else init
        stack = dense_layers(sizes, activation or "sigmoid", output_activation or "sigmoid", init)
        return stack, (int(sizes[0]),), init if isinstance(init, str) else list(init)
    if activation is not None or output_activation is not None or init is not None:
        raise ValueError(
            "activation, output_activation and init belong to each layer when the "
            "network is given layers, not sizes"
        )
    if input_shape is None:
        raise ValueError("a network given layers needs input_shape, e.g. (64,)")
    stack = [copy.copy(layer) for layer in layers if isinstance(layer, Layer)]
    names = {layer.init for layer in stack}
    return stack, tuple(input_shape), names.pop() if len(names) == 1 else None


class Network:
    """A feedforward network: a stack of layers with parameters (W, b) in one flat θ.

    Parameters
    ----------
    layers : sequence of int, or sequence of Layer
        Either the layer sizes ``(s_1, ..., s_{n_l})`` of a fully connected network
        (input units, hidden units per layer, output units), or the layers themselves
        (`nablanet.layers`, each a fresh copy is built), with ``input_shape``.
    activation : str or sequence of str, default "sigmoid"
        With sizes: hidden-layer activation, or one per hidden layer. Names from
        `nablanet.activations.ACTIVATIONS` ("logistic" is accepted for "sigmoid").
    output_activation : str, default "sigmoid"
        With sizes: the output layer's activation ("softmax" for classes).
    loss : str, optional
        "squared_error", "cross_entropy" (softmax outputs) or "binary_cross_entropy"
        (sigmoid outputs). Default: cross-entropy after softmax, else squared error.
    weight_decay : float, default 0.0
        λ in J = mean cost + (λ/2) Σ W². Never applied to biases.
    init : str or sequence of str, default "auto"
        With sizes: "ufldl", "glorot", "he" or "normal" (one name or one per weight
        layer). "auto" uses "he" for layers feeding relu-type units and "ufldl" otherwise.
        With layers, each layer names its own.
    seed : int or numpy.random.Generator, optional
        Source of the random initial weights.
    dtype : float32 or float64, default float64
        Dtype of the parameters and of every computation.
    sparsity : Sparsity, (target, weight), or sequence of those or None, optional
        A penalty β Σ_j KL(ρ ‖ ρ̂_j) on the mean activations of hidden layers (UFLDL's
        sparse autoencoder; see `nablanet.sparsity`): one for every hidden layer, or
        one entry (None for no penalty) per hidden layer. Part of J and of its gradient.
    input_shape : tuple of int, optional
        With layers: the shape of one example, e.g. ``(64,)`` or ``(channels, height,
        width)``. Inputs X are then (m, prod(input_shape)) or (m, *input_shape).

    Attributes
    ----------
    theta : ndarray of shape (n_params,)
        All parameters, weights first then biases. Assigning to it copies into the buffer.
    layers : list of Layer
    W : list of ndarray
        ``W[l]``, layer l's weights, a view into theta (for `Dense`, shape (s_{l+1}, s_l)).
    b : list of ndarray
        ``b[l]``, layer l's biases, a view into theta.

    Notes
    -----
    ``Network([64, 25, 10], activation="relu")`` and ``Network([Dense(25, "relu"),
    Dense(10)], input_shape=(64,))`` are the same network, bit for bit from one seed.
    Read-only methods (`forward`, `hidden`, `trace`, `cost`, `loss_and_grad`, `diagnose`)
    may be called from many threads at once: each thread keeps its own work buffers.
    Training one network from two threads at once is refused (`RuntimeError`).
    """

    def __init__(
        self,
        layers: Sequence[int] | Sequence[Layer],
        activation: str | Sequence[str] | None = None,
        output_activation: str | None = None,
        loss: str | None = None,
        weight_decay: float = 0.0,
        init: str | Sequence[str] | None = None,
        seed: int | np.random.Generator | None = None,
        dtype: Any = np.float64,
        sparsity: Any = None,
        *,
        input_shape: Sequence[int] | None = None,
    ) -> None:
        stack, shape, names = _stack(layers, activation, output_activation, init, input_shape)
        self._build(stack, shape)
        self.init: str | list[str] = self.init_names if names is None else names
        out = self.activations[-1]
        self.loss: Loss = get_loss(loss if loss is not None else out.default_loss)
        self.loss.check_output(out)
        self.weight_decay = number(weight_decay, "weight_decay", low=0.0)
        self.dtype = check_dtype(dtype)
        self._theta = np.zeros(self.n_params, dtype=self.dtype)
        self.W, self.b = self.views(self._theta)
        self._local = PerThread()
        self._training_lock = threading.Lock()
        self.sparsity = sparsity
        self.reset(seed)

    def _build(self, layers: list[Layer], input_shape: tuple[int, ...]) -> None:
        """Size each layer from the one below and place its block of θ."""
        if not layers:
            raise ValueError("a network needs at least one layer")
        if not all(isinstance(n, int | np.integer) and n >= 1 for n in input_shape):
            raise ValueError(f"input_shape must be integers >= 1, got {input_shape}")
        self.input_shape = tuple(int(n) for n in input_shape)
        shape = self.input_shape
        for layer in layers:
            shape = layer.build(shape)
        for layer in layers[:-1]:
            if not layer.activation.elementwise:
                raise ValueError(f"{layer.activation.name} can only be the output activation")
        self.layers = layers
        self.activations: list[Activation] = [layer.activation for layer in layers]
        self.n_weights = sum(layer.n_weights for layer in layers)
        self.n_params = self.n_weights + sum(layer.n_biases for layer in layers)

    # --- parameters -------------------------------------------------------------------

    @property
    def theta(self) -> Array:
        """The flat parameter vector; W and b are views into it."""
        return self._theta

    @theta.setter
    def theta(self, values: Any) -> None:
        with np.errstate(over="ignore"):  # a float64 value too large for float32 -> inf
            values = np.asarray(values, dtype=self.dtype)
        if values.shape != self._theta.shape:
            raise ValueError(f"theta must have shape {self._theta.shape}, got {values.shape}")
        if not np.isfinite(values).all():
            raise ValueError(f"theta contains NaN or infinity (in {self.dtype.name})")
        self._theta[...] = values  # copy in place: the views W, b stay valid

    def views(self, theta: Array) -> tuple[list[Array], list[Array]]:
        """Each layer's ``(W, b)`` seen through ``theta`` (or a gradient); no copy.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)

        Returns
        -------
        W, b : list of ndarray
            One entry per layer, of the layer's shapes (`Layer.weight_view`).
        """
        if theta.ndim != 1 or theta.shape[0] != self.n_params:
            raise ValueError(
                f"theta must have shape ({self.n_params},) for layers {self.layer_sizes}, "
                f"got {theta.shape}"
            )
        W, b = [], []
        w_at, b_at = 0, self.n_weights
        for layer in self.layers:
            W.append(layer.weight_view(theta[w_at : w_at + layer.n_weights]))
            b.append(layer.bias_view(theta[b_at : b_at + layer.n_biases]))
            w_at += layer.n_weights
            b_at += layer.n_biases
        return W, b

    @property
    def sparsity(self) -> list[Sparsity | None]:
        """The sparsity penalty of each hidden layer (None where there is none)."""
        return list(self._sparsity)

    @sparsity.setter
    def sparsity(self, value: Any) -> None:
        self._sparsity = penalties_for(value, self.activations[:-1])
        # Checked once here so that a network without a penalty does no extra work.
        self._penalised = any(p is not None for p in self._sparsity)

    def _penalty(self) -> SparsityPass | None:
        """Fresh bookkeeping for one evaluation of J, or None without a penalty."""
        return SparsityPass(self._sparsity, self.activations[:-1]) if self._penalised else None

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """``(s_1, ..., s_{n_l})``: values per example into each layer, and out of the last."""
        return (self.layers[0].n_in, *(layer.n_out for layer in self.layers))

    @property
    def layout(self) -> Layout:
        """The offsets of a fully connected network's W and b (`nablanet.layout`).

        Raises
        ------
        AttributeError
            If a layer is not `Dense`: use `views` for any network.
        """
        if not all(isinstance(layer, Dense) for layer in self.layers):
            raise AttributeError("layout describes fully connected networks; use views(theta)")
        return Layout(self.layer_sizes)

    @property
    def init_names(self) -> list[str]:
        """The initialiser of each layer with weights, with "auto" resolved per layer.

        "auto" is He's for a layer feeding relu-type units and UFLDL's range otherwise.
        """
        return [
            layer.activation.default_init if layer.init == "auto" else layer.init
            for layer in self.layers
            if layer.n_weights
        ]

    def reset(self, seed: int | np.random.Generator | None = None) -> None:
        """Draw new random weights (biases back to zero) from ``seed``."""
        rng = np.random.default_rng(seed)
        weighted = [(layer, W) for layer, W in zip(self.layers, self.W, strict=True)
                    if layer.n_weights]
        for (layer, W), name in zip(weighted, self.init_names, strict=True):
            layer.initialize(W, name, rng)
        self._theta[self.n_weights :] = 0.0

    def copy(self) -> Network:
        """An independent network with the same settings and parameters."""
        return self.astype(self.dtype)

    def astype(self, dtype: Any) -> Network:
        """A copy of this network whose parameters and computations use ``dtype``."""
        net = Network(
            self.layers,
            loss=self.loss.name,
            weight_decay=self.weight_decay,
            seed=0,
            dtype=dtype,
            sparsity=self._sparsity,
            input_shape=self.input_shape,
        )
        net.init = copy.copy(self.init)
        net._theta[...] = self._theta
        return net

    def __getstate__(self) -> dict[str, Any]:
        # Views and work buffers are rebuilt on unpickling: pickled views would lose
        # their link to theta, and the buffers are only a cache.
        state = self.__dict__.copy()
        for key in ("W", "b", "_local", "_training_lock"):
            state.pop(key)
        state["theta_layout"] = _THETA_LAYOUT
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if "layers" not in state:  # pickled before the layers: a fully connected network
            sizes = state.pop("layout").layer_sizes
            acts = [a.name for a in state.pop("activations")]
            self._build(dense_layers(sizes, acts[:-1], acts[-1], state["init"]), (sizes[0],))
            # Pickled before the sparsity penalty existed: no penalty.
            state.setdefault("_sparsity", [None] * (len(sizes) - 2))
            state.setdefault("_penalised", False)
        self.__dict__.update(state)
        if self.__dict__.pop("theta_layout", 1) == 1:  # pickled before W was column-major
            self._theta = from_row_major(self._theta, self.layout)
        self.W, self.b = self.views(self._theta)
        self._local = PerThread()
        self._training_lock = threading.Lock()

    @contextmanager
    def _training(self) -> Iterator[None]:
        """Hold the network for one training call; a second one at the same time is refused.

        Two trainings interleaving their steps on one theta would leave weights that
        neither computed. Not blocking: waiting would hide the mistake in the caller.
        """
        if not self._training_lock.acquire(blocking=False):
            raise RuntimeError(
                "network is being trained by another thread (or by a callback of its own "
                "training); train one network from one thread at a time, or train a copy"
            )
        try:
            yield
        finally:
            self._training_lock.release()

    def to_state(self) -> tuple[dict[str, Any], dict[str, Array]]:
        """The settings and parameters that rebuild this network exactly (its model file).

        Returns
        -------
        spec : dict
            ``{"layer_sizes", "activations" (hidden layers), "output_activation", "loss",
            "weight_decay", "init", "dtype"}`` (and ``"sparsity"`` when a hidden layer has
            a penalty), plain JSON values; for a network that is not fully connected,
            ``{"layers" (each layer's `Layer.to_spec`), "input_shape", "loss",
            "weight_decay", "dtype"}`` (and ``"sparsity"``).
        arrays : dict
            ``{"theta": copy of theta}``.

        Raises
        ------
        ValueError
            If theta holds NaN or infinity: loading would refuse such a file.
        """
        if not np.isfinite(self._theta).all():
            raise ValueError(
                "cannot save a network whose theta contains NaN or infinity (did training "
                "diverge?): the file could not be loaded"
            )
        spec: dict[str, Any] = {
            "layer_sizes": [int(s) for s in self.layer_sizes],
            "activations": [a.name for a in self.activations[:-1]],
            "output_activation": self.activations[-1].name,
            "loss": self.loss.name,
            "weight_decay": float(self.weight_decay),
            "init": self.init if isinstance(self.init, str) else [str(i) for i in self.init],
            "dtype": self.dtype.name,
        }
        if len(self.input_shape) > 1 or not all(isinstance(l, Dense) for l in self.layers):
            # Sizes and activations cannot say what a convolution or a pooling is: the
            # layers' own specs do, and `nablanet.io.network` reads them back.
            spec = {"layers": [layer.to_spec() for layer in self.layers],
                    "input_shape": list(self.input_shape), "loss": spec["loss"],
                    "weight_decay": spec["weight_decay"], "dtype": spec["dtype"]}
        if self._penalised:  # absent otherwise: older readers agree
            spec["sparsity"] = [
                None if p is None else {"target": p.target, "weight": p.weight}
                for p in self._sparsity
            ]
        return spec, {"theta": self._theta.copy()}

    def save(self, path: Any) -> None:
        """Write the network to a safe model file (see `nablanet.io`).

        The file's container is all it needs of `nablanet.io`: the network gives its own
        state (`to_state`), so the two modules do not import each other.
        """
        from nablanet.io.header import save_state

        spec, arrays = self.to_state()
        save_state(path, {"kind": "Network", "network": spec}, arrays)

    # --- forward propagation ----------------------------------------------------------

    def _rows(self, X: Any, Y: Any = None) -> Any:
        """X (and Y) checked, X as (m, n_in) rows in the network's dtype."""
        if isinstance(X, np.ndarray) and X.ndim == len(self.input_shape) + 1 > 2:
            if X.shape[1:] == self.input_shape:  # (m, channels, height, width): one row each
                X = X.reshape(X.shape[0], -1)
        if is_sparse(X) and not self.layers[0].accepts_sparse:
            raise ValueError(
                f"a {type(self.layers[0]).__name__} first layer cannot read a scipy.sparse "
                "X; pass X.toarray()"
            )
        n_in = self.layer_sizes[0]
        if Y is None:
            return check_matrix(X, "X", n_columns=n_in, dtype=self.dtype, accept_sparse=True)
        return check_pair(X, Y, n_inputs=n_in, n_outputs=self.layer_sizes[-1], dtype=self.dtype)

    def forward(self, X: Any) -> Array:
        """Compute the outputs ``h_{W,b}(X)``.

        Parameters
        ----------
        X : array-like or scipy.sparse CSR/CSC matrix of shape (m, s_1)

        Returns
        -------
        ndarray of shape (m, s_{n_l})
        """
        X = self._rows(X)
        out = np.empty((X.shape[0], self.layer_sizes[-1]), dtype=self.dtype)
        for rows in _chunks(X.shape[0]):
            out[rows] = self._forward(X[rows], self.W, self.b, self._workspace(len(out[rows])))
        return out

    def hidden(self, X: Any, layer: int = -1) -> Array:
        """Activations of a hidden layer (default: the last one) for inputs X.

        Returns
        -------
        ndarray of shape (m, s_{layer+2})
        """
        n_hidden = len(self.layers) - 1
        if n_hidden == 0:
            raise ValueError("this network has no hidden layer")
        X = self._rows(X)
        l = range(n_hidden)[layer]
        H = np.empty((X.shape[0], self.layer_sizes[l + 1]), dtype=self.dtype)
        for rows in _chunks(X.shape[0]):  # chunks, as in forward: bounded buffers per thread
            ws = self._workspace(len(H[rows]))
            self._forward(X[rows], self.W, self.b, ws, output=False)
            H[rows] = ws.buffers[l].A
        return H

    def _workspace(self, m: int, keep_z: bool = False) -> Workspace:
        """Buffers of the calling thread for a batch of m rows (made once, then reused)."""
        return self._local.workspace(self.layers, m, self.dtype, keep_z)

    def _forward(
        self,
        X: Any,
        W: list[Array],
        b: list[Array],
        ws: Workspace,
        need_derivatives: bool = False,
        dropout_masks: Sequence[Array | None] | None = None,
        output: bool = True,
        penalty: SparsityPass | None = None,
        sample_weight: Array | None = None,
    ) -> Array:
        """Forward pass into ``ws``; returns the output activations (a buffer).

        With ``need_derivatives`` each hidden layer's f'(z) is stored in its ``D`` for
        backpropagation. A dropout mask multiplies both a hidden layer's activation and
        its f'(z), so the dropped units pass neither signal nor error. Without
        ``output`` the pass stops at the output layer's z: training leaves the output
        activation to the loss, which fuses it with the cost. With a ``penalty`` each
        penalised layer's Σ_i w_i a_i (w_i from ``sample_weight``) is accumulated before
        any dropout mask (and, with derivatives, its extra δ term computed from f'(z)).
        """
        a_in = X
        *hidden, last = self.layers
        for l, layer in enumerate(hidden):
            buf = ws.buffers[l]
            layer.forward(a_in, W[l], b[l], buf, need_derivatives, True)
            if penalty is not None and self._sparsity[l] is not None:
                assert sample_weight is not None
                penalty.observe(l, buf.A, sample_weight, buf.D if need_derivatives else None)
            mask = dropout_masks[l] if dropout_masks is not None else None
            if mask is not None:
                buf.A *= mask
                if need_derivatives and buf.D is not None:
                    buf.D *= mask
            a_in = buf.A
        buf = ws.buffers[-1]
        last.forward(a_in, W[-1], b[-1], buf, False, output)
        return buf.A

    # --- cost and backpropagation -----------------------------------------------------

    def loss_and_grad(
        self,
        X: Any,
        Y: Any,
        theta: Any = None,
        *,
        sample_weight: Any = None,
        dropout_masks: Sequence[Array | None] | None = None,
    ) -> tuple[float, Array]:
        """The cost J and its gradient with respect to every parameter.

        Parameters
        ----------
        X : array-like or scipy.sparse CSR/CSC matrix of shape (m, s_1)
        Y : array-like of shape (m, s_{n_l})
            Targets coded for the output activation (0/1 for sigmoid, -1/+1 for tanh,
            one-hot or probability rows for softmax).
        theta : ndarray of shape (n_params,), optional
            Evaluate at this vector instead of ``self.theta``; the network is not changed.
        sample_weight : array-like of shape (m,), optional
            Weights of the examples: J becomes the weighted mean cost.
        dropout_masks : sequence of ndarray or None, optional
            One per hidden layer, of shape (m, s_{l+1}): multiplies that layer's
            activations (0 drops a unit; inverted dropout keeps 1/p). Used by training
            and by gradient checks with a fixed mask.

        Returns
        -------
        J : float
            ``(1/m) Σ_i C(h(x_i), y_i) + (λ/2) Σ_l ‖W(l)‖²``.
        grad : ndarray of shape (n_params,)
            ∂J/∂θ in the layout of theta, same dtype.
        """
        X, Y = self._rows(X, Y)
        if theta is None:
            theta = self._theta
        else:
            theta = np.asarray(theta, dtype=self.dtype)
            self.views(theta)  # validates the shape
        s = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
        grad = np.empty(self.n_params, dtype=self.dtype)
        J = self._loss_and_grad(X, Y, theta, grad, s, dropout_masks)
        return J, grad

    def cost(self, X: Any, Y: Any, *, sample_weight: Any = None) -> float:
        """The cost J (see `loss_and_grad`) without its gradient."""
        X, Y = self._rows(X, Y)
        s = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
        return self._data_cost(X, Y, s)

    def _data_cost(self, X: Array, Y: Array, sample_weight: Array | None = None) -> float:
        """J at ``self.theta`` for validated arrays, in chunks of rows (bounded buffers)."""
        total = 0.0
        penalty = self._penalty()
        s = sample_weight
        for rows in _chunks(X.shape[0]):
            Xc = X[rows]
            ws = self._workspace(Xc.shape[0])
            w = ws.ones if s is None else s[rows].astype(self.dtype)
            self._forward(Xc, self.W, self.b, ws, penalty=penalty, sample_weight=w)
            out = ws.buffers[-1]
            C = self.loss.per_example(out.Z, out.A, Y[rows])
            total += float(C.sum()) if s is None else float(np.dot(s[rows], C))
        m = X.shape[0] if s is None else float(s.sum())
        J = total / m + self._decay_term(self._theta)
        return J if penalty is None else J + penalty.cost()

    def _decay_term(self, theta: Array) -> float:
        """(λ/2) Σ_l ‖W(l)‖²: the weights only, never the biases."""
        if not self.weight_decay:
            return 0.0
        w = theta[: self.n_weights]
        return 0.5 * self.weight_decay * float(np.dot(w, w))

    def _loss_and_grad(
        self,
        X: Array,
        Y: Array,
        theta: Array,
        grad: Array,
        sample_weight: Array | None = None,
        dropout_masks: Sequence[Array | None] | None = None,
        ws: Workspace | None = None,
    ) -> float:
        """J and ∂J/∂θ, written into ``grad``, for validated arrays of the network's dtype.

        This is the training loop's entry point: it checks nothing and allocates nothing
        once the workspace for this batch size exists.
        """
        W, b = (self.W, self.b) if theta is self._theta else self.views(theta)
        dW, db = self._gradient_views(grad)
        if ws is None:
            ws = self._workspace(X.shape[0])
        # Each example's share w_i of J (1/m, or s_i / Σ s). BP1 below computes the
        # output activation, the cost and δ = w_i ∂C_i/∂z in one call: weighting δ there
        # makes every gradient below an average for free.
        if sample_weight is None:
            w = ws.uniform
        else:
            w = (sample_weight / sample_weight.sum()).astype(self.dtype)
        penalty = self._penalty()
        self._forward(X, W, b, ws, True, dropout_masks, False, penalty, w)
        out = ws.buffers[-1]
        J = self.loss.cost_and_delta(self.activations[-1], out.Z, out.A, Y, w, out.delta)
        J += self._decay_term(theta)
        if penalty is not None:
            J += penalty.cost()

        buffers = ws.buffers
        for l in range(len(self.layers) - 1, -1, -1):
            below = buffers[l - 1] if l > 0 else None  # the input layer needs no δ
            a_in = X if below is None else below.A
            grad_in = None if below is None else below.delta
            self.layers[l].backward(a_in, W[l], buffers[l], dW[l], db[l], grad_in)  # BP3, BP4
            if below is not None:  # BP2: Δ(l) = op_lᵀ(Δ(l+1)) ⊙ f'(Z(l))
                if below.D is not None:
                    below.delta *= below.D
                if penalty is not None and l - 1 in penalty.terms:  # the sparsity term
                    below.delta += penalty.terms[l - 1]

        if self.weight_decay:  # ∂/∂W of (λ/2)ΣW² = λW, one pass; biases are not decayed
            n = self.n_weights
            kernels.axpy(self.dtype.type(self.weight_decay), theta[:n], grad[:n])
        return J

    def _gradient_views(self, grad: Array) -> tuple[list[Array], list[Array]]:
        """Views ``(dW, db)`` into ``grad``, kept for the buffer the training loop reuses."""
        local = self._local
        cached = local.grad_views
        if cached is None or cached[0] is not grad:
            cached = local.grad_views = (grad, *self.views(grad))
        return cached[1], cached[2]

    def trace(self, X: Any, Y: Any = None, *, sample_weight: Any = None) -> Trace:
        """Run forward (and, with targets, backward) propagation and keep everything.

        For teaching and diagnosis: returns z, a, δ (per example), Δ (weighted rows)
        and the gradients of every layer as new arrays. Uses the same code as training.
        z, a, δ and Δ have each layer's shape, ``(m, *layer.output_shape)``.

        Parameters
        ----------
        X : array-like or scipy.sparse CSR/CSC matrix of shape (m, s_1)
        Y : array-like of shape (m, s_{n_l}), optional
        sample_weight : array-like of shape (m,), optional
            Weights of the examples, as in `loss_and_grad`.

        Returns
        -------
        Trace
        """
        if Y is None:
            X = self._rows(X)
            ws = Workspace(self.layers, X.shape[0], self.dtype, keep_z=True)
            self._forward(X, self.W, self.b, ws)
            return Trace(z=self._shaped(ws, "Z"), a=[self._input(X), *self._shaped(ws, "A")])
        X, Y = self._rows(X, Y)
        ws = Workspace(self.layers, X.shape[0], self.dtype, keep_z=True)
        s = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
        grad = np.empty(self.n_params, dtype=self.dtype)
        J = self._loss_and_grad(X, Y, self._theta, grad, s, ws=ws)
        dW, db = self.views(grad)
        # The same shares w_i as `_loss_and_grad` weights BP1 with; δ_i is Δ's row / w_i.
        w = ws.uniform if s is None else (s / s.sum()).astype(self.dtype)
        Delta = self._shaped(ws, "delta")
        with np.errstate(divide="ignore", invalid="ignore"):  # w_i = 0: NaN, documented
            delta = [D / w.reshape(-1, *[1] * (D.ndim - 1)) for D in Delta]
        return Trace(z=self._shaped(ws, "Z"), a=[self._input(X), *self._shaped(ws, "A")],
                     delta=delta, dW=dW, db=db, J=J, Delta=Delta, sample_weight=w)

    def _shaped(self, ws: Workspace, name: str) -> list[Array]:
        """One buffer of every layer, as (m, *output_shape): the (m, n) array itself if 2-D."""
        out = []
        for layer, buf in zip(self.layers, ws.buffers, strict=True):
            value = getattr(buf, name)
            shape = (value.shape[0], *layer.output_shape)
            out.append(value if value.shape == shape else value.reshape(shape))
        return out

    def _input(self, X: Any) -> Any:
        """X as (m, *input_shape): itself for flat inputs (dense or sparse)."""
        if len(self.input_shape) == 1:
            return X
        return X.reshape(X.shape[0], *self.input_shape)

    # --- checks and diagnostics -------------------------------------------------------

    def check_gradient(
        self,
        X: Any,
        Y: Any,
        *,
        eps: float = 1e-4,
        tol: float = 1e-7,
        n_coords: int | None = None,
        seed: int | None = 0,
        sample_weight: Any = None,
    ) -> GradientCheckReport:
        """Compare backpropagation with central differences, in float64 (docs/math.md §7).

        Parameters
        ----------
        X, Y : array-like
            A small batch: the check costs 2 cost evaluations per checked coordinate.
        eps, tol : float
            Step of the central difference; largest relative difference that passes
            (1e-7, the one default: see `nablanet.gradcheck.check_gradient` for what a
            correct network gives and why).
        n_coords : int, optional
            Check only this many coordinates, drawn at random (for large networks).
        seed : int, optional
            Chooses those coordinates.

        Returns
        -------
        GradientCheckReport
        """
        from nablanet.gradcheck import check_gradient

        net = self.astype(np.float64)
        X, Y = net._rows(X, Y)

        def fun(theta: Array) -> tuple[float, Array]:
            return net.loss_and_grad(X, Y, theta, sample_weight=sample_weight)

        return check_gradient(fun, net.theta.copy(), eps=eps, tol=tol, n_coords=n_coords, seed=seed)

    def diagnose(
        self,
        X: Any,
        Y: Any,
        *,
        feature_names: Sequence[str] | None = None,
        targets_scaled: bool = False,
    ) -> Diagnosis:
        """Per-layer saturation, dead and starved units, δ sizes and learning speeds (§6).

        See `nablanet.diagnostics.diagnose`, whose keywords these are.
        """
        from nablanet.diagnostics import diagnose  # here: a fit or prediction never needs it

        return diagnose(self, X, Y, feature_names=feature_names, targets_scaled=targets_scaled)

    # --- display ----------------------------------------------------------------------

    def __repr__(self) -> str:
        acts = ", ".join(a.name for a in self.activations)
        sizes = "-".join(map(str, self.layer_sizes))
        return (
            f"Network({sizes}, activations=[{acts}], loss={self.loss.name}, "
            f"weight_decay={self.weight_decay:g}, n_params={self.n_params}, "
            f"dtype={self.dtype.name})"
        )

    def to_torch(self) -> Any:
        """A ``torch.nn.Sequential`` with these weights; see `nablanet.to_torch`."""
        from nablanet.export.torch import to_torch

        return to_torch(self)

    def _repr_html_(self) -> str:
        """Jupyter's display: the `summary` table."""
        from nablanet._html import as_html

        return as_html(repr(self), self.summary())

    def summary(self) -> str:
        """A table of the layers: units, activation and parameter count."""
        rows = [f"{'layer':<8}{'units':>8}  {'activation':<12}{'params':>10}"]
        rows.append(f"{'input':<8}{self.layer_sizes[0]:>8}  {'-':<12}{0:>10}")
        for l, layer in enumerate(self.layers):
            units = "x".join(map(str, layer.output_shape))
            name = "output" if l == len(self.layers) - 1 else f"hidden {l + 1}"
            params = layer.n_weights + layer.n_biases
            rows.append(f"{name:<8}{units:>8}  {layer.activation.name:<12}{params:>10}")
        rows.append(
            f"loss {self.loss.name}, weight decay λ={self.weight_decay:g}, "
            f"{self.n_params} parameters ({self.n_weights} weights), {self.dtype.name}"
        )
        for l, p in enumerate(self._sparsity):
            if p is not None:
                rows.append(f"sparsity on hidden {l + 1}: ρ={p.target:g}, β={p.weight:g}")
        return "\n".join(rows)
