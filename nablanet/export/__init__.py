"""Models out of (and into) nablanet: ONNX, scikit-learn and PyTorch.

- `to_onnx` (``nablanet.export.onnx``): an ONNX graph for onnxruntime and friends, of a
  model or of a whole scikit-learn pipeline (``nablanet.export.pipelines``, whose
  `onnx_inputs` turns a DataFrame into the graph's inputs);
- `register_skl2onnx` (``nablanet.export._skl2onnx``): teaches skl2onnx nablanet's
  estimators, so that ``skl2onnx.to_onnx`` converts them and pipelines holding them;
- `from_sklearn` / `to_sklearn` (``nablanet.export.sklearn``): fitted scikit-learn MLPs
  to nablanet estimators and back;
- `to_torch` (``nablanet.export.torch``): a ``torch.nn.Sequential`` with the same weights.

Each name is imported on first use, so that importing this package loads none of
onnx, skl2onnx or torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "to_onnx": "nablanet.export.onnx",
    "register_skl2onnx": "nablanet.export._skl2onnx",
    "from_sklearn": "nablanet.export.sklearn",
    "to_sklearn": "nablanet.export.sklearn",
    "to_torch": "nablanet.export.torch",
    "onnx_inputs": "nablanet.export.pipelines",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nablanet.export' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
