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

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet import kernels
from nablanet._arrays import check_dtype, check_theta, optional_sample_weight
from nablanet._checks import number
from nablanet.layers import Layer, theta_views
from nablanet.layers.chunks import held, map_rows
from nablanet.network_checks import NetworkChecks
from nablanet.network_config import NetworkConfig
from nablanet.network_display import NetworkDisplay
from nablanet.network_state import NetworkState
from nablanet.sparsity import SparsityPass
from nablanet.trace import Trace, TraceLayer, trace_of  # noqa: F401  (TraceLayer: an old path)
from nablanet.workspace import PartBuffers, ThreadSafety, Workspace, chunk_rows, chunks

Array = NDArray[Any]

__all__ = ["Network"]


class Network(NetworkConfig, NetworkState, ThreadSafety, NetworkDisplay, NetworkChecks):
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
        width)``. Inputs X are then (m, prod(input_shape)) or ``(m, *input_shape)``.

    Attributes
    ----------
    theta : ndarray of shape (n_params,)
        All parameters, weights first then biases. Assigning to it copies into the buffer.
    layers : list of Layer
    layer_sizes : tuple of int
        ``(s_1, ..., s_{n_l})``: values per example into each layer, and out of the last.
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
        self._configure(layers, activation, output_activation, init, input_shape, loss)
        self.weight_decay = number(weight_decay, "weight_decay", low=0.0)
        self.dtype = check_dtype(dtype)
        self._theta = np.zeros(self.n_params, dtype=self.dtype)
        self.W, self.b = self.views(self._theta)
        self._init_threads()
        self.sparsity = sparsity
        self.reset(seed)

    # --- parameters -------------------------------------------------------------------

    @property
    def theta(self) -> Array:
        """The flat parameter vector; W and b are views into it."""
        return self._theta

    @theta.setter
    def theta(self, values: Any) -> None:
        # Copied in place: the views W, b stay valid.
        self._theta[...] = check_theta(values, self.n_params, self.dtype)

    def bind_theta(self, buffer: Array) -> None:
        """Make ``buffer`` the network's θ, its values the parameters; W and b view it.

        For code that needs θ at an address of its choosing (a worker's aligned copy,
        `nablanet.distributed`); everywhere else assign to `theta`, which copies.

        Parameters
        ----------
        buffer : ndarray of shape (n_params,), the network's dtype, C-contiguous
        """
        if buffer.dtype != self.dtype or not buffer.flags.c_contiguous:
            raise ValueError(f"theta's buffer must be a contiguous {self.dtype.name} array")
        self.W, self.b = self.views(buffer)
        self._theta = buffer
        self._local.grad_views = None

    def views(self, theta: Array) -> tuple[list[Array], list[Array]]:
        """Each layer's ``(W, b)`` seen through ``theta`` (or a gradient); no copy.

        Parameters
        ----------
        theta : ndarray of shape (n_params,), else ValueError

        Returns
        -------
        W, b : list of ndarray
            One entry per layer, of the layer's shapes (`Layer.weight_view`).
        """
        return theta_views(self.layers, theta, self.n_weights)

    def reset(self, seed: int | np.random.Generator | None = None) -> None:
        """Draw new random weights (biases back to zero) from ``seed``."""
        rng = np.random.default_rng(seed)
        weighted = [(layer, W) for layer, W in zip(self.layers, self.W, strict=True)
                    if layer.n_weights]
        for (layer, W), name in zip(weighted, self.init_names, strict=True):
            layer.initialize(W, name, rng)
        self._theta[self.n_weights :] = 0.0

    # --- forward propagation ----------------------------------------------------------

    def forward(self, X: Any) -> Array:
        """Compute the outputs ``h_{W,b}(X)``.

        Parameters
        ----------
        X : array-like or scipy.sparse CSR/CSC matrix of shape (m, s_1)

        Returns
        -------
        ndarray of shape (m, s_{n_l})
        """
        return self._activations(self.check_inputs(X), len(self.layers) - 1)

    def hidden(self, X: Any, layer: int = -1) -> Array:
        """Activations of a hidden layer (default: the last one) for inputs X.

        Parameters
        ----------
        X : array-like or scipy.sparse CSR/CSC matrix of shape (m, s_1)
        layer : int, default -1
            Which hidden layer, counted from 0 (the first); negative from the last.

        Returns
        -------
        ndarray of shape (m, s_{layer+2})
        """
        n_hidden = len(self.layers) - 1
        if n_hidden == 0:
            raise ValueError("this network has no hidden layer")
        return self._activations(self.check_inputs(X), range(n_hidden)[layer])

    def _activations(self, X: Any, l: int) -> Array:
        """A(l+1) for checked inputs X, a pass per part of the rows (`map_rows`)."""
        output, W, b, buffers = l == len(self.layers) - 1, self.W, self.b, PartBuffers(self)

        def part(rows: slice) -> Array:
            ws = buffers(rows.stop - rows.start)
            self._forward(X[rows], W, b, ws, output=output)
            return ws.buffers[l].A

        return map_rows(part, X.shape[0], self.layer_sizes[l + 1], self.dtype,
                        self.largest_product, chunk_rows(self.scratch_values * self.dtype.itemsize),
                        split=not self.splits_batch)

    @held  # convolutions: BLAS on one thread, the batch split over threads instead
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
            One per hidden layer, of shape (m, s_{l+1}) (None for no mask, and for
            layers that take none: convolution, pooling): multiplies that layer's
            activations (0 drops a unit; inverted dropout keeps 1/p). Used by training
            and by gradient checks with a fixed mask.

        Returns
        -------
        J : float
            ``(1/m) Σ_i C(h(x_i), y_i) + (λ/2) Σ_l ‖W(l)‖²``.
        grad : ndarray of shape (n_params,)
            ∂J/∂θ in the layout of theta, same dtype.
        """
        X, Y = self.check_inputs(X, Y)
        theta = self._theta if theta is None else np.asarray(theta, dtype=self.dtype)
        self.views(theta)  # validates the shape
        sample_weight = optional_sample_weight(sample_weight, X.shape[0])
        grad = np.empty(self.n_params, dtype=self.dtype)
        masks = self.check_masks(dropout_masks, X.shape[0])
        J = self._backpropagate(X, Y, theta, grad, sample_weight, masks)
        return J, grad

    def cost(self, X: Any, Y: Any, *, sample_weight: Any = None) -> float:
        """The cost J (see `loss_and_grad`) without its gradient."""
        X, Y = self.check_inputs(X, Y)
        sample_weight = optional_sample_weight(sample_weight, X.shape[0])
        return self.cost_unchecked(X, Y, sample_weight=sample_weight)

    def cost_unchecked(self, X: Any, Y: Array, *, sample_weight: Array | None = None) -> float:
        """J at ``theta`` for arrays `check_inputs` gave (and valid weights); checks nothing.

        Evaluated in chunks of rows, so that the buffers stay bounded for any m.
        """
        total = 0.0
        penalty = self._penalty()
        for rows in chunks(X.shape[0], self.scratch_values * self.dtype.itemsize):
            Xc = X[rows]
            ws = self._workspace(Xc.shape[0])
            weight = ws.ones if sample_weight is None else sample_weight[rows].astype(self.dtype)
            self._forward(Xc, self.W, self.b, ws, penalty=penalty, sample_weight=weight)
            out = ws.buffers[-1]
            C = self.loss.per_example(out.Z, out.A, Y[rows])
            total += float(C.sum() if sample_weight is None else np.dot(sample_weight[rows], C))
        m = X.shape[0] if sample_weight is None else float(sample_weight.sum())
        J = total / m + self.weight_decay_cost(self._theta)
        return J if penalty is None else J + penalty.cost()

    def weight_decay_cost(self, theta: Array) -> float:
        """(λ/2) Σ_l ‖W(l)‖² at ``theta``: the weights only, never the biases."""
        if not self.weight_decay:
            return 0.0
        weights = theta[: self.n_weights]
        return 0.5 * self.weight_decay * float(np.dot(weights, weights))

    def loss_and_grad_into(
        self,
        X: Any,
        Y: Array,
        theta: Array,
        grad: Array,
        *,
        sample_weight: Array | None = None,
        dropout_masks: Sequence[Array | None] | None = None,
    ) -> float:
        """J at ``theta``, and ∂J/∂θ written into ``grad``: the training loop's step.

        Checks nothing (X and Y as `check_inputs` gives them, ``theta`` and ``grad`` of
        shape (n_params,) in the network's dtype, valid ``sample_weight``) and, once the
        buffers for this batch size exist, allocates nothing; see `loss_and_grad`.
        """
        return self._backpropagate(X, Y, theta, grad, sample_weight, dropout_masks)

    @held
    def _backpropagate(
        self,
        X: Any,
        Y: Array,
        theta: Array,
        grad: Array,
        sample_weight: Array | None,
        dropout_masks: Sequence[Array | None] | None,
        ws: Workspace | None = None,
    ) -> float:
        """Forward, BP1 from the loss, then each layer's backward, top down (§4)."""
        W, b = (self.W, self.b) if theta is self._theta else self.views(theta)
        dW, db = self._gradient_views(grad)
        if ws is None:
            ws = self._workspace(X.shape[0])
        share = self._shares(ws, sample_weight)
        penalty = self._penalty()
        self._forward(X, W, b, ws, True, dropout_masks, False, penalty, share)
        out = ws.buffers[-1]
        # BP1: the output activation, the cost and Δ = w_i ∂C_i/∂z in one call; weighting
        # Δ here makes every gradient below an average for free.
        J = self.loss.cost_and_delta(self.activations[-1], out.Z, out.A, Y, share, out.delta)
        J += self.weight_decay_cost(theta)
        if penalty is not None:
            J += penalty.cost()
        self._backward(X, W, ws, dW, db, None if penalty is None else penalty.terms)
        if self.weight_decay:  # ∂/∂W of (λ/2)ΣW² = λW, one pass; biases are not decayed
            n = self.n_weights
            kernels.axpy(self.dtype.type(self.weight_decay), theta[:n], grad[:n])
        return J

    def _backward(self, X: Any, W: list[Array], ws: Workspace, dW: list[Array],
                  db: list[Array], terms: dict[int, Array] | None) -> None:
        """Each layer's backward, top down, from the output layer's Δ in ``ws`` (BP2–BP4).

        ``terms``: the sparsity penalty's δ term of each penalised hidden layer, if any.
        """
        buffers = ws.buffers
        for l in range(len(self.layers) - 1, -1, -1):
            below = buffers[l - 1] if l > 0 else None  # the input layer needs no δ
            a_in = X if below is None else below.A
            grad_in = None if below is None else below.delta
            self.layers[l].backward(a_in, W[l], buffers[l], dW[l], db[l], grad_in)  # BP3, BP4
            if below is not None:  # BP2: Δ(l) = op_lᵀ(Δ(l+1)) ⊙ f'(Z(l))
                if below.D is not None:
                    below.delta *= below.D
                if terms is not None and l - 1 in terms:  # the sparsity term
                    below.delta += terms[l - 1]

    def _shares(self, ws: Workspace, sample_weight: Array | None) -> Array:
        """Each example's share w_i of J: 1/m, or s_i / Σ s with sample weights s."""
        if sample_weight is None:
            return ws.uniform
        return (sample_weight / sample_weight.sum()).astype(self.dtype)

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
            X = self.check_inputs(X)
        else:
            X, Y = self.check_inputs(X, Y)
        ws = Workspace(self.layers, X.shape[0], self.dtype, keep_z=True)
        if Y is None:
            self._forward(X, self.W, self.b, ws)
            return trace_of(self.layers, self.input_shape, X, ws)
        sample_weight = optional_sample_weight(sample_weight, X.shape[0])
        grad = np.empty(self.n_params, dtype=self.dtype)
        J = self._backpropagate(X, Y, self._theta, grad, sample_weight, None, ws)
        # The same shares w_i as BP1 weights Δ with: δ_i is Δ's row / w_i.
        share = self._shares(ws, sample_weight)
        return trace_of(self.layers, self.input_shape, X, ws, share, self.views(grad), J)
