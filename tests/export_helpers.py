"""What the export tests share: quiet fits, standardised data sets, convolutional networks."""

import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from nablanet import Network
from nablanet.layers import Conv2D, Dense, MaxPool2D, MeanPool2D


def fit(est, X, y):
    """``est.fit(X, y)`` without the ConvergenceWarning of the short fits the tests use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def scaled(loader):
    """A scikit-learn data set, standardised."""
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def digit_maps(channels: int = 1, n: int = 40) -> np.ndarray:
    """n digits as rows of channels·8·8 values: the image, then (channel 2) its mirror."""
    images = load_digits().images[:n] / 16.0
    maps = [images, images[:, :, ::-1]][:channels]
    return np.stack(maps, axis=1).reshape(n, -1)


def random_network(layers, input_shape, seed=0, scale=0.5):
    """A network with random weights of standard deviation ``scale`` and random biases."""
    net = Network(layers, input_shape=input_shape, seed=seed)
    net.theta = np.random.default_rng(seed).normal(scale=scale, size=net.n_params)
    return net


#: Each layer kind, stride and padding, both poolings (dividing their input and not),
#: and the activations, in networks that end with Dense layers read in (channel, row,
#: column) order.
CONV_NETWORKS = {
    "conv valid, sigmoid": (
        [Conv2D(3, 3, activation="sigmoid"), Dense(5, "softmax")], (1, 8, 8)),
    "conv same, odd kernel, tanh": (
        [Conv2D(2, 3, padding="same", activation="tanh"), Dense(4, "sigmoid")], (1, 8, 8)),
    "conv same, even kernel (uneven pads), relu": (
        [Conv2D(2, (2, 4), padding="same", activation="relu"), Dense(3, "identity")],
        (2, 8, 8)),
    "conv stride 2 valid (a row left over), leaky relu": (
        [Conv2D(3, 3, stride=2, activation="leaky_relu"), Dense(4, "tanh")], (2, 8, 8)),
    "conv stride (2, 3) same, identity": (
        [Conv2D(2, (3, 2), stride=(2, 3), padding="same", activation="identity"),
         Dense(3, "softmax")], (1, 8, 8)),
    "mean pool 2": ([Conv2D(2, 3, activation="sigmoid"), MeanPool2D(2), Dense(3, "softmax")],
                    (1, 8, 8)),
    "mean pool 4x3 (rows and columns left over)": (
        [MeanPool2D((4, 3)), Dense(3, "sigmoid")], (2, 8, 8)),
    "max pool 2": ([Conv2D(2, 3, activation="relu"), MaxPool2D(2), Dense(3, "softmax")],
                   (1, 8, 8)),
    "max pool 3 (rows and columns left over)": (
        [Conv2D(2, 2, padding="same", activation="tanh"), MaxPool2D(3), Dense(4, "identity")],
        (2, 8, 8)),
    "UFLDL: conv, mean pool, softmax": (
        [Conv2D(4, 5, activation="sigmoid"), MeanPool2D(2), Dense(10, "softmax")], (1, 8, 8)),
    "Nielsen: two conv-pools, dense, softmax": (
        [Conv2D(3, 3, padding="same", activation="relu"), MaxPool2D(2),
         Conv2D(4, 2, activation="relu"), MaxPool2D(1), Dense(6, "relu"), Dense(10, "softmax")],
        (1, 8, 8)),
    "ends with a convolution (output flattened)": (
        [Conv2D(2, 3, activation="relu"), Conv2D(2, 3, stride=2, activation="sigmoid")],
        (1, 8, 8)),
    "ends with a pooling layer": ([Conv2D(2, 3, activation="sigmoid"), MaxPool2D(2)], (2, 8, 8)),
}
