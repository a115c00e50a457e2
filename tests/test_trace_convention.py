"""`Trace` holds what docs/math.md §6 says: δ_i = ∂C_i/∂z_i per example, Δ with rows w_i δ_i,
∂J/∂b = 1ᵀΔ and ∂J/∂W = ΔᵀA + λW; and `Trace.layer` finds a layer by the mathematics' number.
"""

import numpy as np
import pytest

from nablanet import Network
from nablanet.network import TraceLayer


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture
def five():
    """A 3-4-2 sigmoid network with squared error and weight decay, on m = 5 examples."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3))
    Y = rng.uniform(size=(5, 2))
    net = Network([3, 4, 2], activation="sigmoid", output_activation="sigmoid",
                  loss="squared_error", weight_decay=0.1, seed=1)
    net.b[0][...] = rng.normal(size=4)
    net.b[1][...] = rng.normal(size=2)
    return net, X, Y


def by_hand(net, X, Y):
    """BP1 and BP2 one example at a time, from the equations, with no averaging."""
    W1, W2, b1, b2 = net.W[0], net.W[1], net.b[0], net.b[1]
    delta2, delta3, a2s = [], [], []
    for x, y in zip(X, Y, strict=True):
        a2 = sigmoid(W1 @ x + b1)
        a3 = sigmoid(W2 @ a2 + b2)
        d3 = (a3 - y) * a3 * (1 - a3)  # BP1, C = ½‖a − y‖²
        d2 = (W2.T @ d3) * a2 * (1 - a2)  # BP2
        delta2.append(d2)
        delta3.append(d3)
        a2s.append(a2)
    return np.array(delta2), np.array(delta3), np.array(a2s)


def test_trace_delta_is_each_examples_own_error(five):
    net, X, Y = five
    tr = net.trace(X, Y)
    delta2, delta3, a2 = by_hand(net, X, Y)
    np.testing.assert_allclose(tr.delta[0], delta2, rtol=1e-12)  # not δ/m: ratio 1, not 0.2
    np.testing.assert_allclose(tr.delta[1], delta3, rtol=1e-12)
    w = np.full(5, 0.2)
    np.testing.assert_allclose(tr.sample_weight, w, rtol=1e-15)
    np.testing.assert_allclose(tr.Delta[1], delta3 * w[:, None], rtol=1e-12)
    # BP3 and BP4 on Δ, with no further division by m
    np.testing.assert_allclose(tr.db[1], np.ones(5) @ tr.Delta[1], rtol=1e-12)
    np.testing.assert_allclose(tr.db[0], np.ones(5) @ tr.Delta[0], rtol=1e-12)
    np.testing.assert_allclose(tr.dW[1], tr.Delta[1].T @ a2 + 0.1 * net.W[1], rtol=1e-12)
    np.testing.assert_allclose(tr.dW[0], tr.Delta[0].T @ X + 0.1 * net.W[0], rtol=1e-12)
    # and those are the gradients of J, by central differences
    assert net.check_gradient(X, Y).relative_difference < 1e-8


def test_sample_weights_are_normalised_as_the_cost_normalises(five):
    net, X, Y = five
    s = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    tr = net.trace(X, Y, sample_weight=s)
    delta2, delta3, _ = by_hand(net, X, Y)
    np.testing.assert_allclose(tr.delta[1], delta3, rtol=1e-12)  # δ does not depend on w
    np.testing.assert_allclose(tr.sample_weight, s / s.sum(), rtol=1e-15)
    np.testing.assert_allclose(tr.Delta[0], delta2 * (s / s.sum())[:, None], rtol=1e-12)
    J, grad = net.loss_and_grad(X, Y, sample_weight=s)
    dW, db = net.layout.views(grad)
    np.testing.assert_allclose(tr.dW[0], tr.Delta[0].T @ X + 0.1 * net.W[0], rtol=1e-12)
    np.testing.assert_allclose(dW[0], tr.dW[0], rtol=1e-14)
    assert tr.J == pytest.approx(J, rel=1e-14)
    # a row of weight 0 leaves J alone; its δ cannot be recovered from Δ and is NaN
    s[2] = 0.0
    tr = net.trace(X, Y, sample_weight=s)
    assert np.isnan(tr.delta[1][2]).all() and not np.isnan(np.delete(tr.delta[1], 2, 0)).any()
    assert (tr.Delta[1][2] == 0).all()


def test_layer_by_the_mathematics_number(five):
    net, X, Y = five
    tr = net.trace(X, Y)
    # Nielsen: w^l enters layer l (from l − 1); UFLDL: W^(l) leaves it (to l + 1).
    first = tr.layer(1, notation="nielsen")
    assert isinstance(first, TraceLayer) and first.l == 1 and first.a is tr.a[0]
    assert first.z is None and first.delta is None and first.dW is None and first.db is None
    hidden = tr.layer(2)  # Nielsen's is the default
    assert hidden.notation == "nielsen"
    assert hidden.z is tr.z[0] and hidden.a is tr.a[1] and hidden.delta is tr.delta[0]
    assert hidden.Delta is tr.Delta[0] and hidden.dW is tr.dW[0] and hidden.db is tr.db[0]
    assert hidden.dW.shape == (4, 3)  # w^2: layer 1 (3 units) to layer 2 (4 units)
    ufldl = tr.layer(2, notation="ufldl")
    assert ufldl.z is tr.z[0] and ufldl.a is tr.a[1] and ufldl.delta is tr.delta[0]
    assert ufldl.dW is tr.dW[1] and ufldl.db is tr.db[1]  # W^(2): layer 2 to layer 3
    assert ufldl.dW.shape == (2, 4)
    assert tr.layer(1, notation="ufldl").dW is tr.dW[0]
    out_n, out_u = tr.layer(3, "nielsen"), tr.layer(3, "ufldl")
    assert out_n.dW is tr.dW[1] and out_u.dW is None and out_u.db is None
    assert out_n.z is out_u.z is tr.z[1] and out_u.delta is tr.delta[1]
    # BP4 in each numbering: Nielsen's ∂C/∂w^l = δ^l a^(l−1)ᵀ, UFLDL's ∂J/∂W^(l) = δ^(l+1) a^(l)ᵀ
    np.testing.assert_allclose(out_n.dW - 0.1 * net.W[1],
                               out_n.Delta.T @ tr.layer(2).a, rtol=1e-12)
    np.testing.assert_allclose(tr.layer(2, "ufldl").dW - 0.1 * net.W[1],
                               tr.layer(3, "ufldl").Delta.T @ tr.layer(2, "ufldl").a, rtol=1e-12)


def test_layer_refuses_what_the_network_has_not():
    net = Network([3, 4, 2], seed=0)
    tr = net.trace(np.ones((2, 3)))  # no targets: no δ nor gradients
    assert tr.layer(3).z is tr.z[1] and tr.layer(3).delta is None and tr.layer(3).dW is None
    with pytest.raises(ValueError, match=r"notation must be one of nielsen, ufldl, got 'bishop'"):
        tr.layer(2, notation="bishop")
    with pytest.raises(ValueError, match="layer number l must be an integer from 1 to 3, got 0"):
        tr.layer(0)
    with pytest.raises(ValueError, match="from 1 to 3, got 4"):
        tr.layer(4)
