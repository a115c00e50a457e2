"""Model files of networks given by layers (nablanet/io/network.py): convolutions and
poolings written as their specs, read back through the layer registry only, every field
checked before anything is allocated."""

import numpy as np
import pytest
from model_files import header_of, with_header

import nablanet
from nablanet import ConvNetClassifier, ModelFileError, Network
from nablanet.layers import Conv2D, Dense, MaxPool2D, MeanPool2D


def conv_net(dtype=np.float64):
    return Network([Conv2D(2, 3, activation="tanh", padding="same"), MaxPool2D(2),
                    Conv2D(3, (2, 1), stride=(1, 2)), MeanPool2D(2), Dense(5, "relu"),
                    Dense(3, "softmax")],
                   input_shape=(2, 8, 8), seed=0, weight_decay=0.25, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_conv_network_round_trips_bit_for_bit(tmp_path, dtype):
    net = conv_net(dtype)
    net.theta = np.random.default_rng(1).normal(size=net.n_params)
    net.save(tmp_path / "net.nbn")
    back = nablanet.load(tmp_path / "net.nbn")
    assert [layer.to_spec() for layer in back.layers] == [layer.to_spec() for layer in net.layers]
    assert back.input_shape == (2, 8, 8) and back.weight_decay == 0.25
    assert back.dtype == dtype and np.array_equal(back.theta, net.theta)
    X = np.random.default_rng(2).normal(size=(4, 128))
    assert np.array_equal(back.forward(X), net.forward(X))
    # nablanet.save writes the same file as the method
    nablanet.save(net, tmp_path / "again.nbn")
    again = header_of(tmp_path / "again.nbn")["network"]
    assert again == header_of(tmp_path / "net.nbn")["network"]


def test_a_dense_network_keeps_its_sizes_form(tmp_path):
    # given as layers or as sizes, a fully connected network's file is as before
    net = Network([Dense(4, "tanh"), Dense(3, "softmax")], input_shape=(5,), seed=0)
    net.save(tmp_path / "net.nbn")
    spec = header_of(tmp_path / "net.nbn")["network"]
    assert spec["layer_sizes"] == [5, 4, 3] and "layers" not in spec


def refused(tmp_path, change, match):
    path = tmp_path / "net.nbn"
    conv_net().save(path)
    header = header_of(path)
    change(header["network"])
    with_header(path, header)
    with pytest.raises(ModelFileError, match=match):
        nablanet.load(path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        # a kind is looked up in the registry, never imported by name
        (lambda s: s["layers"][0].update(kind="os.system"), r"layers\[0\]': unknown layer kind"),
        (lambda s: s["layers"][1].update(size=[0, 2]), r"layers\[1\]': size must be"),
        (lambda s: s["layers"][0].update(filters="2"), r"layers\[0\]'"),
        (lambda s: s["layers"][0].update(evil=1), r"layers\[0\]': invalid Conv2D spec"),
        (lambda s: s.update(layers=[]), "'network.layers' is empty"),
        (lambda s: s.update(layers="conv2x3"), "'network.layers' must be"),
        (lambda s: s.update(input_shape=[2, 8]), r"layers\[0\]': Conv2D needs inputs of shape"),
        (lambda s: s.update(input_shape=[2, 0, 8]), "input_shape' must be a list of integers"),
        (lambda s: s.update(input_shape=[2, 80, 80]), "theta"),  # more weights than stored
        (lambda s: s.update(loss="hinge"), "not a known loss"),
        (lambda s: s.update(dtype="float16"), "dtype"),
        (lambda s: s.update(weight_decay=-1), "weight_decay"),
        (lambda s: s.update(extra=1), "unexpected field 'extra'"),
        (lambda s: s["layers"][4].update(activation="softmax"), "softmax can only be the output"),
    ],
)
def test_hostile_layer_specs_are_refused(tmp_path, change, match):
    refused(tmp_path, change, match)


def test_an_estimator_whose_network_differs_from_its_layers_is_refused(tmp_path):
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning

    X, y = load_digits(return_X_y=True)
    est = ConvNetClassifier(("conv2x3", "maxpool2", "8"), max_iter=1, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        est.fit(X[:40] / 16, y[:40])
    path = tmp_path / "m.nbn"
    est.save(path)
    header = header_of(path)
    header["params"]["layers"] = ["conv2x3", "meanpool2", "8"]
    with_header(path, header)
    with pytest.raises(ModelFileError, match="first difference at layer 2"):
        nablanet.load(path)
