"""A block's task runs the network on one thread: the cluster's workers are the parallelism.

Dask's nanny starts workers with BLAS on one thread; tasks of the local threaded
scheduler share the driver's process, where each task's BLAS threads would spin while
another task holds the core they wait for (issue 25). So every task that runs a network
holds BLAS, and nablanet's own splits, to the calling thread, and gives the count back.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from threadpoolctl import threadpool_info, threadpool_limits

from nablanet import MLPClassifier, Network
from nablanet.layers import chunks

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

from nablanet.distributed import DaskObjective, local_sgd  # noqa: E402
from nablanet.distributed._blocks import one_thread  # noqa: E402
from nablanet.distributed.predict import predict_rows  # noqa: E402


def _blas_threads():
    return next(p["num_threads"] for p in threadpool_info() if "numpy" in p["filepath"])


def _iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


@pytest.fixture
def seen(monkeypatch):
    """What each network pass inside a task saw: (BLAS threads, nablanet's split threads)."""
    record: list[tuple[int, int]] = []
    for name in ("loss_and_grad_into", "forward"):
        original = getattr(Network, name)

        def spy(self, *args, _original=original, **kwargs):
            record.append((_blas_threads(), chunks.threads()))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Network, name, spy)
    return record


def test_one_thread_holds_blas_inside_and_gives_the_count_back():
    @one_thread
    def task(x):
        return x, _blas_threads(), chunks.threads()

    with threadpool_limits(limits=2):
        assert task(5) == (5, 1, 1)
        assert _blas_threads() == 2
    assert task.__name__ == "task"  # dask names and pickles it as the function it wraps


def test_tasks_of_the_threaded_scheduler_run_on_one_thread(seen):
    X, y = _iris()
    Y = np.eye(3)[y]
    net = Network([4, 5, 3], output_activation="softmax", seed=0)
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    rows = da.from_array(X, chunks=(50, 4))
    with threadpool_limits(limits=2), dask.config.set(scheduler="threads", num_workers=2):
        seen.clear()
        J, g = DaskObjective(net, rows, da.from_array(Y, chunks=50), persist=False)(net.theta)
        assert seen == [(1, 1)] * 3  # one pass per block
        proba = predict_rows(est, "predict_proba", rows)  # samples one row here, at once
        seen.clear()
        proba = proba.compute()
        assert seen == [(1, 1)] * 3
        seen.clear()
        local_sgd(net.copy(), rows, da.from_array(Y, chunks=50), epochs=1, batch_size=25,
                  sync_every=1, seed=0)
        assert len(seen) >= 3 and set(seen) == {(1, 1)}
        assert _blas_threads() == 2  # given back after every task
    J0, g0 = net.loss_and_grad(X, Y)  # the same numbers as in one process
    assert abs(J - J0) <= 1e-12 * abs(J0)
    np.testing.assert_allclose(g, g0, rtol=0, atol=1e-12 * np.abs(g0).max())
    np.testing.assert_allclose(proba, est.predict_proba(X), rtol=0, atol=1e-15)


def test_a_fit_on_the_cluster_does_not_choose_the_drivers_threads(monkeypatch):
    # Its products run in the tasks (one BLAS thread each): timing them against the
    # driver's BLAS thread count would switch a count that no step of the fit uses.
    from nablanet import train
    from nablanet.training import blas_threads

    monkeypatch.setattr(blas_threads, "WARMUP_STEPS", 0)
    monkeypatch.setattr(blas_threads, "PROBE_STEPS", 1)
    switches = []
    monkeypatch.setattr(blas_threads, "choose_threads", switches.append)
    rng = np.random.default_rng(0)
    X = rng.random((2000, 200))  # products large enough to choose for, in one process
    Y = np.eye(3)[rng.integers(0, 3, 2000)]
    net = Network([200, 100, 3], output_activation="softmax", seed=0)
    with threadpool_limits(limits=2), dask.config.set(scheduler="threads", num_workers=2):
        train(net.copy(), X, Y, optimizer="adam", batch_size=500, epochs=2)
        assert switches, "the in-memory fit did not choose: nothing is tested below"
        switches.clear()
        train(net, da.from_array(X, chunks=500), da.from_array(Y, chunks=500),
              optimizer="lbfgs", epochs=4)
    assert switches == []
