"""Read-only calls from many threads at once give exactly the serial results.

People call ``predict`` from threaded web servers and joblib threads. Every read-only
method of a network or a fitted estimator (forward, hidden, trace, cost, diagnose;
predict, predict_proba, predict_log_proba, transform, score) is run here from 8 threads
at once on mixed batch sizes, and every answer must be bit-identical to the same call made
serially. Training one network from two threads at once is refused with an error, and the
refused call leaves the weights alone.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from threadpoolctl import threadpool_limits

from nablanet import MLPClassifier, MLPRegressor, Network
from nablanet.training import Callback, train

N_THREADS = 8
ROUNDS = 6
# Mixed batch sizes: one row, odd sizes, and one past the network's evaluation chunk
# (4096 rows), so that chunked and unchunked paths run side by side.
SIZES = (1, 7, 64, 200, 333, 4100)


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # Eight Python threads on two cores: more BLAS threads only oversubscribe.
    with threadpool_limits(limits=1):
        yield


def _batches(X, Y, seed):
    rng = np.random.default_rng(seed)
    out = []
    for m in SIZES:
        rows = rng.integers(0, X.shape[0], m)
        out.append((X[rows], Y[rows]))
    return out


def _same(a, b):
    """Bit-identical results: arrays, tuples/lists of them, floats or dataclasses."""
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return np.float64(a).tobytes() == np.float64(b).tobytes()
    return a == b


def _run_concurrently(calls):
    """Run every (name, fn) of ``calls`` serially, then from 8 threads at once, repeatedly.

    Returns the list of (name, round) whose concurrent result differed from the serial one.
    """
    expected = [fn() for _, fn in calls]
    barrier = threading.Barrier(N_THREADS)

    def worker(t):
        rng = np.random.default_rng(t)
        wrong = []
        for r in range(ROUNDS):
            barrier.wait()  # start each round together: the most overlap
            for i in rng.permutation(len(calls)):
                if not _same(calls[i][1](), expected[i]):
                    wrong.append((calls[i][0], r))
        return wrong

    with ThreadPoolExecutor(N_THREADS) as pool:
        results = list(pool.map(worker, range(N_THREADS)))
    return [w for ws in results for w in ws]


def _trace_arrays(tr):
    return [tr.z, tr.a, tr.delta, tr.dW, tr.db, tr.J]


@pytest.mark.parametrize(
    "activation, output, loss",
    [("relu", "softmax", None), ("tanh", "sigmoid", "squared_error")],
)
def test_network_read_methods_from_eight_threads_are_bit_identical(activation, output, loss):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, 20))
    Y = np.eye(5)[rng.integers(0, 5, 5000)]
    net = Network([20, 32, 16, 5], activation=activation, output_activation=output,
                  loss=loss, weight_decay=1e-3, seed=1)
    calls = []
    for m_i, (Xb, Yb) in enumerate(_batches(X, Y, seed=2)):
        calls += [
            (f"forward {m_i}", lambda Xb=Xb: net.forward(Xb)),
            (f"hidden {m_i}", lambda Xb=Xb: net.hidden(Xb)),
            (f"hidden0 {m_i}", lambda Xb=Xb: net.hidden(Xb, layer=0)),
            (f"cost {m_i}", lambda Xb=Xb, Yb=Yb: net.cost(Xb, Yb)),
            (f"loss_and_grad {m_i}", lambda Xb=Xb, Yb=Yb: net.loss_and_grad(Xb, Yb)),
        ]
        if Xb.shape[0] <= 333:  # the full record of a pass: kept to small batches
            calls += [
                (f"trace {m_i}", lambda Xb=Xb: _trace_arrays(net.trace(Xb))),
                (f"trace Y {m_i}", lambda Xb=Xb, Yb=Yb: _trace_arrays(net.trace(Xb, Yb))),
                (f"diagnose {m_i}", lambda Xb=Xb, Yb=Yb: asdict(net.diagnose(Xb, Yb))),
            ]
    theta = net.theta.copy()
    assert _run_concurrently(calls) == []
    assert _same(net.theta, theta)


@pytest.fixture(scope="module")
def fitted():
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    Xc, yc = load_digits(return_X_y=True)
    Xr, yr = load_diabetes(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=15, random_state=0)
        clf.fit(Xc / 16.0, yc)
        reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=15, random_state=0)
        reg.fit(Xr, yr)
    return clf, Xc / 16.0, yc, reg, Xr, yr


@pytest.mark.filterwarnings(r"ignore:R\^2 score is not well-defined")
def test_estimator_read_methods_from_eight_threads_are_bit_identical(fitted):
    clf, Xc, yc, reg, Xr, yr = fitted
    calls = []
    for m_i, (Xb, yb) in enumerate(_batches(Xc, yc, seed=3)):
        calls += [
            (f"clf predict {m_i}", lambda Xb=Xb: clf.predict(Xb)),
            (f"clf predict_proba {m_i}", lambda Xb=Xb: clf.predict_proba(Xb)),
            (f"clf predict_log_proba {m_i}", lambda Xb=Xb: clf.predict_log_proba(Xb)),
            (f"clf transform {m_i}", lambda Xb=Xb: clf.transform(Xb)),
            (f"clf score {m_i}", lambda Xb=Xb, yb=yb: clf.score(Xb, yb)),
        ]
    for m_i, (Xb, yb) in enumerate(_batches(Xr, yr, seed=4)):
        calls += [
            (f"reg predict {m_i}", lambda Xb=Xb: reg.predict(Xb)),
            (f"reg transform {m_i}", lambda Xb=Xb: reg.transform(Xb)),
            (f"reg score {m_i}", lambda Xb=Xb, yb=yb: reg.score(Xb, yb)),
        ]
    assert _run_concurrently(calls) == []


class _Pause(Callback):
    """Holds the first epoch until released, so that a second thread can try to train."""

    def __init__(self):
        self.started, self.release = threading.Event(), threading.Event()

    def on_epoch_end(self, state):
        self.started.set()
        assert self.release.wait(30)


def test_training_one_network_from_two_threads_is_refused():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    Y = np.eye(3)[rng.integers(0, 3, 60)]
    net = Network([4, 6, 3], output_activation="softmax", seed=0)
    reference = net.copy()
    train(reference, X, Y, epochs=3, seed=0)

    pause = _Pause()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(train, net, X, Y, epochs=3, seed=0, callbacks=[pause])
        assert pause.started.wait(30)
        theta = net.theta.copy()
        with pytest.raises(RuntimeError, match="being trained by another thread"):
            train(net, X, Y, epochs=3, seed=1)
        assert _same(net.theta, theta)  # the refused call changed nothing
        pause.release.set()
        first.result()
    assert _same(net.theta, reference.theta)  # the first training ran undisturbed
    train(net, X, Y, epochs=1, seed=0)  # and the network can be trained again afterwards
