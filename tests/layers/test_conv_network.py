"""Convolution and pooling layers inside a `Network`: gradients, trace, weights, threads."""

import threading

import numpy as np
import pytest
import scipy.sparse
from scipy.ndimage import zoom
from sklearn.datasets import load_digits

from nablanet import Network
from nablanet.layers import Conv2D, Dense, MaxPool2D, MeanPool2D


def data(m, shape, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, *shape))
    return X, np.eye(k)[rng.integers(0, k, m)]


def small_net(dtype=np.float64, weight_decay=0.0, pool=MaxPool2D):
    return Network([Conv2D(3, 3, padding="same"), pool(2), Conv2D(2, 2, activation="tanh"),
                    Dense(5, "sigmoid"), Dense(3, "softmax")],
                   input_shape=(2, 6, 6), seed=0, weight_decay=weight_decay, dtype=dtype)


def random_biases(net, seed=1):
    # a generic point: biases of 0 would hide a decay wrongly applied to them (§7)
    theta = net.theta.copy()
    n_biases = net.n_params - net.n_weights
    theta[net.n_weights :] = np.random.default_rng(seed).normal(0, 0.2, n_biases)
    net.theta = theta


@pytest.mark.parametrize("pool", [MeanPool2D, MaxPool2D])
def test_network_gradient_check_with_decay_and_sample_weights(pool):
    net = small_net(weight_decay=0.05, pool=pool)
    random_biases(net)
    X, Y = data(4, (2, 6, 6))
    report = net.check_gradient(X, Y, sample_weight=np.array([1.0, 0.5, 2.0, 1.5]))
    assert report.passed, str(report)


@pytest.mark.parametrize("stride, padding", [(1, "valid"), (2, "valid"), (1, "same"), (2, "same")])
def test_network_gradient_check_strides_and_paddings(stride, padding):
    net = Network([Conv2D(2, 3, stride=stride, padding=padding, activation="tanh"),
                   Conv2D(2, 2, stride=stride, padding=padding), Dense(3, "softmax")],
                  input_shape=(2, 7, 7), seed=2)
    random_biases(net)
    X, Y = data(3, (2, 7, 7), seed=1)
    assert net.check_gradient(X, Y).passed


def test_ufldl_cnn_exercise_check_through_the_network():
    # UFLDL's cnnTrain.m debug check: 2 filters of 9x9, mean pool 5, softmax, 10 images.
    X, y = load_digits(return_X_y=True)
    images = np.stack([zoom(x.reshape(8, 8) / 16.0, 3.5, order=1) for x in X[:10]])
    net = Network([Conv2D(2, 9), MeanPool2D(5), Dense(10, "softmax")], input_shape=(1, 28, 28),
                  seed=0)
    random_biases(net)
    report = net.check_gradient(images[:, None], np.eye(10)[y[:10]], tol=1e-9)
    assert report.passed and report.n_checked == 2 * 81 + 2 + 320 + 10, str(report)


def test_dropout_on_the_dense_layers_after_convolutions():
    net = small_net()
    random_biases(net)
    X, Y = data(4, (2, 6, 6))
    rng = np.random.default_rng(3)
    mask = (rng.random((4, 5)) < 0.6) / 0.6
    mask[:, 0] = 0.0  # unit 0 dropped on every example
    masks = [None, None, None, mask]

    def fun(theta):
        return net.loss_and_grad(X, Y, theta, dropout_masks=masks)

    from nablanet.gradcheck import check_gradient

    report = check_gradient(fun, net.theta.copy())
    assert report.passed, str(report)
    # a unit dropped everywhere passes no error: its weights and bias get none
    _, grad = fun(net.theta.copy())
    dW, db = net.views(grad)
    assert np.all(dW[3][0] == 0) and db[3][0] == 0 and np.any(dW[3][1:] != 0)


def test_weight_decay_covers_filters_and_dense_weights_never_biases():
    X, Y = data(3, (2, 6, 6))
    plain, decayed = small_net(), small_net(weight_decay=0.1)
    random_biases(plain)
    decayed.theta = plain.theta
    J0, g0 = plain.loss_and_grad(X, Y)
    J1, g1 = decayed.loss_and_grad(X, Y)
    n = plain.n_weights
    assert n == 3 * 2 * 9 + 2 * 3 * 4 + 5 * 8 + 3 * 5  # both filter banks and the dense W
    assert J1 - J0 == pytest.approx(0.05 * float(plain.theta[:n] @ plain.theta[:n]), rel=1e-12)
    np.testing.assert_allclose(g1[:n] - g0[:n], 0.1 * plain.theta[:n], rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(g1[n:], g0[n:])


def test_trace_keeps_feature_maps_in_their_shape():
    net = small_net()
    X, Y = data(4, (2, 6, 6))
    tr = net.trace(X, Y)
    shapes = [(4, 3, 6, 6), (4, 3, 3, 3), (4, 2, 2, 2), (4, 5), (4, 3)]
    assert [z.shape for z in tr.z] == shapes
    assert [a.shape for a in tr.a] == [(4, 2, 6, 6), *shapes]
    assert [d.shape for d in tr.delta] == shapes
    assert tr.dW[0].shape == (3, 2, 3, 3) and tr.db[0].shape == (3,)
    # BP3 for a convolution: each filter's bias gradient is its whole map's Δ summed
    np.testing.assert_allclose(tr.db[0], tr.Delta[0].sum(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(tr.db[2], tr.Delta[2].sum(axis=(0, 2, 3)), rtol=1e-12)


def test_four_dimensional_and_flat_inputs_agree():
    net = small_net()
    X, Y = data(5, (2, 6, 6))
    np.testing.assert_array_equal(net.forward(X), net.forward(X.reshape(5, -1)))
    Ja, ga = net.loss_and_grad(X, Y)
    Jb, gb = net.loss_and_grad(X.reshape(5, -1), Y)
    assert Ja == Jb and np.array_equal(ga, gb)


def test_sample_weights_equal_repeated_rows():
    net = small_net()
    X, Y = data(3, (2, 6, 6))
    J_w, g_w = net.loss_and_grad(X, Y, sample_weight=np.array([2.0, 1.0, 1.0]))
    J_r, g_r = net.loss_and_grad(np.concatenate([X[:1], X]), np.concatenate([Y[:1], Y]))
    assert J_w == pytest.approx(J_r, rel=1e-12)
    np.testing.assert_allclose(g_w, g_r, rtol=1e-10, atol=1e-15)


def test_float32_network_agrees_with_float64():
    net64 = small_net()
    net32 = net64.astype(np.float32)
    X, Y = data(6, (2, 6, 6))
    J64, g64 = net64.loss_and_grad(X, Y)
    J32, g32 = net32.loss_and_grad(X, Y)
    assert g32.dtype == np.float32 and net32.forward(X).dtype == np.float32
    assert J32 == pytest.approx(J64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5 * np.abs(g64).max())


def test_forward_from_several_threads_at_once():
    net = small_net()
    inputs = [data(7 + k, (2, 6, 6), seed=k)[0] for k in range(4)]
    expected = [net.forward(X) for X in inputs]
    results: dict[int, list] = {k: [] for k in range(4)}
    barrier = threading.Barrier(4)

    def work(k):
        barrier.wait()
        for _ in range(20):
            results[k].append(net.forward(inputs[k]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        for out in results[k]:
            np.testing.assert_array_equal(out, expected[k])


def test_a_convolution_first_refuses_sparse_input():
    net = small_net()
    with pytest.raises(ValueError, match="a Conv2D first layer cannot read a scipy.sparse X"):
        net.forward(scipy.sparse.csr_matrix(np.ones((2, 72))))


def test_conv_layers_rebuild_from_their_specs_in_the_registry():
    from nablanet.layers import layer_from_spec

    for layer in small_net().layers:
        assert layer_from_spec(layer.to_spec()).to_spec() == layer.to_spec()


def test_a_convolutional_network_survives_its_model_file(tmp_path):
    from nablanet import load

    net = small_net(dtype=np.float32, weight_decay=0.01)
    random_biases(net)
    net.save(tmp_path / "cnn.nbn")
    back = load(tmp_path / "cnn.nbn")
    assert [layer.to_spec() for layer in back.layers] == [layer.to_spec() for layer in net.layers]
    X, _ = data(4, (2, 6, 6))
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
