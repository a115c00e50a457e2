"""Layers written as short words: ``conv20x5,maxpool2,conv40x5,maxpool2,100``.

One word per layer, the grammar the command line's ``--layers`` and
`nablanet.ConvNetClassifier`'s ``layers`` share::

    100                  Dense(100): a fully connected layer of 100 units
    conv20x5             Conv2D(20, 5): 20 filters of 5×5
    conv20x5x3           Conv2D(20, (5, 3)): 20 filters 5 high and 3 wide
    maxpool2             MaxPool2D(2): the maximum of each 2×2 block (Nielsen)
    meanpool2, meanpool2x3   MeanPool2D: the mean of each block (UFLDL)

A dense or convolution word may be followed by options, each after a colon: an
activation name (``100:tanh``, ``conv20x5:sigmoid``; default: the ``activation`` given
to `parse_layers`), and for a convolution ``same`` or ``valid`` (the padding, default
valid) and ``stride<n>`` (``conv20x5:same:stride2``). A pooling word takes none: its
stride is its size and it has no activation. Each refusal is a ``ValueError`` naming the
word, its position and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from nablanet.activations import get_activation
from nablanet.layers import Conv2D, Dense, Layer, MaxPool2D, MeanPool2D, layer_from_spec

#: What each kind of word looks like, for the messages.
FORMS = (
    "<units> (dense, e.g. 100)",
    "conv<filters>x<size> (e.g. conv20x5, conv20x5x3)",
    "maxpool<size> (e.g. maxpool2)",
    "meanpool<size> (e.g. meanpool2)",
)
#: The kinds of layer that read feature maps: a network with one needs an input shape.
SPATIAL = (Conv2D, MaxPool2D, MeanPool2D)

_DENSE = re.compile(r"\d+")
_CONV = re.compile(r"conv(\d+)x(\d+)(?:x(\d+))?")
_POOL = re.compile(r"(max|mean)pool(\d+)(?:x(\d+))?")
_STRIDE = re.compile(r"stride(\d+)")
_POOLS = {"max": MaxPool2D, "mean": MeanPool2D}


def parse_layer(word: str, activation: str = "relu", *, position: int | None = None) -> Layer:
    """The layer one word describes (see the module docstring for the grammar).

    Parameters
    ----------
    word : str
        E.g. ``"conv20x5"``, ``"maxpool2"``, ``"100:tanh"``.
    activation : str, default "relu"
        The activation of a dense or convolution word that names none.
    position : int, optional
        The word's place in its list (1 for the first), for the message.

    Returns
    -------
    Layer
        A new, unbuilt layer.

    Raises
    ------
    ValueError
        For a word of none of the forms, a size below 1, an unknown or repeated option,
        or an option the layer does not take.
    """
    where = f"layer {position} ({word!r})" if position is not None else f"layer {word!r}"
    head, *options = word.strip().lower().split(":")
    if not head:
        raise ValueError(f"{where} is empty; give one of: {', '.join(FORMS)}")
    try:
        return _build(head, options, activation, where)
    except ValueError as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where}: {exc}") from None


def _build(head: str, options: list[str], activation: str, where: str) -> Layer:
    """The layer of a word split into its head and its options."""
    if _DENSE.fullmatch(head):
        act = _activation(options, activation, where)
        return Dense(_positive(head, "units"), activation=act)
    if conv := _CONV.fullmatch(head):
        filters, kh, kw = conv.groups()
        padding, stride, rest = "valid", 1, []
        for option in options:
            if option in ("same", "valid"):
                padding = option
            elif m := _STRIDE.fullmatch(option):
                stride = _positive(m.group(1), "stride")
            else:
                rest.append(option)
        act = _activation(rest, activation, where)
        size = _positive(kh, "kernel size")
        kernel = (size, _positive(kw, "kernel width")) if kw else size
        return Conv2D(_positive(filters, "filters"), kernel, stride=stride, padding=padding,
                      activation=act)
    if pool := _POOL.fullmatch(head):
        kind, p, q = pool.groups()
        if options:
            raise ValueError(
                f"{where}: a pooling layer takes no options (its stride is its size and it "
                f"has no activation), got {':'.join(options)!r}"
            )
        size = _positive(p, "pool size")
        return _POOLS[kind]((size, _positive(q, "pool width")) if q else size)
    hint = ""
    if head.startswith("conv"):
        hint = "a convolution is conv<filters>x<size>, e.g. conv20x5; "
    elif "pool" in head:
        hint = "a pooling layer is maxpool<size> or meanpool<size>, e.g. maxpool2; "
    raise ValueError(f"{where} is not a layer: {hint}give one of: {', '.join(FORMS)}")


def _positive(digits: str, what: str) -> int:
    n = int(digits)
    if n < 1:
        raise ValueError(f"the {what} must be at least 1, got {n}")
    return n


def _activation(options: list[str], default: str, where: str) -> str:
    """The one activation the options name (the default when they name none)."""
    if len(options) > 1:
        raise ValueError(
            f"{where}: one activation per layer, got {', '.join(map(repr, options))} (a "
            "convolution also takes same, valid and stride<n>)"
        )
    if not options:
        return default
    if not options[0]:
        raise ValueError(f"{where}: an empty option after ':'")
    return get_activation(options[0]).name  # an unknown name lists the valid ones


def parse_layers(layers: str | Sequence[Any], activation: str = "relu") -> list[Layer]:
    """The layers of a comma-separated string, or of a list of words, layers and specs.

    Parameters
    ----------
    layers : str or sequence
        ``"conv20x5,maxpool2,100"``, or a list whose items are such words, `Layer`
        objects (copied: the given ones are never changed) or `Layer.to_spec`
        dictionaries (read through the layer registry, `nablanet.layers.LAYERS`).
    activation : str, default "relu"
        The activation of every word that names none.

    Returns
    -------
    list of Layer
        New, unbuilt layers.

    Raises
    ------
    ValueError
        For an empty list, an item of another type, or a word or spec refused (see
        `parse_layer`), naming its position.
    """
    get_activation(activation)
    items = layers.split(",") if isinstance(layers, str) else list(layers)
    if not items:
        raise ValueError("layers is empty: give at least one hidden layer, e.g. conv20x5")
    out = []
    for i, item in enumerate(items, start=1):
        if isinstance(item, Layer | dict):
            # A Layer is rebuilt from its spec: a fresh copy (the given one is never built
            # here), and one that a model file can hold (its kind is in the registry).
            spec = item.to_spec() if isinstance(item, Layer) else item
            try:
                out.append(layer_from_spec(spec))
            except ValueError as exc:
                raise ValueError(f"layer {i}: {exc}") from None
        elif isinstance(item, str):
            out.append(parse_layer(item, activation, position=i))
        else:
            raise ValueError(
                f"layer {i} must be a word such as 'conv20x5', a Layer or a layer spec "
                f"(dict), got {type(item).__name__}"
            )
    return out


def is_spatial(layers: Sequence[Layer]) -> bool:
    """Whether any layer reads feature maps (a convolution or a pooling)."""
    return any(isinstance(layer, SPATIAL) for layer in layers)

