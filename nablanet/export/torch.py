"""`to_torch`: a nablanet network as a ``torch.nn.Sequential`` with the same weights.

The Sequential holds, for each layer l, ``nn.Linear(s_l, s_{l+1})`` whose ``weight`` is
W(l) (PyTorch stores it in the same (out, in) orientation as the mathematics) and whose
``bias`` is b(l), followed by the layer's activation module (none for identity):

    sigmoid → nn.Sigmoid   tanh → nn.Tanh   relu → nn.ReLU
    leaky_relu → nn.LeakyReLU(negative_slope=0.01)   softmax → nn.Softmax(dim=-1)

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
from nablanet.export._graph import kind_of, network_of, predictor_of, target_scaling

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
    model : Network, MLPClassifier or MLPRegressor
        A network, or a fitted estimator.

    Returns
    -------
    torch.nn.Sequential
        ``Linear`` + activation per layer (see the module notes), parameters copied (not
        shared) in the network's dtype, in evaluation mode. For X of shape (N, s_1) it
        returns (N, s_{n_l}) equal to ``net.forward(X)`` (to about 1e-15 in float64); a
        scaled regressor's Sequential returns ``predict``'s targets.

    Raises
    ------
    ImportError
        If torch is not installed (the message says how to install it).
    sklearn.exceptions.NotFittedError
        For an estimator that was not fitted.
    """
    net = network_of(model)
    torch = _import_torch()
    nn = torch.nn
    dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    layers: list[Any] = []
    for W, b, act in zip(net.W, net.b, net.activations, strict=True):
        linear = nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(W, dtype=net.dtype)))
            linear.bias.copy_(torch.from_numpy(np.array(b, dtype=net.dtype)))
        layers.append(linear)
        module = lookup(TORCH_MODULES, act.name, "activation")
        if module is not None:
            name, kwargs = module
            layers.append(getattr(nn, name)(**kwargs))
    predictor = predictor_of(model)
    if kind_of(predictor) == "regressor":
        layers.extend(_scaling(predictor, torch, dtype))
    return nn.Sequential(*layers).eval()


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
