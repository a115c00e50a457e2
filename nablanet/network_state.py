"""A network's state: its copies, what a pickle holds (and how old pickles migrate), its model file.

`NetworkState` gives `nablanet.network.Network` its `copy` and `astype`, its
``__getstate__``/``__setstate__``, ``to_state`` and ``save``. A model file's spec has two forms:

- a fully connected network (every layer `Dense`, a flat input) keeps the form every
  reader of the format knows: ``{"layer_sizes", "activations", "output_activation",
  "loss", "weight_decay", "init", "dtype"}`` (and ``"sparsity"`` where a hidden layer has
  a penalty);
- any other network writes ``{"layers": [layer.to_spec(), ...], "input_shape", "loss",
  "weight_decay", "dtype"}`` (and ``"sparsity"``), which `nablanet.io.network` reads
  back through `nablanet.layers.layer_from_spec`. An older reader refuses it by name
  (an unexpected field), never misreads it.

Pickles migrate on loading: before the layers (a ``layout`` and ``activations``) and before
the column-major W (no ``theta_layout`` mark, see `nablanet.layout.from_row_major`).

The file itself is written by `nablanet.io.header.save_state`, the file format's layer:
it and the modules under it (container, fields, files, npy) import nothing of the core.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Self

import numpy as np
from numpy.typing import NDArray

from nablanet.activations import Activation
from nablanet.layers import Dense, Layer
from nablanet.layers.dense import dense_stack
from nablanet.layout import Layout, from_row_major
from nablanet.losses import Loss
from nablanet.sparsity import Sparsity

Array = NDArray[Any]

#: How θ stores each W(l) in pickles: 2 is column-major (see `nablanet.layout`); a pickle
#: without the mark was written with the row-major layout 1 and is converted on loading.
THETA_LAYOUT = 2


class NetworkState:
    """Copies, pickling, the model file's spec and `save`, for `nablanet.network.Network`."""

    if TYPE_CHECKING:  # what the network gives this mixin
        layers: list[Layer]
        input_shape: tuple[int, ...]
        activations: list[Activation]
        loss: Loss
        weight_decay: float
        init: str | list[str]
        dtype: np.dtype[Any]
        W: list[Array]
        b: list[Array]
        _theta: Array
        _sparsity: list[Sparsity | None]
        _penalised: bool

        layer_sizes: tuple[int, ...]
        def _build(self, layers: list[Layer], input_shape: tuple[int, ...]) -> None: ...
        def _count_work(self) -> None: ...
        def _init_threads(self) -> None: ...
        def views(self, theta: Array) -> tuple[list[Array], list[Array]]: ...  # noqa: D102

    def copy(self) -> Self:
        """An independent network with the same settings and parameters."""
        return self.astype(self.dtype)

    def astype(self, dtype: Any) -> Self:
        """A copy of this network whose parameters and computations use ``dtype``."""
        # A plain Network (a subclass's copy is one too): the class that composed this
        # mixin, found without importing nablanet.network, which imports this module.
        plain: Any = next(c for c in type(self).__mro__ if NetworkState in c.__bases__)
        net = plain(
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
        state["theta_layout"] = THETA_LAYOUT
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if "layers" not in state:  # pickled before the layers: a fully connected network
            sizes = state.pop("layout").layer_sizes
            acts = [a.name for a in state.pop("activations")]
            self._build(dense_stack(sizes, acts[:-1], acts[-1], state["init"]), (sizes[0],))
            # Pickled before the sparsity penalty existed: no penalty.
            state.setdefault("_sparsity", [None] * (len(sizes) - 2))
            state.setdefault("_penalised", False)
        self.__dict__.update(state)
        if self.__dict__.pop("theta_layout", 1) == 1:  # pickled before W was column-major
            self._theta = from_row_major(self._theta, self.layout)
        self.W, self.b = self.views(self._theta)
        self._count_work()  # pickled before some of these counts existed
        self._init_threads()

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
    def fully_connected(self) -> bool:
        """Whether every layer is `Dense` on a flat input (the model file's first form)."""
        return len(self.input_shape) == 1 and all(isinstance(l, Dense) for l in self.layers)

    def to_state(self) -> tuple[dict[str, Any], dict[str, Array]]:
        """The settings and parameters that rebuild this network exactly (its model file).

        Returns
        -------
        spec : dict
            For a fully connected network ``{"layer_sizes", "activations" (hidden
            layers), "output_activation", "loss", "weight_decay", "init", "dtype"}``,
            otherwise ``{"layers", "input_shape", "loss", "weight_decay", "dtype"}``
            (and ``"sparsity"`` when a hidden layer has a penalty), plain JSON values.
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
        spec: dict[str, Any]
        if self.fully_connected:
            init = self.init if isinstance(self.init, str) else [str(i) for i in self.init]
            spec = {
                "layer_sizes": [int(s) for s in self.layer_sizes],
                "activations": [a.name for a in self.activations[:-1]],
                "output_activation": self.activations[-1].name,
                "loss": self.loss.name,
                "weight_decay": float(self.weight_decay),
                "init": init,
                "dtype": self.dtype.name,
            }
        else:
            spec = {
                "layers": [layer.to_spec() for layer in self.layers],
                "input_shape": list(self.input_shape),
                "loss": self.loss.name,
                "weight_decay": float(self.weight_decay),
                "dtype": self.dtype.name,
            }
        if self._penalised:  # absent otherwise: older readers agree
            spec["sparsity"] = [
                None if p is None else {"target": p.target, "weight": p.weight}
                for p in self._sparsity
            ]
        return spec, {"theta": self._theta.copy()}

    def save(self, path: Any) -> None:
        """Write the network to a safe model file (see `nablanet.io`)."""
        # Here, not at the top: a fit or a prediction never needs the file format.
        from nablanet.io.header import save_state

        spec, arrays = self.to_state()
        save_state(path, {"kind": "Network", "network": spec}, arrays)
