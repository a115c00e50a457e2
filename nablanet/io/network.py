"""A `Network` in a model file: the header's ``network`` spec and the array ``theta``.

`network_state` gives the spec and arrays that rebuild a network exactly;
`network_from_state` checks every field of a spec read from a file, one function per
field, before it builds anything, then copies ``theta`` into the new network's buffer
(version-1 files stored each W(l) row-major and are reordered). The spec::

    {"layer_sizes": [4, 5, 3], "activations": ["tanh"], "output_activation": "softmax",
     "loss": "cross_entropy", "weight_decay": 0.0001, "init": "auto", "dtype": "float64"}

plus, for a network with a sparsity penalty, ``"sparsity"``: one ``{"target", "weight"}``
or null per hidden layer. A network that is not fully connected (a convolution, pooling)
is written as its layers instead (`nablanet.network_state`)::

    {"layers": [{"kind": "Dense", "units": 5, "activation": "tanh", "init": "auto"}, ...],
     "input_shape": [1, 28, 28], "loss": "cross_entropy", "weight_decay": 0.0,
     "dtype": "float32"}

Each layer's kind is looked up in `nablanet.layers.LAYERS`, never imported by name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from numpy.typing import NDArray

from nablanet.activations import ACTIVATIONS
from nablanet.io.container import fail, type_name
from nablanet.io.fields import check_array, check_field, check_keys, layers_label, name_from
from nablanet.layers import Layer, layer_from_spec
from nablanet.layout import INITIALIZERS, Layout, from_row_major
from nablanet.losses import LOSSES
from nablanet.network import Network

Array = NDArray[Any]

SPEC_FIELDS = (
    "layer_sizes",
    "activations",
    "output_activation",
    "loss",
    "weight_decay",
    "init",
    "dtype",
)
FLOAT_DTYPES = ("float32", "float64")
LAYERS_FIELDS = ("layers", "input_shape", "loss", "weight_decay", "dtype")


def network_state(net: Network) -> tuple[dict[str, Any], dict[str, Array]]:
    """The settings and parameters that rebuild ``net`` exactly: `Network.to_state`."""
    return net.to_state()


class _Spec(NamedTuple):
    """Where a spec is, for messages: the file and the spec's path in the header."""

    source: str
    where: str

    def field(self, key: str) -> str:
        return f"{self.where}.{key}"


def _layer_sizes(spec: dict[str, Any], at: _Spec) -> tuple[int, ...]:
    sizes = check_field(spec, "layer_sizes", list, source=at.source, where=at.where)
    if len(sizes) < 2 or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes
    ):
        raise fail(
            at.source,
            f"header field '{at.field('layer_sizes')}' must be a list of at least 2 integers "
            f">= 1, got {sizes!r:.60}",
        )
    return tuple(sizes)


def _hidden_activations(spec: dict[str, Any], sizes: tuple[int, ...], at: _Spec) -> list[str]:
    hidden = check_field(spec, "activations", list, source=at.source, where=at.where)
    n_hidden = len(sizes) - 2
    if len(hidden) != n_hidden:
        raise fail(
            at.source,
            f"header field '{at.field('activations')}' has {len(hidden)} names, expected "
            f"{n_hidden} (one per hidden layer of layers {layers_label(sizes)})",
        )
    for i, name in enumerate(hidden):
        field = f"{at.field('activations')}[{i}]"
        name_from(ACTIVATIONS, name, field, "activation", at.source)
        if not ACTIVATIONS[name].elementwise:
            raise fail(at.source, f"header field '{field}': {name} can only be the output")
    return list(hidden)


def _output_and_loss(spec: dict[str, Any], at: _Spec) -> tuple[str, str]:
    output = name_from(
        ACTIVATIONS, spec["output_activation"], at.field("output_activation"), "activation",
        at.source,
    )
    loss = name_from(LOSSES, spec["loss"], at.field("loss"), "loss", at.source)
    try:
        LOSSES[loss].check_output(ACTIVATIONS[output])
    except ValueError as exc:
        raise fail(at.source, f"header field '{at.field('loss')}': {exc}") from None
    return output, loss


def _weight_decay(spec: dict[str, Any], at: _Spec) -> float:
    decay = check_field(spec, "weight_decay", (int, float), source=at.source, where=at.where)
    if not math.isfinite(decay) or decay < 0:
        raise fail(
            at.source,
            f"header field '{at.field('weight_decay')}' must be a finite number >= 0, "
            f"got {decay}",
        )
    return float(decay)


def _init(spec: dict[str, Any], layout: Layout, label: str, at: _Spec) -> str | list[str]:
    init = check_field(spec, "init", (str, list), source=at.source, where=at.where)
    if isinstance(init, str):
        if init != "auto":
            name_from(INITIALIZERS, init, at.field("init"), "initializer", at.source)
        return init
    if len(init) != layout.n_layers:
        raise fail(
            at.source,
            f"header field '{at.field('init')}' has {len(init)} names, expected "
            f"{layout.n_layers} (one per weight layer of layers {label})",
        )
    for i, name in enumerate(init):
        name_from(INITIALIZERS, name, f"{at.field('init')}[{i}]", "initializer", at.source)
    return list(init)


def _dtype(spec: dict[str, Any], at: _Spec) -> str:
    dtype = spec["dtype"]
    if not isinstance(dtype, str) or dtype not in FLOAT_DTYPES:
        raise fail(
            at.source,
            f"header field '{at.field('dtype')}' is {dtype!r:.60}; "
            f"valid: {', '.join(FLOAT_DTYPES)}",
        )
    return dtype


def _sparsity(spec: dict[str, Any], n_hidden: int, at: _Spec) -> Any:
    """The optional ``sparsity`` field: one ``{"target", "weight"}`` or null per hidden layer."""
    if "sparsity" not in spec:
        return None
    entries = check_field(spec, "sparsity", list, source=at.source, where=at.where)
    if len(entries) != n_hidden:
        raise fail(
            at.source,
            f"header field '{at.field('sparsity')}' has {len(entries)} entries, expected "
            f"{n_hidden} (one per hidden layer)",
        )
    out: list[tuple[float, float] | None] = []
    for i, entry in enumerate(entries):
        if entry is None:
            out.append(None)
            continue
        here = f"{at.field('sparsity')}[{i}]"
        if not isinstance(entry, dict):
            raise fail(at.source, f"header field {here!r} must be object or null")
        check_keys(entry, ("target", "weight"), source=at.source, where=f"header field {here!r}")
        target = check_field(entry, "target", (int, float), source=at.source, where=here)
        weight = check_field(entry, "weight", (int, float), source=at.source, where=here)
        out.append((float(target), float(weight)))  # ranges are checked by Sparsity
    return out


def network_from_state(
    spec: Any,
    arrays: Mapping[str, Array],
    *,
    source: str,
    format_version: int,
    where: str = "network",
) -> Network:
    """Rebuild a `Network` from `network_state`'s output, checking every field first.

    Parameters
    ----------
    spec : dict
        The header's network spec (see `network_state`).
    arrays : mapping of str to ndarray
        Must hold ``"theta"``; other arrays are ignored (they belong to the caller).
    source : str
        The file, for messages.
    format_version : int
        The file's version (the header's ``format_version``): version-1 files have
        their weights reordered on loading.
    where : str, default "network"
        The spec's path in the header, for messages.

    Returns
    -------
    Network
        With ``theta`` equal bit for bit to the saved one (for version 1, the same values
        in the current order): its predictions are identical.

    Raises
    ------
    ModelFileError
        For a missing, unexpected or invalid field (unknown names, sizes that are not
        positive integers, a dtype other than float32/float64, a negative or non-finite
        weight decay, a loss that cannot follow the output activation), or a theta whose
        shape, dtype or values do not fit.
    """
    if not isinstance(spec, dict):
        raise fail(source, f"header field {where!r} must be object, got {type_name(spec)}")
    at = _Spec(source, where)
    if "layers" in spec:
        return _network_of_layers(spec, arrays, at)
    check_keys(spec, SPEC_FIELDS, ("sparsity",), source=source, where=f"header field {where!r}")
    sizes = _layer_sizes(spec, at)
    layout = Layout(sizes)
    label = layers_label(sizes)
    hidden = _hidden_activations(spec, sizes, at)
    output, loss = _output_and_loss(spec, at)
    decay, init, dtype = _weight_decay(spec, at), _init(spec, layout, label, at), _dtype(spec, at)
    # The shape is checked before the network allocates anything: the spec cannot make
    # us allocate more than the file itself holds.
    theta = check_array(
        arrays, "theta", source=source, shape=(layout.n_params,), dtype=dtype, finite=True,
        context=f"for layers {label}",
    )
    try:
        net = Network(
            sizes, activation=hidden, output_activation=output, loss=loss, weight_decay=decay,
            init=init, seed=0, dtype=dtype, sparsity=_sparsity(spec, len(sizes) - 2, at),
        )
    except ValueError as exc:
        raise fail(source, f"header field {where!r} is invalid: {exc}") from None
    if format_version == 1:
        theta = from_row_major(theta, layout)
    net.theta = theta  # copies into the network's buffer: same dtype, so the same bits
    return net


def _layers(spec: dict[str, Any], at: _Spec) -> tuple[list[Layer], tuple[int, ...]]:
    """The ``layers`` and ``input_shape`` fields, each layer built (sized, nothing allocated)."""
    entries = check_field(spec, "layers", list, source=at.source, where=at.where)
    shape = check_field(spec, "input_shape", list, source=at.source, where=at.where)
    if not entries:
        raise fail(at.source, f"header field '{at.field('layers')}' is empty")
    if not shape or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape
    ):
        raise fail(
            at.source,
            f"header field '{at.field('input_shape')}' must be a list of integers >= 1, "
            f"got {shape!r:.60}",
        )
    layers = []
    size: tuple[int, ...] = tuple(shape)
    for i, entry in enumerate(entries):
        try:
            layer = layer_from_spec(entry)
            size = layer.build(size)
        except ValueError as exc:
            raise fail(at.source, f"header field '{at.field('layers')}[{i}]': {exc}") from None
        layers.append(layer)
    return layers, tuple(shape)


def _network_of_layers(spec: dict[str, Any], arrays: Mapping[str, Array], at: _Spec) -> Network:
    """A network written as its layers (`Layer.to_spec`), checked before anything is allocated."""
    optional = ("sparsity",)
    check_keys(spec, LAYERS_FIELDS, optional, source=at.source, where=f"header field {at.where!r}")
    layers, input_shape = _layers(spec, at)
    loss = name_from(LOSSES, spec["loss"], at.field("loss"), "loss", at.source)
    decay, dtype = _weight_decay(spec, at), _dtype(spec, at)
    n_params = sum(layer.n_weights + layer.n_biases for layer in layers)
    theta = check_array(
        arrays, "theta", source=at.source, shape=(n_params,), dtype=dtype, finite=True,
        context=f"for its {len(layers)} layers",
    )
    try:
        net = Network(
            layers, input_shape=input_shape, loss=loss, weight_decay=decay, seed=0,
            dtype=dtype, sparsity=_sparsity(spec, len(layers) - 1, at),
        )
    except ValueError as exc:
        raise fail(at.source, f"header field {at.where!r} is invalid: {exc}") from None
    net.theta = theta
    return net
