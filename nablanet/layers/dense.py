"""The fully connected layer: the seed's mathematics (docs/math.md §2–§6).

Samples are rows. For a batch A_in of shape (m, s_l)::

    Z = A_in Wᵀ + b                 one GEMM            (forward, §3)
    A = f(Z)

    ∂J/∂b   = 1ᵀ Δ                  one GEMV            (BP3)
    ∂J/∂W   = Δᵀ A_in               one GEMM            (BP4; + λW, added by the network)
    ∂J/∂A_in = Δ W                  one GEMM            (BP2, before the layer below
                                                         multiplies it by its f'(z))

W of shape (units, s_l) is stored column-major in θ (see `nablanet.layout`): its block
holds Wᵀ row by row, so both products above read and write contiguous matrices.

A_in may be scipy.sparse (CSR/CSC) for the first layer: Z = X Wᵀ and ∂J/∂Wᵀ = Xᵀ Δ are
then sparse · dense products, and X is never densified.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nablanet.activations import Activation, get_activation
from nablanet.layers.base import Array, Buffers, Layer, Shape
from nablanet.layout import Layout, get_initializer


def _matmul(a: Any, B: Array, out: Array) -> None:
    """``out = a B`` for a dense or a scipy.sparse ``a`` (sparse inputs X and their Xᵀ).

    A sparse product is computed on the stored entries only (sparse · dense → dense),
    so a sparse data set is never densified; scipy returns it in a new array.
    """
    if isinstance(a, np.ndarray):
        np.matmul(a, B, out=out)
    else:
        out[...] = a @ B


def _activate(
    act: Activation, Z: Array, b: Array, A: Array, D: Array | None, derivative: bool
) -> None:
    """A = f(Z + b) and, with ``derivative``, D = f'(Z + b).

    One fused pass where the activation has one (relu, leaky relu), Z is overwritten by
    A and f' is wanted, as in training; NumPy's passes otherwise (a prediction: the
    fused pass would also write f').
    """
    if act.layer is not None and Z is A and derivative:
        assert D is not None  # a hidden layer's: given whenever derivatives are asked for
        act.layer(A, b, D)
        return
    Z += b
    act.f(Z, A)
    if derivative:
        assert act.derivative is not None and D is not None
        act.derivative(A, D)


class Dense(Layer):
    """A fully connected layer of ``units`` units: z = W a_in + b, a = f(z).

    Parameters
    ----------
    units : int
        s_{l+1}, the layer's number of units.
    activation : str, default "sigmoid"
        f, a name from `nablanet.activations.ACTIVATIONS` ("softmax" only for the
        output layer).
    init : str, default "auto"
        "ufldl", "glorot", "he" or "normal"; "auto" is He's for relu-type units and
        UFLDL's range otherwise.

    Notes
    -----
    After a convolution or pooling layer the input is read flattened in (channel, row,
    column) order, as PyTorch's ``Flatten`` does: its weights move without permutation.
    """

    accepts_sparse = True
    takes_dropout = True

    def __init__(self, units: int, activation: str = "sigmoid", init: str = "auto") -> None:
        if not isinstance(units, int | np.integer) or isinstance(units, bool) or units < 1:
            raise ValueError(f"Dense units must be an integer >= 1, got {units!r}")
        if init != "auto":
            get_initializer(init)  # an unknown name lists the valid ones
        self.units = int(units)
        self.activation = get_activation(activation)
        self.init = init

    def __repr__(self) -> str:
        return f"Dense({self.units}, activation={self.activation.name!r}, init={self.init!r})"

    def build(self, input_shape: Shape) -> Shape:
        """Size W as (units, n_in), n_in the values of one flattened input."""
        self.input_shape = tuple(int(n) for n in input_shape)
        self.output_shape = (self.units,)
        return self.output_shape

    @property
    def n_weights(self) -> int:
        """Its weights: units · n_in."""
        return self.units * math.prod(self.input_shape)

    @property
    def n_biases(self) -> int:
        """Its biases: units."""
        return self.units

    def weight_view(self, block: Array) -> Array:
        """W of shape (units, n_in), column-major: its block holds Wᵀ row by row."""
        return block.reshape(self.n_in, self.units).T

    def bias_view(self, block: Array) -> Array:
        """The biases, of shape (units,)."""
        return block

    def initialize(self, W: Array, init: str, rng: np.random.Generator) -> None:
        """W from the initialiser ``init`` with fan_in = n_in and fan_out = units."""
        fan_out, fan_in = W.shape
        W[...] = get_initializer(init)(fan_in, fan_out, rng)

    def scratch(self, m: int, dtype: np.dtype[Any]) -> Array:
        """A vector of m ones: BP3's sum over the rows is the product 1ᵀ Δ."""
        return np.ones(m, dtype)

    def forward(
        self, a_in: Any, W: Array, b: Array, buf: Buffers, derivative: bool, activate: bool
    ) -> None:
        """Z = A_in Wᵀ + b; with ``activate`` A = f(Z) (and with ``derivative`` D = f'(Z))."""
        _matmul(a_in, W.T, buf.Z)
        if activate:
            _activate(self.activation, buf.Z, b, buf.A, buf.D, derivative)
        else:  # the output layer in training: the loss applies f, fused with the cost
            buf.Z += b

    def backward(
        self, a_in: Any, W: Array, buf: Buffers, dW: Array, db: Array, grad_in: Array | None
    ) -> None:
        """BP4, BP3 and (unless the first layer) the first factor of BP2, from Δ."""
        delta = buf.delta
        _matmul(a_in.T, delta, dW.T)  # BP4, as (∂J/∂W)ᵀ = A_inᵀ Δ: see the layout
        np.matmul(buf.scratch, delta, out=db)  # BP3
        if grad_in is not None:
            np.matmul(delta, W, out=grad_in)  # BP2: Δ W, times f'(z) below by the network

    def to_spec(self) -> dict[str, Any]:
        """``{"kind": "Dense", "units", "activation", "init"}``."""
        return {
            "kind": "Dense",
            "units": self.units,
            "activation": self.activation.name,
            "init": self.init,
        }


def dense_stack(
    layer_sizes: Sequence[int],
    activation: str | Sequence[str],
    output_activation: str,
    init: str | Sequence[str],
) -> list[Layer]:
    """The `Dense` layers of a network given by its sizes ``(s_1, ..., s_{n_l})``.

    Parameters
    ----------
    layer_sizes : sequence of int
        Input units, the units of each hidden layer, output units.
    activation : str or sequence of str
        The hidden layers' activation, or one per hidden layer.
    output_activation : str
    init : str or sequence of str
        One initialiser name for every layer, or one per layer.
    """
    sizes = Layout(tuple(layer_sizes)).layer_sizes  # checks the sizes
    n = len(sizes) - 1
    if isinstance(activation, str):
        # Looked up even when there is no hidden layer: a misspelt name is always refused.
        hidden = [get_activation(activation).name] * (n - 1)
    else:
        hidden = [get_activation(name).name for name in activation]
        if len(hidden) != n - 1:
            raise ValueError(
                f"activation needs one name per hidden layer ({n - 1}), got {activation!r}"
            )
    inits = [init] * n if isinstance(init, str) else list(init)
    if len(inits) != n:
        raise ValueError(f"init needs one name per weight layer ({n}), got {init!r}")
    names = [*hidden, get_activation(output_activation).name]
    return [
        Dense(units, activation=name, init=i)
        for units, name, i in zip(sizes[1:], names, inits, strict=True)
    ]
