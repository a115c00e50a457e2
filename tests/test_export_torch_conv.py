"""to_torch for convolutional networks: PyTorch's modules with the same weights, same outputs."""

from __future__ import annotations

import numpy as np
import pytest
from export_helpers import CONV_NETWORKS, digit_maps, fit, random_network
from optional import import_torch

from nablanet import Network
from nablanet.export.torch import to_torch
from nablanet.layers import Conv2D, Dense, MaxPool2D, MeanPool2D

torch = import_torch()
nn = torch.nn


def outputs(seq, X):
    with torch.no_grad():
        return seq(torch.from_numpy(X)).numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", CONV_NETWORKS)
def test_torch_equals_forward(name, dtype):
    layers, shape = CONV_NETWORKS[name]
    net = random_network(layers, shape).astype(dtype)
    X = digit_maps(shape[0]).astype(dtype)
    expected = net.forward(X)
    seq = to_torch(net)
    assert next(seq.parameters()).dtype == (torch.float64 if dtype == np.float64 else
                                            torch.float32)
    # float64: the same products summed in another order; float32: ~1e-7 per operation
    tol = {"rtol": 0, "atol": 1e-12} if dtype == np.float64 else {"rtol": 0, "atol": 1e-5}
    np.testing.assert_allclose(outputs(seq, X), expected, **tol)


def test_modules_hold_the_weights_as_they_are():
    layers, shape = CONV_NETWORKS["Nielsen: two conv-pools, dense, softmax"]
    net = random_network(layers, shape)
    seq = to_torch(net)
    kinds = [type(m).__name__ for m in seq]
    assert kinds == ["Unflatten", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d",
                     "Flatten", "Linear", "ReLU", "Linear", "Softmax"]
    conv, linear = seq[1], seq[8]
    assert conv.padding == (1, 1) and conv.stride == (1, 1)
    np.testing.assert_array_equal(conv.weight.detach().numpy(), net.W[0])
    np.testing.assert_array_equal(conv.bias.detach().numpy(), net.b[0])
    # the Dense after the maps reads them flattened as PyTorch does: no permutation
    np.testing.assert_array_equal(linear.weight.detach().numpy(), net.W[4])
    # the parameters are copies: changing the network leaves the Sequential alone
    before = conv.weight.detach().numpy().copy()
    net.theta = net.theta + 1.0
    np.testing.assert_array_equal(conv.weight.detach().numpy(), before)


def test_uneven_same_padding_is_a_zero_pad_before_the_convolution():
    net = random_network([Conv2D(2, (2, 4), padding="same", activation="identity")], (1, 8, 8))
    seq = to_torch(net)
    pad, conv = seq[1], seq[2]
    # 1 zero in all along the rows, 3 along the columns: the odd one below and right
    assert isinstance(pad, nn.ZeroPad2d) and pad.padding == (1, 2, 0, 1)  # left right top bottom
    assert conv.padding == (0, 0)
    X = digit_maps(1)
    np.testing.assert_allclose(outputs(seq, X), net.forward(X), rtol=0, atol=1e-12)


def test_pooling_drops_what_does_not_fill_a_window_as_the_layers_do():
    net = Network([MeanPool2D((3, 5)), MaxPool2D((2, 1))], input_shape=(2, 8, 8), seed=0)
    seq = to_torch(net)
    X = digit_maps(2)
    out = outputs(seq, X)
    assert out.shape == (40, 2 * 1 * 1)
    np.testing.assert_allclose(out, net.forward(X), rtol=0, atol=1e-15)


def test_without_the_unflatten_it_reads_image_tensors():
    layers, shape = CONV_NETWORKS["UFLDL: conv, mean pool, softmax"]
    net = random_network(layers, shape)
    images = digit_maps(1).reshape(-1, *shape)
    np.testing.assert_allclose(outputs(to_torch(net)[1:], images), net.forward(images),
                               rtol=0, atol=1e-12)


def test_a_layer_of_a_kind_nablanet_does_not_define_is_refused():
    class Doubling(Dense):
        """A layer written outside nablanet."""

    net = Network([Conv2D(2, 3), Doubling(3)], input_shape=(1, 8, 8), seed=0)
    with pytest.raises(TypeError, match="cannot export a Doubling layer to PyTorch"):
        to_torch(net)


def test_convnet_classifier_to_torch_gives_predict_proba():
    from sklearn.datasets import load_digits

    from nablanet import ConvNetClassifier

    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    est = fit(ConvNetClassifier(["conv4x3", "maxpool2", "16"], solver="lbfgs", max_iter=20,
                                random_state=0), X, y[:300])
    seq = est.to_torch()
    assert type(seq[0]).__name__ == "Unflatten" and type(seq[-1]).__name__ == "Softmax"
    np.testing.assert_allclose(outputs(seq, X), est.predict_proba(X), rtol=0, atol=1e-12)
