"""nablanet.distributed on a real cluster: LocalCluster(2 worker processes) on 127.0.0.1.

One cluster serves the whole module (it takes ~3 s to start); every test uses small
real data sets from scikit-learn, so each runs in seconds.
"""

from __future__ import annotations

import os
import signal
import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris

from nablanet import Callback, EarlyStopping, MLPClassifier, MLPRegressor, Network, train
from nablanet.gradcheck import check_gradient
from nablanet.training import TrainingDiverged, accuracy

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from nablanet.distributed import (  # noqa: E402
    DaskObjective,
    ScatteredDataWarning,
    from_npy,
    local_sgd,
)

pytestmark = pytest.mark.xdist_group("dask-cluster")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0",
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


def _iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _rel(a, b):
    return np.linalg.norm(np.subtract(a, b)) / max(np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("chunks", [150, 40, (10, 90, 50)])
@pytest.mark.parametrize("weighted", [False, True])
def test_objective_equals_single_process(client, chunks, weighted):
    X, y = _iris()
    Y = np.eye(3)[y]
    s = np.random.default_rng(1).random(150) * 3 if weighted else None
    net = Network([4, 5, 3], activation="tanh", output_activation="softmax",
                  weight_decay=0.03, seed=2)
    obj = DaskObjective(
        net, da.from_array(X, chunks=(chunks, 2)), da.from_array(Y, chunks=50),
        None if s is None else da.from_array(s, chunks=30),
    )
    J, g = obj(net.theta)
    J0, g0 = net.loss_and_grad(X, Y, sample_weight=s)
    assert abs(J - J0) <= 1e-12 * abs(J0)
    assert _rel(g, g0) <= 1e-12
    assert abs(obj.cost(net.theta) - J0) <= 1e-12 * abs(J0)
    # at another point, and the evaluation leaves the network's own θ alone
    theta = net.theta + 0.1
    before = net.theta.copy()
    J1, g1 = obj(theta)
    J2, g2 = net.loss_and_grad(X, Y, theta, sample_weight=s)
    assert abs(J1 - J2) <= 1e-12 * abs(J2) and _rel(g1, g2) <= 1e-12
    np.testing.assert_array_equal(net.theta, before)


def test_gradient_check_on_the_cluster_objective(client):
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    net = Network([30, 4, 1], output_activation="sigmoid", loss="binary_cross_entropy",
                  weight_decay=0.01, seed=0)
    Xd, yd = da.from_array(X[:200], chunks=64), da.from_array(y[:200, None], chunks=64)
    obj = DaskObjective(net, Xd, yd)
    report = check_gradient(obj, net.theta.copy(), n_coords=25, seed=0)
    assert report.passed, report


@pytest.mark.parametrize("optimizer", ["lbfgs", "cg", "gd"])
def test_train_full_batch_methods_match_single_process(client, optimizer):
    X, y = _iris()
    Y = np.eye(3)[y]
    net = Network([4, 6, 3], output_activation="softmax", weight_decay=1e-3, seed=0)
    ref = net.copy()
    val = (X[::3], Y[::3])
    score = accuracy if optimizer == "lbfgs" else None  # one more round per epoch
    kw = dict(optimizer=optimizer, epochs=6, seed=1, score=score)
    h0 = train(ref, X, Y, validation_data=val, **kw)
    h1 = train(net, da.from_array(X, chunks=40), da.from_array(Y, chunks=40),
               validation_data=(da.from_array(val[0], chunks=20), da.from_array(val[1], chunks=20)),
               **kw)
    assert h1.best.n_epochs == h0.best.n_epochs
    np.testing.assert_allclose(h1.train_loss, h0.train_loss, rtol=1e-9)
    np.testing.assert_allclose(h1.val_loss, h0.val_loss, rtol=1e-9)
    np.testing.assert_array_equal(h1.val_score, h0.val_score)
    np.testing.assert_allclose(net.theta, ref.theta, rtol=1e-7, atol=1e-9)
    assert np.shares_memory(net.W[0], net.theta)


def test_restarts_callbacks_and_early_stopping_on_the_cluster(client):
    X, y = _iris()
    Y = np.eye(3)[y]
    seen = []

    class Record(Callback):
        def on_epoch_end(self, state):
            seen.append((state.run, state.epoch))
            return False

    net = Network([4, 6, 3], output_activation="softmax", seed=0)
    ref = net.copy()
    Xd, Yd = da.from_array(X, chunks=50), da.from_array(Y, chunks=50)
    val = (da.from_array(X[:30], chunks=15), da.from_array(Y[:30], chunks=15))
    kw = dict(optimizer="lbfgs", epochs=10, seed=5, restarts=2)
    h = train(net, Xd, Yd, validation_data=val,
              callbacks=[Record(), EarlyStopping(patience=2, min_delta=1e9)], **kw)
    h0 = train(ref, X, Y, validation_data=(X[:30], Y[:30]),
               callbacks=[EarlyStopping(patience=2, min_delta=1e9)], **kw)
    assert len(h.runs) == 2 and h.best_run == h0.best_run
    assert all(r.stop_reason == "EarlyStopping" and r.n_epochs == 3 for r in h.runs)
    assert [e for r, e in seen if r == 1] == [0, 1, 2]
    np.testing.assert_allclose(net.theta, ref.theta, rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_divergence_guard_on_the_cluster(client):
    X, y = load_digits(return_X_y=True)
    X, Y = X[:300] / 16.0, np.eye(10)[y[:300]]
    net = Network([64, 8, 10], activation="relu", output_activation="identity", seed=0)
    ref = net.copy()
    # J explodes past 1e4 x its first value in the first step of epoch 2
    kw = dict(optimizer="gd", learning_rate=1e50, epochs=10)
    with pytest.raises(TrainingDiverged, match="smaller learning rate") as local:
        train(ref, X, Y, **kw)
    with pytest.raises(TrainingDiverged, match="smaller learning rate") as cluster:
        train(net, da.from_array(X, chunks=100), da.from_array(Y, chunks=100), **kw)
    for message in (str(local.value), str(cluster.value)):
        assert "diverged at epoch 2 (batch 1)" in message
        assert "weights from the end of epoch 1" in message
    assert np.isfinite(net.theta).all()
    np.testing.assert_allclose(net.theta, ref.theta, rtol=1e-9)


def test_minibatches_and_dropout_are_refused_on_dask_arrays(client):
    X, y = _iris()
    net = Network([4, 3, 3], output_activation="softmax", seed=0)
    Xd, Yd = da.from_array(X, chunks=50), da.from_array(np.eye(3)[y], chunks=50)
    with pytest.raises(ValueError, match="local_sgd"):
        train(net, Xd, Yd, optimizer="adam", batch_size=10)
    with pytest.raises(ValueError, match="dropout"):
        train(net, Xd, Yd, optimizer="gd", dropout=0.5)
    with pytest.raises(ValueError, match="validation_data"):
        train(net, Xd, Yd, optimizer="lbfgs", validation_fraction=0.2)


class _KillAWorker(Callback):
    """Kill one worker process (SIGKILL) at the end of a given L-BFGS iteration."""

    def __init__(self, client, at: int) -> None:
        self.client, self.at, self.killed = client, at, None

    def on_epoch_end(self, state):
        if state.epoch == self.at:
            pids = self.client.run(os.getpid)
            self.killed = sorted(pids.values())[0]
            os.kill(self.killed, signal.SIGKILL)
        return False


def test_killed_worker_mid_lbfgs_gives_the_same_result(client, tmp_path):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0)[:600]
    Y = np.eye(10)[y[:600]]
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)

    def fit(callbacks):
        net = Network([64, 12, 10], output_activation="softmax", weight_decay=1e-4, seed=3)
        Xd, Yd = from_npy(tmp_path / "X.npy", 100), from_npy(tmp_path / "Y.npy", 100)
        h = train(net, Xd, Yd, optimizer="lbfgs", epochs=8, callbacks=callbacks)
        return net, h

    calm, h_calm = fit([])
    killer = _KillAWorker(client, at=2)
    hit, h_hit = fit([killer])
    assert killer.killed is not None
    deadline = time.time() + 30  # the nanny brings a fresh process back
    while len(client.scheduler_info()["workers"]) < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert killer.killed not in client.run(os.getpid).values()
    assert h_hit.train_loss == h_calm.train_loss
    np.testing.assert_array_equal(hit.theta, calm.theta)


def test_scattered_inputs_warn(client):
    X, y = _iris()
    future = client.scatter(X)
    Xd = da.from_delayed(future, shape=X.shape, dtype=X.dtype)
    net = Network([4, 3, 3], output_activation="softmax", seed=0)
    with pytest.warns(ScatteredDataWarning, match="scattered"):
        DaskObjective(net, Xd, da.from_array(np.eye(3)[y], chunks=150))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScatteredDataWarning)  # data read from a recipe: quiet
        DaskObjective(net, da.from_array(X, chunks=50), da.from_array(np.eye(3)[y], chunks=50))


def test_classifier_lbfgs_on_dask_arrays(client):
    X, y = _iris()
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    kw = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at 8 iterations
        ref = MLPClassifier(**kw).fit(X, labels)
        est = MLPClassifier(**kw).fit(da.from_array(X, chunks=60), da.from_array(labels, chunks=60))
    assert list(est.classes_) == list(ref.classes_)
    assert est.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(est.loss_, ref.loss_, rtol=1e-8)
    Xd = da.from_array(X, chunks=50)
    pred = est.predict(Xd)
    assert isinstance(pred, da.Array) and pred.chunks == ((50, 50, 50),)
    np.testing.assert_array_equal(pred.compute(), ref.predict(X))
    proba = est.predict_proba(Xd)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), ref.predict_proba(X), atol=1e-7)
    hidden = est.transform(Xd)
    assert isinstance(hidden, da.Array) and hidden.shape == (150, 6)
    assert est.score(Xd, da.from_array(labels, chunks=50)) == ref.score(X, labels)


def test_regressor_lbfgs_on_dask_arrays(client):
    X, y = load_diabetes(return_X_y=True)
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=8, random_state=0,
              output_activation="sigmoid")
    s = np.random.default_rng(0).random(len(y)) + 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = MLPRegressor(**kw).fit(X, y, sample_weight=s)
        est = MLPRegressor(**kw).fit(da.from_array(X, chunks=150), da.from_array(y, chunks=150),
                                     sample_weight=da.from_array(s, chunks=150))
    np.testing.assert_allclose(est.loss_, ref.loss_, rtol=1e-8)
    Xd = da.from_array(X, chunks=100)
    pred = est.predict(Xd)
    assert isinstance(pred, da.Array) and pred.ndim == 1
    np.testing.assert_allclose(pred.compute(), ref.predict(X), rtol=1e-6)
    got = est.score(Xd, da.from_array(y, chunks=100), da.from_array(s, chunks=100))
    assert abs(got - ref.score(X, y, sample_weight=s)) < 1e-9


def test_stochastic_solver_fit_on_dask_is_refused(client):
    X, y = _iris()
    with pytest.raises(ValueError, match="lbfgs"):
        MLPClassifier(solver="adam").fit(da.from_array(X, chunks=50), da.from_array(y, chunks=50))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_local_sgd_is_bit_reproducible_and_learns(client, optimizer):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Y = np.eye(10)[y]
    Xd, Yd = da.from_array(X[:1400], chunks=350), da.from_array(Y[:1400], chunks=350)
    lr = 0.1 if optimizer == "sgd" else 0.01

    def run(seed):
        net = Network([64, 24, 10], activation="relu", output_activation="softmax", seed=0)
        r = local_sgd(net, Xd, Yd, optimizer=optimizer, sync_every=5, epochs=2,
                      batch_size=32, learning_rate=lr, seed=seed)
        return net, r

    a, ra = run(7)
    b, rb = run(7)
    c, _ = run(8)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert ra.train_loss == rb.train_loss
    assert ra.rounds == 2 * 3  # ⌈⌈350/32⌉ / 5⌉ = 3 rounds per epoch
    assert not np.array_equal(a.theta, c.theta)
    assert ra.train_loss[-1] < ra.train_loss[0]
    assert accuracy(a, X[1400:], Y[1400:]) > 0.6  # untrained: about 0.1


def test_a_failed_cluster_fit_leaves_the_estimator_unfitted(client):
    X, y = _iris()
    est = MLPClassifier((3,), solver="lbfgs", max_iter=5, random_state=0)
    # it fails once n_features_in_ is set: while the labels are summarised on the cluster
    with pytest.raises(ValueError, match="multi-label targets are not supported on dask"):
        est.fit(da.from_array(X, chunks=50), da.from_array(np.eye(3, dtype=int)[y], chunks=50))
    assert not hasattr(est, "net_") and not hasattr(est, "classes_")


def test_bounded_regressor_on_dask_arrays_ignores_rows_of_weight_zero(client):
    # The sigmoid's scaling comes from the rows that count, as in memory; a warm start on
    # targets beyond that range is refused before any work on the cluster.
    X, y = load_diabetes(return_X_y=True)
    kw = dict(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5, random_state=0,
              output_activation="sigmoid")
    s = np.where(np.arange(len(y)) % 4 == 0, 0.0, 1.0)
    garbage = np.where(s == 0, 1e3, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = MLPRegressor(**kw).fit(X, y, sample_weight=s)
        est = MLPRegressor(**kw, warm_start=True).fit(
            da.from_array(X, chunks=150), da.from_array(garbage, chunks=150),
            sample_weight=da.from_array(s, chunks=150),
        )
    np.testing.assert_allclose(est._y_offset, ref._y_offset, rtol=0)
    np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-6)
    theta = est.net_.theta.copy()
    beyond = r"spans \[31, 1000\], but the sigmoid output reaches only \[31, 336\]"
    with pytest.raises(ValueError, match=beyond):
        est.fit(da.from_array(X, chunks=150), da.from_array(garbage, chunks=150))
    np.testing.assert_array_equal(est.net_.theta, theta)
    with pytest.raises(ValueError, match="sample_weight sums to zero"):
        MLPRegressor(**kw).fit(da.from_array(X, chunks=150), da.from_array(y, chunks=150),
                               sample_weight=da.from_array(0.0 * s, chunks=150))


# --- convolutional networks: the same objective and the same L-BFGS, unchanged ---------


def _conv_digits(n=300):
    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, np.eye(10)[y[:n]]


def _conv_net(weight_decay=1e-3):
    from nablanet.layers import Conv2D, Dense, MaxPool2D, MeanPool2D

    return Network(
        [Conv2D(3, 3, padding="same", activation="relu"), MaxPool2D(2),
         Conv2D(4, 2, stride=(1, 2), activation="tanh"), MeanPool2D((1, 1)),
         Dense(10, "softmax")],
        input_shape=(1, 8, 8), weight_decay=weight_decay, seed=0,
    )


@pytest.mark.parametrize("chunks", [300, 70, (50, 130, 120)])
@pytest.mark.parametrize("weighted", [False, True])
def test_conv_objective_equals_single_process(client, chunks, weighted):
    # Fails where DaskObjective's tasks rebuild their views with the fully connected
    # `Network.layout`, which refuses a network with convolution layers.
    X, Y = _conv_digits()
    s = np.random.default_rng(1).random(len(X)) * 3 if weighted else None
    net = _conv_net()
    obj = DaskObjective(net, da.from_array(X, chunks=(chunks, 64)),
                        da.from_array(Y, chunks=100),
                        None if s is None else da.from_array(s, chunks=60))
    for theta in (net.theta, net.theta + 0.05):
        J, g = obj(theta)
        J0, g0 = net.loss_and_grad(X, Y, theta, sample_weight=s)
        assert abs(J - J0) <= 1e-12 * abs(J0)
        assert _rel(g, g0) <= 1e-12
        assert abs(obj.cost(theta) - J0) <= 1e-12 * abs(J0)


def test_conv_lbfgs_on_the_cluster_gives_the_in_memory_theta(client):
    # Not bit for bit: in memory the convolution's ∂J/∂W adds all 300 examples' terms in
    # one sequence, on the cluster each block adds its own and the blocks are added in a
    # tree, so each gradient differs in its last bits (~1e-16) and ten L-BFGS epochs
    # carry that to ~1e-15 in θ (measured); 1e-12 leaves room for another BLAS.
    X, Y = _conv_digits()
    net = _conv_net()
    ref = net.copy()
    kw = dict(optimizer="lbfgs", epochs=10, seed=0)
    h0 = train(ref, X, Y, **kw)
    h1 = train(net, da.from_array(X, chunks=70), da.from_array(Y, chunks=70), **kw)
    assert h1.train_loss[-1] < 0.5 * h1.train_loss[0]  # it learnt
    np.testing.assert_allclose(h1.train_loss, h0.train_loss, rtol=1e-12)
    np.testing.assert_allclose(net.theta, ref.theta, rtol=0, atol=1e-12 * np.abs(ref.theta).max())
    assert np.shares_memory(net.W[0], net.theta)


def test_convnet_classifier_lbfgs_on_dask_arrays(client):
    # The estimators' L-BFGS path (a DaskObjective under `train`) with convolution layers:
    # the same θ as in memory to 1e-12, for the summation order given above.
    from nablanet import ConvNetClassifier

    X, Y = _conv_digits()
    y = Y.argmax(axis=1)
    kw = dict(layers=["conv3x3:same", "maxpool2", "conv4x2:tanh", "10"], solver="lbfgs",
              max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at 10 iterations
        ref = ConvNetClassifier(**kw).fit(X, y)
        est = ConvNetClassifier(**kw).fit(da.from_array(X, chunks=70), da.from_array(y, chunks=70))
    assert est.n_iter_ == ref.n_iter_ and est.input_shape_ == (1, 8, 8)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-12)
    theta = ref.net_.theta
    np.testing.assert_allclose(est.net_.theta, theta, rtol=0, atol=1e-12 * np.abs(theta).max())
    np.testing.assert_array_equal(est.predict(da.from_array(X, chunks=100)).compute(),
                                  ref.predict(X))
