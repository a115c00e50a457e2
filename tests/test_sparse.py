"""scipy.sparse inputs (CSR, CSC) in the network and the training loop.

The first layer's products are computed on the stored entries only (Z = X W(1)ᵀ and
∂J/∂W(1)ᵀ = Xᵀ Δ as sparse · dense products) and minibatches are sparse row slices, so a
sparse data set is never densified. Every result equals the dense computation up to the
order of the floating-point sums, and the gradient passes a numerical check.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from nablanet import Network, TrainingDiverged
from nablanet.training import accuracy, train


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    with threadpool_limits(limits=1):
        yield


def sparse_data(m=60, n=40, density=0.15, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    X[rng.random((m, n)) > density] = 0.0
    X[3] = 0.0  # an empty row
    Y = np.eye(3)[rng.integers(0, 3, m)]
    return X, Y


def net_for(n, dtype=np.float64, **kwargs):
    kwargs = {"activation": "tanh", "output_activation": "softmax", "weight_decay": 1e-3,
              "seed": 0, **kwargs}
    return Network([n, 8, 5, 3], dtype=dtype, **kwargs)


FORMATS = [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "dtype, rtol, atol", [(np.float64, 1e-12, 1e-15), (np.float32, 1e-5, 1e-6)]
)
def test_every_network_method_equals_the_dense_computation(fmt, dtype, rtol, atol):
    X, Y = sparse_data()
    Xs = fmt(X)
    net = net_for(X.shape[1], dtype)
    tol = {"rtol": rtol, "atol": atol}
    np.testing.assert_allclose(net.forward(Xs), net.forward(X), **tol)
    np.testing.assert_allclose(net.hidden(Xs), net.hidden(X), **tol)
    np.testing.assert_allclose(net.hidden(Xs, layer=0), net.hidden(X, layer=0), **tol)
    np.testing.assert_allclose(net.cost(Xs, Y), net.cost(X, Y), **tol)
    J_s, g_s = net.loss_and_grad(Xs, Y)
    J_d, g_d = net.loss_and_grad(X, Y)
    assert g_s.dtype == dtype
    np.testing.assert_allclose(J_s, J_d, **tol)
    np.testing.assert_allclose(g_s, g_d, **tol)
    tr_s, tr_d = net.trace(Xs, Y), net.trace(X, Y)
    for a, b in zip([*tr_s.z, *tr_s.a[1:], *tr_s.delta, *tr_s.dW],
                    [*tr_d.z, *tr_d.a[1:], *tr_d.delta, *tr_d.dW], strict=True):
        np.testing.assert_allclose(a, b, **tol)
    d_s, d_d = net.diagnose(Xs, Y).as_dicts(), net.diagnose(X, Y).as_dicts()
    for a, b in zip(d_s, d_d, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], float):
                np.testing.assert_allclose(a[k], b[k], rtol=1e-4)
            else:
                assert a[k] == b[k]


@pytest.mark.parametrize("sample_weight", [None, "random"])
def test_sparse_gradient_passes_the_numerical_check(sample_weight):
    X, Y = sparse_data(m=12, n=9, density=0.3)
    s = None if sample_weight is None else np.random.default_rng(1).uniform(0.5, 2, 12)
    net = net_for(9)  # tanh: relu's kink sits at z = b = 0 for the empty row
    report = net.check_gradient(sp.csr_matrix(X), Y, sample_weight=s)
    assert report.passed and report.relative_difference < 1e-8, report
    _, g_d = net.loss_and_grad(X, Y, sample_weight=s)
    _, g_s = net.loss_and_grad(sp.csr_matrix(X), Y, sample_weight=s)
    np.testing.assert_allclose(g_s, g_d, rtol=1e-12, atol=1e-15)


def test_a_network_without_hidden_layers_takes_sparse_inputs():
    X, Y = sparse_data()
    net = Network([X.shape[1], 3], output_activation="softmax", seed=0)
    np.testing.assert_allclose(net.forward(sp.csr_matrix(X)), net.forward(X), rtol=1e-12)
    _, g_s = net.loss_and_grad(sp.csc_matrix(X), Y)
    _, g_d = net.loss_and_grad(X, Y)
    np.testing.assert_allclose(g_s, g_d, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"optimizer": "sgd", "batch_size": 7, "learning_rate": 0.1},
        {"optimizer": "adam", "batch_size": 16, "dropout": 0.2, "validation_fraction": 0.2,
         "score": accuracy},
        {"optimizer": "gd", "learning_rate": 0.5, "restarts": 2},
        {"optimizer": "lbfgs", "validation_fraction": 0.25},
        {"optimizer": "cg"},
        {"optimizer": "sgd", "batch_size": 10, "sample_weight": "random"},
    ],
)
def test_training_on_sparse_inputs_equals_training_on_dense_ones(kwargs):
    X, Y = sparse_data()
    kwargs = dict(kwargs)
    if kwargs.get("sample_weight") == "random":
        kwargs["sample_weight"] = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    dense, sparse = net_for(X.shape[1]), net_for(X.shape[1])
    h_d = train(dense, X, Y, epochs=6, seed=3, **kwargs)
    h_s = train(sparse, sp.csr_matrix(X), Y, epochs=6, seed=3, **kwargs)
    np.testing.assert_allclose(sparse.theta, dense.theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h_s.train_loss, h_d.train_loss, rtol=1e-10)
    np.testing.assert_allclose(h_s.val_loss, h_d.val_loss, rtol=1e-10)
    assert h_s.best_run == h_d.best_run


def test_training_never_densifies_the_data(monkeypatch):
    # 300 rows of 200 000 features at 0.01 % density: 480 MB dense, 0.1 MB sparse.
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 300, 6000), rng.integers(0, 200_000, 6000)
    X = sp.csr_matrix((rng.standard_normal(6000), (rows, cols)), shape=(300, 200_000))
    Y = np.eye(2)[np.arange(300) % 2]

    def refuse(*args, **kwargs):
        raise AssertionError("a sparse matrix was densified")

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)
    net = Network([200_000, 2, 2], activation="relu", output_activation="softmax", seed=0)
    start = net.theta.copy()
    h = train(net, X, Y, optimizer="adam", batch_size=50, epochs=2, seed=0,
              validation_fraction=0.2, score=accuracy)
    assert len(h.train_loss) == 2 and np.isfinite(h.train_loss + h.val_loss).all()
    after_adam = net.theta.copy()
    assert not np.array_equal(after_adam, start)
    h = train(net, X.tocsc(), Y, optimizer="lbfgs", epochs=2)
    assert h.train_loss[-1] <= h.train_loss[0] and not np.array_equal(net.theta, after_adam)
    out, hidden = net.forward(X), net.hidden(X)
    assert out.shape == (300, 2) and hidden.shape == (300, 2)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-12)
    assert net.cost(X, Y) == pytest.approx(h.runs[0].final_loss, rel=1e-12)
    assert net.trace(X, Y).J == pytest.approx(net.cost(X, Y), rel=1e-12)


@pytest.mark.parametrize(
    ("X", "Y", "error", "match"),
    [
        (sp.coo_matrix(np.eye(4, 3)), np.ones((4, 3)), TypeError,
         "X is a scipy.sparse matrix in COO format; accepted: CSR, CSC"),
        (sp.csr_matrix(np.eye(4, 5)), np.ones((4, 3)), ValueError, "X has 5 columns, expected 3"),
        (sp.csr_matrix((0, 3)), np.ones((0, 3)), ValueError, "X is empty"),
        (sp.csr_matrix(np.array([[0, 1, 0], [0, 0, np.nan]])), np.ones((2, 3)), ValueError,
         r"X contains NaN or infinity \(first at row 1, column 2\)"),
        (sp.csr_matrix(np.array([[0, 1e300, 0]])), np.ones((1, 3)), ValueError,
         r"X holds 1e\+300 \(row 0, column 1\), which overflows float32"),  # refused, not inf
        (sp.csr_matrix(np.eye(4, 3)), sp.csr_matrix(np.eye(4, 3)), TypeError,
         "Y must be a dense array, got a scipy.sparse csr matrix"),
        (sp.csr_matrix(np.eye(5, 3)), np.ones((4, 3)), ValueError,
         "different numbers of samples: 5 and 4"),
    ],
)
def test_bad_sparse_input_is_refused_by_name(X, Y, error, match):
    net = Network([3, 3], output_activation="softmax", dtype=np.float32)
    with pytest.raises(error, match=match):
        net.loss_and_grad(X, Y)
    with pytest.raises(error, match=match):
        train(net, X, Y, epochs=1)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_divergence_advice_finds_the_huge_entry_of_a_sparse_matrix():
    X, Y = sparse_data()
    X[7, 11] = 1e308
    with pytest.raises(TrainingDiverged, match=r"X holds a value of 1e\+308 \(row 7, column 11\)"):
        train(net_for(X.shape[1], activation="relu"), sp.csr_matrix(X), Y, optimizer="sgd",
              epochs=3)
