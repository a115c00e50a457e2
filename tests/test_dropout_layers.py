"""Dropout in the training loop (nablanet/training/run.py) drops units of dense hidden
layers only. A mask on a pooling layer's output multiplied its a but never its δ (a
pooling has no f'(z) to carry it), so training a conv-pool network with dropout followed
wrong gradients; a convolution's units share their filters (Nielsen, chapter 6)."""

import numpy as np
import pytest

from nablanet import Network, train
from nablanet.layers import Conv2D, Dense, MeanPool2D


def trained(hidden, dropout):
    net = Network([Conv2D(2, 3, activation="tanh"), MeanPool2D(2), *hidden,
                   Dense(3, "softmax")], input_shape=(1, 8, 8), seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(12, 64)), np.eye(3)[rng.integers(0, 3, 12)]
    train(net, X, Y, optimizer="sgd", learning_rate=0.5, epochs=2, batch_size=4,
          dropout=dropout, seed=0)
    return net.theta


def test_convolution_and_pooling_layers_are_never_dropped():
    # no dense hidden layer: dropout has nothing to drop, training is as without it
    np.testing.assert_array_equal(trained([], dropout=0.5), trained([], dropout=0.0))


def test_dense_hidden_layers_are_still_dropped():
    with_dropout = trained([Dense(5, "tanh")], dropout=0.5)
    assert not np.allclose(with_dropout, trained([Dense(5, "tanh")], dropout=0.0))


def test_a_mask_on_a_pooling_layer_is_refused():
    # why: the network carries a mask into δ through f'(z), which a pooling layer has not:
    # such a mask would give a wrong gradient (relative difference above 1e-3), so it is refused
    net = Network([Conv2D(2, 3, activation="tanh"), MeanPool2D(2), Dense(3, "softmax")],
                  input_shape=(1, 8, 8), seed=0)
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(4, 64)), np.eye(3)[rng.integers(0, 3, 4)]
    pool_mask = (rng.random((4, 18)) < 0.5) * 2.0
    with pytest.raises(ValueError, match=r"a MeanPool2D layer takes no dropout mask"):
        net.loss_and_grad(X, Y, dropout_masks=[None, pool_mask])
