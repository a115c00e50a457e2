"""nablanet: feedforward neural networks exactly as the mathematics of backpropagation says.

The public names are imported lazily (PEP 562) so that ``import nablanet`` and the
command line start fast; ``from nablanet import Network`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nablanet._remote import register as _register
from nablanet._version import __version__
from nablanet.distributed._handler import DASK as _DASK

# Rows on a Dask cluster reach train, fit, predict and score through this hook, since the
# core may not import the cluster code that builds on it (see nablanet._remote).
_register(_DASK)
del _register, _DASK

# public name -> module that defines it
_EXPORTS = {
    "Network": "nablanet.network",
    "Trace": "nablanet.network",
    "ACTIVATIONS": "nablanet.activations",
    "LOSSES": "nablanet.losses",
    "numerical_gradient": "nablanet.gradcheck",
    "check_gradient": "nablanet.gradcheck",
    "GradientCheckReport": "nablanet.gradcheck",
    "Diagnosis": "nablanet.diagnostics",
    "diagnose": "nablanet.diagnostics",
    "explore": "nablanet.explorer",
    "Explorer": "nablanet.explorer",
    "train": "nablanet.training",
    "History": "nablanet.training",
    "TrainingDiverged": "nablanet.training",
    "EarlyStopping": "nablanet.training",
    "Callback": "nablanet.training",
    "MLPClassifier": "nablanet.estimators",
    "MLPRegressor": "nablanet.estimators",
    "ConvNetClassifier": "nablanet.estimators.convnet",
    "SparseAutoencoder": "nablanet.estimators.autoencoder",
    "SoftmaxRegression": "nablanet.estimators.softmax_regression",
    "StackedAutoencoderClassifier": "nablanet.estimators.stacked_autoencoder",
    "ZCAWhitening": "nablanet.estimators.whitening",
    "PCAWhitening": "nablanet.estimators.whitening",
    "Sparsity": "nablanet.sparsity",
    "compiled_kernels": "nablanet.kernels",
    "save": "nablanet.io",
    "load": "nablanet.io",
    "ModelFileError": "nablanet.io",
    "to_onnx": "nablanet.export.onnx",
    "from_sklearn": "nablanet.export.sklearn",
    "to_sklearn": "nablanet.export.sklearn",
    "to_torch": "nablanet.export.torch",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from nablanet.activations import ACTIVATIONS
    from nablanet.diagnostics import Diagnosis, diagnose
    from nablanet.estimators import MLPClassifier, MLPRegressor
    from nablanet.estimators.autoencoder import SparseAutoencoder
    from nablanet.estimators.convnet import ConvNetClassifier
    from nablanet.estimators.softmax_regression import SoftmaxRegression
    from nablanet.estimators.stacked_autoencoder import StackedAutoencoderClassifier
    from nablanet.estimators.whitening import PCAWhitening, ZCAWhitening
    from nablanet.explorer import Explorer, explore
    from nablanet.export.onnx import to_onnx
    from nablanet.export.sklearn import from_sklearn, to_sklearn
    from nablanet.export.torch import to_torch
    from nablanet.gradcheck import GradientCheckReport, check_gradient, numerical_gradient
    from nablanet.io import ModelFileError, load, save
    from nablanet.kernels import compiled_kernels
    from nablanet.losses import LOSSES
    from nablanet.network import Network, Trace
    from nablanet.sparsity import Sparsity
    from nablanet.training import Callback, EarlyStopping, History, TrainingDiverged, train


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nablanet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
