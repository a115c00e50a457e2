"""Conv2D and the poolings as objects: shapes, specs, refusals, dtypes, buffers."""

import json

import numpy as np
import pytest
import scipy.sparse
from chain import Chain

from nablanet.layers.base import Buffers
from nablanet.layers.conv import Conv2D
from nablanet.layers.pool import MaxPool2D, MeanPool2D


@pytest.mark.parametrize(
    "layer, input_shape, output_shape",
    [
        (Conv2D(20, 9), (1, 28, 28), (20, 20, 20)),
        (Conv2D(4, 3, padding="same"), (3, 7, 5), (4, 7, 5)),
        (Conv2D(4, 3, stride=2, padding="same"), (3, 7, 5), (4, 4, 3)),
        (Conv2D(4, (3, 1), stride=(2, 1)), (3, 7, 5), (4, 3, 5)),
        (MeanPool2D(2), (20, 20, 20), (20, 10, 10)),
        (MaxPool2D(2), (3, 7, 9), (3, 3, 4)),  # floor, as PyTorch
        (MaxPool2D((1, 3)), (3, 7, 9), (3, 7, 3)),
    ],
)
def test_output_shapes(layer, input_shape, output_shape):
    assert layer.build(input_shape) == output_shape
    assert layer.n_out == int(np.prod(output_shape))


def test_parameter_counts_and_views_share_theta():
    layer = Conv2D(5, (3, 2))
    layer.build((2, 6, 6))
    assert (layer.n_weights, layer.n_biases) == (5 * 2 * 3 * 2, 5)
    theta = np.arange(65.0)
    W = layer.weight_view(theta[:60])
    assert W.shape == (5, 2, 3, 2) and np.shares_memory(W, theta)
    # C order, as PyTorch's weight.flatten(): filter 1, channel 0, row 2, column 1
    assert W[1, 0, 2, 1] == 12 + 5
    assert layer.bias_view(theta[60:]).shape == (5,)
    pool = MeanPool2D(2)
    pool.build((2, 4, 4))
    assert (pool.n_weights, pool.n_biases) == (0, 0)


@pytest.mark.parametrize("layer", [Conv2D(3, (3, 2), stride=2, padding="same", activation="tanh",
                                          init="glorot"), MeanPool2D(2), MaxPool2D((2, 3))])
def test_spec_is_plain_json_and_rebuilds_the_layer(layer):
    spec = json.loads(json.dumps(layer.to_spec()))
    assert spec["kind"] == type(layer).__name__
    kwargs = {k: v for k, v in spec.items() if k != "kind"}
    assert type(layer)(**kwargs).to_spec() == spec


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Conv2D(0, 3), "filters must be an integer >= 1, got 0"),
        (lambda: Conv2D(2, (3, 3, 3)), "kernel_size must be an integer or a pair"),
        (lambda: Conv2D(2, 3.0), "kernel_size must be an integer >= 1, got 3.0"),
        (lambda: Conv2D(2, 3, stride=0), "stride must be an integer >= 1, got 0"),
        (lambda: Conv2D(2, 3, padding="full"), "unknown padding 'full'; valid: same, valid"),
        (lambda: Conv2D(2, 3, activation="softmax"), "Conv2D needs an elementwise activation"),
        (lambda: Conv2D(2, 3, activation="sigmod"), "unknown activation 'sigmod'"),
        (lambda: Conv2D(2, 3, init="xavier"), "unknown init 'xavier'"),
        (lambda: MeanPool2D(0), "size must be an integer >= 1, got 0"),
        (lambda: MaxPool2D(True), "size must be an integer >= 1, got True"),
    ],
)
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


@pytest.mark.parametrize(
    "layer, shape, message",
    [
        (Conv2D(2, 9), (1, 8, 8), r"Conv2D's kernel 9x9 is larger than its input 8x8"),
        (Conv2D(2, (3, 9)), (1, 8, 8), r"kernel 3x9 is larger than its input 8x8"),
        (MeanPool2D(3), (2, 2, 8), r"MeanPool2D's window 3x3 is larger than its input 2x8"),
        (MaxPool2D(2), (4, 4), r"MaxPool2D needs inputs of shape \(channels, height, width\)"),
        (Conv2D(2, 3), (16,), r"Conv2D needs inputs of shape \(channels, height, width\)"),
    ],
)
def test_shapes_that_do_not_fit_are_refused(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer.build(shape)


def test_a_kernel_larger_than_the_input_is_fine_with_same_padding():
    assert Conv2D(2, 9, padding="same").build((1, 4, 4)) == (2, 4, 4)


def buffers(layer, m, dtype=np.float64):
    n = layer.n_out
    return Buffers(np.empty((m, n), dtype), np.empty((m, n), dtype), np.empty((m, n), dtype),
                   np.empty((m, n), dtype), layer.scratch(m, np.dtype(dtype)))


@pytest.mark.parametrize("layer", [Conv2D(2, 3), MeanPool2D(2), MaxPool2D(2)])
def test_sparse_and_misshapen_inputs_are_refused(layer):
    layer.build((1, 4, 4))
    W = np.zeros((2, 1, 3, 3)) if layer.n_weights else np.zeros(0)
    b = np.zeros(layer.n_biases)
    with pytest.raises(TypeError, match="needs a dense input, got a scipy.sparse matrix"):
        sparse = scipy.sparse.csr_matrix(np.ones((2, 16)))
        layer.forward(sparse, W, b, buffers(layer, 2), True, True)
    with pytest.raises(ValueError, match=r"expects rows of 16 values \(feature maps of shape "
                       r"\(1, 4, 4\)\), got an input of shape \(2, 15\)"):
        layer.forward(np.ones((2, 15)), W, b, buffers(layer, 2), True, True)


def test_four_dimensional_input_reads_as_its_flattened_rows():
    rng = np.random.default_rng(0)
    layer = Conv2D(3, 2)
    layer.build((2, 5, 5))
    W, b = rng.normal(size=(3, 2, 2, 2)), rng.normal(size=3)
    x = rng.normal(size=(4, 2, 5, 5))
    flat, maps = buffers(layer, 4), buffers(layer, 4)
    layer.forward(x.reshape(4, -1), W, b, flat, True, True)
    layer.forward(x, W, b, maps, True, True)
    np.testing.assert_array_equal(flat.A, maps.A)


def test_activation_and_its_derivative_are_written():
    rng = np.random.default_rng(1)
    layer = Conv2D(2, 3, activation="sigmoid")
    layer.build((1, 5, 5))
    W, b = rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2)
    buf = buffers(layer, 3)
    layer.forward(rng.normal(size=(3, 25)), W, b, buf, True, True)
    np.testing.assert_allclose(buf.A, 1 / (1 + np.exp(-buf.Z)), rtol=1e-15)
    np.testing.assert_allclose(buf.D, buf.A * (1 - buf.A), rtol=1e-15)


def test_float32_agrees_with_float64():
    rng = np.random.default_rng(2)
    chain = Chain([Conv2D(3, 3, padding="same"), MeanPool2D(2), Conv2D(2, 2, stride=2),
                   MaxPool2D(1)], (2, 8, 8), 3)
    theta = chain.init_theta(rng)
    X = rng.normal(size=(5, 128))
    Y = np.eye(3)[rng.integers(0, 3, 5)]
    J64, g64 = chain.loss_and_grad(theta, X, Y)
    J32, g32 = chain.loss_and_grad(theta.astype(np.float32), X.astype(np.float32),
                                   Y.astype(np.float32))
    assert g32.dtype == np.float32
    assert abs(J32 - J64) < 1e-5 * abs(J64)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5 * np.abs(g64).max())


def test_buffers_are_reused_and_a_new_batch_size_gets_its_own_scratch():
    rng = np.random.default_rng(3)
    layer = Conv2D(2, 3)
    layer.build((1, 6, 6))
    W, b = rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2)
    buf = buffers(layer, 4)
    cols = buf.scratch.cols
    layer.forward(rng.normal(size=(4, 36)), W, b, buf, True, True)
    assert buf.scratch.cols is cols  # the network's scratch, reused
    small = Buffers(np.empty((2, 32)), np.empty((2, 32)), None, np.empty((2, 32)), None)
    layer.forward(rng.normal(size=(2, 36)), W, b, small, False, True)
    assert small.scratch.cols.shape == (2, 9 + 1, 16)


def test_initialisation_follows_the_layer_then_the_network_then_the_activation():
    rng = np.random.default_rng(4)
    W = np.zeros((20, 1, 9, 9))
    relu = Conv2D(20, 9, activation="relu")
    relu.build((1, 28, 28))
    relu.initialize(W, "auto", rng)  # he: normal, std sqrt(2/81)
    assert abs(W.std() - np.sqrt(2 / 81)) < 0.02
    sigmoid = Conv2D(20, 9)
    sigmoid.build((1, 28, 28))
    sigmoid.initialize(W, "auto", rng)  # ufldl: uniform on ±sqrt(6/(81 + 20 + 1))
    r = np.sqrt(6 / 102)
    assert np.abs(W).max() <= r and np.abs(W).max() > 0.95 * r
    sigmoid.initialize(W, "normal", rng)  # the network's choice
    assert abs(W.std() - 0.01) < 0.002
    own = Conv2D(20, 9, init="he")
    own.build((1, 28, 28))
    own.initialize(W, "normal", rng)  # the layer's own choice wins
    assert abs(W.std() - np.sqrt(2 / 81)) < 0.02


def test_warm_cache_compiles_every_loop_for_both_dtypes():
    from nablanet import kernels

    kernels.warm_cache()  # the install step's call
    assert set(kernels.LOOPS) == {"im2col", "col2im", "unit_stride_im2col",
                                  "unit_stride_col2im", "mean_pool", "mean_unpool",
                                  "max_pool", "max_unpool"}
    for name, loop in kernels.LOOPS.items():
        dtypes = {str(sig[0].dtype) for sig in loop.compiled.signatures}
        assert {"float32", "float64"} <= dtypes, name
