"""The ONNX graph of a nablanet model, written once for every container that holds it.

`emit` writes the nodes that compute a model's outputs into a `Graph`: a small
interface (``constant``, ``node``) that `nablanet.export.onnx` implements with plain
``onnx.helper`` calls and `nablanet.export._skl2onnx` with skl2onnx's container, so a
model converts to the same graph whether it is exported alone or inside a pipeline.
`outputs_of` states the outputs' names, element types and shapes.

The graph, for a network of L layers and an input X of shape (N, s_1), one or two
nodes per layer (forward propagation)::

    Dense       z(l+1) = Gemm(a(l), W(l), b(l), transB=1)  = a(l) W(l)ᵀ + b(l)
    Conv2D      z(l+1) = Conv(a(l), W(l), b(l), strides, pads)   (cross-correlation)
    MeanPool2D  a(l+1) = AveragePool(a(l), kernel = stride = size)
    MaxPool2D   a(l+1) = MaxPool(a(l), kernel = stride = size)
                a(l+1) = f(z(l+1))          Sigmoid, Tanh, Relu, LeakyRelu, Exp,
                                            Softmax(axis=-1); identity: no node

A network over feature maps (``input_shape`` (C, H, W)) still reads rows (N, C·H·W):
a ``Reshape`` makes them (N, C, H, W), and a ``Flatten`` before a Dense layer (and at
the end) makes rows again in (channel, row, column) order, the order of nablanet's rows.
onnxruntime has no float64 ``Conv`` or ``AveragePool``: a float64 graph writes them out
as the layers compute them, a convolution as ``Pad``, ``Gather`` (im2col) and ``MatMul``,
mean pooling as ``Slice``, ``Reshape``, ``ReduceSum`` and ``Mul`` by 1/(pq).

followed by what the estimator's ``predict`` / ``predict_proba`` do with a(L+1)
(`SoftmaxRegression` is a classifier of one layer; `StackedAutoencoderClassifier`
exports the MLPClassifier ``mlp_`` that makes its predictions):

- classifier: ``probabilities`` (N, n_classes) exactly as ``predict_proba`` and
  ``label`` as ``predict`` (ArgMax over the outputs and a Gather from the classes,
  or the output compared with the activation's threshold; an int64 indicator
  matrix (N, n_classes) for multi-label problems);
- regressor: ``variable`` (N, n_outputs) = a · scale + offset when the targets were
  scaled into a bounded output's range, a itself otherwise;
- transformer (`SparseAutoencoder`): ``variable`` (N, hidden) = the hidden layer's
  activations, as ``transform`` (the decoder's layer is left out);
- bare network: ``output`` (N, s_{n_l}) = a(L+1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray
from sklearn.utils.validation import check_is_fitted

from nablanet._checks import lookup
from nablanet._optional import requires_extra
from nablanet.activations import LEAKY_SLOPE, Activation
from nablanet.layers.conv import output_size

with requires_extra("onnx"):
    from onnx import TensorProto

Array = NDArray[Any]
T = TypeVar("T")

#: The oldest opset whose operators mean what this graph needs: Softmax over the last
#: axis alone and ReduceSum with its axes as an input both date from opset 13.
MIN_OPSET = 13

#: Each activation's ONNX operator and attributes (None: no node, a = z).
ONNX_OPS: dict[str, tuple[str, dict[str, Any]] | None] = {
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "relu": ("Relu", {}),
    "leaky_relu": ("LeakyRelu", {"alpha": LEAKY_SLOPE}),
    "identity": None,
    "softmax": ("Softmax", {"axis": -1}),  # each row on its own
    "exp": ("Exp", {}),  # the Poisson regressor's output
}

_MULTILABEL = "multilabel-indicator"


class Graph(Protocol):
    """Where `emit` writes: named constants and nodes, each returning its tensor's name."""

    def constant(self, hint: str, value: Array) -> str:
        """Add an initializer holding ``value``; return its (unique) name."""
        ...

    def node(self, op: str, inputs: Sequence[str], hint: str, **attrs: Any) -> str:
        """Add a node of type ``op`` with one output; return the output's name."""
        ...


@dataclass(frozen=True)
class Output:
    """One graph output: its name, ONNX element type and shape (None: any size)."""

    name: str
    elem_type: int
    shape: tuple[int | None, ...]


def onnx_dtype(real: np.dtype[Any]) -> int:
    """The ONNX element type of float32 or float64."""
    return TensorProto.DOUBLE if real == np.float64 else TensorProto.FLOAT


def kind_of(model: Any) -> str:
    """"classifier", "regressor", "transformer" (scikit-learn's tags say which) or "network".

    Raises
    ------
    TypeError
        For anything else (a scikit-learn estimator, say).
    """
    if hasattr(model, "__sklearn_tags__"):
        tags = model.__sklearn_tags__()
        kind = tags.estimator_type or ("transformer" if tags.transformer_tags else None)
        # nablanet's own estimators only: scikit-learn's MLPs go through from_sklearn
        if kind in ("classifier", "regressor", "transformer") and type(
            model
        ).__module__.startswith("nablanet."):
            return str(kind)
    elif hasattr(model, "W") and hasattr(model, "activations"):
        return "network"
    raise TypeError(
        "expected a nablanet Network or estimator, got "
        f"{type(model).__module__}.{type(model).__name__} (a scikit-learn MLP converts with "
        "nablanet.from_sklearn first)"
    )


def predictor_of(model: Any) -> Any:
    """The estimator whose network and settings make ``model``'s predictions.

    Itself, except for an estimator that predicts through an inner `MLPClassifier`
    ``mlp_`` (`StackedAutoencoderClassifier`).
    """
    if kind_of(model) == "network":
        return model
    check_is_fitted(model)
    return getattr(model, "mlp_", model)


def network_of(model: Any) -> Any:
    """The `Network` inside ``model`` (itself for a bare network); checks it is fitted.

    Raises
    ------
    TypeError
        For a nablanet estimator without a network (the whitening transformers).
    """
    model = predictor_of(model)
    if kind_of(model) == "network":
        return model
    net = getattr(model, "net_", None)  # predictor_of checked that it is fitted
    if net is None:
        raise TypeError(f"{type(model).__name__} holds no network to export")
    return net


def outputs_of(model: Any, real: np.dtype[Any]) -> list[Output]:
    """The outputs `emit` computes for ``model``, in order.

    Parameters
    ----------
    model : Network, MLPClassifier or MLPRegressor
    real : dtype
        float32 or float64: the dtype the graph computes in.

    Returns
    -------
    list of Output
        ``[label, probabilities]`` for a classifier, ``[variable]`` for a regressor,
        ``[output]`` for a network.
    """
    net = network_of(model)
    model = predictor_of(model)
    kind = kind_of(model)
    if kind == "classifier":
        n = len(model.classes_)
        multilabel = _target_kind(model) == _MULTILABEL
        label_type = TensorProto.INT64 if multilabel else _classes(model)[0]
        # one class: predict_proba still has two columns (the second for "another class")
        width = 2 if n == 1 and not multilabel else n
        return [
            Output("label", label_type, (None, n) if multilabel else (None,)),
            Output("probabilities", onnx_dtype(real), (None, width)),
        ]
    if kind == "transformer":  # transform: the last hidden layer's activations
        return [Output("variable", onnx_dtype(real), (None, net.layer_sizes[-2]))]
    name = "variable" if kind == "regressor" else "output"
    return [Output(name, onnx_dtype(real), (None, net.layer_sizes[-1]))]


def emit(g: Graph, model: Any, x: str, real: np.dtype[Any]) -> list[str]:
    """Write the nodes computing ``model``'s outputs from input ``x`` into ``g``.

    Parameters
    ----------
    g : Graph
    model : Network, MLPClassifier or MLPRegressor
    x : str
        Name of the input tensor, shape (N, s_1), already of dtype ``real``.
    real : dtype
        float32 or float64.

    Returns
    -------
    list of str
        The tensors holding the outputs that `outputs_of` lists, in its order.
    """
    net = network_of(model)
    model = predictor_of(model)
    kind = kind_of(model)
    if kind == "transformer":
        return [network_nodes(g, net, x, real, n_layers=len(net.W) - 1)]
    a = network_nodes(g, net, x, real)
    if kind == "classifier":
        return list(_classifier_nodes(g, model, a, real))
    if kind == "regressor":
        return [_regressor_nodes(g, model, a, real)]
    return [a]


def network_nodes(
    g: Graph, net: Any, x: str, real: np.dtype[Any], n_layers: int | None = None
) -> str:
    """Forward propagation, one layer after the other; returns the last a, (N, s) rows.

    ``n_layers`` stops after that many layers (all by default). A network whose input is
    feature maps (C, H, W) first reshapes the rows (N, C·H·W) into (N, C, H, W); a
    `Dense` layer after feature maps, and the end of the graph, flatten them back in
    (channel, row, column) order, the order nablanet's rows hold them in.
    """
    a = x
    if len(net.input_shape) > 1:
        # 0 copies N from the input: the shape holds for any number of rows, 0 included.
        shape = g.constant("image_shape", np.array([0, *net.input_shape], dtype=np.int64))
        a = g.node("Reshape", [x, shape], "images")
    maps = len(net.input_shape) > 1
    layers = list(zip(net.layers, net.W, net.b, strict=True))
    for l, (layer, W, b) in enumerate(layers[:n_layers]):
        emit_layer = _layer_nodes(layer)
        if maps and not emit_layer.reads_maps:
            a = g.node("Flatten", [a], f"flat{l + 1}", axis=1)
        a = emit_layer.nodes(g, layer, W, b, a, real, l)
        maps = len(layer.output_shape) > 1
    if maps:
        a = g.node("Flatten", [a], "flat_output", axis=1)
    return a


def _dense_nodes(g: Graph, layer: Any, W: Array, b: Array, a: str, real: np.dtype[Any],
                 l: int) -> str:
    """z(l+1) = Gemm(a(l), W(l), b(l), transB=1) = a Wᵀ + b, then a(l+1) = f(z(l+1))."""
    # Gemm keeps W in the mathematics' (out, in) orientation: z = a Wᵀ + b.
    W_name = g.constant(f"W{l + 1}", np.asarray(W, dtype=real))
    b_name = g.constant(f"b{l + 1}", np.asarray(b, dtype=real))
    z = g.node("Gemm", [a, W_name, b_name], f"z{l + 2}", transB=1)
    return activation_node(g, layer.activation, z, real, f"a{l + 2}")


def _conv_nodes(g: Graph, layer: Any, W: Array, b: Array, a: str, real: np.dtype[Any],
                l: int) -> str:
    """The convolution z = Conv(a, W, b): the cross-correlation `Conv2D` computes.

    W (F, C, kh, kw) is ONNX's (and PyTorch's) weight layout as it is; "same" padding
    becomes explicit ``pads`` (top, left, bottom, right), the odd zero below and to the
    right as the layer puts it. In float64 the product is written out (`_conv_products`):
    onnxruntime has no float64 Conv.
    """
    (_, H, W_in), (kh, kw), (sh, sw) = layer.input_shape, layer.kernel_size, layer.stride
    _, top, bottom = output_size(H, kh, sh, layer.padding)
    _, left, right = output_size(W_in, kw, sw, layer.padding)
    pads = [top, left, bottom, right]
    if real == np.float64:
        z = _conv_products(g, layer, W, b, a, real, l, pads)
    else:
        W_name = g.constant(f"W{l + 1}", np.asarray(W, dtype=real))
        b_name = g.constant(f"b{l + 1}", np.asarray(b, dtype=real))
        z = g.node("Conv", [a, W_name, b_name], f"z{l + 2}", kernel_shape=[kh, kw],
                   strides=[sh, sw], pads=pads)
    return activation_node(g, layer.activation, z, real, f"a{l + 2}")


def _conv_products(g: Graph, layer: Any, W: Array, b: Array, a: str, real: np.dtype[Any],
                   l: int, pads: list[int]) -> str:
    """The convolution as the layer computes it: im2col as a ``Gather``, then a ``MatMul``.

    The maps are padded (``Pad``) and flattened to rows of C·Hp·Wp values; a ``Gather``
    with a constant index (C·kh·kw, Ho·Wo) copies each example's patches into columns,
    ``cols[(k·kh + u)·kw + v, r·Wo + c] = x_pad[k, r·sh + u, c·sw + v]``, and z is
    W (F, C·kh·kw) times them, plus b: every operator here runs in float64.
    """
    C, H, W_in = layer.input_shape
    F, Ho, Wo = layer.output_shape
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    top, left, bottom, right = pads
    if any(pads):
        where = g.constant("pads", np.array([0, 0, top, left, 0, 0, bottom, right], np.int64))
        a = g.node("Pad", [a, where], f"padded{l + 1}")
    Hp, Wp = H + top + bottom, W_in + left + right
    k, u, v, r, c = np.ix_(range(C), range(kh), range(kw), range(Ho), range(Wo))
    index = ((k * Hp + r * sh + u) * Wp + c * sw + v).reshape(C * kh * kw, Ho * Wo)
    rows = g.node("Flatten", [a], f"rows{l + 1}", axis=1)
    cols = g.node("Gather", [rows, g.constant(f"patches{l + 1}", index.astype(np.int64))],
                  f"cols{l + 1}", axis=1)
    W_rows = g.constant(f"W{l + 1}_rows", np.asarray(W, dtype=real).reshape(F, -1))
    product = g.node("MatMul", [W_rows, cols], f"Wcols{l + 1}")
    b_column = g.constant(f"b{l + 1}", np.asarray(b, dtype=real).reshape(F, 1))
    z = g.node("Add", [product, b_column], f"z{l + 2}_rows")
    shape = g.constant(f"maps{l + 2}", np.array([0, F, Ho, Wo], dtype=np.int64))
    return g.node("Reshape", [z, shape], f"z{l + 2}")


def _pool_nodes(g: Graph, layer: Any, W: Array, b: Array, a: str, real: np.dtype[Any],
                l: int) -> str:
    """Pooling: a = AveragePool or MaxPool of a_in over p×q blocks, stride (p, q); no parameters.

    No padding and ``ceil_mode`` 0: ⌊H/p⌋ × ⌊W/q⌋ outputs, the rows and columns left
    over dropped, as the pooling layers do. In float64 mean pooling is written out
    (`_block_means`): onnxruntime has no float64 AveragePool.
    """
    op = POOL_OPS[type(layer).__name__]
    if op == "AveragePool" and real == np.float64:
        return _block_means(g, layer, a, real, l)
    size = list(layer.size)
    return g.node(op, [a], f"a{l + 2}", kernel_shape=size, strides=size)


def _block_means(g: Graph, layer: Any, a: str, real: np.dtype[Any], l: int) -> str:
    """Mean pooling as the layer computes it: each p×q block's sum, times 1/(pq).

    The maps are cut to (Ho·p, Wo·q) (``Slice``), seen as (N, C, Ho, p, Wo, q)
    (``Reshape``) and summed over the block's axes (``ReduceSum``).
    """
    C, H, W_in = layer.input_shape
    _, Ho, Wo = layer.output_shape
    p, q = layer.size
    if (Ho * p, Wo * q) != (H, W_in):  # rows or columns left over: dropped
        starts, ends, axes = (g.constant(f"{n}{l + 1}", np.array(v, dtype=np.int64))
                              for n, v in (("starts", [0, 0]), ("ends", [Ho * p, Wo * q]),
                                           ("axes", [2, 3])))
        a = g.node("Slice", [a, starts, ends, axes], f"whole_blocks{l + 1}")
    shape = g.constant(f"blocks{l + 1}", np.array([0, C, Ho, p, Wo, q], dtype=np.int64))
    blocks = g.node("Reshape", [a, shape], f"blocks{l + 1}")
    block_axes = g.constant(f"block_axes{l + 1}", np.array([3, 5], dtype=np.int64))
    total = g.node("ReduceSum", [blocks, block_axes], f"block_sums{l + 1}", keepdims=0)
    scale = g.constant(f"pool_scale{l + 1}", np.array(1.0 / (p * q), dtype=real))
    return g.node("Mul", [total, scale], f"a{l + 2}")


#: The ONNX operator of each pooling layer.
POOL_OPS = {"MeanPool2D": "AveragePool", "MaxPool2D": "MaxPool"}


@dataclass(frozen=True)
class LayerNodes:
    """How one kind of layer is written: its nodes, and whether it reads (N, C, H, W)."""

    nodes: Any
    reads_maps: bool


#: Each layer kind's nodes, by class name (the names `nablanet.layers.LAYERS` uses).
LAYER_NODES: dict[str, LayerNodes] = {
    "Dense": LayerNodes(nodes=_dense_nodes, reads_maps=False),
    "Conv2D": LayerNodes(nodes=_conv_nodes, reads_maps=True),
    "MeanPool2D": LayerNodes(nodes=_pool_nodes, reads_maps=True),
    "MaxPool2D": LayerNodes(nodes=_pool_nodes, reads_maps=True),
}


def _layer_nodes(layer: Any) -> LayerNodes:
    """The nodes of ``layer``'s kind (`layer_entry`)."""
    return layer_entry(layer, LAYER_NODES, "ONNX")


def layer_entry(layer: Any, table: dict[str, T], target: str) -> T:
    """``table``'s entry for ``layer``'s kind, keyed by the name of one of nablanet's layers.

    Raises
    ------
    TypeError
        For a kind of layer the export to ``target`` does not know (a layer written
        outside nablanet, even under one of their names).
    """
    entry = table.get(type(layer).__name__)
    if entry is None or type(layer).__module__.split(".")[:2] != ["nablanet", "layers"]:
        raise TypeError(
            f"cannot export a {type(layer).__name__} layer to {target}; the layers that "
            f"export are nablanet's {', '.join(table)}"
        )
    return entry


def activation_node(g: Graph, act: Activation, z: str, real: np.dtype[Any], hint: str) -> str:
    """The activation node ``a = f(z)``, written with the activation's ONNX operator.

    Leaky relu is ``LeakyRelu(alpha=slope)`` in float32. An ONNX attribute is a float32,
    so in a float64 graph the slope would be rounded (by 2e-8 relative): there it is
    written as ``Max(z, slope · z)`` with a float64 constant, as nablanet computes it.
    """
    entry = lookup(ONNX_OPS, act.name, "activation")
    if entry is None:
        return z
    op, attrs = entry
    if "alpha" in attrs and real == np.float64:  # the slope kept in float64
        slope = g.constant("leaky_slope", np.array(attrs["alpha"], dtype=real))
        return g.node("Max", [z, g.node("Mul", [z, slope], "slope_z")], hint)
    return g.node(op, [z], hint, **attrs)


#: Where the int64 labels end; a class at or above (uint64 only) is exported as uint64.
_INT64 = np.iinfo(np.int64)


def _classes(model: Any) -> tuple[int, Array]:
    """The classes as an ONNX label tensor: (element type, values), exactly.

    Integer classes become int64 labels (as skl2onnx gives scikit-learn's), except
    uint64 classes of 2**63 or more, which int64 would wrap negative: those become uint64
    labels. Floats with whole values become int64 where int64 holds them exactly.
    """
    classes = np.asarray(model.classes_)
    if classes.dtype.kind in "OUS":
        return TensorProto.STRING, np.array([str(c) for c in classes], dtype=object)
    if classes.dtype.kind == "u" and classes.size and int(classes.max()) > _INT64.max:
        return TensorProto.UINT64, classes.astype(np.uint64)
    if classes.dtype.kind in "biu":
        return TensorProto.INT64, classes.astype(np.int64)
    if classes.dtype.kind == "f" and np.array_equal(classes, np.round(classes)):
        # float(2**63) is the first float outside int64; every float below it is exact
        if np.all((classes >= -(2.0**63)) & (classes < 2.0**63)):
            return TensorProto.INT64, classes.astype(np.int64)
        raise ValueError(
            f"ONNX labels must be integers or strings; this classifier's classes "
            f"{classes.tolist()!r} are whole floats outside int64's range "
            f"[-2**63, 2**63): fit it with integer or string labels"
        )
    raise ValueError(
        f"ONNX labels must be integers or strings; this classifier's classes are "
        f"{classes.tolist()!r}: fit it with integer or string labels"
    )


def _classifier_nodes(g: Graph, est: Any, A: str, real: np.dtype[Any]) -> tuple[str, str]:
    """``label`` and ``probabilities`` from the outputs A, as the estimator computes them."""
    act: Activation = est.net_.activations[-1]
    n_out = est.net_.layer_sizes[-1]
    P = _probability_nodes(g, act, A, real)

    def above() -> str:
        # 0.5 for sigmoid, 0 for tanh (between its label codes); the outputs A themselves
        # are compared, as `predict` does.
        threshold = g.constant("threshold", np.array(act.decision_threshold, dtype=real))
        return g.node("Greater", [A, threshold], "above")

    if _target_kind(est) == _MULTILABEL:
        return g.node("Cast", [above()], "indicator", to=TensorProto.INT64), P
    if n_out == 1:  # one unit: p for the second class, 1 - p for the first
        one = g.constant("one", np.array(1.0, dtype=real))
        proba = g.node("Concat", [g.node("Sub", [one, P], "p_first"), P], "proba", axis=1)
        above_int = g.node("Cast", [above()], "above_int", to=TensorProto.INT64)
        index = g.node("Reshape", [above_int, g.constant("rows", np.array([-1], np.int64))],
                       "index")
    else:
        proba = P if not act.elementwise else _normalised(g, P, n_out, real)
        index = g.node("ArgMax", [A], "index", axis=1, keepdims=0)
    if len(est.classes_) == 1:  # the one class there is, whatever the output
        only = g.constant("only_class", np.array(0, dtype=np.int64))
        index = g.node("Mul", [index, only], "index_only")
    _, classes = _classes(est)
    label = g.node("Gather", [g.constant("classes", classes), index], "label", axis=0)
    return label, proba


def _probability_nodes(g: Graph, act: Activation, A: str, real: np.dtype[Any]) -> str:
    """Map outputs from their range [lo, hi] into [0, 1]: (A − lo) / (hi − lo), clipped.

    Softmax and sigmoid outputs are probabilities already (no node); tanh's become
    (A + 1) / 2.
    """
    lo, hi = act.output_range
    if not act.elementwise or (lo, hi) == (0.0, 1.0):
        return A
    shifted = g.node("Sub", [A, g.constant("range_low", np.array(lo, dtype=real))], "shifted")
    scaled = g.node("Div", [shifted, g.constant("range_width", np.array(hi - lo, dtype=real))],
                    "scaled")
    zero, one = (g.constant(n, np.array(v, dtype=real)) for n, v in (("zero", 0.0), ("one", 1.0)))
    return g.node("Clip", [scaled, zero, one], "p")


def _normalised(g: Graph, P: str, k: int, real: np.dtype[Any]) -> str:
    """One unit per class: P / Σ_k P per row, or 1/k where the sum is 0 (as predict_proba)."""
    axes = g.constant("class_axis", np.array([1], dtype=np.int64))
    total = g.node("ReduceSum", [P, axes], "total", keepdims=1)
    zero = g.constant("zero_total", np.array(0.0, dtype=real))
    uniform = g.constant("uniform", np.array(1.0 / k, dtype=real))
    ratio = g.node("Div", [P, total], "ratio")
    return g.node("Where", [g.node("Greater", [total, zero], "positive"), ratio, uniform],
                  "normalised")


def target_scaling(est: Any) -> tuple[Array | None, Array | None]:
    """A regressor's (scale, offset) of its targets, or (None, None) where they are 1 and 0."""
    scaling = getattr(est, "target_scaling_", None)  # a regressor's; None for the others
    if scaling is None:
        return None, None
    offset, scale = (np.asarray(v, dtype=np.float64) for v in scaling)
    if np.all(scale == 1.0) and np.all(offset == 0.0):
        return None, None
    return scale, offset


def _target_kind(est: Any) -> str:
    # MLPClassifier records its problem; a softmax-only classifier is multi-class.
    return str(getattr(est, "target_kind_", "multiclass"))


def _regressor_nodes(g: Graph, est: Any, A: str, real: np.dtype[Any]) -> str:
    """Targets from outputs: A · scale + offset (the scaling of bounded outputs undone)."""
    scale, offset = target_scaling(est)
    if scale is None:
        return A
    assert offset is not None
    scaled = g.node("Mul", [A, g.constant("y_scale", scale.astype(real))], "y_scaled")
    return g.node("Add", [scaled, g.constant("y_offset", offset.astype(real))], "y")
