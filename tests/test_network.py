"""The network: forward propagation, the cost J and backpropagation (docs/math.md §2–§7).

Three independent witnesses check `Network.loss_and_grad`:

1. a 2-2-1 network whose every number is worked out by hand below;
2. central differences of J (gradient checking, docs/math.md §7), in float64, for every hidden
   activation and every sensible output/loss pair, on networks of 2, 3 and 4 layers;
3. a reference implementation in this file that follows docs/math.md §6 literally, one example
   at a time (Nielsen's style), sharing no code with the library.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from reference import textbook as f_ref

from nablanet import Network
from nablanet.activations import ACTIVATIONS

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
OUTPUT_PAIRS = [
    ("sigmoid", "squared_error"),
    ("tanh", "squared_error"),  # with −1/+1 targets
    ("softmax", "squared_error"),  # the Jacobian trap of docs/math.md §1
    ("softmax", "cross_entropy"),
    ("sigmoid", "binary_cross_entropy"),
    ("identity", "squared_error"),
]
SIZES = {2: [4, 3], 3: [4, 5, 3], 4: [4, 5, 4, 3]}
M = 6  # examples per batch in the gradient checks
KINK_MARGIN = 0.05  # min |z| of relu-type hidden units in a gradient check


# --- the reference implementation: docs/math.md §1, §4, §6, one example at a time -------------


def fprime_ref(name, z):
    """f'(z) written from z (the library writes it from a)."""
    if name == "sigmoid":
        s = f_ref("sigmoid", z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 / np.cosh(z) ** 2
    if name == "relu":
        return np.where(z > 0, 1.0, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.01)
    if name == "identity":
        return np.ones_like(z)
    raise AssertionError(name)


def unroll(theta, sizes):
    """W(l), b(l) from θ = [W(1) … W(L) | b(1) … b(L)], each W(l) column-major."""
    Ws, bs, at = [], [], 0
    for s_in, s_out in zip(sizes[:-1], sizes[1:], strict=True):
        block = np.array(theta[at : at + s_out * s_in], dtype=np.float64)
        Ws.append(block.reshape(s_in, s_out).T)
        at += s_out * s_in
    for s_out in sizes[1:]:
        bs.append(np.array(theta[at : at + s_out], dtype=np.float64))
        at += s_out
    assert at == len(theta)
    return Ws, bs


def reference_loss_and_grad(
    theta, sizes, hidden, output, loss, weight_decay, X, Y, sample_weight=None, masks=None
):
    """J and ∂J/∂θ by per-example backpropagation, following docs/math.md §6 step by step."""
    Ws, bs = unroll(theta, sizes)
    names = [*hidden, output]
    L = len(Ws)
    m = len(X)
    share = np.full(m, 1.0 / m) if sample_weight is None else sample_weight / np.sum(sample_weight)
    J = 0.0
    dW = [np.zeros_like(W) for W in Ws]
    db = [np.zeros_like(b) for b in bs]
    for i in range(m):
        # 1. forward pass, keeping z(l) and a(l)
        a, zs, acts = np.asarray(X[i], dtype=np.float64), [], []
        acts.append(a)
        for l in range(L):
            z = Ws[l] @ a + bs[l]
            a = f_ref(names[l], z)
            if masks is not None and l < L - 1:
                a = a * masks[l][i]
            zs.append(z)
            acts.append(a)
        y = np.asarray(Y[i], dtype=np.float64)
        # the cost C and g = ∂C/∂a, straight from the formulas of §4
        if loss == "squared_error":
            C, g = 0.5 * np.sum((a - y) ** 2), a - y
        elif loss == "cross_entropy":
            C, g = -np.sum(y * np.log(a)), -y / a
        elif loss == "binary_cross_entropy":
            C = -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a))
            g = -y / a + (1 - y) / (1 - a)
        else:
            raise AssertionError(loss)
        J += share[i] * C
        # 2. output layer: δ = ∂C/∂z by the chain rule (the full Jacobian for softmax)
        if output == "softmax":
            jac = np.diag(a) - np.outer(a, a)  # ∂a_k/∂z_j = a_k (δ_kj − a_j)
            delta = jac.T @ g
        else:
            delta = g * fprime_ref(output, zs[-1])
        # 3.-4. hidden layers and gradients
        for l in range(L - 1, -1, -1):
            dW[l] += share[i] * np.outer(delta, acts[l])
            db[l] += share[i] * delta
            if l > 0:
                delta = (Ws[l].T @ delta) * fprime_ref(names[l - 1], zs[l - 1])
                if masks is not None:
                    delta = delta * masks[l - 1][i]
    for l in range(L):  # weight decay: weights only, never biases
        J += 0.5 * weight_decay * np.sum(Ws[l] ** 2)
        dW[l] += weight_decay * Ws[l]
    return J, np.concatenate([d.ravel(order="F") for d in dW] + [d for d in db])


def central_difference(cost, theta, eps=1e-4):
    """(J(θ + ε e_i) − J(θ − ε e_i)) / 2ε for every i (docs/math.md §7), without nablanet."""
    theta = np.array(theta, dtype=np.float64)
    g = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = eps
        g[i] = (cost(theta + e) - cost(theta - e)) / (2 * eps)
    return g


def relative_difference(g_num, g):
    return float(np.linalg.norm(g_num - g) / np.linalg.norm(g_num + g))


# --- random test problems --------------------------------------------------------------


def make_targets(output, m, k, rng):
    if output == "softmax":
        return np.eye(k)[rng.integers(0, k, size=m)]
    if output == "tanh":
        return rng.choice([-1.0, 1.0], size=(m, k))  # the source's −1/+1 coding
    if output == "sigmoid":
        return rng.integers(0, 2, size=(m, k)).astype(np.float64)
    return rng.normal(size=(m, k))


def hidden_z(theta, sizes, hidden, X, masks=None):
    """Every hidden z for every example, by the reference forward pass."""
    Ws, bs = unroll(theta, sizes)
    out, A = [], np.asarray(X, dtype=np.float64)
    for l, name in enumerate(hidden):
        Z = A @ Ws[l].T + bs[l]
        out.append(Z)
        A = np.stack([f_ref(name, z) for z in Z])
        if masks is not None:
            A = A * masks[l]
    return out


def make_problem(n_layers, hidden, output, loss, weight_decay, seed, m=M):
    """A random network with random (non-zero) biases, data and targets.

    Relu-type units have a kink at z = 0 where the central difference is meaningless, so
    the draw is repeated until every hidden |z| > KINK_MARGIN: a step ε = 1e-4 in one
    parameter moves any z by far less than that, so no unit crosses its kink during the
    check.
    """
    sizes = SIZES[n_layers]
    hidden_names = [hidden] * (n_layers - 2)
    net = Network(
        sizes,
        activation=hidden_names if hidden_names else "sigmoid",
        output_activation=output,
        loss=loss,
        weight_decay=weight_decay,
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    for _ in range(500):
        theta = rng.normal(0.0, 0.5, size=net.n_params)
        X = rng.normal(size=(m, sizes[0]))
        zs = hidden_z(theta, sizes, hidden_names, X)
        if all(np.abs(Z).min() > KINK_MARGIN for Z in zs):
            break
    else:  # pragma: no cover
        raise AssertionError("no kink-free draw")
    net.theta = theta
    Y = make_targets(output, m, sizes[-1], rng)
    return net, X, Y, hidden_names


CASES = []
for _output, _loss in OUTPUT_PAIRS:
    for _decay in (0.0, 0.1):
        CASES.append((2, None, _output, _loss, _decay))
        for _n_layers in (3, 4):
            for _hidden in HIDDEN:
                CASES.append((_n_layers, _hidden, _output, _loss, _decay))


def _case_id(case):
    n_layers, hidden, output, loss, decay = case
    return f"{n_layers}L-{hidden or 'nohidden'}-{output}-{loss}-decay{decay:g}"


# --- 1. the hand-worked case ------------------------------------------------------------


def sigma(z):
    return 1.0 / (1.0 + math.exp(-z))


def hand_net(weight_decay=0.0):
    net = Network(
        [2, 2, 1],
        activation="sigmoid",
        output_activation="sigmoid",
        loss="squared_error",
        weight_decay=weight_decay,
    )
    net.W[0][...] = [[0.1, 0.2], [0.3, 0.4]]
    net.b[0][...] = [0.5, 0.6]
    net.W[1][...] = [[0.7, 0.8]]
    net.b[1][...] = [0.9]
    return net


X_HAND, Y_HAND = np.array([[1.0, 2.0]]), np.array([[0.0]])

# By hand, for x = (1, 2), y = 0:
# z2  = (0.1·1 + 0.2·2 + 0.5, 0.3·1 + 0.4·2 + 0.6) = (1.0, 1.7)
# a2  = (σ(1.0), σ(1.7)) = (0.7310585786300049, 0.8455347349164652)
# z3  = 0.7·0.7310585786300049 + 0.8·0.8455347349164652 + 0.9
#     = 0.5117410050410034 + 0.6764277879331723 + 0.9 = 2.0881687929741757
# a3  = σ(z3) = 0.8897479186937528
# J   = ½ (a3 − 0)² = 0.39582567940993246
# δ3  = (a3 − y) · a3 (1 − a3) = 0.8897479186937528 · 0.8897479186937528 · 0.1102520813062472
#     = 0.08728120997880882
# σ'(z2) = a2 (1 − a2) = (0.19661193324148185, 0.13060574696620808)
# δ2  = (W2ᵀ δ3) ⊙ σ'(z2) = (0.7·δ3·0.19661193324148185, 0.8·δ3·0.13060574696620808)
#     = (0.012012369200712523, 0.009119542100317426)
# dW2 = δ3 a2ᵀ = (0.06380767730821497, 0.07379929474262047);  db2 = δ3
# dW1 = δ2 xᵀ  = [[0.012012369200712523, 0.024024738401425046],
#                 [0.009119542100317426, 0.018239084200634852]];  db1 = δ2
# With λ = 0.1: ΣW² = 0.01 + 0.04 + 0.09 + 0.16 + 0.49 + 0.64 = 1.43,
#   J += ½·0.1·1.43 = 0.0715  ->  0.46732567940993247;  dW += 0.1 W;  db unchanged.
HAND = {
    "z2": [1.0, 1.7],
    "a2": [0.7310585786300049, 0.8455347349164652],
    "z3": [2.0881687929741757],
    "a3": [0.8897479186937528],
    "J": 0.39582567940993246,
    "delta3": [0.08728120997880882],
    "delta2": [0.012012369200712523, 0.009119542100317426],
    "dW2": [[0.06380767730821497, 0.07379929474262047]],
    "dW1": [
        [0.012012369200712523, 0.024024738401425046],
        [0.009119542100317426, 0.018239084200634852],
    ],
}


def test_hand_numbers_follow_from_the_formulas():
    """The literals above, recomputed step by step with math.exp (guards against typos)."""
    z2 = [0.1 * 1 + 0.2 * 2 + 0.5, 0.3 * 1 + 0.4 * 2 + 0.6]
    a2 = [sigma(z) for z in z2]
    z3 = 0.7 * a2[0] + 0.8 * a2[1] + 0.9
    a3 = sigma(z3)
    J = 0.5 * (a3 - 0.0) ** 2
    d3 = (a3 - 0.0) * a3 * (1 - a3)
    d2 = [0.7 * d3 * a2[0] * (1 - a2[0]), 0.8 * d3 * a2[1] * (1 - a2[1])]
    got = {
        "z2": z2,
        "a2": a2,
        "z3": [z3],
        "a3": [a3],
        "J": J,
        "delta3": [d3],
        "delta2": d2,
        "dW2": [[d3 * a2[0], d3 * a2[1]]],
        "dW1": [[d2[0] * 1, d2[0] * 2], [d2[1] * 1, d2[1] * 2]],
    }
    for key, want in HAND.items():
        np.testing.assert_allclose(got[key], want, rtol=1e-15, err_msg=key)


def test_hand_worked_trace():
    tr = hand_net().trace(X_HAND, Y_HAND)
    tol = {"rtol": 1e-14, "atol": 0}
    np.testing.assert_allclose(tr.z[0], [HAND["z2"]], **tol)
    np.testing.assert_allclose(tr.a[1], [HAND["a2"]], **tol)
    np.testing.assert_allclose(tr.z[1], [HAND["z3"]], **tol)
    np.testing.assert_allclose(tr.a[2], [HAND["a3"]], **tol)
    np.testing.assert_array_equal(tr.a[0], X_HAND)
    assert tr.J == pytest.approx(HAND["J"], rel=1e-14)
    np.testing.assert_allclose(tr.delta[1], [HAND["delta3"]], **tol)  # m = 1: no averaging
    np.testing.assert_allclose(tr.delta[0], [HAND["delta2"]], **tol)
    np.testing.assert_allclose(tr.dW[1], HAND["dW2"], **tol)
    np.testing.assert_allclose(tr.db[1], HAND["delta3"], **tol)
    np.testing.assert_allclose(tr.dW[0], HAND["dW1"], **tol)
    np.testing.assert_allclose(tr.db[0], HAND["delta2"], **tol)


def test_hand_worked_loss_and_grad():
    net = hand_net()
    J, grad = net.loss_and_grad(X_HAND, Y_HAND)
    assert J == pytest.approx(HAND["J"], rel=1e-14)
    # θ = [W1 (column-major) | W2 | b1 | b2]
    dW1, dW2 = (np.ravel(HAND[k], order="F") for k in ("dW1", "dW2"))
    expected = [*dW1, *dW2, *HAND["delta2"], *HAND["delta3"]]
    np.testing.assert_allclose(grad, expected, rtol=1e-14, atol=0)
    assert net.cost(X_HAND, Y_HAND) == pytest.approx(HAND["J"], rel=1e-14)


def test_hand_worked_with_weight_decay():
    lam = 0.1
    net = hand_net(weight_decay=lam)
    J, grad = net.loss_and_grad(X_HAND, Y_HAND)
    assert J == pytest.approx(0.46732567940993247, rel=1e-14)
    assert J == pytest.approx(HAND["J"] + 0.5 * lam * 1.43, rel=1e-14)
    W1, W2 = np.array([[0.1, 0.2], [0.3, 0.4]]), np.array([[0.7, 0.8]])
    dW1 = np.array(HAND["dW1"]) + lam * W1
    dW2 = np.array(HAND["dW2"]) + lam * W2
    expected = [*dW1.ravel("F"), *dW2.ravel("F"), *HAND["delta2"], *HAND["delta3"]]  # no decay on b
    np.testing.assert_allclose(grad, expected, rtol=1e-14, atol=0)
    tr = net.trace(X_HAND, Y_HAND)
    assert tr.J == pytest.approx(J, rel=1e-15)
    np.testing.assert_allclose(tr.db[0], HAND["delta2"], rtol=1e-14)


def test_weight_decay_never_touches_biases():
    net = hand_net(weight_decay=0.0)
    net.b[0][...] = [50.0, -70.0]  # huge biases: would dominate a decay term if included
    J0, g0 = net.loss_and_grad(X_HAND, Y_HAND)
    decayed = net.copy()
    decayed.weight_decay = 0.3
    J1, g1 = decayed.loss_and_grad(X_HAND, Y_HAND)
    assert J1 - J0 == pytest.approx(0.5 * 0.3 * 1.43, rel=1e-12)
    nw = net.n_weights
    np.testing.assert_allclose(g1[:nw] - g0[:nw], 0.3 * net.theta[:nw], rtol=1e-12)
    np.testing.assert_array_equal(g1[nw:], g0[nw:])


# --- 2. gradient checks --------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_gradient_check(case, record_property):
    net, X, Y, _ = make_problem(*case, seed=CASES.index(case))
    J, grad = net.loss_and_grad(X, Y)
    g_num = central_difference(lambda t: net.loss_and_grad(X, Y, t)[0], net.theta)
    rel = relative_difference(g_num, grad)
    record_property("relative_difference", rel)
    print(f"gradcheck {_case_id(case)}: relative difference {rel:.3e}")
    assert np.linalg.norm(grad) > 1e-6  # a vanishing gradient would pass trivially
    assert rel < 1e-7, rel


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_reference_implementation(case):
    net, X, Y, hidden = make_problem(*case, seed=CASES.index(case))
    _, _, output, loss, decay = case
    J, grad = net.loss_and_grad(X, Y)
    J_ref, g_ref = reference_loss_and_grad(
        net.theta, net.layer_sizes, hidden, output, loss, decay, X, Y
    )
    assert J == pytest.approx(J_ref, rel=1e-12)
    assert np.linalg.norm(grad - g_ref) / np.linalg.norm(g_ref) < 1e-12


SUBSET = [
    ("sigmoid", "sigmoid", "squared_error"),
    ("tanh", "softmax", "squared_error"),
    ("relu", "softmax", "cross_entropy"),
    ("leaky_relu", "sigmoid", "binary_cross_entropy"),
    ("identity", "identity", "squared_error"),
    ("relu", "tanh", "squared_error"),
]


@pytest.mark.parametrize(("hidden", "output", "loss"), SUBSET)
def test_gradient_check_with_sample_weight(hidden, output, loss, record_property):
    net, X, Y, names = make_problem(4, hidden, output, loss, 0.05, seed=11)
    s = np.random.default_rng(0).uniform(0.1, 3.0, size=M)
    J, grad = net.loss_and_grad(X, Y, sample_weight=s)
    g_num = central_difference(lambda t: net.loss_and_grad(X, Y, t, sample_weight=s)[0], net.theta)
    rel = relative_difference(g_num, grad)
    record_property("relative_difference", rel)
    print(f"gradcheck sample_weight {hidden}-{output}-{loss}: {rel:.3e}")
    assert rel < 1e-7, rel
    J_ref, g_ref = reference_loss_and_grad(
        net.theta, net.layer_sizes, names, output, loss, 0.05, X, Y, sample_weight=s
    )
    assert J == pytest.approx(J_ref, rel=1e-12)
    assert np.linalg.norm(grad - g_ref) / np.linalg.norm(g_ref) < 1e-12


def test_integer_sample_weight_equals_repeating_rows():
    net, X, Y, _ = make_problem(3, "tanh", "softmax", "cross_entropy", 0.1, seed=3)
    s = np.array([2, 1, 3, 1, 1, 1])
    J_w, g_w = net.loss_and_grad(X, Y, sample_weight=s)
    J_r, g_r = net.loss_and_grad(np.repeat(X, s, axis=0), np.repeat(Y, s, axis=0))
    assert J_w == pytest.approx(J_r, rel=1e-13)
    np.testing.assert_allclose(g_w, g_r, rtol=1e-11, atol=1e-14)
    J1, g1 = net.loss_and_grad(X, Y, sample_weight=np.ones(M))
    J0, g0 = net.loss_and_grad(X, Y)
    assert J1 == pytest.approx(J0, rel=1e-14)
    np.testing.assert_allclose(g1, g0, rtol=1e-13, atol=1e-16)
    assert net.cost(X, Y, sample_weight=s) == pytest.approx(J_w, rel=1e-14)


def _masks(net, rng, p=0.8):
    """Inverted-dropout masks, one per hidden layer: 0 or 1/p."""
    return [np.where(rng.uniform(size=(M, s)) < p, 1.0 / p, 0.0) for s in net.layer_sizes[1:-1]]


@pytest.mark.parametrize(("hidden", "output", "loss"), SUBSET)
def test_gradient_check_with_fixed_dropout_masks(hidden, output, loss, record_property):
    net, X, Y, names = make_problem(4, hidden, output, loss, 0.05, seed=5)
    masks = _masks(net, np.random.default_rng(1))
    assert any((mk == 0).any() for mk in masks) and any((mk == 1.25).any() for mk in masks)
    J, grad = net.loss_and_grad(X, Y, dropout_masks=masks)
    g_num = central_difference(
        lambda t: net.loss_and_grad(X, Y, t, dropout_masks=masks)[0], net.theta
    )
    rel = relative_difference(g_num, grad)
    record_property("relative_difference", rel)
    print(f"gradcheck dropout {hidden}-{output}-{loss}: {rel:.3e}")
    assert rel < 1e-7, rel
    J_ref, g_ref = reference_loss_and_grad(
        net.theta, net.layer_sizes, names, output, loss, 0.05, X, Y, masks=masks
    )
    assert J == pytest.approx(J_ref, rel=1e-12)
    assert np.linalg.norm(grad - g_ref) / np.linalg.norm(g_ref) < 1e-12
    J0, _ = net.loss_and_grad(X, Y)
    assert J != pytest.approx(J0, rel=1e-6)  # the masks did something


def test_dropped_unit_passes_neither_signal_nor_error():
    net, X, Y, _ = make_problem(4, "sigmoid", "sigmoid", "squared_error", 0.0, seed=2)
    masks = [np.full((M, s), 1.25) for s in net.layer_sizes[1:-1]]
    masks[0][:, 2] = 0.0  # unit 2 of the first hidden layer dropped on every example
    _, grad = net.loss_and_grad(X, Y, dropout_masks=masks)
    dW, db = net.layout.views(grad)
    np.testing.assert_array_equal(dW[0][2], 0.0)  # weights into it
    assert db[0][2] == 0.0
    np.testing.assert_array_equal(dW[1][:, 2], 0.0)  # weights out of it
    assert np.abs(dW[0][[0, 1, 3, 4]]).min() > 0


def test_dropout_masks_of_ones_or_none_change_nothing():
    net, X, Y, _ = make_problem(4, "tanh", "identity", "squared_error", 0.1, seed=4)
    J0, g0 = net.loss_and_grad(X, Y)
    for masks in ([None, None], [np.ones((M, s)) for s in net.layer_sizes[1:-1]]):
        J, g = net.loss_and_grad(X, Y, dropout_masks=masks)
        assert J == J0
        np.testing.assert_array_equal(g, g0)


# --- 3. parameters: one buffer, many views ---------------------------------------------------


def test_loss_and_grad_with_theta_leaves_network_alone():
    net, X, Y, _ = make_problem(3, "tanh", "sigmoid", "squared_error", 0.1, seed=6)
    before = net.theta.copy()
    other = np.random.default_rng(0).normal(size=net.n_params)
    other_copy = other.copy()
    J_other, g_other = net.loss_and_grad(X, Y, theta=other)
    np.testing.assert_array_equal(net.theta, before)
    np.testing.assert_array_equal(other, other_copy)
    J_ref, g_ref = reference_loss_and_grad(
        other, net.layer_sizes, ["tanh"], "sigmoid", "squared_error", 0.1, X, Y
    )
    assert J_other == pytest.approx(J_ref, rel=1e-12)
    np.testing.assert_allclose(g_other, g_ref, rtol=1e-11, atol=1e-14)
    J_self, _ = net.loss_and_grad(X, Y)
    assert J_self != pytest.approx(J_other)
    with pytest.raises(ValueError, match="theta must have shape"):
        net.loss_and_grad(X, Y, theta=np.zeros(net.n_params + 1))


def test_pickle_round_trip_and_pickles_of_the_row_major_layout():
    import pickle

    net = Network([3, 4, 2], activation="tanh", output_activation="softmax", seed=0)
    net.theta = np.random.default_rng(1).normal(size=net.n_params)
    X = np.random.default_rng(2).normal(size=(5, 3))
    back = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(back.theta, net.theta)
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    assert np.shares_memory(back.W[0], back.theta)
    # A pickle from before the column-major layout has no mark and row-major weights.
    state = net.__getstate__()
    del state["theta_layout"]
    state["_theta"] = np.concatenate([*(W.ravel(order="C") for W in net.W), *net.b])
    old = Network.__new__(Network)
    old.__setstate__(state)
    for W_old, W_net in zip(old.W, net.W, strict=True):
        np.testing.assert_array_equal(W_old, W_net)
    np.testing.assert_array_equal(old.forward(X), net.forward(X))


def test_views_share_memory_and_setter_copies_in_place():
    net = Network([3, 4, 2], seed=0)
    buffer, W0, b1 = net.theta, net.W[0], net.b[1]
    for view in [*net.W, *net.b]:
        assert np.shares_memory(view, net.theta)
    v = np.arange(net.n_params, dtype=np.float64)
    net.theta = v
    assert net.theta is buffer  # same buffer, not rebound
    np.testing.assert_array_equal(W0, np.arange(12).reshape(3, 4).T)  # old views see them
    np.testing.assert_array_equal(b1, [24, 25])
    assert np.shares_memory(net.W[0], net.theta)
    v[0] = 99.0  # a copy was taken
    assert net.theta[0] == 0.0
    net.W[1][1, 0] = -5.0  # writing through a view changes θ (W column-major)
    assert net.theta[13] == -5.0


def test_theta_setter_rejects_bad_values():
    net = Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match=r"theta must have shape \(26,\)"):
        net.theta = np.zeros(25)
    bad = np.zeros(net.n_params)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.theta = bad
    bad[3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.theta = bad


def test_float32_theta_setter_rejects_values_that_overflow():
    net = Network([2, 1], dtype=np.float32, seed=0)
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.theta = np.array([1e39, 1.0, 1.0])
    assert np.isfinite(net.theta).all()


def test_copy_and_astype_are_independent():
    net, X, _, _ = make_problem(3, "relu", "softmax", "cross_entropy", 0.1, seed=7)
    twin = net.copy()
    assert not np.shares_memory(twin.theta, net.theta)
    np.testing.assert_array_equal(twin.theta, net.theta)
    np.testing.assert_array_equal(twin.forward(X), net.forward(X))
    assert repr(twin) == repr(net)
    twin.theta = twin.theta * 2
    assert not np.allclose(twin.forward(X), net.forward(X))


def test_reset_and_seed_reproducible():
    a, b, c = (Network([5, 6, 3], seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.theta, b.theta)
    assert not np.allclose(a.theta, c.theta)
    a.theta = np.ones(a.n_params)
    a.reset(1)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.theta[a.n_weights :], 0.0)  # biases start at zero
    gen = np.random.default_rng(1)
    assert np.allclose(Network([5, 6, 3], seed=gen).theta, b.theta)


def test_auto_init_uses_he_for_relu_layers():
    net = Network([2, 3, 3, 3, 1], activation=["relu", "tanh", "leaky_relu"])
    assert net.init_names == ["he", "ufldl", "he", "ufldl"]
    assert Network([2, 3, 1], init="glorot").init_names == ["glorot", "glorot"]


# --- float32 -----------------------------------------------------------------------------


def test_float32_network_computes_in_float32():
    net32, X, Y, _ = make_problem(4, "tanh", "softmax", "cross_entropy", 0.1, seed=8)
    net32 = net32.astype(np.float32)
    assert net32.theta.dtype == np.float32
    assert all(W.dtype == np.float32 for W in net32.W)
    assert all(b.dtype == np.float32 for b in net32.b)
    assert net32.forward(X).dtype == np.float32  # float64 input is converted
    assert net32.hidden(X).dtype == np.float32
    J32, g32 = net32.loss_and_grad(X, Y)
    assert g32.dtype == np.float32 and isinstance(J32, float)
    tr = net32.trace(X, Y)
    assert all(arr.dtype == np.float32 for arr in [*tr.z, *tr.a, *tr.delta, *tr.dW, *tr.db])


@pytest.mark.parametrize(("hidden", "output", "loss"), SUBSET)
def test_float32_gradient_close_to_float64(hidden, output, loss):
    net64, X, Y, _ = make_problem(4, hidden, output, loss, 0.1, seed=9)
    net64.theta = net64.theta.astype(np.float32)  # same parameters, exactly representable
    net32 = net64.astype(np.float32)
    J64, g64 = net64.loss_and_grad(X.astype(np.float32), Y)
    J32, g32 = net32.loss_and_grad(X, Y)
    assert J32 == pytest.approx(J64, rel=1e-5)
    assert np.linalg.norm(g32 - g64) / np.linalg.norm(g64) < 1e-4
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5 * np.abs(g64).max())


# --- forward, trace, hidden, cost --------------------------------------------------------------


def test_forward_matches_trace_and_reference():
    net, X, Y, hidden = make_problem(4, "leaky_relu", "softmax", "squared_error", 0.0, seed=10)
    out = net.forward(X)
    tr = net.trace(X)
    np.testing.assert_array_equal(out, tr.a[-1])
    assert tr.delta == [] and tr.J is None
    # reference forward, one example at a time
    Ws, bs = unroll(net.theta, net.layer_sizes)
    for i in range(M):
        a = X[i]
        for l, name in enumerate([*hidden, "softmax"]):
            z = Ws[l] @ a + bs[l]
            np.testing.assert_allclose(tr.z[l][i], z, rtol=1e-13, atol=1e-15)
            a = f_ref(name, z)
            np.testing.assert_allclose(tr.a[l + 1][i], a, rtol=1e-13, atol=1e-15)
    # with targets, the trace carries what loss_and_grad computes
    tr = net.trace(X, Y)
    J, grad = net.loss_and_grad(X, Y)
    assert tr.J == J
    np.testing.assert_array_equal(np.concatenate([d.ravel("F") for d in tr.dW] + tr.db), grad)
    np.testing.assert_array_equal(tr.a[-1], out)


def test_trace_returns_fresh_arrays():
    net, X, Y, _ = make_problem(3, "sigmoid", "sigmoid", "squared_error", 0.0, seed=12)
    t1 = net.trace(X, Y)
    snapshot = [a.copy() for a in t1.a]
    net.trace(X[::-1].copy(), Y[::-1].copy())
    net.loss_and_grad(X[::-1].copy(), Y)
    for a, s in zip(t1.a, snapshot, strict=True):
        np.testing.assert_array_equal(a, s)


def test_forward_output_is_not_a_reused_buffer():
    net, X, _, _ = make_problem(3, "tanh", "identity", "squared_error", 0.0, seed=13)
    out1 = net.forward(X)
    keep = out1.copy()
    net.forward(X * 2)  # same batch size: same workspace
    np.testing.assert_array_equal(out1, keep)


def test_hidden_activations():
    net, X, _, hidden = make_problem(4, "relu", "sigmoid", "squared_error", 0.0, seed=14)
    tr = net.trace(X)
    np.testing.assert_array_equal(net.hidden(X), tr.a[2])  # default: last hidden layer
    np.testing.assert_array_equal(net.hidden(X, 0), tr.a[1])
    np.testing.assert_array_equal(net.hidden(X, -2), tr.a[1])
    assert net.hidden(X, 1).shape == (M, 4)
    with pytest.raises(ValueError, match="no hidden layer"):
        Network([3, 2]).hidden(np.zeros((1, 3)))


def test_cost_equals_loss_and_grad():
    net, X, Y, _ = make_problem(3, "identity", "sigmoid", "binary_cross_entropy", 0.1, seed=15)
    assert net.cost(X, Y) == pytest.approx(net.loss_and_grad(X, Y)[0], rel=1e-15)


def test_accepts_array_likes():
    net = hand_net()
    J, _ = net.loss_and_grad([[1, 2]], [[0]])  # nested lists of ints
    assert J == pytest.approx(HAND["J"], rel=1e-14)
    np.testing.assert_allclose(net.forward([[1, 2]]), [HAND["a3"]], rtol=1e-14)


# --- bad input ---------------------------------------------------------------------------------

X_OK, Y_OK = np.zeros((4, 3)), np.zeros((4, 2))


def _nan_at(A, i, j, value=np.nan):
    A = A.copy()
    A[i, j] = value
    return A


@pytest.mark.parametrize(
    ("X", "Y", "match"),
    [
        (np.zeros(3), Y_OK, r"X must be 2-D of shape \(n_samples, n_features\), got shape \(3,\)"),
        (X_OK, np.zeros(4), r"Y must be 2-D"),
        (np.zeros((4, 2)), Y_OK, "X has 2 columns, expected 3"),
        (X_OK, np.zeros((4, 3)), "Y has 3 columns, expected 2"),
        (np.zeros((5, 3)), Y_OK, "X and Y have different numbers of samples: 5 and 4"),
        (_nan_at(X_OK, 2, 1), Y_OK, r"X contains NaN or infinity \(first at row 2, column 1\)"),
        (X_OK, _nan_at(Y_OK, 3, 0, np.inf), r"Y contains NaN or infinity \(first at row 3"),
        (X_OK, _nan_at(Y_OK, 0, 1, -np.inf), "Y contains NaN or infinity"),
        (np.zeros((0, 3)), np.zeros((0, 2)), "X is empty: it has 0 samples"),
        (np.array([["a", "b", "c"]]), Y_OK[:1], "X must be numeric"),
    ],
)
def test_bad_data_raises(X, Y, match):
    net = Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match=match):
        net.loss_and_grad(X, Y)
    with pytest.raises(ValueError, match=match):
        net.trace(X, Y)
    with pytest.raises(ValueError, match=match):
        net.cost(X, Y)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.zeros(3), "X must be 2-D"),
        (np.zeros((2, 4)), "X has 4 columns, expected 3"),
        (np.zeros((0, 3)), "X is empty"),
        (_nan_at(np.zeros((2, 3)), 1, 2), "X contains NaN"),
    ],
)
def test_bad_forward_input_raises(X, match):
    net = Network([3, 4, 2], seed=0)
    for method in (net.forward, net.hidden, net.trace):
        with pytest.raises(ValueError, match=match):
            method(X)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sizes": [3, 0, 2]}, "layer sizes must be integers >= 1"),
        ({"sizes": [3, 4, -2]}, "layer sizes must be integers >= 1"),
        ({"sizes": [3]}, "at least an input and an output layer"),
        ({"activation": "swish"}, "unknown activation 'swish'; valid: .*relu.*sigmoid.*tanh"),
        # without a hidden layer the name is used nowhere, but a misspelt one is refused
        ({"sizes": [3, 2], "activation": "sigmoidd"}, "unknown activation 'sigmoidd'; valid"),
        ({"sizes": [3, 2], "activation": ["sigmoidd"]}, "unknown activation 'sigmoidd'"),
        ({"output_activation": "gelu"}, "unknown activation 'gelu'; valid: .*softmax"),
        ({"loss": "hinge"}, "unknown loss 'hinge'; valid: .*binary_cross_entropy.*squared_error"),
        ({"init": "xavier"}, "unknown init 'xavier'; valid: .*glorot.*he.*normal.*ufldl"),
        ({"init": ["he"]}, r"init needs one name per weight layer \(2\)"),
        ({"weight_decay": -0.1}, r"weight_decay must be a number in \[0, inf\), got -0.1"),
        ({"weight_decay": np.nan}, r"weight_decay must be a number in \[0, inf\)"),
        ({"weight_decay": np.inf}, r"weight_decay must be a number in \[0, inf\)"),
        ({"weight_decay": True}, r"weight_decay must be a number in \[0, inf\), got True"),
        ({"activation": "softmax"}, "softmax can only be the output activation"),
        ({"activation": ["sigmoid", "tanh"]}, r"one name per hidden layer \(1\)"),
        ({"sizes": [3, 4, 4, 2], "activation": ["tanh"]}, r"one name per hidden layer \(2\)"),
        ({"dtype": np.float16}, "dtype must be float32 or float64"),
        ({"dtype": np.int64}, "dtype must be float32 or float64"),
    ],
)
def test_bad_construction_raises(kwargs, match):
    kwargs = dict(kwargs)
    sizes = kwargs.pop("sizes", [3, 4, 2])
    with pytest.raises(ValueError, match=match):
        Network(sizes, **kwargs)


def test_unknown_activation_message_lists_every_valid_name():
    with pytest.raises(ValueError, match="unknown activation 'swish'; valid: ") as info:
        Network([3, 4, 2], activation="swish")
    for name in [*ACTIVATIONS, "logistic", "linear"]:
        assert name in str(info.value)


@pytest.mark.parametrize("sizes", [[3, 2.5, 2], [3, True, 2]])
def test_non_integer_layer_sizes_raise(sizes):
    with pytest.raises(ValueError, match="layer sizes must be integers >= 1"):
        Network(sizes)


def test_per_layer_auto_init_is_accepted_or_not_advertised():
    try:
        net = Network([3, 4, 2], activation="relu", init=["auto", "normal"])
    except ValueError as exc:
        assert "auto" not in str(exc).split("valid:")[1]
    else:
        assert net.init_names == ["he", "normal"]


@pytest.mark.parametrize(
    ("s", "match"),
    [
        (np.ones(3), r"sample_weight must have shape \(4,\)"),
        (np.array([1.0, -1.0, 1.0, 1.0]), "non-negative"),
        (np.zeros(4), "sums to zero"),
        (np.array([1.0, np.nan, 1.0, 1.0]), "sample_weight contains NaN"),
    ],
)
def test_bad_sample_weight_raises(s, match):
    net = Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match=match):
        net.loss_and_grad(X_OK, Y_OK, sample_weight=s)


# --- display -------------------------------------------------------------------------------------


def test_repr_and_summary():
    net = Network([3, 5, 2], activation="tanh", output_activation="softmax", weight_decay=0.01)
    r = repr(net)
    for part in ["3-5-2", "tanh", "softmax", "cross_entropy", "n_params=32", "0.01", "float64"]:
        assert part in r, part
    s = net.summary()
    # hidden: 5·(3+1) = 20 parameters, output: 2·(5+1) = 12; 15 + 10 = 25 weights
    assert "32 parameters (25 weights)" in s
    lines = s.splitlines()
    assert lines[2].split() == ["hidden", "1", "5", "tanh", "20"]
    assert lines[3].split() == ["output", "2", "softmax", "12"]
    assert "cross_entropy" in s


# --- property tests ------------------------------------------------------------------------------

PROPERTY = settings(max_examples=40, deadline=None, derandomize=True, database=None)
pair = st.sampled_from(OUTPUT_PAIRS)
hidden_name = st.sampled_from(HIDDEN)


def _net(hidden, output, loss, seed=0):
    return Network(
        [3, 4, 2],
        activation=hidden,
        output_activation=output,
        loss=loss,
        weight_decay=0.01,
        seed=seed,
    )


@PROPERTY
@given(
    data=st.data(),
    hidden=hidden_name,
    pair=pair,
    m=st.integers(1, 10),
    weighted=st.booleans(),
)
def test_permuting_samples_leaves_J_and_grad_unchanged(data, hidden, pair, m, weighted):
    net = _net(hidden, *pair)
    X = data.draw(arrays(np.float64, (m, 3), elements=st.floats(-10, 10)))
    rng = np.random.default_rng(m)
    Y = make_targets(pair[0], m, 2, rng)
    s = rng.uniform(0.1, 2.0, size=m) if weighted else None
    perm = np.array(data.draw(st.permutations(range(m))))
    J, g = net.loss_and_grad(X, Y, sample_weight=s)
    Jp, gp = net.loss_and_grad(X[perm], Y[perm], sample_weight=None if s is None else s[perm])
    # Rounding of a sum of m terms is bounded by a few ulps of Σ|term|: use that as the scale.
    tr = net.trace(X, Y, sample_weight=s)
    scale_W = [np.abs(d).T @ np.abs(a) for d, a in zip(tr.Delta, tr.a[:-1], strict=True)]
    scale_b = [np.abs(d).sum(axis=0) for d in tr.Delta]
    scale = np.concatenate([w.ravel() for w in scale_W] + scale_b) + np.abs(g)
    assert Jp == pytest.approx(J, rel=1e-12, abs=1e-300)
    assert (np.abs(gp - g) <= 1e-11 * scale + 1e-300).all()


@PROPERTY
@given(data=st.data(), hidden=hidden_name, pair=pair, m=st.integers(1, 10))
def test_batch_forward_equals_row_by_row(data, hidden, pair, m):
    net = _net(hidden, *pair)
    X = data.draw(arrays(np.float64, (m, 3), elements=st.floats(-10, 10)))
    batch = net.forward(X)
    rows = np.vstack([net.forward(X[i : i + 1]) for i in range(m)])
    np.testing.assert_allclose(batch, rows, rtol=1e-12, atol=1e-12)


@PROPERTY
@given(data=st.data(), hidden=hidden_name, pair=pair, m=st.integers(1, 6))
def test_outputs_finite_for_extreme_inputs(data, hidden, pair, m):
    net = _net(hidden, *pair, seed=1)
    X = data.draw(arrays(np.float64, (m, 3), elements=st.floats(-1e6, 1e6)))
    Y = make_targets(pair[0], m, 2, np.random.default_rng(0))
    out = net.forward(X)
    assert np.isfinite(out).all()
    J, g = net.loss_and_grad(X, Y)
    assert np.isfinite(J) and np.isfinite(g).all()


def test_forward_and_cost_in_chunks_equal_one_pass():
    # More rows than one evaluation chunk: forward/cost run in row blocks with bounded
    # buffers; the result must equal the per-batch path of loss_and_grad on all rows.
    from nablanet.workspace import CHUNK_ROWS

    rng = np.random.default_rng(11)
    m = CHUNK_ROWS + 123
    X = rng.normal(size=(m, 5))
    Y = np.eye(3)[rng.integers(0, 3, m)]
    w = rng.random(m) + 0.1
    net = Network([5, 7, 3], activation="tanh", output_activation="softmax",
                  weight_decay=0.01, seed=3)
    J_all, _ = net.loss_and_grad(X, Y, sample_weight=w)
    assert net.cost(X, Y, sample_weight=w) == pytest.approx(J_all, rel=1e-12)
    trace = net.trace(X)
    np.testing.assert_allclose(net.forward(X), trace.a[-1], rtol=1e-12, atol=1e-15)
