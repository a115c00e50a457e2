"""What each minibatch sees, and what sample weights do there (nablanet.training.run).

Two promises a user relies on, checked against computations of the tests' own:

1. Batch composition. Each epoch draws a permutation of the rows from the seeded generator
   (a new one each epoch, shuffling the previous epoch's order) and cuts it into slices of
   ``batch_size`` rows, the last slice holding the remainder; every row is seen exactly once
   per epoch, with its own target and sample weight. A slice whose weights are all 0 adds
   nothing to J, so it takes no step. The tests record what the loop hands the network's
   loss function and replay the steps on slices cut independently.
2. Rows of weight 0 contribute nothing, whatever the batch size, solver and storage (dense
   or CSR): filling them with garbage changes no bit of the result, and removing them
   (keeping the other rows' batches as they were) changes nothing but rounding.

Data: the first distinct rows of scikit-learn's bundled digits (pixels in [0, 1], about
half of them 0, so a CSR matrix is a real sparse one).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from nablanet import MLPClassifier, MLPRegressor, Network
from nablanet.optim import SGD, Adam, GradientDescent
from nablanet.training import train

M = 180  # rows: 180 = 25·7 + 5 = 3·50 + 30, so most batch sizes leave a partial last batch
SEED = 3
EPOCHS = 3
STEP_OPTIMIZERS = {
    "gd": lambda: GradientDescent(0.1),
    "sgd": lambda: SGD(0.02, momentum=0.9, nesterov=True),
    "adam": lambda: Adam(0.01),
}
STORAGE = {"dense": np.asarray, "csr": sp.csr_matrix}


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def digits():
    """M distinct digit images (so that a row identifies its index), one-hot targets."""
    d = load_digits()
    _, first = np.unique(d.data, axis=0, return_index=True)
    rows = np.sort(first)[:M]
    X, y = d.data[rows] / 16.0, d.target[rows]
    return X, np.eye(10)[y], y


def weights(m, seed=0):
    """Integer weights 0 to 3: about a quarter of the rows weigh 0, and a few batches too."""
    return np.random.default_rng(seed).integers(0, 4, size=m).astype(np.float64)


def new_net(seed=SEED):
    return Network([64, 8, 10], activation="tanh", output_activation="softmax", seed=seed,
                   weight_decay=1e-3)


# --- the batches, cut independently ----------------------------------------------------------


def expected_epochs(m, batch_size, epochs, seed, shuffle):
    """Each epoch's batches as index arrays, cut without the library's loop.

    The permutation comes from ``np.random.default_rng(seed)``, as `train` documents
    (``seed`` seeds the shuffling): one in-place shuffle of the running order per epoch.
    There are ⌊m/b⌋ full batches, then one of the m mod b remaining rows if any.
    """
    b = m if batch_size is None else min(batch_size, m)
    rng = np.random.default_rng(seed)
    order = np.arange(m)
    for _ in range(epochs):
        if shuffle and b < m:
            rng.shuffle(order)
        full = [order[k * b : (k + 1) * b].copy() for k in range(m // b)]
        rest = [order[(m // b) * b :].copy()] if m % b else []
        yield full + rest


def record_batches(net):
    """Wrap the network's loss function: keep (X, Y, sample_weight) of every call."""
    seen = []
    inner = net.loss_and_grad_into

    def spy(X, Y, theta, grad, *, sample_weight=None, dropout_masks=None):
        Xd = X.toarray() if sp.issparse(X) else np.array(X)
        s = None if sample_weight is None else np.array(sample_weight)
        seen.append((Xd, np.array(Y), s))
        return inner(X, Y, theta, grad, sample_weight=sample_weight, dropout_masks=dropout_masks)

    net.loss_and_grad_into = spy
    return seen


def row_indices(X, Xb):
    """The index in X of each row of the batch Xb (X's rows are distinct)."""
    where = {row.tobytes(): i for i, row in enumerate(X)}
    return np.array([where[row.tobytes()] for row in Xb])


BATCH_SIZES = [1, 7, 50, 90, 179, 180, 500, None]


@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_each_batch_is_the_next_slice_of_the_epochs_permutation(digits, batch_size, shuffle,
                                                                 storage):
    X, Y, _ = digits
    s = weights(M)
    net = new_net()
    seen = record_batches(net)
    train(net, STORAGE[storage](X), Y, optimizer=GradientDescent(0.1), epochs=EPOCHS,
          batch_size=batch_size, shuffle=shuffle, seed=SEED, sample_weight=s)

    got = [row_indices(X, Xb) for Xb, _, _ in seen]
    b = M if batch_size is None else min(batch_size, M)
    sizes = [b] * (M // b) + ([M % b] if M % b else [])
    want = []
    for epoch in expected_epochs(M, batch_size, EPOCHS, SEED, shuffle):
        # The epoch covers every row exactly once, in slices of b and a last partial one.
        assert [len(r) for r in epoch] == sizes
        assert np.array_equal(np.sort(np.concatenate(epoch)), np.arange(M))
        if not shuffle or b == M:
            assert np.array_equal(np.concatenate(epoch), np.arange(M))
        want += [rows for rows in epoch if s[rows].sum() > 0]  # all-zero slices: no step
    assert len(got) == len(want)
    for (_, Yb, sb), rows, expected in zip(seen, got, want, strict=True):
        np.testing.assert_array_equal(rows, expected)
        np.testing.assert_array_equal(Yb, Y[expected])
        np.testing.assert_array_equal(sb, s[expected])


def test_shuffled_epochs_differ_and_the_seed_fixes_them(digits):
    X, Y, _ = digits
    runs = []
    for _ in range(2):
        net = new_net()
        seen = record_batches(net)
        train(net, X, Y, optimizer="sgd", epochs=2, batch_size=M // 2, seed=SEED)
        runs.append([row_indices(X, Xb) for Xb, _, _ in seen])
    first, second = runs
    assert len(first) == 4
    assert not np.array_equal(np.concatenate(first[:2]), np.concatenate(first[2:]))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_batches_weight_their_rows_by_sample_weight_alone(digits):
    """Uniform weights: each batch's J is its rows' plain mean, i.e. no weights at all."""
    X, Y, _ = digits
    weighted, plain = new_net(), new_net()
    seen_w, seen_p = record_batches(weighted), record_batches(plain)
    kw = {"optimizer": "adam", "epochs": 2, "batch_size": 7, "seed": SEED}
    train(weighted, X, Y, sample_weight=np.full(M, 2.5), **kw)
    train(plain, X, Y, **kw)
    assert all(s is None for _, _, s in seen_p)
    for (Xw, _, sw), (Xp, _, _) in zip(seen_w, seen_p, strict=True):
        np.testing.assert_array_equal(Xw, Xp)
        assert np.all(sw == 2.5)
    np.testing.assert_allclose(weighted.theta, plain.theta, rtol=1e-12, atol=1e-14)


# --- the steps, replayed on those batches ------------------------------------------------------


@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("batch_size", [1, 7, 50, 179, None])
@pytest.mark.parametrize("name", STEP_OPTIMIZERS)
def test_training_is_one_step_per_weighted_batch(digits, name, batch_size, storage):
    """The loop's result equals stepping on ∇J of each slice with its weights, in order."""
    X, Y, _ = digits
    Xs, s = STORAGE[storage](X), weights(M, seed=1)
    net = new_net()
    train(net, Xs, Y, optimizer=STEP_OPTIMIZERS[name](), epochs=EPOCHS, batch_size=batch_size,
          seed=SEED, sample_weight=s)

    replay = new_net()
    opt = STEP_OPTIMIZERS[name]()
    state, steps = opt.init(replay.theta), 0
    for epoch in expected_epochs(M, batch_size, EPOCHS, SEED, shuffle=True):
        for rows in epoch:
            if s[rows].sum() == 0:  # a slice of weight 0 adds nothing to J: no step
                continue
            _, g = replay.loss_and_grad(Xs[rows], Y[rows], sample_weight=s[rows])
            opt.step(replay.theta, g, state)
            steps += 1
    assert steps >= EPOCHS  # at least one step per epoch
    np.testing.assert_allclose(net.theta, replay.theta, rtol=1e-10, atol=1e-13)


# --- rows of weight 0 -----------------------------------------------------------------------


def with_garbage(X, Y, s, seed=0):
    """X, Y with every row of weight 0 replaced: large inputs, other (valid) targets."""
    rng = np.random.default_rng(seed)
    zero = s == 0
    Xg, Yg = X.copy(), Y.copy()
    Xg[zero] = rng.normal(0.0, 50.0, size=(zero.sum(), X.shape[1]))
    Yg[zero] = np.roll(Y[zero], 3, axis=1)  # a different class, still one-hot
    assert not np.array_equal(Xg[zero], X[zero])
    return Xg, Yg


SOLVERS = [(name, bs) for name in STEP_OPTIMIZERS for bs in [1, 16, 50, 179, None]]
SOLVERS += [("lbfgs", None)]


@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("name, batch_size", SOLVERS)
def test_garbage_in_rows_of_weight_zero_changes_nothing(digits, name, batch_size, storage):
    X, Y, _ = digits
    s = weights(M)
    Xg, Yg = with_garbage(X, Y, s)
    results = []
    for data_X, data_Y in [(X, Y), (Xg, Yg)]:
        net = new_net()
        opt = STEP_OPTIMIZERS[name]() if name in STEP_OPTIMIZERS else name
        history = train(net, STORAGE[storage](data_X), data_Y, optimizer=opt, epochs=EPOCHS,
                        batch_size=batch_size, seed=SEED, sample_weight=s)
        results.append((net.theta.copy(), history.train_loss))
    (theta, loss), (theta_g, loss_g) = results
    assert not np.array_equal(theta, new_net().theta)  # it trained
    np.testing.assert_array_equal(theta_g, theta)
    np.testing.assert_array_equal(loss_g, loss)


def interleave_zero_rows(X, Y, b, k, seed=0):
    """Insert k garbage rows of weight 0 after every b rows, and one all-zero batch.

    Cut in batches of b + k without shuffling, the result's weighted rows fall into the
    same batches as X's rows cut in batches of b (the last one partial), with a batch of
    weight 0 alone after the first.
    """
    rng = np.random.default_rng(seed)

    def garbage(n):
        return rng.normal(0.0, 50.0, size=(n, X.shape[1])), np.eye(Y.shape[1])[
            rng.integers(0, Y.shape[1], n)]

    parts_X, parts_Y, parts_s = [], [], []
    for i, start in enumerate(range(0, X.shape[0], b)):
        Xb, Yb = X[start : start + b], Y[start : start + b]
        Gx, Gy = garbage(k)
        parts_X += [Xb, Gx]
        parts_Y += [Yb, Gy]
        parts_s += [np.ones(len(Xb)), np.zeros(k)]
        if i == 0:
            Gx, Gy = garbage(b + k)
            parts_X.append(Gx)
            parts_Y.append(Gy)
            parts_s.append(np.zeros(b + k))
    return np.vstack(parts_X), np.vstack(parts_Y), np.concatenate(parts_s)


@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("b, k", [(1, 1), (16, 3), (50, 7)])
@pytest.mark.parametrize("name", STEP_OPTIMIZERS)
def test_rows_of_weight_zero_train_as_if_absent(digits, name, b, k, storage):
    X, Y, _ = digits
    Xz, Yz, s = interleave_zero_rows(X, Y, b, k)
    assert Xz.shape[0] > M + k
    without, with_zeros = new_net(), new_net()
    h = train(without, STORAGE[storage](X), Y, optimizer=STEP_OPTIMIZERS[name](),
              epochs=EPOCHS, batch_size=b, shuffle=False)
    hz = train(with_zeros, STORAGE[storage](Xz), Yz, optimizer=STEP_OPTIMIZERS[name](),
               epochs=EPOCHS, batch_size=b + k, shuffle=False, sample_weight=s)
    assert not np.array_equal(without.theta, new_net().theta)  # it trained
    np.testing.assert_allclose(with_zeros.theta, without.theta, rtol=1e-10, atol=1e-13)
    # The epochs' losses are not compared: as scikit-learn's, an epoch's loss weights each
    # batch's J by its rows, weight 0 or not. The first epoch starts from the same θ.
    assert len(hz.train_loss) == len(h.train_loss) == EPOCHS


def test_lbfgs_trains_as_if_rows_of_weight_zero_were_absent(digits):
    X, Y, _ = digits
    s = weights(M)
    kept = s > 0
    full, part = new_net(), new_net()
    train(full, X, Y, optimizer="lbfgs", epochs=15, sample_weight=s)
    train(part, X[kept], Y[kept], optimizer="lbfgs", epochs=15, sample_weight=s[kept])
    np.testing.assert_allclose(full.theta, part.theta, rtol=1e-8, atol=1e-11)


# --- the same through the scikit-learn estimators --------------------------------------------


ESTIMATOR_SOLVERS = [("sgd", 1), ("sgd", 16), ("adam", 7), ("adam", 50), ("adam", "auto"),
                     ("lbfgs", "auto")]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("solver, batch_size", ESTIMATOR_SOLVERS)
def test_classifier_ignores_the_content_of_rows_of_weight_zero(digits, solver, batch_size,
                                                               storage):
    X, Y, y = digits
    s = weights(M)
    Xg, Yg = with_garbage(X, Y, s)
    yg = Yg.argmax(axis=1)
    assert set(yg) == set(y)  # the same classes either way
    fits = [
        MLPClassifier(hidden_layer_sizes=(8,), solver=solver, batch_size=batch_size,
                      max_iter=4, random_state=0, learning_rate_init=0.01)
        .fit(STORAGE[storage](data), target, sample_weight=s)
        for data, target in [(X, y), (Xg, yg)]
    ]
    for W, Wg in zip(fits[0].coefs_, fits[1].coefs_, strict=True):
        np.testing.assert_array_equal(Wg, W)
    np.testing.assert_array_equal(fits[1].predict_proba(X), fits[0].predict_proba(X))
    assert fits[1].loss_ == fits[0].loss_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("solver, batch_size", ESTIMATOR_SOLVERS)
def test_regressor_ignores_the_content_of_rows_of_weight_zero(digits, solver, batch_size,
                                                              storage):
    X, _, y = digits
    y = y.astype(np.float64)
    s = weights(M)
    Xg = with_garbage(X, X[:, :10], s)[0]
    yg = np.where(s == 0, 1e3, y)
    fits = [
        MLPRegressor(hidden_layer_sizes=(8,), solver=solver, batch_size=batch_size,
                     max_iter=4, random_state=0, learning_rate_init=0.001)
        .fit(STORAGE[storage](data), target, sample_weight=s)
        for data, target in [(X, y), (Xg, yg)]
    ]
    for W, Wg in zip(fits[0].coefs_, fits[1].coefs_, strict=True):
        np.testing.assert_array_equal(Wg, W)
    np.testing.assert_array_equal(fits[1].predict(X), fits[0].predict(X))


@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("batch_size", [7, 50, 179])
def test_estimator_batches_hold_batch_size_rows_with_their_weights(digits, batch_size, shuffle,
                                                                    storage):
    X, _, y = digits
    s = weights(M)
    Xs = STORAGE[storage](X)
    est = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", batch_size=batch_size,
                        shuffle=shuffle, random_state=0)
    est.partial_fit(Xs, y, classes=np.arange(10), sample_weight=s)
    seen = record_batches(est.net_)
    est.partial_fit(Xs, y, sample_weight=s)  # one epoch

    got = [row_indices(X, Xb) for Xb, _, _ in seen]
    everyone = np.concatenate(got)
    assert len(set(everyone)) == len(everyone)  # no row twice in an epoch
    assert set(np.flatnonzero(s > 0)) <= set(everyone)  # every row that counts
    if shuffle:  # slices of batch_size, then the rest (a slice of weight 0 is skipped)
        full = [len(rows) for rows in got].count(batch_size)
        assert full <= M // batch_size
        assert all(len(rows) in (batch_size, M % batch_size) for rows in got)
    else:
        want = [rows for rows in next(expected_epochs(M, batch_size, 1, None, False))
                if s[rows].sum() > 0]
        assert len(got) == len(want)
        for rows, expected in zip(got, want, strict=True):
            np.testing.assert_array_equal(rows, expected)
    for (_, Yb, sb), rows in zip(seen, got, strict=True):
        np.testing.assert_array_equal(sb, s[rows])
        np.testing.assert_array_equal(Yb.argmax(axis=1), y[rows])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bounded_regressor_ignores_the_targets_of_rows_of_weight_zero(digits):
    X, _, y = digits
    y = y.astype(np.float64)
    s = weights(M)
    yg = np.where(s == 0, 1e3, y)
    fits = [
        MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", output_activation="sigmoid",
                     max_iter=20, random_state=0).fit(X, target, sample_weight=s)
        for target in [y, yg]
    ]
    np.testing.assert_array_equal(fits[1].predict(X), fits[0].predict(X))

