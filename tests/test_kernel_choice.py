"""Compiled kernels or their NumPy twins: the twins' rounding, and which one runs where.

A fit compiles the kernels only when its work repays loading them (`nablanet.kernels`);
everything else takes the NumPy twins, so a small fit never loads numba.
"""

import copy
import subprocess
import sys
import threading

import numpy as np
import pytest
from sklearn.datasets import load_digits

from nablanet import compiled_kernels, kernels
from nablanet.kernels import choice
from nablanet.network import Network
from nablanet.training import Callback, train
from nablanet.training.loop import kernel_work


def _twin_pairs(dtype):
    """(name, call(kernel)) for the kernels without transcendental functions."""
    rng = np.random.default_rng(11)
    r, tiny = dtype, np.finfo(dtype).tiny
    th, g, m, v = (rng.normal(size=1001).astype(dtype) for _ in range(4))
    v = np.abs(v)
    m[:4], g[:4] = tiny / 4, 0  # moments that become subnormal are flushed by both
    v[:4] = tiny / 4
    za = rng.normal(size=(30, 17)).astype(dtype)
    za[0, :5] = [np.nan, np.inf, -np.inf, -0.0, 0.0]
    bias = rng.normal(size=17).astype(dtype)
    bias[:5] = 0
    cases = {
        "adam": lambda k: k(th, g, m, v, r(0.9), r(0.1), r(0.999), r(0.001), r(1e-2),
                            r(1e-8), tiny),
        "momentum": lambda k: k(th, g, m, r(0.9), r(0.01), False, tiny),
        "nesterov": lambda k: k(th, g, m, r(0.9), r(0.01), True, tiny),
        "relu": lambda k: k(za, bias, np.empty_like(za), r(0), r(1)),
        "leaky_relu": lambda k: k(za, bias, np.empty_like(za), r(0.01), r(1)),
        "axpy": lambda k: k(r(-0.37), g, th),
    }
    kernel = {"nesterov": "momentum", "relu": "rectifier", "leaky_relu": "rectifier"}
    for name, call in cases.items():
        each = kernels.KERNELS[kernel.get(name, name)]
        yield name, call, each.compiled, each.twin


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_twins_round_exactly_as_the_compiled_loops(dtype):
    # Arrays are copied before each call: both implementations see the same inputs and
    # every array they write must come out bit for bit the same (NaN included).
    for name, call, compiled, twin in _twin_pairs(dtype):
        seen = []

        def record(kernel, seen=seen):
            def run(*args):
                args = copy.deepcopy(args)
                kernel(*args)
                seen.append([a for a in args if isinstance(a, np.ndarray)])

            return run

        call(record(compiled))
        call(record(twin))
        for x, y in zip(*seen, strict=True):
            assert x.view(np.uint8).tobytes() == y.view(np.uint8).tobytes() or (
                np.array_equal(x, y, equal_nan=True)
                and np.array_equal(np.signbit(x), np.signbit(y))
            ), name


def test_a_fit_compiles_only_when_its_epochs_repay_it(monkeypatch):
    class Record(Callback):
        def on_epoch_end(self, state):
            seen.append(choice.current().compiled)
            return False

    X, y = load_digits(return_X_y=True)
    X, Y = X[:300] / 16, np.eye(10)[y[:300]]
    net = Network([64, 20, 10], activation="relu", output_activation="softmax",
                  loss="cross_entropy", seed=0)
    work = kernel_work(net, 300, 50)
    assert work == 6 * (50 * 30 + 2 * net.n_params + 10_000)  # 6 steps of 50 rows
    assert kernel_work(net, 300, None) == 300 * 30 + 2 * net.n_params + 10_000
    for threshold, expected in [(work + 1, False), (work, True)]:
        monkeypatch.setattr(choice, "COMPILE_AT", threshold)
        for epochs, restarts in [(3, 1), (1, 2)]:  # neither changes the choice
            seen = []
            train(net, X, Y, epochs=epochs, restarts=restarts, batch_size=50, seed=0,
                  callbacks=[Record()])
            assert seen == [expected] * 3 if epochs == 3 else [expected] * 2
    seen = []
    with compiled_kernels(False):  # a forced choice overrides the fit's own
        train(net, X, Y, epochs=1, batch_size=50, callbacks=[Record()])
    assert seen == [False]
    assert choice.current() is choice.UNSET  # the block ends with the choice it set


def test_the_iteration_limit_does_not_change_the_weights():
    # A fit that stops early at the same epoch ends with the same bits, whatever its
    # max_iter: the choice of kernels depends on an epoch's size, not on the limit.
    from nablanet import MLPClassifier
    from nablanet.training import adaptive_threads

    X, y = load_digits(return_X_y=True)
    # BLAS's thread count fixed: a fit's measured choice of threads may round float64
    # products differently (documented in nablanet.training.blas_threads), not the kernels.
    with adaptive_threads(False):
        fits = [MLPClassifier(max_iter=n, tol=1e-2, random_state=0).fit(X, y) for n in (50, 5000)]
    assert fits[0].n_iter_ == fits[1].n_iter_ < 50
    for a, b in zip(fits[0].coefs_, fits[1].coefs_, strict=True):
        assert np.array_equal(a, b)


def test_the_cost_of_a_confident_float32_row_is_kept():
    # Each row's cost is summed in float64 by the loops and by the twins: a cost of 1e-13
    # is not rounded away in float32.
    z = np.array([[30, 0, 0], [20, -20, 5]], np.float32)
    y = np.array([[1, 0, 0], [1, 0, 0]], np.float32)
    w = np.array([1, 0], np.float32)
    for name in ("softmax_cross_entropy", "sigmoid_cross_entropy"):
        costs = []
        for kernel in (kernels.KERNELS[name].compiled, kernels.KERNELS[name].twin):
            a, delta = np.empty_like(z), np.empty_like(z)
            costs.append(kernel(z, a, y, w, delta))
        assert costs[0] > 0 and costs[1] == pytest.approx(costs[0], rel=1e-6), name


def test_dask_workers_follow_the_callers_choice():
    import dask
    import dask.array as da

    X, y = load_digits(return_X_y=True)
    net = Network([64, 10], output_activation="softmax", loss="cross_entropy", seed=0)
    Xd = da.from_array(X[:200] / 16, chunks=100)
    Yd = da.from_array(np.eye(10)[y[:200]], chunks=100)
    seen = []
    real = kernels.fit_kernels

    def spy(enabled):
        seen.append(enabled)
        return real(enabled)

    from nablanet.distributed import objective

    with dask.config.set(scheduler="synchronous"):
        for forced in (False, True):
            seen.clear()
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(objective, "fit_kernels", spy)
                with compiled_kernels(forced):
                    train(net, Xd, Yd, optimizer="lbfgs", epochs=2)
            assert seen and set(seen) == {forced}


def test_a_small_fit_inside_a_compiled_fit_makes_its_own_choice(monkeypatch):
    # A fit's choice applies to that fit only: a small fit started from its callback
    # takes the twins, and the outer fit goes on compiled.
    X, y = load_digits(return_X_y=True)
    X, Y = X[:300] / 16, np.eye(10)[y[:300]]
    big = Network([64, 20, 10], activation="relu", output_activation="softmax",
                  loss="cross_entropy", seed=0)
    small = Network([64, 3, 10], output_activation="softmax", loss="cross_entropy", seed=1)
    monkeypatch.setattr(choice, "COMPILE_AT", kernel_work(big, 300, 50))
    assert kernel_work(small, 10, 5) < choice.COMPILE_AT
    seen = []

    class Inner(Callback):
        def on_epoch_end(self, state):
            seen.append(("inner", choice.current().compiled))
            return False

    class Outer(Callback):
        def on_epoch_end(self, state):
            train(small, X[:10], Y[:10], epochs=1, batch_size=5, callbacks=[Inner()])
            seen.append(("outer", choice.current().compiled))
            return False

    train(big, X, Y, epochs=2, batch_size=50, callbacks=[Outer()])
    assert seen == [("inner", False), ("outer", True)] * 2


def test_the_choice_is_per_thread():
    inside = threading.Event()
    release = threading.Event()
    seen = []

    def other():
        with compiled_kernels(True):
            inside.set()
            release.wait(5)

    t = threading.Thread(target=other)
    with compiled_kernels(False):
        t.start()
        inside.wait(5)
        seen.append(choice.current().compiled)
        release.set()
        t.join()
    assert seen == [False]


def test_a_small_fit_and_its_predictions_never_load_numba():
    # The first fit in a fresh process (issue: as fast as scikit-learn's): loading numba
    # costs more than a small fit spends in the passes the kernels save.
    code = (
        "import sys; from sklearn.datasets import load_digits; import nablanet; "
        "X, y = load_digits(return_X_y=True); "
        "m = nablanet.MLPClassifier(max_iter=2).fit(X, y); m.predict_proba(X); "
        "nablanet.MLPRegressor(max_iter=2, solver='lbfgs').fit(X, y).predict(X); "
        "print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"
