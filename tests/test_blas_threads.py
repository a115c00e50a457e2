"""Each fit's choice of BLAS threads (`nablanet.training.blas_threads`, issue 25).

A fit times steps with one BLAS thread and with all of them and keeps the faster, so a
busy core no longer makes OpenBLAS's spinning threads slow every product. Checked here:
it chooses what is faster, gives the thread count back after the fit (also when the fit
fails), leaves a concurrent fit alone, and changes the weights by no more than rounding.
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_info, threadpool_limits

from nablanet import Network
from nablanet.training import TrainingDiverged, blas_threads, train
from nablanet.training.blas_threads import ThreadChoice, adaptive_threads

SIZES = (64, 100, 10)  # digits; at 200 rows its input product is above OpenBLAS's threshold


def _blas_threads() -> int:
    """Threads of NumPy's BLAS, the one the fit's products call (scipy may bring another)."""
    return next(p["num_threads"] for p in threadpool_info() if "numpy" in p["filepath"])


@pytest.fixture
def two_threads():
    with threadpool_limits(limits=2):
        yield


class _Clock:
    """A perf_counter that moves only when a step says it took time: timings a busy
    machine cannot disturb (sleeping steps of 1 and 20 ms swapped order under load)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = _Clock()
    monkeypatch.setattr(blas_threads, "time", fake)
    return fake


def _run_steps(choice: ThreadChoice, seconds: dict[int, float], n: int, clock: _Clock) -> list[int]:
    """n steps that take as long as ``seconds`` says for the thread count in force."""
    seen = []
    for _ in range(n):
        with choice.step():
            seen.append(_blas_threads())
            clock.now += seconds[seen[-1]]
    return seen


@pytest.mark.usefixtures("two_threads")
@pytest.mark.parametrize(("seconds", "best"), [({1: 0.001, 2: 0.02}, 1), ({1: 0.02, 2: 0.001}, 2)])
def test_the_faster_setting_is_chosen_and_the_count_restored(seconds, best, clock):
    choice = ThreadChoice(SIZES, 200)
    assert choice.options == (2, 1)
    n_probe = blas_threads.WARMUP_STEPS + 2 * blas_threads.PROBE_STEPS
    seen = _run_steps(choice, seconds, n_probe + 5, clock)
    assert sorted(set(seen[blas_threads.WARMUP_STEPS : n_probe])) == [1, 2]  # both were timed
    assert choice.chosen == [best]
    assert seen[n_probe:] == [best] * 5
    choice.close()
    assert _blas_threads() == 2


@pytest.mark.usefixtures("two_threads")
def test_a_chosen_setting_that_turns_slow_is_probed_again_at_once(clock):
    choice = ThreadChoice(SIZES, 200)
    try:
        n_probe = blas_threads.WARMUP_STEPS + 2 * blas_threads.PROBE_STEPS
        _run_steps(choice, {1: 0.02, 2: 0.001}, n_probe, clock)
        assert choice.chosen == [2]
        # The load changes: 2 threads become slow, long before the scheduled re-check.
        slow = {1: 0.001, 2: 0.02}
        _run_steps(choice, slow, blas_threads.SLOW_STEPS + 2 * blas_threads.PROBE_STEPS + 1, clock)
        assert choice.chosen == [2, 1]
    finally:
        choice.close()  # a chooser left open would hold the process's turn for other tests


@pytest.mark.usefixtures("two_threads")
def test_nothing_to_choose_for_small_products_one_thread_or_when_turned_off():
    assert ThreadChoice((4, 3, 2), 150).options == ()  # OpenBLAS splits none of its products
    with adaptive_threads(False):
        assert ThreadChoice(SIZES, 200).options == ()
    with threadpool_limits(limits=1):
        assert ThreadChoice(SIZES, 200).options == ()


@pytest.mark.usefixtures("two_threads")
def test_a_second_fit_at_the_same_time_does_not_choose():
    # The thread count is the process's: a second chooser's restore would undo the first's.
    first = ThreadChoice(SIZES, 200)
    second = ThreadChoice(SIZES, 200)
    assert first.options == (2, 1)
    assert second.options == ()
    first.close()
    third = ThreadChoice(SIZES, 200)
    assert third.options == (2, 1)
    third.close()


def _digits(dtype):
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(dtype), np.eye(10, dtype=dtype)[y]


def _fit(threads: int, adapt: bool, hidden: int, dtype=np.float64) -> np.ndarray:
    X, Y = _digits(dtype)
    net = Network(
        (64, hidden, 10), activation="relu", output_activation="softmax", dtype=dtype, seed=0
    )
    with threadpool_limits(limits=threads), adaptive_threads(adapt):
        train(net, X, Y, optimizer="adam", batch_size=200, epochs=3, seed=0)
    return net.theta.copy()


@pytest.fixture
def switch_every_step(monkeypatch):
    """A chooser that probes without pause: the thread count changes from step to step."""
    monkeypatch.setattr(blas_threads, "WARMUP_STEPS", 0)
    monkeypatch.setattr(blas_threads, "PROBE_STEPS", 1)
    monkeypatch.setattr(blas_threads, "MIN_RECHECK_SECONDS", 0.0)
    monkeypatch.setattr(blas_threads, "RECHECK_FACTOR", 0.0)


@pytest.mark.usefixtures("switch_every_step")
@pytest.mark.parametrize("hidden", [100, 500])
def test_switching_threads_changes_a_float64_fit_by_rounding_only(hidden):
    # OpenBLAS blocks long sums differently with several threads: the last bits of some
    # products change with the count, never more (documented in blas_threads).
    fixed = _fit(1, adapt=False, hidden=hidden)
    switching = _fit(2, adapt=True, hidden=hidden)
    np.testing.assert_allclose(switching, fixed, rtol=0, atol=1e-12 * np.abs(fixed).max())


@pytest.mark.usefixtures("switch_every_step")
def test_a_float32_fit_with_short_sums_is_bit_identical_whatever_the_threads():
    fixed = _fit(1, adapt=False, hidden=100, dtype=np.float32)
    switching = _fit(2, adapt=True, hidden=100, dtype=np.float32)
    np.testing.assert_array_equal(switching, fixed)


@pytest.mark.usefixtures("two_threads", "switch_every_step")
def test_a_diverging_fit_gives_the_threads_back():
    X, Y = _digits(np.float64)
    net = Network(SIZES, activation="relu", output_activation="softmax", seed=0)
    with pytest.raises(TrainingDiverged, match="training diverged"):
        train(net, X * 1e6, Y, optimizer="sgd", learning_rate=1e6, batch_size=200, epochs=5)
    assert _blas_threads() == 2
    after = ThreadChoice(SIZES, 200)
    assert after.options == (2, 1)  # and its turn to choose
    after.close()


@pytest.mark.usefixtures("switch_every_step")
def test_lbfgs_on_the_whole_set_is_the_same_bits_whatever_the_threads():
    # Its evaluations are split in fixed parts of rows, each on one BLAS thread
    # (nablanet.network_parts): nothing is left to choose, nothing depends on the count.
    X, Y = _digits(np.float64)

    def fit(threads: int, adapt: bool) -> np.ndarray:
        net = Network(SIZES, activation="relu", output_activation="softmax", seed=0)
        with threadpool_limits(limits=threads), adaptive_threads(adapt):
            train(net, X, Y, optimizer="lbfgs", epochs=15)
            assert _blas_threads() == threads  # given back after the run
        return net.theta.copy()

    fixed = fit(1, adapt=False)
    np.testing.assert_array_equal(fit(2, adapt=True), fixed)
    np.testing.assert_array_equal(fit(3, adapt=False), fixed)
