"""The network h_{W,b}: forward propagation, the cost J and backpropagation (docs/math.md §2–§6).

Samples are rows. For a batch X of shape (m, s_1) and each layer l::

    Z(l+1) = A(l) W(l)ᵀ + b(l)          one GEMM            (forward, §3)
    A(l+1) = f(Z(l+1))

    Δ(n_l) = rows w_i δ_i, δ_i = ∂C_i/∂z_i   from the loss   (BP1)
    Δ(l)   = (Δ(l+1) W(l)) ⊙ f'(Z(l))    one GEMM            (BP2)
    ∂J/∂b(l) = 1ᵀ Δ(l+1)                one GEMV            (BP3)
    ∂J/∂W(l) = Δ(l+1)ᵀ A(l) + λ W(l)     one GEMM            (BP4)

One convention throughout (§6): δ_i = ∂C_i/∂z_i is example i's own error, and row i of
Δ is w_i δ_i, where w_i is example i's share of the mean cost (1/m, or s_i / Σ s with
sample weights). The mean is taken once, at BP1; BP3 and BP4 never divide again.
`Trace` keeps both δ (``delta``) and Δ (``Delta``).

Inputs X may be scipy.sparse (CSR/CSC): the first layer's products Z = X W(1)ᵀ and
∂J/∂W(1)ᵀ = Xᵀ Δ are then sparse · dense products, and X is never densified.

The hot path writes into buffers kept per batch size, overwrites Z with A in place
(every derivative is written from a = f(z)), and writes gradients straight into
the flat gradient vector, so that a training step allocates next to nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from nablanet import kernels
from nablanet._arrays import check_dtype, check_matrix, check_pair, check_sample_weight
from nablanet._checks import number
from nablanet.activations import Activation, get_activation
from nablanet.layout import Layout, from_row_major, initialize
from nablanet.losses import Loss, get_loss
from nablanet.sparsity import Sparsity, SparsityPass, penalties_for

if TYPE_CHECKING:
    from nablanet.diagnostics import Diagnosis
    from nablanet.gradcheck import GradientCheckReport

Array = NDArray[Any]

_MAX_WORKSPACES = 4
#: How θ stores each W(l) in pickles: 2 is column-major (see `nablanet.layout`); a pickle
#: without the mark was written with the row-major layout 1 and is converted on loading.
_THETA_LAYOUT = 2


@dataclass
class Trace:
    """Every quantity of one forward (and backward) pass, one entry per weight layer.

    The convention is that of docs/math.md §6: ``delta`` holds each example's own error
    δ_i = ∂C_i/∂z_i, and ``Delta`` the matrix that BP3 and BP4 consume, whose row i is
    w_i δ_i with w_i example i's share of the mean cost (``sample_weight``: 1/m each, or
    s_i / Σ s). Then ``db[l] = 1ᵀ Delta[l]`` and ``dW[l] = Delta[l]ᵀ a[l] + λ W[l]``.

    Entry l of ``z``, ``delta``, ``Delta``, ``dW`` and ``db`` belongs to the weight layer
    ``W[l]`` (0 = the first); ``a`` starts with the input. In the mathematics' numbering
    (layer 1 is the input, n_l the output) ``z[l]`` is z^(l+2), ``a[l]`` is a^(l+1) and
    ``dW[l]`` is ∂J/∂W^(l+1) in UFLDL's notation, ∂J/∂w^(l+2) in Nielsen's (docs/math.md,
    "Notation"). `layer` looks a layer up by the mathematics' number instead.

    Attributes
    ----------
    z : list of ndarray
        ``z[l]`` of shape (m, s_{l+2}): weighted inputs of weight layer l's outputs.
    a : list of ndarray
        ``a[0]`` is the input X; ``a[l+1] = f(z[l])``.
    delta : list of ndarray
        ``delta[l]`` of shape (m, s_{l+2}): δ_i = ∂C_i/∂z_i for the units of ``z[l]``,
        one row per example, not weighted (empty without targets). With a sparsity
        penalty a hidden row also carries the penalty's term. NaN in a row of sample
        weight 0: only w_i δ_i is computed, and J does not depend on that row.
    Delta : list of ndarray
        ``Delta[l]``, the same shape: rows w_i δ_i, what BP3 and BP4 sum (empty without
        targets).
    sample_weight : ndarray of shape (m,) or None
        w_i, each example's share of J; sums to 1 (None without targets).
    dW, db : list of ndarray
        ∂J/∂W[l] and ∂J/∂b[l], weight decay included (empty without targets).
    J : float or None
        The cost, weight decay included (None without targets).
    """

    z: list[Array]
    a: list[Array]
    delta: list[Array] = field(default_factory=list)
    dW: list[Array] = field(default_factory=list)
    db: list[Array] = field(default_factory=list)
    J: float | None = None
    Delta: list[Array] = field(default_factory=list)
    sample_weight: Array | None = None

    def layer(self, l: int, notation: str = "nielsen") -> TraceLayer:
        """The quantities of layer ``l`` as numbered in the mathematics (1 = the input).

        Parameters
        ----------
        l : int
            The layer's number, 1 (input) to n_l (output).
        notation : {"nielsen", "ufldl"}
            Which weights belong to layer l: Nielsen's w^l enter it (from layer l − 1),
            UFLDL's W^(l) leave it (to layer l + 1). z, a and δ are the same in both.

        Returns
        -------
        TraceLayer
            z, a, delta, Delta, dW and db of that layer; None where the notation gives
            the layer none (the input has no z; Nielsen's input and UFLDL's output have
            no weights) or the trace has no targets.
        """
        n_l = len(self.a)
        if notation not in _NOTATIONS:
            raise ValueError(f"notation must be one of {', '.join(_NOTATIONS)}, got {notation!r}")
        if not (isinstance(l, int | np.integer) and 1 <= l <= n_l):
            raise ValueError(f"layer number l must be an integer from 1 to {n_l}, got {l!r}")
        units = l - 2  # index into z, delta, Delta for layers 2 .. n_l
        weights = l - 2 if notation == "nielsen" else l - 1  # w^l enters, W^(l) leaves

        def pick(values: list[Array], k: int) -> Array | None:
            return values[k] if values and 0 <= k < len(values) else None

        return TraceLayer(
            l=int(l),
            notation=notation,
            z=pick(self.z, units),
            a=self.a[l - 1],
            delta=pick(self.delta, units),
            Delta=pick(self.Delta, units),
            dW=pick(self.dW, weights),
            db=pick(self.db, weights),
        )


#: The mathematics' two numberings of weights, for `Trace.layer`.
_NOTATIONS = ("nielsen", "ufldl")


@dataclass(frozen=True)
class TraceLayer:
    """One layer of a `Trace`, by the mathematics' number (see `Trace.layer`).

    Attributes
    ----------
    l : int
        The layer's number, 1 (input) to n_l (output).
    notation : str
        "nielsen" (dW is ∂J/∂w^l, the weights into layer l) or "ufldl" (dW is
        ∂J/∂W^(l), the weights out of layer l).
    z, a, delta, Delta : ndarray or None
        z^l, a^l, δ^l (per example) and Δ^l (rows w_i δ_i) of shape (m, s_l).
    dW, db : ndarray or None
        The gradient of J for that notation's weights and biases of layer l.
    """

    l: int
    notation: str
    z: Array | None
    a: Array
    delta: Array | None
    Delta: Array | None
    dW: Array | None
    db: Array | None


#: Rows per chunk when evaluating (not training on) many samples: bounds the buffers.
_CHUNK_ROWS = 4096


def _chunks(m: int) -> list[slice]:
    """Row slices of at most `_CHUNK_ROWS` covering ``range(m)``."""
    return [slice(start, min(start + _CHUNK_ROWS, m)) for start in range(0, m, _CHUNK_ROWS)]


class _PerThread(threading.local):
    """Each thread's own work buffers for one network.

    Read-only calls (forward, hidden, cost, ...) may run from many threads at once: with
    buffers shared between threads, one call would overwrite another's activations. Each
    thread therefore keeps its own buffers per batch size, so that a single thread still
    reuses them from call to call and allocates nothing once they exist.
    """

    def __init__(self) -> None:
        self.workspaces: dict[tuple[int, bool], _Workspace] = {}
        self.grad_views: tuple[Array, list[Array], list[Array]] | None = None


class _Workspace:
    """Buffers for one batch size: activations, derivative factors and deltas.

    With ``keep_z`` the weighted inputs Z get buffers of their own (for `Network.trace`);
    otherwise each hidden Z is overwritten by its activation A in place.
    """

    def __init__(self, layout: Layout, m: int, dtype: np.dtype[Any], keep_z: bool) -> None:
        outs = layout.layer_sizes[1:]
        self.A = [np.empty((m, s), dtype) for s in outs]
        self.Z = [np.empty((m, s), dtype) for s in outs] if keep_z else list(self.A)
        # The output layer's z is always kept: losses are computed from it (log-sum-exp).
        if not keep_z:
            self.Z[-1] = np.empty((m, outs[-1]), dtype)
        self.D = [np.empty((m, s), dtype) for s in outs[:-1]]  # f'(z) of hidden layers
        self.delta = [np.empty((m, s), dtype) for s in outs]
        self.ones = np.ones(m, dtype)
        self.uniform = np.full(m, 1.0 / m, dtype)  # each example's weight in the mean J


def _matmul(a: Any, B: Array, out: Array) -> None:
    """``out = a B`` for a dense or a scipy.sparse ``a`` (sparse inputs X and their Xᵀ).

    A sparse product is computed on the stored entries only (sparse · dense → dense),
    so a sparse data set is never densified; scipy returns it in a new array.
    """
    if isinstance(a, np.ndarray):
        np.matmul(a, B, out=out)
    else:
        out[...] = a @ B


def _activate(act: Activation, Z: Array, b: Array, A: Array, D: Array, derivative: bool) -> None:
    """A hidden layer's A = f(Z + b) and, with ``derivative``, D = f'(Z + b).

    One fused pass where the activation has one (relu, leaky relu), Z is overwritten by
    A and f' is wanted, as in training; NumPy's passes otherwise (a prediction: the
    fused pass would also write f').
    """
    if act.layer is not None and Z is A and derivative:
        act.layer(A, b, D)
        return
    Z += b
    act.f(Z, A)
    if derivative:
        assert act.derivative is not None
        act.derivative(A, D)


class Network:
    """A feedforward network of fully connected layers with parameters (W, b).

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(s_1, ..., s_{n_l})``: input units, hidden units per layer, output units.
    activation : str or sequence of str, default "sigmoid"
        Hidden-layer activation, or one per hidden layer. Names from
        `nablanet.activations.ACTIVATIONS` ("logistic" is accepted for "sigmoid").
    output_activation : str, default "sigmoid"
        The output layer's activation (the source uses sigmoid; "softmax" for classes).
    loss : str, optional
        "squared_error", "cross_entropy" (softmax outputs) or "binary_cross_entropy"
        (sigmoid outputs). Default: cross-entropy after softmax, else squared error.
    weight_decay : float, default 0.0
        λ in J = mean cost + (λ/2) Σ W². Never applied to biases.
    init : str or sequence of str, default "auto"
        "ufldl", "glorot", "he" or "normal" (one name or one per weight layer). "auto" uses
        "he" for layers feeding relu-type units and "ufldl" otherwise.
    seed : int or numpy.random.Generator, optional
        Source of the random initial weights.
    dtype : float32 or float64, default float64
        Dtype of the parameters and of every computation.
    sparsity : Sparsity, (target, weight), or sequence of those or None, optional
        A penalty β Σ_j KL(ρ ‖ ρ̂_j) on the mean activations of hidden layers (UFLDL's
        sparse autoencoder; see `nablanet.sparsity`): one for every hidden layer, or
        one entry (None for no penalty) per hidden layer. Part of J and of its gradient.

    Attributes
    ----------
    theta : ndarray of shape (n_params,)
        All parameters, weights first then biases. Assigning to it copies into the buffer.
    W : list of ndarray
        ``W[l]`` of shape (s_{l+1}, s_l), a view into theta.
    b : list of ndarray
        ``b[l]`` of shape (s_{l+1},), a view into theta.

    Notes
    -----
    Read-only methods (`forward`, `hidden`, `trace`, `cost`, `loss_and_grad`, `diagnose`)
    may be called from many threads at once: each thread keeps its own work buffers.
    Training one network from two threads at once is refused (`RuntimeError`).
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str | Sequence[str] = "sigmoid",
        output_activation: str = "sigmoid",
        loss: str | None = None,
        weight_decay: float = 0.0,
        init: str | Sequence[str] = "auto",
        seed: int | np.random.Generator | None = None,
        dtype: Any = np.float64,
        sparsity: Any = None,
    ) -> None:
        self.layout = Layout(tuple(layer_sizes))
        n_hidden = self.layout.n_layers - 1
        if isinstance(activation, str):
            # Looked up even when there is no hidden layer: a misspelt name is always refused.
            hidden = [get_activation(activation)] * n_hidden
        else:
            hidden = [get_activation(n) for n in activation]
            if len(hidden) != n_hidden:
                raise ValueError(
                    f"activation needs one name per hidden layer ({n_hidden}), "
                    f"got {activation!r}"
                )
        for act in hidden:
            if not act.elementwise:
                raise ValueError(f"{act.name} can only be the output activation")
        out = get_activation(output_activation)
        self.activations: list[Activation] = [*hidden, out]
        self.loss: Loss = get_loss(loss if loss is not None else out.default_loss)
        self.loss.check_output(out)
        self.weight_decay = number(weight_decay, "weight_decay", low=0.0)
        self.init = init
        self.dtype = check_dtype(dtype)
        self._theta = np.zeros(self.layout.n_params, dtype=self.dtype)
        self.W, self.b = self.layout.views(self._theta)
        self._local = _PerThread()
        self._training_lock = threading.Lock()
        self.sparsity = sparsity
        self.reset(seed)

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

    @property
    def sparsity(self) -> list[Sparsity | None]:
        """The sparsity penalty of each hidden layer (None where there is none)."""
        return list(self._sparsity)

    @sparsity.setter
    def sparsity(self, value: Any) -> None:
        self._sparsity = penalties_for(value, self.activations[:-1])
        # Checked once here so that a network without a penalty does no extra work.
        self._penalised = any(p is not None for p in self._sparsity)

    def _sparsity_pass(self) -> SparsityPass | None:
        """Fresh bookkeeping for one evaluation of J, or None without a penalty."""
        return SparsityPass(self._sparsity, self.activations[:-1]) if self._penalised else None

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """``(s_1, ..., s_{n_l})``."""
        return self.layout.layer_sizes

    @property
    def n_params(self) -> int:
        """Total number of parameters, Σ_l s_{l+1} (s_l + 1)."""
        return self.layout.n_params

    @property
    def n_weights(self) -> int:
        """Number of weights; ``theta[:n_weights]`` are the weights, the rest biases."""
        return self.layout.n_weights

    @property
    def init_names(self) -> list[str]:
        """The initialiser of each weight layer, with "auto" resolved per layer.

        "auto" is He's for a layer feeding relu-type units and UFLDL's range otherwise.
        """
        n = self.layout.n_layers
        names = [self.init] * n if isinstance(self.init, str) else list(self.init)
        if len(names) != n:
            raise ValueError(f"init needs one name per weight layer ({n}), got {self.init!r}")
        return [
            act.default_init if name == "auto" else name
            for name, act in zip(names, self.activations, strict=True)
        ]

    def reset(self, seed: int | np.random.Generator | None = None) -> None:
        """Draw new random weights (biases back to zero) from ``seed``."""
        initialize(self.layout, self._theta, self.init_names, np.random.default_rng(seed))

    def copy(self) -> Network:
        """An independent network with the same settings and parameters."""
        return self.astype(self.dtype)

    def astype(self, dtype: Any) -> Network:
        """A copy of this network whose parameters and computations use ``dtype``."""
        net = Network(
            self.layer_sizes,
            activation=[a.name for a in self.activations[:-1]],
            output_activation=self.activations[-1].name,
            loss=self.loss.name,
            weight_decay=self.weight_decay,
            init=self.init,
            seed=0,
            dtype=dtype,
            sparsity=self._sparsity,
        )
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
        if state.pop("theta_layout", 1) == 1:  # pickled before W became column-major
            state["_theta"] = from_row_major(state["_theta"], state["layout"])
        # Pickled before the sparsity penalty existed: no penalty.
        state.setdefault("_sparsity", [None] * (state["layout"].n_layers - 1))
        state.setdefault("_penalised", False)
        self.__dict__.update(state)
        self.W, self.b = self.layout.views(self._theta)
        self._local = _PerThread()
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
            a penalty), plain JSON values.
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
        spec = {
            "layer_sizes": [int(s) for s in self.layer_sizes],
            "activations": [a.name for a in self.activations[:-1]],
            "output_activation": self.activations[-1].name,
            "loss": self.loss.name,
            "weight_decay": float(self.weight_decay),
            "init": self.init if isinstance(self.init, str) else [str(i) for i in self.init],
            "dtype": self.dtype.name,
        }
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

    def forward(self, X: Any) -> Array:
        """Compute the outputs ``h_{W,b}(X)``.

        Parameters
        ----------
        X : array-like or scipy.sparse CSR/CSC matrix of shape (m, s_1)

        Returns
        -------
        ndarray of shape (m, s_{n_l})
        """
        X = check_matrix(
            X, "X", n_columns=self.layer_sizes[0], dtype=self.dtype, accept_sparse=True
        )
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
        n_hidden = self.layout.n_layers - 1
        if n_hidden == 0:
            raise ValueError("this network has no hidden layer")
        X = check_matrix(
            X, "X", n_columns=self.layer_sizes[0], dtype=self.dtype, accept_sparse=True
        )
        l = range(n_hidden)[layer]
        H = np.empty((X.shape[0], self.layer_sizes[l + 1]), dtype=self.dtype)
        for rows in _chunks(X.shape[0]):  # chunks, as in forward: bounded buffers per thread
            ws = self._workspace(len(H[rows]))
            self._forward(X[rows], self.W, self.b, ws, output=False)
            H[rows] = ws.A[l]
        return H

    def _workspace(self, m: int, keep_z: bool = False) -> _Workspace:
        """Buffers of the calling thread for a batch of m rows (made once, then reused)."""
        key = (m, keep_z)
        workspaces = self._local.workspaces
        ws = workspaces.get(key)
        if ws is None:
            if len(workspaces) >= _MAX_WORKSPACES:
                workspaces.clear()
            ws = workspaces[key] = _Workspace(self.layout, m, self.dtype, keep_z)
        return ws

    def _forward(
        self,
        X: Array,
        W: list[Array],
        b: list[Array],
        ws: _Workspace,
        need_derivatives: bool = False,
        dropout_masks: Sequence[Array | None] | None = None,
        output: bool = True,
        sparse: SparsityPass | None = None,
        w: Array | None = None,
    ) -> Array:
        """Forward pass into ``ws``; returns the output activations (a buffer).

        With ``need_derivatives`` each hidden layer's f'(z) is stored in ``ws.D`` for
        backpropagation. A dropout mask multiplies both a hidden layer's activation and
        its f'(z), so the dropped units pass neither signal nor error. Without
        ``output`` the pass stops at the output layer's z (``ws.Z[-1]``): training
        leaves the output activation to the loss, which fuses it with the cost.
        With ``sparse`` each penalised layer's Σ_i w_i a_i is accumulated before any
        dropout mask (and, with derivatives, its extra δ term computed from f'(z)).
        """
        a_in = X
        for l, act in enumerate(self.activations[:-1]):  # hidden layers
            Z, A = ws.Z[l], ws.A[l]
            _matmul(a_in, W[l].T, Z)
            _activate(act, Z, b[l], A, ws.D[l], need_derivatives)
            if sparse is not None and self._sparsity[l] is not None:
                assert w is not None
                sparse.observe(l, A, w, ws.D[l] if need_derivatives else None)
            mask = dropout_masks[l] if dropout_masks is not None else None
            if mask is not None:
                A *= mask
                if need_derivatives:
                    ws.D[l] *= mask
            a_in = A
        Z, A = ws.Z[-1], ws.A[-1]  # the output layer
        _matmul(a_in, W[-1].T, Z)
        Z += b[-1]
        if output:
            self.activations[-1].f(Z, A)
        return A

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
        X, Y = check_pair(
            X, Y, n_inputs=self.layer_sizes[0], n_outputs=self.layer_sizes[-1], dtype=self.dtype
        )
        if theta is None:
            theta = self._theta
        else:
            theta = np.asarray(theta, dtype=self.dtype)
            self.layout.views(theta)  # validates the shape
        s = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
        grad = np.empty(self.n_params, dtype=self.dtype)
        J = self._loss_and_grad(X, Y, theta, grad, s, dropout_masks)
        return J, grad

    def cost(self, X: Any, Y: Any, *, sample_weight: Any = None) -> float:
        """The cost J (see `loss_and_grad`) without its gradient."""
        X, Y = check_pair(
            X, Y, n_inputs=self.layer_sizes[0], n_outputs=self.layer_sizes[-1], dtype=self.dtype
        )
        s = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
        return self._data_cost(X, Y, s)

    def _data_cost(self, X: Array, Y: Array, s: Array | None = None) -> float:
        """J at ``self.theta`` for validated arrays, in chunks of rows (bounded buffers)."""
        total = 0.0
        sparse = self._sparsity_pass()
        for rows in _chunks(X.shape[0]):
            Xc = X[rows]
            ws = self._workspace(Xc.shape[0])
            w = ws.ones if s is None else s[rows].astype(self.dtype)
            self._forward(Xc, self.W, self.b, ws, sparse=sparse, w=w)
            C = self.loss.per_example(ws.Z[-1], ws.A[-1], Y[rows])
            total += float(C.sum()) if s is None else float(np.dot(s[rows], C))
        m = X.shape[0] if s is None else float(s.sum())
        J = total / m + self._decay_term(self._theta)
        return J if sparse is None else J + sparse.cost()

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
        ws: _Workspace | None = None,
    ) -> float:
        """J and ∂J/∂θ, written into ``grad``, for validated arrays of the network's dtype.

        This is the training loop's entry point: it checks nothing and allocates nothing
        once the workspace for this batch size exists.
        """
        W, b = (self.W, self.b) if theta is self._theta else self.layout.views(theta)
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
        sparse = self._sparsity_pass()
        self._forward(X, W, b, ws, True, dropout_masks, output=False, sparse=sparse, w=w)
        delta = ws.delta[-1]
        J = self.loss.cost_and_delta(self.activations[-1], ws.Z[-1], ws.A[-1], Y, w, delta)
        J += self._decay_term(theta)
        if sparse is not None:
            J += sparse.cost()

        for l in range(len(W) - 1, -1, -1):
            a_in = X if l == 0 else ws.A[l - 1]
            _matmul(a_in.T, delta, dW[l].T)  # BP4, as (∂J/∂W)ᵀ = Aᵀ Δ: see layout
            np.matmul(ws.ones, delta, out=db[l])  # BP3
            if l > 0:  # BP2; the input layer needs no δ
                prev = ws.delta[l - 1]
                np.matmul(delta, W[l], out=prev)
                prev *= ws.D[l - 1]
                if sparse is not None and l - 1 in sparse.terms:  # the sparsity term
                    prev += sparse.terms[l - 1]
                delta = prev

        if self.weight_decay:  # ∂/∂W of (λ/2)ΣW² = λW, one pass; biases are not decayed
            n = self.n_weights
            kernels.axpy(self.dtype.type(self.weight_decay), theta[:n], grad[:n])
        return J

    def _gradient_views(self, grad: Array) -> tuple[list[Array], list[Array]]:
        """Views ``(dW, db)`` into ``grad``, kept for the buffer the training loop reuses."""
        local = self._local
        cached = local.grad_views
        if cached is None or cached[0] is not grad:
            cached = local.grad_views = (grad, *self.layout.views(grad))
        return cached[1], cached[2]

    def trace(self, X: Any, Y: Any = None, *, sample_weight: Any = None) -> Trace:
        """Run forward (and, with targets, backward) propagation and keep everything.

        For teaching and diagnosis: returns z, a, δ (per example), Δ (weighted rows)
        and the gradients of every layer as new arrays. Uses the same code as training.

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
        n_in, n_out = self.layer_sizes[0], self.layer_sizes[-1]
        if Y is None:
            X = check_matrix(X, "X", n_columns=n_in, dtype=self.dtype, accept_sparse=True)
            ws = _Workspace(self.layout, X.shape[0], self.dtype, keep_z=True)
            self._forward(X, self.W, self.b, ws)
            return Trace(z=ws.Z, a=[X, *ws.A])
        X, Y = check_pair(X, Y, n_inputs=n_in, n_outputs=n_out, dtype=self.dtype)
        ws = _Workspace(self.layout, X.shape[0], self.dtype, keep_z=True)
        s = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0])
        grad = np.empty(self.n_params, dtype=self.dtype)
        J = self._loss_and_grad(X, Y, self._theta, grad, s, ws=ws)
        dW, db = self.layout.views(grad)
        # The same shares w_i as `_loss_and_grad` weights BP1 with; δ_i is Δ's row / w_i.
        w = ws.uniform if s is None else (s / s.sum()).astype(self.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):  # w_i = 0: NaN, documented
            delta = [Delta / w[:, None] for Delta in ws.delta]
        return Trace(z=ws.Z, a=[X, *ws.A], delta=delta, dW=dW, db=db, J=J,
                     Delta=ws.delta, sample_weight=w)

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
        X, Y = check_pair(
            X, Y, n_inputs=self.layer_sizes[0], n_outputs=self.layer_sizes[-1]
        )

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
        for l, act in enumerate(self.activations):
            s_out, s_in = self.layout.shapes[l]
            name = "output" if l == len(self.activations) - 1 else f"hidden {l + 1}"
            rows.append(f"{name:<8}{s_out:>8}  {act.name:<12}{s_out * (s_in + 1):>10}")
        rows.append(
            f"loss {self.loss.name}, weight decay λ={self.weight_decay:g}, "
            f"{self.n_params} parameters ({self.n_weights} weights), {self.dtype.name}"
        )
        for l, p in enumerate(self._sparsity):
            if p is not None:
                rows.append(f"sparsity on hidden {l + 1}: ρ={p.target:g}, β={p.weight:g}")
        return "\n".join(rows)
