"""`to_torch`: a nablanet network as a ``torch.nn.Sequential`` with the same weights.

The Sequential holds, for each layer, its PyTorch module with the layer's parameters
copied as they are (PyTorch stores them in the mathematics' orientation), followed by
the layer's activation module (none for identity):

    Dense       nn.Linear(s_l, s_{l+1}): weight W(l) (out, in), bias b(l)
    Conv2D      nn.Conv2d(C, F, (kh, kw), stride): weight W (F, C, kh, kw), bias b (F,);
                "same" padding as ``padding=(top, left)``, or an ``nn.ZeroPad2d`` before
                the convolution where the zeros are uneven (the odd one below and right)
    MeanPool2D  nn.AvgPool2d(size)     MaxPool2D  nn.MaxPool2d(size)   (stride = size)

    sigmoid → nn.Sigmoid   tanh → nn.Tanh   relu → nn.ReLU
    leaky_relu → nn.LeakyReLU(negative_slope=0.01)   softmax → nn.Softmax(dim=-1)

A network over images (``input_shape`` (C, H, W)) reads rows (N, C·H·W) as nablanet
does: the Sequential starts with ``nn.Unflatten(1, (C, H, W))``, so ``seq[1:]`` reads
(N, C, H, W) tensors. Before a Linear layer, and at the end, ``nn.Flatten()`` makes
rows again in (channel, row, column) order, the order a `Dense` layer reads: the
weights need no permutation.

For an estimator, the Sequential is its network ``est.net_``: its outputs are the
network's h(X). For a softmax classifier or a sigmoid multi-label classifier these are
``predict_proba``'s rows, for a one-unit sigmoid binary classifier the probability of
the second class; tanh outputs (labels −1/+1) and one sigmoid unit per class (which
``predict_proba`` maps and normalises) stay the raw outputs. For a `SparseAutoencoder`
it is the whole autoencoder: the reconstruction x̂.
A regressor whose targets were scaled into a bounded output's range ends with one
more ``nn.Linear`` (diagonal weights = the scale, bias = the offset), so that the
Sequential outputs ``predict``'s targets, shape (N, n_outputs).

Parameters are float64 where the network is float64, float32 otherwise. torch is an
optional dependency: it is imported only here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablanet._checks import lookup
from nablanet.activations import LEAKY_SLOPE
from nablanet.export._graph import (
    kind_of,
    layer_entry,
    network_of,
    predictor_of,
    target_scaling,
)
from nablanet.layers.conv import output_size

INSTALL_HINT = (
    "to_torch needs PyTorch, which is not installed; install the CPU build with "
    "'pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu'"
)

#: Each activation's module: (class name in torch.nn, keyword arguments); None: no module.
TORCH_MODULES: dict[str, tuple[str, dict[str, Any]] | None] = {
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "relu": ("ReLU", {}),
    "leaky_relu": ("LeakyReLU", {"negative_slope": LEAKY_SLOPE}),
    "identity": None,
    "softmax": ("Softmax", {"dim": -1}),
}


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return torch


def to_torch(model: Any) -> Any:
    """A ``torch.nn.Sequential`` computing what ``model``'s network computes.

    Parameters
    ----------
    model : Network or estimator
        A network, or a fitted estimator (`MLPClassifier`, `MLPRegressor`,
        `ConvNetClassifier`, ...): its network ``net_``.

    Returns
    -------
    torch.nn.Sequential
        One module per layer and one per activation (see the module notes), parameters
        copied (not shared) in the network's dtype, in evaluation mode. For X of shape
        (N, s_1) it returns (N, s_{n_l}) equal to ``net.forward(X)`` (to about 1e-15 in
        float64); a scaled regressor's Sequential returns ``predict``'s targets.

    Raises
    ------
    ImportError
        If torch is not installed (the message says how to install it).
    sklearn.exceptions.NotFittedError
        For an estimator that was not fitted.
    TypeError
        For a layer of a kind nablanet does not define.
    """
    net = network_of(model)
    torch = _import_torch()
    nn = torch.nn
    dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    modules: list[Any] = []
    maps = len(net.input_shape) > 1
    if maps:
        modules.append(nn.Unflatten(1, tuple(net.input_shape)))
    for layer, W, b in zip(net.layers, net.W, net.b, strict=True):
        make, reads_maps = _torch_layer(layer)
        if maps and not reads_maps:
            modules.append(nn.Flatten())
        modules.extend(make(nn, layer, dtype))
        _copy_parameters(torch, modules[-1], W, b, net.dtype)
        activation = lookup(TORCH_MODULES, layer.activation.name, "activation")
        if activation is not None:
            name, kwargs = activation
            modules.append(getattr(nn, name)(**kwargs))
        maps = len(layer.output_shape) > 1
    if maps:
        modules.append(nn.Flatten())
    predictor = predictor_of(model)
    if kind_of(predictor) == "regressor":
        modules.extend(_scaling(predictor, torch, dtype))
    return nn.Sequential(*modules).eval()


def _copy_parameters(torch: Any, module: Any, W: Any, b: Any, real: Any) -> None:
    """Copy W and b into a module's ``weight`` and ``bias`` (none for pooling)."""
    if getattr(module, "weight", None) is None:
        return
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(np.array(W, dtype=real)))
        module.bias.copy_(torch.from_numpy(np.array(b, dtype=real)))


def _linear(nn: Any, layer: Any, dtype: Any) -> list[Any]:
    return [nn.Linear(layer.n_in, layer.units, dtype=dtype)]


def _conv(nn: Any, layer: Any, dtype: Any) -> list[Any]:
    # PyTorch pads both sides alike; "same" with an even total of zeros is its padding
    # argument, an odd total a ZeroPad2d (left, right, top, bottom) before the Conv2d.
    (C, H, W), (kh, kw), (sh, sw) = layer.input_shape, layer.kernel_size, layer.stride
    _, top, bottom = output_size(H, kh, sh, layer.padding)
    _, left, right = output_size(W, kw, sw, layer.padding)
    even = (top, left) == (bottom, right)
    conv = nn.Conv2d(C, layer.filters, (kh, kw), stride=(sh, sw),
                     padding=(top, left) if even else 0, dtype=dtype)
    return [conv] if even else [nn.ZeroPad2d((left, right, top, bottom)), conv]


def _avg_pool(nn: Any, layer: Any, dtype: Any) -> list[Any]:
    return [nn.AvgPool2d(layer.size)]  # stride = size, floor: the rest is dropped


def _max_pool(nn: Any, layer: Any, dtype: Any) -> list[Any]:
    return [nn.MaxPool2d(layer.size)]


#: Each layer kind's modules (the last one holds W and b), and whether it reads maps.
TORCH_LAYERS: dict[str, tuple[Any, bool]] = {
    "Dense": (_linear, False),
    "Conv2D": (_conv, True),
    "MeanPool2D": (_avg_pool, True),
    "MaxPool2D": (_max_pool, True),
}


def _torch_layer(layer: Any) -> tuple[Any, bool]:
    """The module maker of ``layer``'s kind and whether the kind reads (N, C, H, W)."""
    return layer_entry(layer, TORCH_LAYERS, "PyTorch")


def _scaling(est: Any, torch: Any, dtype: Any) -> list[Any]:
    """The regressor's y = a · scale + offset as a diagonal Linear (none if identity)."""
    scale, offset = target_scaling(est)
    if scale is None or offset is None:
        return []
    k = scale.shape[0]
    linear = torch.nn.Linear(k, k, dtype=dtype)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(np.diag(scale)))
        linear.bias.copy_(torch.from_numpy(offset))
    return [linear]
