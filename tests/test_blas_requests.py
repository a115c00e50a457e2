"""One place sets BLAS's thread count, from whichever Python thread asks (`nablanet._blas`).

threadpoolctl lets only the first Python thread that sets OpenBLAS's count change it and
silently ignores the others; nablanet's holds (one BLAS thread while a pass splits its own
work) and a fit's choice must work from any thread, and must not undo each other.
"""

import threading

import numpy as np
import pytest

from nablanet import Network
from nablanet._blas import (
    SCIPY,
    available_threads,
    blas_threads,
    choose_threads,
    one_blas_thread,
    scipy_blas,
)
from nablanet.optim.scipy_min import LBFGS
from nablanet.training import blas_threads as fit_threads

# The main thread sets the count first, as after its first prediction: threadpoolctl then
# ignores every other thread's limits.
pytestmark = pytest.mark.usefixtures("two_blas_threads")


def _in_thread(f):
    result = {}

    def run():
        result["value"] = f()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return result["value"]


def test_a_hold_from_another_python_thread_holds():
    def hold():
        with one_blas_thread() as had:
            return had, blas_threads()

    assert _in_thread(hold) == (2, 1)
    assert blas_threads() == 2


def test_a_prediction_from_another_thread_is_the_same_bits_as_from_the_main_thread():
    # 784 inputs: OpenBLAS sums such products in other blocks on two threads than on one
    net = Network([784, 100, 10], activation="relu", output_activation="softmax",
                  dtype=np.float32, seed=0)
    X = np.random.default_rng(0).random((3000, 784)).astype(np.float32)
    here = net.forward(X)
    there = _in_thread(lambda: net.forward(X))
    np.testing.assert_array_equal(there, here)


def test_a_fit_in_another_thread_can_choose_its_threads():
    def choose():
        chooser = fit_threads.ThreadChoice((784, 100, 10), 200)
        chooser._use(1)
        during = blas_threads()
        chooser.close()
        return chooser.options, during

    assert _in_thread(choose) == ((2, 1), 1)
    assert blas_threads() == 2


def test_holds_and_a_choice_do_not_undo_each_other():
    choose_threads(2)
    try:
        with one_blas_thread() as had:
            assert (had, blas_threads()) == (2, 1)
            choose_threads(1)  # a fit's probe meanwhile: applies when the hold ends
            assert blas_threads() == 1
            choose_threads(2)
            assert blas_threads() == 1 and available_threads() == 2
            with one_blas_thread() as inner:  # nested or concurrent: still one thread
                assert (inner, blas_threads()) == (2, 1)
            assert blas_threads() == 1
        assert blas_threads() == 2  # the choice, not the count the hold found
        choose_threads(1)
        assert blas_threads() == 1
    finally:
        choose_threads(None)
    assert blas_threads() == 2  # the count found before the first request


def test_overlapping_holds_from_two_threads_keep_one_thread_until_the_last_ends():
    first_in, second_out = threading.Event(), threading.Event()
    seen = []

    def first():
        with one_blas_thread():
            first_in.set()
            second_out.wait(10)
            seen.append(("first, after the second ended", blas_threads()))

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(10)
    with one_blas_thread():
        seen.append(("second", blas_threads()))
    second_out.set()
    t.join()
    assert seen == [("second", 1), ("first, after the second ended", 1)]
    assert blas_threads() == 2


def test_an_exception_inside_a_hold_gives_the_count_back():
    with pytest.raises(KeyError, match="inside"), one_blas_thread():
        raise KeyError("inside")
    assert blas_threads() == 2


def test_lbfgs_runs_scipys_own_blas_on_one_thread_also_from_another_thread():
    if scipy_blas() is None:
        pytest.skip("scipy shares NumPy's BLAS here")
    seen = []

    def fun(x):
        seen.append(SCIPY.count())
        return float(x @ x), 2 * x

    def run():
        LBFGS(max_iter=3).minimize(fun, np.ones(3))

    _in_thread(run)
    assert seen and set(seen) == {1}
    assert SCIPY.count() == 2
