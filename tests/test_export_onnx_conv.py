"""ONNX export of convolutional networks: onnxruntime agrees with nablanet's forward pass.

Each network below runs on scikit-learn's digits (8×8 images, one channel) or on two
channels made of them, with random weights large enough that every activation works
away from zero. float32 graphs (Conv, AveragePool, MaxPool) agree to 1e-5; float64
graphs (convolution and mean pooling written out, onnxruntime having no float64 Conv or
AveragePool) to 1e-10.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from export_helpers import CONV_NETWORKS, digit_maps, fit, random_network
from sklearn.datasets import load_digits

from nablanet import Network
from nablanet.export import to_onnx
from nablanet.layers import Conv2D, Dense, Layer, MaxPool2D

F32_TOL = 1e-5
F64_TOL = 1e-10


def run(model: onnx.ModelProto, X: np.ndarray) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


def ops(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model.graph.node]


@pytest.mark.parametrize("name", CONV_NETWORKS)
def test_onnxruntime_equals_forward_in_float32_and_float64(name):
    layers, shape = CONV_NETWORKS[name]
    net = random_network(layers, shape)
    X = digit_maps(shape[0])
    expected = net.forward(X)
    assert expected.std() > 1e-3  # outputs that differ from row to row

    (out32,) = run(to_onnx(net), X.astype(np.float32))
    assert out32.dtype == np.float32 and out32.shape == expected.shape
    np.testing.assert_allclose(out32, expected, rtol=0, atol=F32_TOL)

    (out64,) = run(to_onnx(net, X_sample=X[:1]), X)
    assert out64.dtype == np.float64
    np.testing.assert_allclose(out64, expected, rtol=0, atol=F64_TOL)


def test_float32_graph_uses_the_onnx_operators_of_each_layer():
    layers, shape = CONV_NETWORKS["Nielsen: two conv-pools, dense, softmax"]
    model = to_onnx(random_network(layers, shape))
    assert ops(model) == ["Reshape", "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool",
                          "Flatten", "Gemm", "Relu", "Gemm", "Softmax", "Identity"]
    conv = model.graph.node[1]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in conv.attribute}
    assert attrs == {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]}
    mean = to_onnx(random_network(*CONV_NETWORKS["mean pool 2"]))
    assert "AveragePool" in ops(mean)


def test_same_padding_puts_the_odd_zero_below_and_right_as_the_layer_does():
    net = random_network([Conv2D(1, (2, 4), padding="same", activation="identity")], (1, 8, 8))
    conv = next(n for n in to_onnx(net).graph.node if n.op_type == "Conv")
    pads = next(a for a in conv.attribute if a.name == "pads")
    assert list(pads.ints) == [0, 1, 1, 2]  # top, left, bottom, right


def test_float64_graph_writes_out_what_onnxruntime_has_only_in_float32():
    layers, shape = CONV_NETWORKS["mean pool 2"]
    X = digit_maps(shape[0])
    used = ops(to_onnx(random_network(layers, shape), X_sample=X[:1]))
    assert "Conv" not in used and "AveragePool" not in used
    assert {"Gather", "MatMul", "ReduceSum"} <= set(used)
    assert "MaxPool" in ops(to_onnx(random_network(*CONV_NETWORKS["max pool 2"]), X_sample=X[:1]))


def test_a_trained_network_on_digits_agrees_label_for_label():
    from nablanet import train

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    net = Network([Conv2D(4, 3, activation="relu"), MaxPool2D(2), Dense(10, "softmax")],
                  input_shape=(1, 8, 8), seed=0)
    train(net, X[:600], np.eye(10)[y[:600]], optimizer="lbfgs", epochs=40, seed=0)
    P = net.forward(X[600:])
    assert np.mean(P.argmax(1) == y[600:]) > 0.85  # learnt
    (P32,) = run(to_onnx(net), X[600:].astype(np.float32))
    np.testing.assert_allclose(P32, P, rtol=0, atol=F32_TOL)
    assert np.mean(P32.argmax(1) == P.argmax(1)) == 1.0


def test_input_is_rows_and_a_sample_of_images_is_refused_with_the_reshape_to_use():
    net = random_network(*CONV_NETWORKS["max pool 2"])
    model = to_onnx(net)
    (x,) = model.graph.input
    dims = [d.dim_value or d.dim_param or None for d in x.type.tensor_type.shape.dim]
    assert dims[1] == 64
    images = digit_maps(1).reshape(-1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 64\) \(images of shape "
                                         r"\(1, 8, 8\) as rows .*X.reshape\(len\(X\), -1\)"):
        to_onnx(net, X_sample=images)
    # the rows the message asks for give the graph nablanet's outputs for the images
    (out,) = run(to_onnx(net, X_sample=images.reshape(len(images), -1)),
                 images.reshape(len(images), -1))
    np.testing.assert_allclose(out, net.forward(images), rtol=0, atol=F64_TOL)


def test_a_layer_of_a_kind_nablanet_does_not_define_is_refused():
    class Doubling(Dense):
        """A layer written outside nablanet (the export cannot know its operation)."""

    net = Network([Conv2D(2, 3), Doubling(3)], input_shape=(1, 8, 8), seed=0)
    assert isinstance(net.layers[1], Layer)
    with pytest.raises(TypeError, match="cannot export a Doubling layer to ONNX; the layers "
                                        "that export are nablanet's Dense, Conv2D"):
        to_onnx(net)


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_every_operator_means_the_same_from_opset_13(opset):
    # Pad, Slice and ReduceSum read their axes and pads as inputs from opset 13 on, and
    # AveragePool and MaxPool keep ceil_mode 0 by default: one graph for every opset.
    layers, shape = CONV_NETWORKS["mean pool 4x3 (rows and columns left over)"]
    net = random_network([Conv2D(2, (2, 3), padding="same", activation="tanh"), *layers],
                         shape)
    X = digit_maps(shape[0])
    for X_sample, tol in ((None, F32_TOL), (X[:1], F64_TOL)):
        model = to_onnx(net, X_sample=X_sample, target_opset=opset)
        assert model.opset_import[0].version == opset
        real = np.float32 if X_sample is None else np.float64
        (out,) = run(model, X.astype(real))
        np.testing.assert_allclose(out, net.forward(X), rtol=0, atol=tol)


# --- the estimator: ConvNetClassifier through the estimators' own export path -----------


def fitted_convnet(X, y, **kw):
    from nablanet import ConvNetClassifier

    return fit(ConvNetClassifier(["conv4x3:same", "maxpool2", "meanpool2x1", "16"],
                                 solver="lbfgs", max_iter=40, random_state=0, **kw), X, y)


def test_convnet_classifier_labels_and_probabilities_in_onnxruntime():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    est = fitted_convnet(X[:500], y[:500])
    X_test = X[500:]
    assert est.score(X_test, y[500:]) > 0.8  # a trained model, not noise
    label, proba = run(to_onnx(est), X_test.astype(np.float32))
    np.testing.assert_array_equal(label, est.predict(X_test))
    np.testing.assert_allclose(proba, est.predict_proba(X_test), rtol=0, atol=F32_TOL)
    label, proba = run(to_onnx(est, X_sample=X_test[:1]), X_test)
    assert proba.dtype == np.float64
    np.testing.assert_array_equal(label, est.predict(X_test))
    np.testing.assert_allclose(proba, est.predict_proba(X_test), rtol=0, atol=F64_TOL)


def test_binary_convnet_classifier_with_string_classes():
    X, y = load_digits(n_class=2, return_X_y=True)
    names = np.array(["zero", "one"])[y]
    est = fitted_convnet(X / 16.0, names)
    assert est.net_.layer_sizes[-1] == 1  # one sigmoid unit: p(second class)
    label, proba = run(to_onnx(est), (X / 16.0).astype(np.float32))
    np.testing.assert_array_equal(label, est.predict(X / 16.0))
    np.testing.assert_allclose(proba, est.predict_proba(X / 16.0), rtol=0, atol=F32_TOL)


def test_a_pipeline_holding_a_convnet_classifier_exports_whole():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    from nablanet import ConvNetClassifier

    X, y = load_digits(return_X_y=True)
    pipe = fit(make_pipeline(MinMaxScaler(), ConvNetClassifier(
        ["conv4x3", "maxpool2", "16"], input_shape=(1, 8, 8), solver="lbfgs", max_iter=30,
        random_state=0)), X[:400], y[:400])
    label, proba = run(to_onnx(pipe, X_sample=X[:5]), X[400:].astype(np.float32))
    np.testing.assert_array_equal(label, pipe.predict(X[400:]))
    np.testing.assert_allclose(proba, pipe.predict_proba(X[400:]), rtol=0, atol=F32_TOL)


def test_nablanet_export_writes_a_convnet_model_file_as_onnx(tmp_path):
    from nablanet.cli.main import main

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    est = fitted_convnet(X[:300], y[:300])
    est.save(tmp_path / "conv.npz")
    assert main(["export", str(tmp_path / "conv.npz"), "--onnx", str(tmp_path / "conv.onnx")]) == 0
    label, proba = run(onnx.load(tmp_path / "conv.onnx"), X[300:].astype(np.float32))
    np.testing.assert_array_equal(label, est.predict(X[300:]))
    np.testing.assert_allclose(proba, est.predict_proba(X[300:]), rtol=0, atol=F32_TOL)
