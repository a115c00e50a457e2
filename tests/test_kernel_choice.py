"""Compiled kernels or their NumPy twins: the twins' rounding, and which one runs where.

A fit compiles the kernels only when its work repays loading them (`nablanet._fused`);
everything else takes the NumPy twins, so a small fit never loads numba.
"""

import copy
import subprocess
import sys
import threading

import numpy as np
import pytest
from sklearn.datasets import load_digits

from nablanet import _fused, compiled_kernels
from nablanet.callbacks import Callback
from nablanet.network import Network
from nablanet.training import train
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
        base = kernel.get(name, name)
        yield name, call, getattr(_fused, f"_{base}")(), getattr(_fused, f"_{base}_numpy")


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


def test_a_fit_compiles_only_when_its_work_repays_it(monkeypatch):
    class Record(Callback):
        def on_epoch_end(self, state):
            seen.append(_fused._COMPILED.get())
            return False

    X, y = load_digits(return_X_y=True)
    X, Y = X[:300] / 16, np.eye(10)[y[:300]]
    net = Network([64, 20, 10], activation="relu", output_activation="softmax",
                  loss="cross_entropy", seed=0)
    work = kernel_work(net, 300, 50, 3)
    assert work == 3 * 6 * (50 * 30 + 2 * net.n_params + 10_000)
    for threshold, expected in [(work + 1, False), (work, True)]:
        monkeypatch.setattr(_fused, "COMPILE_AT", threshold)
        seen = []
        train(net, X, Y, epochs=3, batch_size=50, callbacks=[Record()])
        assert seen == [expected] * 3
    seen = []
    with compiled_kernels(False):  # a forced choice overrides the fit's own
        train(net, X, Y, epochs=1, batch_size=50, callbacks=[Record()])
    assert seen == [False]


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
        seen.append(_fused._COMPILED.get())
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
