"""nablanet's estimators as skl2onnx converters, so that ``skl2onnx.to_onnx`` knows them.

`register_skl2onnx` registers, for each estimator holding a network, a shape
calculator and a converter (``skl2onnx.update_registered_converter``). The converter
writes the graph of `nablanet.export._graph` into skl2onnx's container, so an
estimator converts to the same graph alone or inside a scikit-learn ``Pipeline``.

skl2onnx's conventions apply there, as for its own MLPClassifier: the graph computes in
float64 when its input is float64 and in float32 otherwise, and a classifier's
probabilities go through a ZipMap (a list of {class: probability} dicts) unless the
option ``zipmap=False`` is passed (``options={id(est): {"zipmap": False}}`` or
``options={type(est): {"zipmap": False}}``). `nablanet.to_onnx` never adds a ZipMap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nablanet._optional import requires_extra
from nablanet.export._graph import MIN_OPSET, emit, outputs_of

with requires_extra("onnx"):
    from onnx import TensorProto, numpy_helper
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

#: The estimators registered (names in the nablanet namespace).
_TYPES: dict[int, Any] = {
    TensorProto.FLOAT: FloatTensorType,
    TensorProto.DOUBLE: DoubleTensorType,
    TensorProto.INT64: Int64TensorType,
    TensorProto.STRING: StringTensorType,
}


class _ContainerGraph:
    """`nablanet.export._graph.Graph` written into skl2onnx's scope and container."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope = scope
        self.container = container

    def constant(self, hint: str, value: Any) -> str:
        name = self.scope.get_unique_variable_name(hint)
        value = np.asarray(value)
        if value.dtype.kind in "OUS":
            content = [str(v).encode() for v in value.ravel()]
            self.container.add_initializer(name, TensorProto.STRING, list(value.shape), content)
        else:
            tensor = numpy_helper.from_array(np.ascontiguousarray(value), name)
            self.container.add_initializer(name, tensor.data_type, list(value.shape), tensor)
        return name

    def node(self, op: str, inputs: Sequence[str], hint: str, **attrs: Any) -> str:
        out = self.scope.get_unique_variable_name(hint)
        self.container.add_node(
            op, list(inputs), [out], name=self.scope.get_unique_operator_name(op), **attrs
        )
        return out


def _real(operator: Any) -> np.dtype[Any]:
    """The dtype the graph computes in: float64 for a float64 input, else float32."""
    return np.dtype(np.float64 if isinstance(operator.inputs[0].type, DoubleTensorType)
                    else np.float32)


def _shape_calculator(operator: Any) -> None:
    """Set the types and shapes of the operator's outputs (see `outputs_of`)."""
    N = operator.inputs[0].get_first_dimension()
    for variable, out in zip(operator.outputs, outputs_of(operator.raw_operator,
                                                          _real(operator)), strict=True):
        variable.type = _TYPES[out.elem_type]([N, *out.shape[1:]])


def _converter(scope: Any, operator: Any, container: Any) -> None:
    """Write the estimator's graph; its input is cast to the graph's dtype if need be."""
    if container.target_opset < MIN_OPSET:
        raise ValueError(
            f"nablanet's estimators convert with target_opset >= {MIN_OPSET}, got "
            f"{container.target_opset}"
        )
    real = _real(operator)
    g = _ContainerGraph(scope, container)
    x = operator.inputs[0].full_name
    input_type = operator.inputs[0].type
    if not isinstance(input_type, FloatTensorType | DoubleTensorType):
        x = g.node("Cast", [x], "cast_input", to=TensorProto.FLOAT)
    for tensor, variable in zip(emit(g, operator.raw_operator, x, real), operator.outputs,
                                strict=True):
        container.add_node("Identity", [tensor], [variable.full_name],
                           name=scope.get_unique_operator_name("Identity"))


def _whitening_matrix(est: Any) -> np.ndarray[Any, Any]:
    """W with whitened = (x − mean) W: ZCA's symmetric matrix, or PCA's Uₖ / sqrt(λₖ + ε)."""
    if hasattr(est, "whitening_"):
        return est.whitening_
    lam = est.explained_variance_[: est.n_components_]
    return est.components_.T / np.sqrt(lam + est.epsilon)


def _whitening_shape(operator: Any) -> None:
    N = operator.inputs[0].get_first_dimension()
    width = _whitening_matrix(operator.raw_operator).shape[1]
    real = _real(operator)
    operator.outputs[0].type = (DoubleTensorType if real == np.float64 else FloatTensorType)(
        [N, width]
    )


def _whitening_converter(scope: Any, operator: Any, container: Any) -> None:
    """(x − mean) W as ``Sub`` and ``MatMul`` (see `nablanet.ZCAWhitening`)."""
    est, real = operator.raw_operator, _real(operator)
    g = _ContainerGraph(scope, container)
    x = operator.inputs[0].full_name
    if not isinstance(operator.inputs[0].type, FloatTensorType | DoubleTensorType):
        x = g.node("Cast", [x], "cast_input", to=TensorProto.FLOAT)
    centred = g.node("Sub", [x, g.constant("mean", est.mean_.astype(real))], "centred")
    white = g.node("MatMul", [centred, g.constant("W", _whitening_matrix(est).astype(real))],
                   "whitened")
    container.add_node("Identity", [white], [operator.outputs[0].full_name],
                       name=scope.get_unique_operator_name("Identity"))


def register_skl2onnx() -> None:
    """Register nablanet's estimators with skl2onnx.

    `MLPClassifier`, `MLPRegressor`, `SoftmaxRegression`, `ConvNetClassifier`,
    `StackedAutoencoderClassifier` and `SparseAutoencoder` (a transformer: its output is
    ``transform``'s features), and
    the whitening transformers `ZCAWhitening` and `PCAWhitening`.
    After this call ``skl2onnx.to_onnx(est, X[:1])`` converts a fitted nablanet
    estimator, and any scikit-learn pipeline that contains one. Calling it again is
    harmless. The classifier accepts skl2onnx's options ``zipmap`` (True, False or
    "columns"; True by default, as for skl2onnx's own classifiers).
    """
    from nablanet.estimators import MLPClassifier, MLPRegressor
    from nablanet.estimators.autoencoder import SparseAutoencoder
    from nablanet.estimators.convnet import ConvNetClassifier
    from nablanet.estimators.softmax_regression import SoftmaxRegression
    from nablanet.estimators.stacked_autoencoder import StackedAutoencoderClassifier
    from nablanet.estimators.whitening import PCAWhitening, ZCAWhitening

    for whitening in (ZCAWhitening, PCAWhitening):
        update_registered_converter(whitening, f"Nablanet{whitening.__name__}",
                                    _whitening_shape, _whitening_converter)
    # skl2onnx's ZipMap asks every classifier for "nocl" (labels replaced by their
    # indices); these graphs always hold the classes, so only False is accepted.
    classifier_options = {"zipmap": [True, False, "columns"], "nocl": [False]}
    for cls in (MLPClassifier, MLPRegressor, SoftmaxRegression, ConvNetClassifier,
                StackedAutoencoderClassifier, SparseAutoencoder):
        name = cls.__name__
        is_classifier = cls().__sklearn_tags__().estimator_type == "classifier"
        options = classifier_options if is_classifier else None
        update_registered_converter(cls, f"Nablanet{name}", _shape_calculator, _converter,
                                    options=options)
