"""Float64 gradient checks of Conv2D, MeanPool2D and MaxPool2D (docs/math.md §7, §8)."""

import numpy as np
import pytest
from chain import Chain
from scipy.ndimage import zoom
from sklearn.datasets import load_digits

from nablanet.gradcheck import check_gradient
from nablanet.layers.conv import Conv2D
from nablanet.layers.pool import MaxPool2D, MeanPool2D


def one_hot(y, k):
    return np.eye(k)[y]


def check(chain, X, Y, seed=0, tol=1e-7, **kwargs):
    theta = chain.init_theta(np.random.default_rng(seed))
    report = check_gradient(lambda t: chain.loss_and_grad(t, X, Y, **kwargs), theta, tol=tol)
    assert report.passed, str(report)
    return report


STACKS = {
    # stride 1 and 2, valid and same padding, several channels in and out, odd and
    # rectangular kernels; a convolution after another so that ∂J/∂a_in is checked too.
    "valid stride 1": ((2, 6, 6), [Conv2D(3, 3), Conv2D(2, 2, activation="tanh")]),
    "same stride 1": ((2, 5, 5), [Conv2D(2, 3, padding="same"), Conv2D(2, (2, 3), padding="same")]),
    "valid stride 2": ((1, 7, 7), [Conv2D(2, 3, stride=2), Conv2D(2, 2, activation="tanh")]),
    "same stride 2": ((2, 6, 5), [Conv2D(2, 3, stride=2, padding="same"),
                                  Conv2D(3, 2, stride=(2, 1), padding="same")]),
    "mean pool": ((1, 8, 8), [Conv2D(2, 3, padding="same"), MeanPool2D(2), Conv2D(2, 2)]),
    "max pool": ((2, 6, 6), [Conv2D(3, 3, padding="same", activation="tanh"), MaxPool2D(2),
                             Conv2D(2, 2, activation="tanh")]),
    "pools that leave a row out": ((1, 7, 7), [Conv2D(2, 2), MeanPool2D(2), Conv2D(2, 2),
                                               MaxPool2D((2, 1))]),
}


@pytest.mark.parametrize("name", STACKS)
def test_gradient_of_every_layer_kind(name):
    input_shape, layers = STACKS[name]
    rng = np.random.default_rng(1)
    m = 3
    X = rng.normal(size=(m, int(np.prod(input_shape))))
    Y = one_hot(rng.integers(0, 3, m), 3)
    check(Chain(layers, input_shape, 3), X, Y)


def test_gradient_with_z_overwritten_by_a_sample_weights_and_decay():
    # The network's training buffers: z written over by a in place; weighted rows; λ
    # on every weight, never on a bias.
    rng = np.random.default_rng(2)
    chain = Chain([Conv2D(2, 3, activation="relu"), MaxPool2D(2)], (2, 6, 6), 2,
                  output="identity", weight_decay=0.3)
    X = rng.normal(size=(4, 72))
    Y = rng.normal(size=(4, 2))
    check(chain, X, Y, sample_weight=np.array([1.0, 2.0, 0.5, 3.0]), z_is_a=True)


def test_ufldl_cnn_exercise_gradient_check():
    # UFLDL's cnnTrain.m in its debug mode: 2 filters of 9x9, mean pooling 5, softmax on
    # 10 images of 28x28 (here the digits upsampled from 8x8); its check expects < 1e-9.
    X, y = load_digits(return_X_y=True)
    images = np.stack([zoom(x.reshape(8, 8) / 16.0, 3.5, order=1) for x in X[:10]])
    assert images.shape == (10, 28, 28)
    chain = Chain([Conv2D(2, 9), MeanPool2D(5)], (1, 28, 28), 10)
    report = check(chain, images.reshape(10, -1), one_hot(y[:10], 10), tol=1e-9)
    assert report.n_checked == 2 * 81 + 2 + 10 * 32 + 10
