"""`diagnose` reads a convolutional network per feature map (nablanet/diagnostics.py).

A map is dead when its z is <= 0 at every position of every example (a map alive at some
positions is not), and a convolution's inputs are whole maps: its filters are shared by
every position, so a pixel that is 0 in every image does not stop them (it did in the
per-unit reading: "their weights get exactly zero gradient", which was false)."""

import numpy as np

from nablanet import Network
from nablanet.layers import Conv2D, Dense, MaxPool2D


def network_and_data():
    net = Network([Conv2D(2, 3, activation="relu"), MaxPool2D(2), Dense(4, "relu"),
                   Dense(3, "softmax")], input_shape=(1, 8, 8), seed=0)
    W, b = net.W[0], net.b[0]
    W[0], b[0] = 0.1, -100.0  # map 0: z < 0 everywhere: dead
    W[1], b[1] = 1.0, -0.5    # map 1: z > 0 over the left half only: alive
    rng = np.random.default_rng(0)
    images = np.zeros((20, 1, 8, 8))
    images[:, :, :, :4] = rng.uniform(0.5, 1.0, size=(20, 1, 8, 4))  # right half always 0
    Y = np.eye(3)[rng.integers(0, 3, 20)]
    return net, images.reshape(20, 64), Y


def test_a_map_is_dead_only_when_dead_at_every_position():
    net, X, Y = network_and_data()
    conv, pool, dense, out = net.diagnose(X, Y).layers
    assert conv.maps and conv.units == 2
    assert conv.dead_fraction == 0.5  # map 0 only; map 1 is dead on the right half alone
    assert not dense.maps and dense.units == 4


def test_a_convolution_s_inputs_are_maps_and_a_pooling_has_no_weights():
    net, X, Y = network_and_data()
    d = net.diagnose(X, Y)
    conv, pool = d.layers[:2]
    assert conv.zero_inputs == () and conv.starved_inputs == ()  # 32 zero pixels, one map
    assert np.isnan(pool.grad_weight_ratio) and np.isnan(pool.bias_gradient_norm)
    text = str(d)
    assert "layer 1 (hidden, relu): 50% of its feature maps are dead" in text
    assert "unit 4," not in text.split("layer 2")[0]  # no pixel named as a starved input


def test_a_dense_network_s_table_is_unchanged():
    net = Network([4, 3, 2], activation="relu", output_activation="softmax", seed=0)
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(10, 4)), np.eye(2)[rng.integers(0, 2, 10)]
    rows = net.diagnose(X, Y).as_dicts()
    assert all("maps" not in row for row in rows)
    assert all(np.isfinite(row["bias_gradient_norm"]) for row in rows)
