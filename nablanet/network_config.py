"""What a network is made of and what it accepts: its layers, shapes, penalties and inputs.

`NetworkConfig` gives `nablanet.network.Network` the resolution of its constructor's
arguments (``_configure``: the two forms, sizes or layers, are told apart by
`nablanet.layers.network_layers`), the sizing of its stack of layers (``_build``, also
run when a pickle from before the layers is loaded), the initialiser of each layer
(`init_names`), its loss, the sparsity penalty of each hidden layer (`sparsity`) and
the check of the inputs X (and targets Y) it is given (`check_inputs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nablanet._arrays import check_matrix, check_pair, is_sparse
from nablanet.activations import Activation
from nablanet.layers import Layer, network_layers
from nablanet.layers.base import Array
from nablanet.losses import Loss, get_loss
from nablanet.sparsity import Sparsity, SparsityPass, penalties_for


class NetworkConfig:
    """Layers, shapes, initialisers, sparsity and input checks of `nablanet.network.Network`."""

    if TYPE_CHECKING:  # what the network gives this mixin
        dtype: np.dtype[Any]


    def _configure(
        self,
        layers: Sequence[int] | Sequence[Layer],
        activation: str | Sequence[str] | None,
        output_activation: str | None,
        init: str | Sequence[str] | None,
        input_shape: Sequence[int] | None,
        loss: str | None,
    ) -> None:
        """The constructor's layers (sizes or layers), ``init`` and loss, resolved and built."""
        stack, shape, names = network_layers(
            layers, activation, output_activation, init, input_shape
        )
        self._build(stack, shape)
        self.init: str | list[str] = self.init_names if names is None else names
        out = self.activations[-1]
        self.loss: Loss = get_loss(loss if loss is not None else out.default_loss)
        self.loss.check_output(out)

    def _build(self, layers: list[Layer], input_shape: tuple[int, ...]) -> None:
        """Size each layer from the one below and count the values of θ each one owns."""
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
        self.layer_sizes = (layers[0].n_in, *(layer.n_out for layer in layers))
        self.activations: list[Activation] = [layer.activation for layer in layers]
        self.n_weights = sum(layer.n_weights for layer in layers)
        self.n_params = self.n_weights + sum(layer.n_biases for layer in layers)
        self._count_work()

    def _count_work(self) -> None:
        """What every pass asks of the layers, answered once (also for an unpickled network)."""
        layers = self.layers
        # Whether a pass holds BLAS to one thread and splits the batch (`layers.chunks.held`).
        self.splits_batch = any(getattr(layer, "splits_batch", False) for layer in layers)
        # Values of the layers' scratch per example: evaluation chunks are sized by it.
        self.scratch_values = sum(layer.scratch_values for layer in layers)
        # Multiply-adds per example of the largest layer (a dense layer's product): whether
        # a prediction is large enough for BLAS's threads (`layers.chunks.map_rows`).
        self.largest_product = max(layer.n_in * layer.n_out for layer in layers)

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

    def check_inputs(self, X: Any, Y: Any = None) -> Any:
        """X (or the pair X, Y) checked and converted for the unchecked methods.

        Parameters
        ----------
        X : array-like or scipy.sparse CSR/CSC matrix of shape (m, s_1) or ``(m, *input_shape)``
        Y : array-like of shape (m, s_{n_l}), optional

        Returns
        -------
        X, or (X, Y)
            X as (m, s_1) rows (CSR/CSC kept sparse) and Y, both in the network's dtype.

        Raises
        ------
        ValueError
            For a wrong shape, non-finite values, or a sparse X the first layer cannot read.
        """
        if isinstance(X, list | tuple):  # nested lists of images read as their array does
            X = np.asarray(X)
        if isinstance(X, np.ndarray) and X.ndim > 2:
            if X.shape[1:] != self.input_shape:
                raise ValueError(
                    f"X of shape {X.shape} does not fit the network's input_shape "
                    f"{self.input_shape}: pass (m, {', '.join(map(str, self.input_shape))}) "
                    f"arrays or (m, {self.layer_sizes[0]}) rows"
                )
            X = X.reshape(X.shape[0], -1)  # (m, channels, height, width): one row each
        if not self.layers[0].accepts_sparse and is_sparse(X):
            raise ValueError(
                f"a {type(self.layers[0]).__name__} first layer cannot read a scipy.sparse "
                "X; pass X.toarray()"
            )
        n_in = self.layer_sizes[0]
        if Y is None:
            return check_matrix(X, "X", n_columns=n_in, dtype=self.dtype, accept_sparse=True)
        return check_pair(X, Y, n_inputs=n_in, n_outputs=self.layer_sizes[-1], dtype=self.dtype)

    def check_masks(self, masks: Sequence[Any] | None, m: int) -> list[Array | None] | None:
        """The dropout masks of `loss_and_grad` checked: one entry per hidden layer.

        Each is None or an array of shape (m, units of that layer) in the network's
        dtype; only layers that take dropout (dense ones) may have one: a pooling layer
        has no f'(z) through which its mask would reach δ.
        """
        if masks is None:
            return None
        hidden = self.layers[:-1]
        masks = list(masks)
        if len(masks) != len(hidden):
            raise ValueError(
                f"dropout_masks needs one entry (an array or None) per hidden layer "
                f"({len(hidden)}), got {len(masks)}"
            )
        checked: list[Array | None] = []
        for l, (layer, mask) in enumerate(zip(hidden, masks, strict=True)):
            if mask is not None:
                if not layer.takes_dropout:
                    raise ValueError(
                        f"dropout_masks[{l}]: a {type(layer).__name__} layer takes no "
                        "dropout mask (dropout applies to dense layers); pass None"
                    )
                mask = np.asarray(mask, dtype=self.dtype)
                if mask.shape != (m, layer.n_out):
                    raise ValueError(
                        f"dropout_masks[{l}] must have shape ({m}, {layer.n_out}), got {mask.shape}"
                    )
            checked.append(mask)
        return checked
