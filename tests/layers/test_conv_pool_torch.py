"""Conv2D, MeanPool2D and MaxPool2D against PyTorch's autograd: outputs and every gradient."""

import math

import numpy as np
import pytest
from optional import import_torch

from nablanet.layers.base import Buffers
from nablanet.layers.conv import Conv2D
from nablanet.layers.pool import MaxPool2D, MeanPool2D

torch = import_torch()
F = torch.nn.functional


def run_layer(layer, input_shape, x, W=None, b=None, G=None):
    """Our forward (z) and backward (∂J/∂W, ∂J/∂b, ∂J/∂a_in) for J = Σ z ⊙ G."""
    layer.build(input_shape)
    m = x.shape[0]
    n_out = math.prod(layer.output_shape)
    buf = Buffers(np.empty((m, n_out)), np.empty((m, n_out)), None, G.reshape(m, n_out).copy(),
                  layer.scratch(m, np.dtype(np.float64)))
    theta = np.zeros(layer.n_weights + layer.n_biases)
    Wv = layer.weight_view(theta[: layer.n_weights])
    bv = layer.bias_view(theta[layer.n_weights :])
    if W is not None:
        Wv[...] = W
        bv[...] = b
    layer.forward(x.reshape(m, -1), Wv, bv, buf, False, True)
    z = buf.Z.reshape(m, *layer.output_shape).copy()
    grad = np.full_like(theta, np.nan)
    dW = layer.weight_view(grad[: layer.n_weights])
    db = layer.bias_view(grad[layer.n_weights :])
    g_in = np.full((m, math.prod(input_shape)), np.nan)
    layer.backward(x.reshape(m, -1), Wv, buf, dW, db, g_in)
    return z, dW, db, g_in.reshape(x.shape)


def torch_grads(fn, x, *params, G):
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, *params)]
    z = fn(*tensors)
    (z * torch.tensor(G)).sum().backward()
    return z.detach().numpy(), [t.grad.numpy() for t in tensors]


def same_pad(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


CONVS = [
    # (input (C, H, W), filters, kernel, stride, padding)
    ((1, 7, 7), 2, (3, 3), (1, 1), "valid"),
    ((3, 8, 6), 4, (3, 2), (1, 1), "valid"),
    ((2, 9, 9), 3, (3, 3), (2, 2), "valid"),
    ((2, 6, 7), 3, (3, 3), (1, 1), "same"),
    ((2, 6, 6), 2, (4, 4), (1, 1), "same"),
    ((3, 7, 8), 2, (3, 2), (2, 3), "same"),
    ((1, 28, 28), 5, (9, 9), (1, 1), "valid"),
]


@pytest.mark.parametrize("shape, filters, k, s, padding", CONVS)
def test_conv_matches_torch(shape, filters, k, s, padding):
    rng = np.random.default_rng(0)
    m = 3
    x = rng.normal(size=(m, *shape))
    W = rng.normal(size=(filters, shape[0], *k))
    b = rng.normal(size=filters)
    layer = Conv2D(filters, k, stride=s, padding=padding, activation="identity")
    Ho, Wo = layer.build(shape)[1:]
    G = rng.normal(size=(m, filters, Ho, Wo))
    z, dW, db, g_in = run_layer(layer, shape, x, W, b, G)

    def conv(x, W, b):
        if padding == "same":
            (t, bo), (le, r) = same_pad(shape[1], k[0], s[0]), same_pad(shape[2], k[1], s[1])
            x = F.pad(x, (le, r, t, bo))
        return F.conv2d(x, W, b, stride=s)

    z_t, (g_in_t, dW_t, db_t) = torch_grads(conv, x, W, b, G=G)
    np.testing.assert_allclose(z, z_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dW, dW_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, db_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g_in, g_in_t, rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel lengths")
def test_same_padding_at_stride_1_is_torchs_own():
    # PyTorch's padding="same" (stride 1 only) pads the odd zero after, as ours does.
    rng = np.random.default_rng(1)
    x, W, b = rng.normal(size=(2, 2, 5, 6)), rng.normal(size=(3, 2, 4, 3)), rng.normal(size=3)
    layer = Conv2D(3, (4, 3), padding="same", activation="identity")
    z, *_ = run_layer(layer, (2, 5, 6), x, W, b, np.zeros((2, 3, 5, 6)))
    z_t = F.conv2d(torch.tensor(x), torch.tensor(W), torch.tensor(b), padding="same")
    np.testing.assert_allclose(z, z_t.numpy(), rtol=1e-12, atol=1e-12)


POOLS = [((2, 6, 6), (2, 2)), ((3, 7, 9), (2, 2)), ((1, 10, 10), (5, 5)), ((2, 6, 7), (3, 2))]


@pytest.mark.parametrize("shape, size", POOLS)
@pytest.mark.parametrize("kind", ["mean", "max"])
def test_pool_matches_torch(kind, shape, size):
    rng = np.random.default_rng(2)
    m = 3
    x = rng.normal(size=(m, *shape))
    layer = MeanPool2D(size) if kind == "mean" else MaxPool2D(size)
    out = layer.build(shape)
    G = rng.normal(size=(m, *out))
    z, _, _, g_in = run_layer(layer, shape, x, G=G)
    pool = F.avg_pool2d if kind == "mean" else F.max_pool2d
    z_t, (g_in_t,) = torch_grads(lambda t: pool(t, size), x, G=G)
    np.testing.assert_allclose(z, z_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g_in, g_in_t, rtol=1e-12, atol=1e-12)


def test_max_pool_ties_go_to_the_first_maximum_as_in_torch():
    # Integer images: many blocks hold their maximum twice or more.
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(4, 2, 6, 6)).astype(np.float64)
    G = rng.normal(size=(4, 2, 3, 3))
    layer = MaxPool2D(2)
    z, _, _, g_in = run_layer(layer, (2, 6, 6), x, G=G)
    z_t, (g_in_t,) = torch_grads(lambda t: F.max_pool2d(t, 2), x, G=G)
    np.testing.assert_array_equal(z, z_t)
    np.testing.assert_array_equal(g_in, g_in_t)
    # and the rule itself: a block of equal values sends everything to its top-left entry
    block = np.zeros((1, 1, 2, 2))
    _, _, _, g = run_layer(MaxPool2D(2), (1, 2, 2), block, G=np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(g.ravel(), [1.0, 0.0, 0.0, 0.0])


def test_a_whole_network_matches_torch_with_dense_layers_reading_torchs_flatten_order():
    # Conv → max pool → conv (stride 2, same) → mean pool → Dense → softmax: the same
    # weights in torch.nn give the same outputs, cost and every gradient, so a Dense after
    # the maps reads them flattened as torch.flatten does (channel, row, column).
    from nablanet import Network
    from nablanet.layers import Dense

    net = Network([Conv2D(3, 3, padding="same", activation="tanh"), MaxPool2D(2),
                   Conv2D(4, 3, stride=2, padding="same", activation="sigmoid"), MeanPool2D(2),
                   Dense(5, "relu"), Dense(3, "softmax")], input_shape=(2, 8, 8), seed=0)
    rng = np.random.default_rng(5)
    theta = net.theta.copy()
    theta[net.n_weights :] = rng.normal(0, 0.2, net.n_params - net.n_weights)
    net.theta = theta
    X = rng.normal(size=(6, 2, 8, 8))
    y = rng.integers(0, 3, 6)
    J, grad = net.loss_and_grad(X, np.eye(3)[y])

    params = [torch.tensor(p.copy(), requires_grad=True) for p in (*net.W, *net.b)]
    W1, _, W2, _, W3, W4, b1, _, b2, _, b3, b4 = params
    h = torch.tanh(F.conv2d(torch.tensor(X), W1, b1, padding=1))
    h = F.max_pool2d(h, 2)  # (3, 4, 4)
    h = torch.sigmoid(F.conv2d(F.pad(h, (0, 1, 0, 1)), W2, b2, stride=2))  # same, odd zero after
    h = F.avg_pool2d(h, 2).flatten(1)
    h = torch.relu(h @ W3.T + b3)
    loss = F.cross_entropy(h @ W4.T + b4, torch.tensor(y))
    loss.backward()
    assert J == pytest.approx(float(loss.detach()), rel=1e-12)
    expected = np.concatenate([p.grad.numpy().ravel() for p in params if p.numel()])
    dW, db = net.views(grad)
    ours = np.concatenate([g.ravel() for g in (*dW, *db)])
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(net.forward(X), torch.softmax(h @ W4.T + b4, 1).detach().numpy(),
                               rtol=1e-12)


def test_max_pool_propagates_nan_as_torch_does():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 1, 4, 4))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = x[1, 0, 3, 3] = np.nan
    G = rng.normal(size=(2, 1, 2, 2))
    z, _, _, g_in = run_layer(MaxPool2D(2), (1, 4, 4), x, G=G)
    z_t, (g_in_t,) = torch_grads(lambda t: F.max_pool2d(t, 2), x, G=G)
    assert np.isnan(z[0, 0, 0, 0]) and np.isnan(z[1, 0, 1, 1])
    np.testing.assert_array_equal(z, z_t)  # NaN where torch has NaN
    np.testing.assert_array_equal(g_in, g_in_t)
