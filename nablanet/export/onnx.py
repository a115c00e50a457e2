"""`to_onnx`: a nablanet model as an ONNX graph that onnxruntime (or any ONNX runtime) runs.

The graph is the one `nablanet.export._graph` describes: per layer a ``Gemm``
(`Dense`), ``Conv`` (`Conv2D`), ``AveragePool`` (`MeanPool2D`) or ``MaxPool``
(`MaxPool2D`) node and the activation's, then the estimator's own prediction steps.
It is built with ``onnx.helper`` alone (skl2onnx is only needed to convert
scikit-learn pipelines; see `nablanet.export.register_skl2onnx`).

Inputs and outputs
------------------
- input ``X``: (N, n_features), float32 by default. A network over images
  (``input_shape`` (C, H, W)) reads them as rows too, (N, C·H·W) in C order, exactly
  what its ``predict`` reads (``images.reshape(len(images), -1)``): the graph reshapes
  them itself. One input shape keeps every export alike (estimators, pipelines,
  skl2onnx's converters all give 2-D inputs);
- classifier: ``label`` (N,) int64 or string (uint64 when a uint64 class is 2**63 or
  more, which int64 cannot hold; an int64 (N, n_classes) indicator for multi-label
  problems) and ``probabilities`` (N, n_classes), both plain tensors (no
  ZipMap: the names and types are those skl2onnx gives scikit-learn's MLPClassifier
  with ``zipmap=False``);
- regressor: ``variable`` (N, n_outputs), 2-D even for one output;
- transformer (`SparseAutoencoder`): ``variable`` (N, hidden), ``transform``'s features;
- network: ``output`` (N, s_{n_l}).

Dtype
-----
The graph computes in float32 unless ``X_sample`` is float64: then in float64, and it
reproduces a float64 model to about 1e-12. A float64 model exported without a sample
gets a float32 graph (ONNX runtimes are fastest in float32): its outputs agree with
nablanet's to about 1e-6.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nablanet._arrays import is_sparse
from nablanet._optional import requires_extra
from nablanet.export._graph import MIN_OPSET, emit, network_of, onnx_dtype, outputs_of

with requires_extra("onnx"):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

#: The opset written unless ``target_opset`` says otherwise: every operator used has had
#: its present meaning since opset 13, and onnxruntime has run opset 17 since 1.13 (2022).
DEFAULT_OPSET = 17


class _ModelGraph:
    """`nablanet.export._graph.Graph` written into plain lists of ONNX protos."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._taken: set[str] = set()

    def _unique(self, hint: str) -> str:
        name, i = hint, 1
        while name in self._taken:
            i += 1
            name = f"{hint}_{i}"
        self._taken.add(name)
        return name

    def constant(self, hint: str, value: Any) -> str:
        name = self._unique(hint)
        value = np.asarray(value)
        if value.dtype.kind in "OUS":
            strings: Any = [str(v).encode() for v in value.ravel()]
            tensor = helper.make_tensor(name, TensorProto.STRING, value.shape, strings)
        else:
            tensor = numpy_helper.from_array(np.ascontiguousarray(value), name)
        self.initializers.append(tensor)
        return name

    def node(self, op: str, inputs: Sequence[str], hint: str, **attrs: Any) -> str:
        out = self._unique(hint)
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=f"{op}_{out}", **attrs))
        return out


def graph_dtype(X_sample: Any, net: Any) -> np.dtype[Any]:
    """The dtype the graph computes in: X_sample's if float64, else float32.

    Raises
    ------
    ValueError
        If ``X_sample`` is not a float32/float64 matrix with one column per input value
        of ``net`` (images flattened into rows, as the graph reads them).
    """
    if X_sample is None:
        return np.dtype(np.float32)
    n_features = net.layer_sizes[0]
    # only its width and dtype matter: a sparse matrix is read as it is, never densified
    X = X_sample if is_sparse(X_sample) else np.asarray(X_sample)
    if X.ndim != 2 or X.shape[1] != n_features:
        images = (
            f" (images of shape {tuple(net.input_shape)} as rows in (channel, row, column) "
            "order, X.reshape(len(X), -1): the graph's input X is 2-D)"
            if len(net.input_shape) > 1 else ""
        )
        raise ValueError(
            f"X_sample must have shape (n_samples, {n_features}){images}, got {X.shape}"
        )
    if X.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"X_sample must be float32 or float64 (it sets the graph's dtype), got {X.dtype}"
        )
    return np.dtype(X.dtype)


def check_opset(opset: int) -> None:
    """Refuse an opset this graph cannot be written in.

    Raises
    ------
    ValueError
        Below opset 13 or above the newest opset the installed onnx knows.
    """
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int | np.integer) or not (
        MIN_OPSET <= opset <= newest
    ):
        raise ValueError(
            f"target_opset must be an integer from {MIN_OPSET} to {newest} (the installed "
            f"onnx's newest), got {opset!r}"
        )


def to_onnx(model: Any, X_sample: Any = None, target_opset: int | None = None) -> onnx.ModelProto:
    """Export a fitted model as an ONNX model.

    Parameters
    ----------
    model : Network, estimator or pipeline
        A network, or a fitted `MLPClassifier`, `MLPRegressor`, `SoftmaxRegression`,
        `ConvNetClassifier`, `StackedAutoencoderClassifier` or `SparseAutoencoder`
        (through its network ``net_``, as every estimator); or a fitted scikit-learn
        `Pipeline`/`ColumnTransformer` of them and preprocessors, exported whole through
        skl2onnx (see `nablanet.export.pipelines`: float32, one input per DataFrame column).
    X_sample : ndarray, sparse matrix or DataFrame of shape (n_samples, n_features), optional
        Sets the graph's dtype: float64 gives a float64 graph; otherwise (and by default)
        the graph computes in float32. Only its width and dtype are read, except for a
        pipeline, where it is required: its columns name the graph's inputs and tell
        numbers from text.
    target_opset : int, optional
        ONNX opset of the main domain, from 13; default `DEFAULT_OPSET` (17).

    Returns
    -------
    onnx.ModelProto
        Checked by ``onnx.checker``; write it with ``onnx.save(model, path)``. Inputs and
        outputs are described in the module notes: input ``X``; ``label`` and
        ``probabilities`` for a classifier, ``variable`` for a regressor, ``output`` for a
        network.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        For an estimator that was not fitted.
    ValueError
        For a bad ``X_sample`` or ``target_opset``, or classes that are neither integers
        nor strings.

    Notes
    -----
    A `Dense` layer l is ``Gemm(a, W(l), b(l), transB=1)`` = a W(l)ᵀ + b(l), a `Conv2D`
    layer ``Conv`` with its strides and (for "same") explicit pads, each followed by its
    activation's operator; pooling layers are ``AveragePool`` / ``MaxPool`` with kernel =
    stride = size. A classifier then computes ``predict_proba`` and ``predict`` in the
    graph, a regressor scales its outputs back to the targets' range.

    onnxruntime has no float64 ``Conv`` or ``AveragePool``: a float64 graph writes a
    convolution as ``Pad``, ``Gather`` (im2col) and ``MatMul``, and mean pooling as a
    ``ReduceSum`` over each block times 1/(pq), which it runs.
    """
    from nablanet import __version__
    from nablanet.export.pipelines import is_pipeline, pipeline_to_onnx

    if is_pipeline(model):  # scikit-learn's steps through skl2onnx, the network through ours
        return pipeline_to_onnx(model, X_sample, DEFAULT_OPSET if target_opset is None
                                else target_opset)
    net = network_of(model)
    real = graph_dtype(X_sample, net)
    opset = DEFAULT_OPSET if target_opset is None else target_opset
    check_opset(opset)
    outputs = outputs_of(model, real)
    g = _ModelGraph()
    x = g._unique("X")
    for out in outputs:  # the outputs' names are taken by the final Identity nodes
        g._unique(out.name)
    results = emit(g, model, x, real)
    for tensor, out in zip(results, outputs, strict=True):
        g.nodes.append(helper.make_node("Identity", [tensor], [out.name], name=f"out_{out.name}"))
    graph = helper.make_graph(
        g.nodes,
        f"nablanet_{type(model).__name__}",
        [helper.make_tensor_value_info(x, onnx_dtype(real), [None, net.layer_sizes[0]])],
        [helper.make_tensor_value_info(o.name, o.elem_type, list(o.shape)) for o in outputs],
        g.initializers,
    )
    opsets = [helper.make_opsetid("", int(opset))]
    result = helper.make_model(
        graph,
        opset_imports=opsets,
        # the oldest IR version that holds this opset: runtimes refuse newer IR versions
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="nablanet",
        producer_version=__version__,
        doc_string=f"{type(model).__name__} with layers {list(net.layer_sizes)}",
    )
    onnx.checker.check_model(result, full_check=True)
    return result
