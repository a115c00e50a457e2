"""`diagnose` reads BP1–BP4 as the source does (issue 26 §2, issue 20 §2 and §6).

Each finding is tested on the network the issue names: the guide's digits network
(saturated but right), deep sigmoid networks (vanishing gradients, Nielsen ch. 5),
notebook 03's cross-entropy network (a saturated hidden layer), raw wine and breast
cancer (unscaled inputs), a network stuck at the class frequencies (guessing).
"""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.datasets import load_digits as sklearn_digits

from nablanet import MLPClassifier, MLPRegressor, Network, train
from nablanet.data import load_digits, one_hot
from nablanet.diagnostics import VANISHING_RATIO, WRONG_SATURATED

# Short fits on purpose: the diagnosis, not the fit, is under test.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def guide_digits():
    """The guide's split of the digits (pixels in [0, 1]) with one-hot targets."""
    data = load_digits()
    return data, one_hot(data.y_train)[0]


@pytest.fixture(scope="module")
def guide_network(guide_digits):
    """docs/guide.md's network: 64-25-10 sigmoid, squared error, GD at 4.0 for 1500 epochs."""
    data, Y = guide_digits
    net = Network([64, 25, 10], activation="sigmoid", output_activation="sigmoid",
                  loss="squared_error", seed=0)
    train(net, data.X_train, Y, optimizer="gd", learning_rate=4.0, epochs=1500)
    return net


def _joined(diagnosis):
    return " ".join(diagnosis.findings())


# --- saturated outputs: only saturated *and wrong* ones are a problem (BP1, Nielsen ch. 3) --


def test_the_guides_well_trained_network_is_saturated_but_right(guide_digits, guide_network):
    data, Y = guide_digits
    accuracy = np.mean(guide_network.forward(data.X_test).argmax(1) == data.y_test)
    assert accuracy > 0.96
    output = guide_network.diagnose(data.X_train, Y).layers[-1]
    assert output.saturated_fraction > 0.8  # confident: 85% of the outputs
    assert output.wrong_saturated_fraction < 0.001  # 0.04% are saturated and wrong
    # computed independently: σ'(z) < 0.1 · 0.25 and |a − y| > 1/2
    a = guide_network.forward(data.X_train)
    assert output.wrong_saturated_fraction == pytest.approx(
        np.mean((a * (1 - a) < 0.025) & (np.abs(a - Y) > 0.5)), abs=1e-15)
    text = _joined(guide_network.diagnose(data.X_train, Y))
    assert "(output," not in text and "stall" not in text


def test_a_network_saturated_and_wrong_is_reported(guide_digits):
    data, Y = guide_digits
    net = Network([64, 25, 10], activation="sigmoid", output_activation="sigmoid",
                  loss="squared_error", seed=0)
    net.W[1][...] = 0.0
    net.b[1][...] = 12.0  # every output near 1: right for the target class only
    output = net.diagnose(data.X_train, Y).layers[-1]
    assert output.wrong_saturated_fraction == pytest.approx(0.9)
    assert output.wrong_saturated_fraction >= WRONG_SATURATED
    finding = next(f for f in net.diagnose(data.X_train, Y).findings() if "(output," in f)
    assert "90.0% of its outputs are saturated and wrong" in finding
    assert "(BP1)" in finding and "cross-entropy removes the f'(z) factor" in finding
    # with cross-entropy δ = a − y is large exactly there: no problem to report
    ce = Network([64, 25, 10], activation="sigmoid", output_activation="sigmoid",
                 loss="binary_cross_entropy", seed=0)
    ce.theta = net.theta
    assert "(output," not in _joined(ce.diagnose(data.X_train, Y))


def test_after_cross_entropy_cures_the_output_a_saturated_hidden_layer_is_reported(guide_digits):
    """Notebook 03's network: weights 20 times too large, binary cross-entropy, 100 epochs."""
    data, Y = guide_digits
    ce = Network([64, 30, 10], activation="sigmoid", output_activation="sigmoid",
                 loss="binary_cross_entropy", seed=0)
    ce.theta = ce.theta * 20
    train(ce, data.X_train, Y, optimizer="gd", learning_rate=2.0, epochs=100, seed=0)
    diagnosis = ce.diagnose(data.X_train, Y)
    assert diagnosis.layers[0].saturated_fraction > 0.8  # 85%
    hidden = next(f for f in diagnosis.findings() if "layer 1 (hidden" in f and "saturated" in f)
    assert "(BP2)" in hidden and "removes f'(z) at the output only" in hidden
    assert not any("(output," in f and "saturated" in f for f in diagnosis.findings())


# --- starved inputs, per unit and by name (BP4) --------------------------------------------


def test_always_blank_digit_pixels_are_named_by_an_estimator():
    X, y = sklearn_digits(return_X_y=True, as_frame=True)
    X = X / 16.0
    est = MLPClassifier(hidden_layer_sizes=(20,), max_iter=3, random_state=0).fit(X, y)
    first = est.diagnose(X, y).layers[0]
    assert first.zero_inputs == ("pixel_0_0", "pixel_4_0", "pixel_4_7")  # pixels 0, 32, 39
    finding = next(f for f in est.diagnose(X, y).findings() if "every example" in f)
    assert "3 inputs are 0 on every example (pixel_0_0, pixel_4_0, pixel_4_7)" in finding
    assert "exactly zero gradient" in finding
    # the claim itself: these pixels' weights get no gradient but weight decay's λW
    net = est.net_
    _, grad = net.loss_and_grad(X.to_numpy(), np.eye(10)[y])
    dW0, W0 = net.layout.views(grad)[0][0], net.W[0]
    blank, lit = [0, 32, 39], [1, 33, 38]
    assert np.array_equal(dW0[:, blank], net.weight_decay * W0[:, blank])
    assert (dW0[:, lit] != net.weight_decay * W0[:, lit]).any(axis=0).all()


def test_starved_inputs_by_unit_on_a_network_and_near_zero_ones(guide_digits):
    data, Y = guide_digits
    net = Network([64, 10, 10], seed=0)
    first = net.diagnose(data.X_train, Y).layers[0]
    assert first.zero_inputs == ("unit 0", "unit 32", "unit 39")
    mean = np.abs(data.X_train).mean(axis=0)
    near = np.flatnonzero((mean > 0) & (mean < 0.01 * mean.mean()))
    assert first.starved_inputs == tuple(f"unit {k}" for k in near) and len(near) >= 5
    names = [f"p{k}" for k in range(64)]
    named = net.diagnose(data.X_train, Y, feature_names=names).layers[0]
    assert named.zero_inputs == ("p0", "p32", "p39")
    with pytest.raises(ValueError, match="feature_names has 3 names for 64 input columns"):
        net.diagnose(data.X_train, Y, feature_names=names[:3])


# --- vanishing gradients (Nielsen ch. 5, BP2) ----------------------------------------------


def _deep(init):
    return Network([64, 30, 30, 30, 30, 10], activation="sigmoid", output_activation="sigmoid",
                   loss="squared_error", init=init, seed=0)


def test_a_deep_sigmoid_network_has_vanishing_gradients(guide_digits):
    data, Y = guide_digits
    diagnosis = _deep("ufldl").diagnose(data.X_train, Y)
    deltas = [d.mean_abs_delta for d in diagnosis.layers]
    assert 0.08 < deltas[-1] < 0.2 and 1e-4 < deltas[0] < 3e-4  # 1.2e-1 and 1.8e-4
    assert deltas == sorted(deltas)  # smaller at every layer back
    finding = next(f for f in diagnosis.findings() if f.startswith("vanishing gradients"))
    assert "BP2" in finding and "Nielsen ch. 5" in finding and "f'(z)" in finding
    # the source's N(0, 0.01²) init: ‖dW‖/‖W‖ from 5.4 at the output to 4.7e-8 at layer 1
    ratios = [d.grad_weight_ratio for d in _deep("normal").diagnose(data.X_train, Y).layers]
    assert 3 < ratios[-1] < 8 and 1e-8 < ratios[0] < 1e-7


def test_a_shallow_network_has_no_vanishing_gradient(guide_digits, guide_network):
    data, Y = guide_digits
    for net in (guide_network, Network([64, 30, 30, 10], activation="relu", seed=0)):
        diagnosis = net.diagnose(data.X_train, Y)
        first, last = diagnosis.layers[0], diagnosis.layers[-1]
        assert first.mean_abs_delta > last.mean_abs_delta / VANISHING_RATIO
        assert "vanishing" not in _joined(diagnosis)


def test_bias_gradient_norms_reproduce_nielsens_figures():
    """Nielsen ch. 5: ‖∂C/∂b‖ of 784-30-30-30-10's hidden layers at his initialisation
    (w ~ N(0, 1/n_in), b ~ N(0, 1), cross-entropy) on 1000 images: 0.0118, 0.0600, 0.283.
    Here on a synthetic batch shaped like MNIST's (19% of pixels lit, in [0, 1])."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(1000, 784)) * (rng.uniform(size=(1000, 784)) < 0.19)
    Y = np.eye(10)[rng.integers(0, 10, 1000)]
    net = Network([784, 30, 30, 30, 10], activation="sigmoid", output_activation="sigmoid",
                  loss="binary_cross_entropy", seed=0)
    init = np.random.default_rng(0)
    for W, b in zip(net.W, net.b, strict=True):
        W[...] = init.normal(0, 1 / np.sqrt(W.shape[1]), W.shape)
        b[...] = init.normal(0, 1, b.shape)
    norms = net.diagnose(X, Y).bias_gradient_norms
    _, grad = net.loss_and_grad(X, Y)
    db = net.layout.views(grad)[1]
    np.testing.assert_allclose(norms, [np.linalg.norm(g) for g in db], rtol=1e-12)
    hidden = norms[:3]
    assert hidden == sorted(hidden)  # the early layers learn more slowly
    for ours, nielsens in zip(hidden, [0.0118, 0.0600, 0.283], strict=True):
        assert nielsens / 3 < ours < nielsens * 3


# --- issue 20: unscaled inputs, scaled targets, guessing, a collapsed layer ---------------


@pytest.mark.parametrize("load", [load_wine, load_breast_cancer])
def test_unscaled_inputs_are_named_as_the_cause_of_dead_relus(load):
    X, y = load(return_X_y=True)
    est = MLPClassifier(random_state=0, max_iter=50).fit(X, y)
    diagnosis = est.diagnose(X, y)
    assert diagnosis.layers[0].mean_abs_input > 50  # 62 to 69 on both tables
    assert diagnosis.layers[0].dead_fraction > 0.3  # 41-51% dead ReLUs
    findings = diagnosis.findings()
    assert findings[0].startswith("the inputs are unscaled") and "Standardise" in findings[0]
    dead = next(f for f in findings if "dead" in f)
    assert "unscaled inputs are the likely cause" in dead and "learning rate" not in dead
    scaled = (X - X.mean(axis=0)) / X.std(axis=0)
    est = MLPClassifier(random_state=0, max_iter=50).fit(scaled, y)
    assert "unscaled" not in _joined(est.diagnose(scaled, y))


def test_no_target_scaling_advice_for_a_model_whose_targets_were_scaled():
    X, y = load_diabetes(return_X_y=True)
    net = Network([10, 5, 1], activation="tanh", output_activation="identity", seed=0)
    assert "targets are unscaled" in _joined(net.diagnose(X, y[:, None]))
    assert "targets" not in _joined(net.diagnose(X, y[:, None], targets_scaled=True))
    bounded = MLPRegressor(hidden_layer_sizes=(5,), output_activation="sigmoid", max_iter=5,
                           random_state=0).fit(X, y)
    identity = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    assert bounded.targets_scaled_ and not identity.targets_scaled_
    assert "targets are unscaled" in _joined(identity.diagnose(X, y))
    assert "targets" not in _joined(identity.diagnose(X, y, targets_scaled=True))
    assert not MLPClassifier(max_iter=2, random_state=0).fit(X[:50], y[:50] > 150).targets_scaled_


def test_a_classifier_at_the_class_frequencies_is_guessing_and_its_collapsed_layer_named(
        guide_digits):
    """As the stacked autoencoder's defaults did: a hidden layer that does not vary, a
    cost of ln 10 and one class predicted (test accuracy 0.10)."""
    data, Y = guide_digits
    net = Network([64, 30, 10], activation="sigmoid", output_activation="softmax", seed=0)
    net.b[0][...] = -30.0  # every hidden unit pinned near 0, whatever the input
    train(net, data.X_train, Y, optimizer="gd", learning_rate=1.0, epochs=200, seed=0)
    assert np.mean(net.forward(data.X_test).argmax(1) == data.y_test) < 0.15
    diagnosis = net.diagnose(data.X_train, Y)
    p = Y.mean(axis=0)
    assert diagnosis.constant_cost == pytest.approx(-np.sum(p * np.log(p)), rel=1e-12)
    assert diagnosis.data_cost == pytest.approx(diagnosis.constant_cost, rel=1e-3)
    assert diagnosis.guessing and diagnosis.classifier
    assert diagnosis.findings()[0].startswith("the cost without weight decay, 2.302, is no "
                                              "better than that of predicting the class "
                                              "frequencies")
    assert diagnosis.layers[0].collapsed_fraction == 1.0
    assert "layer 1 (hidden, sigmoid): the layer has collapsed" in _joined(diagnosis)


def test_a_trained_network_is_neither_guessing_nor_collapsed(guide_digits, guide_network):
    data, Y = guide_digits
    diagnosis = guide_network.diagnose(data.X_train, Y)
    assert not diagnosis.guessing and diagnosis.data_cost < 0.1 * diagnosis.constant_cost
    assert diagnosis.layers[0].collapsed_fraction == 0.0
    assert "guesses" not in _joined(diagnosis) and "collapsed" not in _joined(diagnosis)
