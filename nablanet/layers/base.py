"""The layer protocol: what every layer of a `Network` knows and does.

For a batch of m examples every quantity a layer reads or writes is a C-ordered matrix
of shape (m, n), n the number of values per example (a feature map of shape (C, H, W)
is one row of C·H·W values, channel first, as PyTorch flattens it). A layer with input
a_in computes::

    z = op(a_in; W, b)             forward; op is affine in a_in
    a = f(z)                       f its activation (the identity for pooling)

and, given Δ = ∂J/∂z (row i already weighted by example i's share of J, docs/math.md §6)::

    ∂J/∂W, ∂J/∂b  into its own slices of the flat gradient        (BP3, BP4)
    ∂J/∂a_in = opᵀ(Δ)  for the layer below, which multiplies it by its own f'(z)  (BP2)

Weights and biases are views into the network's one flat θ (all weights of all layers,
then all biases), so weight decay is one slice and optimizers see one vector.

What the network does around the layers (`nablanet.network.Network`), the same for
every kind:

- it calls ``build`` once per network on a copy of the layer it was given, then
  ``weight_view``/``bias_view`` on the layer's blocks of θ (and of the gradient);
- it fills W through ``initialize(W, name, rng)``, "auto" already resolved to
  ``activation.default_init``; `nablanet.layout`'s initialisers take ``shape=`` for a W
  that is not (fan_out, fan_in);
- it allocates the `Buffers` per batch size and thread: ``D`` only for hidden layers
  whose ``has_derivative`` is true, ``Z`` shared with ``A`` for hidden layers in training
  (a layer that needs z after f must keep it in its scratch), ``scratch`` from
  `Layer.scratch`;
- hidden layers run ``forward(..., derivative, activate=True)``; the output layer runs
  with ``derivative=False`` and ``activate=False`` in training (the loss applies f to Z
  and writes Δ into its ``delta``);
- after a hidden layer's forward it accumulates the sparsity penalty's ρ̂ from ``A`` and
  multiplies ``A`` and ``D`` by a dropout mask of shape (m, n_out), if any (training
  gives masks only to layers whose ``takes_dropout`` is true);
- after layer l's ``backward`` wrote ∂J/∂a_in into the layer below's ``delta``, it
  multiplies that by the layer below's ``D`` (if not None) and adds the penalty's term;
- it adds λW to all weights' gradient at once;
- the first layer may receive a scipy.sparse X only if its ``accepts_sparse`` is true
  (the network refuses it otherwise, with a clear message).

A model file records ``to_spec()``; `nablanet.layers.layer_from_spec` looks the kind up in
`nablanet.layers.LAYERS` (add a new kind there) and calls ``from_spec``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.activations import Activation

Array = NDArray[Any]
Shape = tuple[int, ...]


@dataclass
class Buffers:
    """One layer's work arrays for one batch size, each of shape (m, n_out) unless noted.

    Attributes
    ----------
    Z : ndarray
        z; for a hidden layer in training it may be ``A`` itself (z overwritten by a).
    A : ndarray
        a = f(z).
    D : ndarray or None
        f'(z), written when derivatives are asked for (None where f is the identity
        or for the output layer, whose δ comes from the loss).
    delta : ndarray
        Δ = ∂J/∂z.
    scratch : object
        Whatever else the layer keeps between its forward and backward pass
        (`Layer.scratch`): im2col columns, the positions of maxima.
    """

    Z: Array
    A: Array
    D: Array | None
    delta: Array
    scratch: Any = None


class Layer(ABC):
    """A layer of a network; see the module docstring for the contract.

    A layer is configured by its constructor and sized by `build`, which the network
    calls once with the shape of one example of the layer's input.
    """

    #: f (the identity for layers without an activation, such as pooling).
    activation: Activation
    #: The initialiser's name for W ("auto": the one ``activation.default_init`` names).
    init: str = "auto"
    #: Whether f'(z) is a factor of δ: the network then gives `Buffers.D` to hidden
    #: layers of this kind. False where f is the identity (pooling): D stays None.
    has_derivative: bool = True
    #: Whether the layer reads a scipy.sparse (CSR/CSC) input as the first layer.
    accepts_sparse: bool = False
    #: Whether training drops this layer's units (dropout masks its A and D) when hidden.
    takes_dropout: bool = False
    input_shape: Shape
    output_shape: Shape

    @abstractmethod
    def build(self, input_shape: Shape) -> Shape:
        """Size the layer for inputs of ``input_shape`` (one example); returns its output shape."""

    @property
    def n_in(self) -> int:
        """Values per example entering the layer."""
        return math.prod(self.input_shape)

    @property
    def n_out(self) -> int:
        """Values per example leaving the layer."""
        return math.prod(self.output_shape)

    @property
    @abstractmethod
    def n_weights(self) -> int:
        """How many of θ's weights (decayed) the layer owns."""

    @property
    @abstractmethod
    def n_biases(self) -> int:
        """How many of θ's biases (never decayed) the layer owns."""

    @abstractmethod
    def weight_view(self, block: Array) -> Array:
        """The weights W, seen through the layer's block of θ (``n_weights`` values); no copy."""

    @abstractmethod
    def bias_view(self, block: Array) -> Array:
        """The biases b, seen through the layer's block of θ (``n_biases`` values); no copy."""

    @abstractmethod
    def initialize(self, W: Array, init: str, rng: np.random.Generator) -> None:
        """Fill W with random values from the initialiser named ``init``."""

    @property
    def scratch_values(self) -> int:
        """Values per example that `scratch` holds (0 without scratch).

        It bounds how many rows one evaluation chunk takes (`nablanet.workspace.chunks`).
        """
        return 0

    def scratch(self, m: int, dtype: np.dtype[Any]) -> Any:
        """Extra work arrays for a batch of m rows, made once per batch size (default none)."""
        return None

    @abstractmethod
    def forward(
        self, a_in: Any, W: Array, b: Array, buf: Buffers, derivative: bool, activate: bool
    ) -> None:
        """Forward: z = op(a_in) into ``buf.Z``; with ``activate`` a = f(z) into ``buf.A``.

        With ``derivative`` f'(z) goes into ``buf.D`` and whatever `backward` needs into
        ``buf.scratch``. ``a_in`` may be scipy.sparse for the first layer.
        """

    @abstractmethod
    def backward(
        self, a_in: Any, W: Array, buf: Buffers, dW: Array, db: Array, grad_in: Array | None
    ) -> None:
        """Backward from Δ = ``buf.delta``: ∂J/∂W into ``dW``, ∂J/∂b into ``db``.

        Weight decay is not included (the network adds λW to all weights at once).
        Unless ``grad_in`` is None (the first layer), ∂J/∂a_in = opᵀ(Δ) goes into it.
        """

    @abstractmethod
    def to_spec(self) -> dict[str, Any]:
        """Plain JSON values that rebuild the layer: ``{"kind": <class name>, ...}``.

        The other keys are the constructor's keywords: `from_spec` passes them back.
        """

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Layer:
        """The layer `to_spec` described; its constructor checks every value.

        Raises
        ------
        ValueError
            For a keyword the constructor does not take, or a value it refuses.
        """
        options = {key: value for key, value in spec.items() if key != "kind"}
        try:
            return cls(**options)
        except TypeError as exc:  # an unknown or missing keyword
            raise ValueError(f"invalid {cls.__name__} spec {spec!r:.200}: {exc}") from None
