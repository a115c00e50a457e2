"""What `Network` checks of its inputs beyond rows of numbers (found in review).

Images of the wrong shape name the network's input_shape; nested lists of images read as
their array; dropout masks are one per hidden layer, of the layer's width, and only on
layers that take dropout; a sparse X traces on an image network as it trains; evaluating a
convolutional network on many rows keeps its work memory bounded.
"""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse

from nablanet import Network
from nablanet.gradcheck import check_gradient
from nablanet.layers import Conv2D, Dense, MaxPool2D, MeanPool2D


def _conv_pool_net(pool=MaxPool2D):
    return Network([Conv2D(2, 3, activation="tanh"), pool(2), Dense(3, "softmax")],
                   input_shape=(1, 6, 6), seed=0)


def _data(m=4):
    rng = np.random.default_rng(0)
    return rng.normal(size=(m, 1, 6, 6)), np.eye(3)[rng.integers(0, 3, m)]


@pytest.mark.parametrize("shape", [(2, 1, 7, 6), (2, 2, 6, 6), (2, 6, 6, 1)])
def test_misshapen_images_name_the_expected_shape(shape):
    net = Network([Conv2D(2, 3), Dense(3, "softmax")], input_shape=(1, 6, 6), seed=0)
    with pytest.raises(ValueError, match=r"does not fit the network's input_shape \(1, 6, 6\)"):
        net.forward(np.zeros(shape))


def test_images_as_nested_lists_read_as_the_array():
    net = Network([Conv2D(2, 3), Dense(3, "softmax")], input_shape=(1, 6, 6), seed=0)
    X = np.random.default_rng(0).normal(size=(2, 1, 6, 6))
    np.testing.assert_array_equal(net.forward(X.tolist()), net.forward(X))


@pytest.mark.parametrize("masks", [[None], [None, None, None]])
def test_one_dropout_mask_per_hidden_layer(masks):
    net, (X, Y) = _conv_pool_net(), _data()
    with pytest.raises(ValueError, match=r"one entry \(an array or None\) per hidden layer \(2\)"):
        net.loss_and_grad(X, Y, dropout_masks=masks)


@pytest.mark.parametrize("pool", [MaxPool2D, MeanPool2D])
def test_a_dropout_mask_on_a_pooling_layer_is_refused(pool):
    # A pooling layer has no f'(z): its mask would never reach δ, and the gradient would
    # be wrong (relative difference 0.2 in a gradient check before the refusal).
    net, (X, Y) = _conv_pool_net(pool), _data()
    mask = np.ones((4, net.layer_sizes[2]))
    with pytest.raises(ValueError, match=rf"dropout_masks\[1\]: a {pool.__name__} layer takes no"):
        net.loss_and_grad(X, Y, dropout_masks=[None, mask])


def test_a_mask_of_the_wrong_width_is_named():
    net = Network([Conv2D(2, 3, activation="tanh"), Dense(5, "tanh"), Dense(3, "softmax")],
                  input_shape=(1, 6, 6), seed=0)
    X, Y = _data()
    with pytest.raises(ValueError, match=r"dropout_masks\[1\] must have shape \(4, 5\)"):
        net.loss_and_grad(X, Y, dropout_masks=[None, np.ones((4, 6))])


def test_a_dense_mask_after_a_convolution_is_in_the_gradient():
    net = Network([Conv2D(2, 3, activation="tanh"), Dense(5, "tanh"), Dense(3, "softmax")],
                  input_shape=(1, 6, 6), seed=0)
    X, Y = _data()
    mask = (np.random.default_rng(3).random((4, 5)) < 0.6) / 0.6
    report = check_gradient(
        lambda theta: net.loss_and_grad(X, Y, theta, dropout_masks=[None, mask]),
        net.theta.copy(),
    )
    assert report.passed, str(report)


def test_trace_of_sparse_rows_equals_that_of_dense_rows_on_an_image_network():
    net = Network([Dense(4, "tanh"), Dense(3, "softmax")], input_shape=(1, 4, 4), seed=0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 16)) * (rng.random((5, 16)) < 0.3)
    Y = np.eye(3)[rng.integers(0, 3, 5)]
    dense, sparse = net.trace(X, Y), net.trace(scipy.sparse.csr_matrix(X), Y)
    for g_dense, g_sparse in zip(dense.dW, sparse.dW, strict=True):
        np.testing.assert_allclose(g_sparse, g_dense, rtol=1e-12)


def test_forward_work_memory_of_a_convolution_stays_bounded_for_many_rows():
    # 12x12 maps, 5x5 'same' filters: 26 values of patches per output value; a chunk of
    # 4096 rows took 152 MB for 4.7 MB of inputs before chunks were sized by bytes.
    net = Network([Conv2D(2, 5, padding="same", activation="relu"), Dense(3, "softmax")],
                  input_shape=(1, 12, 12), seed=0)
    X = np.random.default_rng(0).normal(size=(4096, 144))
    expected = np.vstack([net.forward(X[i : i + 512]) for i in range(0, 4096, 512)])
    tracemalloc.start()
    try:
        out = net.forward(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 48e6, f"forward of {X.nbytes / 1e6:.1f} MB of inputs took {peak / 1e6:.0f} MB"
    np.testing.assert_array_equal(out, expected)  # rows are independent: chunks change nothing
