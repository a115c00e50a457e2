"""Diagnostics read off BP1–BP4 (docs/math.md §6): saturation, dead units, slow weights."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from nablanet import Network
from nablanet.diagnostics import SATURATION_THRESHOLD, Diagnosis, diagnose

FIELDS = {
    "layer",
    "role",
    "activation",
    "units",
    "saturated_fraction",
    "dead_fraction",
    "mean_abs_delta",
    "mean_abs_input",
    "grad_weight_ratio",
    "wrong_saturated_fraction",
    "collapsed_fraction",
    "bias_gradient_norm",
    "zero_inputs",
    "starved_inputs",
}
NAMES = {"role", "activation", "zero_inputs", "starved_inputs"}


@pytest.fixture(scope="module")
def digits():
    """300 rows of scikit-learn's bundled 8x8 digits, pixels scaled into [0, 1]."""
    d = load_digits()
    X = d.data[:300] / 16.0
    Y = np.eye(10)[d.target[:300]]
    return X, Y


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def saturated_share(z):
    """Share of σ'(z) = σ(z)(1 − σ(z)) below 0.1 × 0.25, computed here from z."""
    s = sigmoid(z)
    return float(np.mean(s * (1 - s) < 0.1 * 0.25))


def test_large_weights_saturate_sigmoid_units(digits):
    X, Y = digits
    net = Network([64, 30, 10], activation="sigmoid", output_activation="sigmoid", seed=0)
    net.theta = net.theta * 20.0
    diag = net.diagnose(X, Y)
    hidden, output = diag.layers
    assert hidden.role == "hidden" and output.role == "output"
    assert hidden.saturated_fraction > 0.5
    # the same share, computed independently from z = X W(1)ᵀ + b(1)
    z2 = X @ net.W[0].T + net.b[0]
    assert hidden.saturated_fraction == pytest.approx(saturated_share(z2), abs=1e-12)
    text = str(diag)
    assert "saturated" in text
    assert "learn slowly" in text
    assert "layer 1 (hidden, sigmoid)" in text
    if output.saturated_fraction >= 0.5:  # squared error: the output stall is spelt out
        assert "cross-entropy removes the f'(z) factor" in text


def test_fresh_small_weights_do_not_saturate(digits):
    X, Y = digits
    net = Network([64, 30, 10], activation="sigmoid", output_activation="sigmoid", seed=0)
    diag = net.diagnose(X, Y)
    for layer in diag.layers:
        assert layer.saturated_fraction < 0.05
        assert layer.dead_fraction == 0.0
    assert "are saturated" not in " ".join(diag.findings())
    # A fresh network guesses and digits has always-blank pixels: nothing else is found.
    assert {f.split(":")[0] for f in diag.findings()} == {
        "layer 1 (hidden, sigmoid)", "the cost without weight decay, 0.9842, is no better"
        " than that of predicting the class frequencies for every example (0.4499)"}
    big = net.copy()
    big.theta = big.theta * 20.0
    # a saturated layer's weights move far more slowly relative to their size
    assert big.diagnose(X, Y).layers[0].grad_weight_ratio < 0.1 * diag.layers[0].grad_weight_ratio


def test_relu_units_with_strongly_negative_bias_are_dead(digits):
    X, Y = digits
    net = Network([64, 20, 10], activation="relu", output_activation="sigmoid", seed=0)
    net.b[0][:5] = -100.0  # z ≤ −100 + Σ|w| < 0 for pixels in [0, 1]
    diag = net.diagnose(X, Y)
    z2 = X @ net.W[0].T + net.b[0]
    expected = float(np.mean((z2 <= 0).all(axis=0)))  # units with z ≤ 0 on every example
    assert expected >= 5 / 20
    assert diag.layers[0].dead_fraction == pytest.approx(expected, abs=1e-12)
    assert "dead" in str(diag)
    net.b[0][:] = -100.0
    assert net.diagnose(X, Y).layers[0].dead_fraction == 1.0


def test_leaky_relu_is_never_dead(digits):
    X, Y = digits
    net = Network([64, 20, 10], activation="leaky_relu", seed=0)
    net.b[0][:] = -100.0
    assert net.diagnose(X, Y).layers[0].dead_fraction == 0.0


def test_numbers_match_independent_computation(digits):
    X, Y = digits
    X, Y = X[:40], Y[:40]
    net = Network([64, 12, 10], activation="tanh", output_activation="sigmoid", seed=3)
    diag = net.diagnose(X, Y)
    J, grad = net.loss_and_grad(X, Y)
    assert diag.J == pytest.approx(J, rel=1e-14)
    assert diag.loss == "squared_error"
    dW, _ = net.layout.views(grad)
    for l, layer in enumerate(diag.layers):
        ratio = np.linalg.norm(dW[l]) / np.linalg.norm(net.W[l])
        assert layer.grad_weight_ratio == pytest.approx(ratio, rel=1e-12)
        assert np.isfinite(layer.grad_weight_ratio) and layer.grad_weight_ratio > 0
    # layer 0 is fed by X itself
    assert diag.layers[0].mean_abs_input == pytest.approx(np.abs(X).mean(), rel=1e-14)
    # output δ per example for squared error + sigmoid: (a − y) a (1 − a)
    a2 = np.tanh(X @ net.W[0].T + net.b[0])
    a3 = sigmoid(a2 @ net.W[1].T + net.b[1])
    assert diag.layers[1].mean_abs_input == pytest.approx(np.abs(a2).mean(), rel=1e-12)
    delta3 = (a3 - Y) * a3 * (1 - a3)
    assert diag.layers[1].mean_abs_delta == pytest.approx(np.abs(delta3).mean(), rel=1e-12)
    assert diag.layers[0].units == 12 and diag.layers[1].units == 10


def test_tanh_saturation_threshold():
    net = Network([1, 2, 1], activation="tanh", output_activation="identity", seed=0)
    net.W[0][...] = [[1.0], [1.0]]
    net.b[0][...] = [0.0, 10.0]
    # unit 1 has z = x, unit 2 has z = x + 10: 1 − tanh² < 0.1 needs |z| > atanh(√0.9) ≈ 1.818
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    diag = diagnose(net, X, np.zeros((4, 1)))
    # unit 1 saturated for x ∈ {2, 3}, unit 2 always: 6 of 8
    assert diag.layers[0].saturated_fraction == pytest.approx(6 / 8)
    assert SATURATION_THRESHOLD == 0.1
    assert diag.layers[1].saturated_fraction == 0.0  # identity cannot saturate


def test_softmax_output_saturation_uses_jacobian_diagonal():
    net = Network([2, 3], activation=[], output_activation="softmax", seed=0)
    net.W[0][...] = [[50.0, 0.0], [0.0, 0.0], [-50.0, 0.0]]
    X = np.array([[1.0, 0.0], [0.0, 0.0]])  # row 0: one-hot softmax, row 1: uniform
    diag = net.diagnose(X, np.eye(3)[[0, 1]])
    # row 0: a ≈ (1, 0, 0): a(1 − a) ≈ 0 for all 3; row 1: a = 1/3, a(1−a) = 2/9 > 0.025
    assert diag.layers[0].saturated_fraction == pytest.approx(3 / 6)


def test_starved_weights_reported():
    net = Network([3, 4, 2], seed=0)
    X = np.full((5, 3), 1e-4)
    text = str(net.diagnose(X, np.zeros((5, 2))))
    assert "near 0" in text and "learn slowly (BP4)" in text


def test_as_dicts_fields_and_table(digits):
    X, Y = digits
    net = Network([64, 16, 8, 10], activation=["relu", "tanh"], output_activation="softmax", seed=0)
    diag = net.diagnose(X[:50], Y[:50])
    assert isinstance(diag, Diagnosis)
    rows = diag.as_dicts()
    assert len(rows) == 3
    for l, row in enumerate(rows):
        assert set(row) == FIELDS
        assert row["layer"] == l
        assert all(np.isfinite(row[k]) for k in FIELDS - NAMES)
        assert all(isinstance(row[k], list) for k in ("zero_inputs", "starved_inputs"))
    assert [r["role"] for r in rows] == ["hidden", "hidden", "output"]
    assert [r["activation"] for r in rows] == ["relu", "tanh", "softmax"]
    assert rows[0]["saturated_fraction"] == 0.0  # relu does not saturate
    text = str(diag)
    assert text.startswith(f"J = {diag.J:.6g} (cross_entropy)")
    for header in ["saturated", "dead", "mean|δ|", "mean|a_in|", "‖dW‖/‖W‖"]:
        assert header in text
    assert diag.findings()  # always at least one sentence


def test_unscaled_and_out_of_range_targets_are_named():
    from sklearn.datasets import load_diabetes

    from nablanet import Network as Net

    X, y = load_diabetes(return_X_y=True)
    Y = y[:, None]
    net = Net([10, 5, 1], activation="tanh", output_activation="identity", seed=0)
    findings = " ".join(net.diagnose(X, Y).findings())
    assert "targets are unscaled" in findings
    scaled = (Y - Y.mean()) / Y.std()
    assert "targets" not in " ".join(net.diagnose(X, scaled).findings())
    sigmoid = Net([10, 5, 1], activation="tanh", output_activation="sigmoid", seed=0)
    assert "outside the sigmoid output's range [0, 1]" in " ".join(
        sigmoid.diagnose(X, scaled).findings())


def test_a_saturated_output_cites_bp1_and_a_hidden_layer_bp2():
    from nablanet import Network as Net

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    Y = (rng.random((50, 2)) > 0.5).astype(float)
    net = Net([4, 6, 2], activation="sigmoid", output_activation="sigmoid",
              loss="squared_error", seed=0)
    net.theta = net.theta * 200  # every unit saturated
    findings = net.diagnose(X, Y).findings()
    output = next(f for f in findings if "(output," in f and "saturated" in f)
    hidden = next(f for f in findings if "(hidden," in f and "saturated" in f)
    assert "(BP1)" in output and "(BP2)" not in output
    assert "(BP2)" in hidden


def test_an_estimator_fitted_on_sparse_rows_is_diagnosed_and_checked_on_them():
    import scipy.sparse as sp

    from nablanet import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    y = y[:300]
    est = MLPClassifier((8,), max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning, match="iteration"):
        est.fit(sp.csr_matrix(X), y)
    sparse, dense = est.diagnose(sp.csr_matrix(X), y), est.diagnose(X, y)
    assert sparse.findings() == dense.findings()
    for s, d in zip(sparse.as_dicts(), dense.as_dicts(), strict=True):
        for key, value in d.items():
            assert s[key] == (pytest.approx(value, rel=1e-12) if isinstance(value, float)
                              else value), key
    assert est.check_gradient(sp.csc_matrix(X[:10]), y[:10]).passed
