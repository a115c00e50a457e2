"""A large prediction in fixed parts of rows, each on one BLAS thread (`chunks.map_rows`).

The parts depend on the number of rows alone, every part runs with BLAS held to one
thread, and the parts are shared among as many threads as BLAS may use: a prediction is
the same bits whatever the thread count, from one thread or from many at once, and a
thread that gets less of the CPU takes fewer parts (issue 25).
"""

import pickle
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from nablanet import Network
from nablanet._blas import ONE_THREAD_PRODUCT
from nablanet.layers import Conv2D, Dense, MaxPool2D, chunks

SEVERAL = 3


def _blas_threads():
    return next(p["num_threads"] for p in threadpool_info() if "numpy" in p["filepath"])


def _wide(dtype=np.float32):
    # 784 inputs: OpenBLAS sums such products in other blocks on several threads, so an
    # unsplit prediction could differ in the last bits from one thread to two.
    return Network([784, 100, 10], activation="relu", output_activation="softmax",
                   dtype=dtype, seed=0)


def _rows(m, n_in, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random((m, n_in)).astype(dtype)


def test_parts_depend_on_the_rows_alone(monkeypatch):
    assert chunks.PARTS >= 8
    monkeypatch.setattr(chunks, "PARTS", 8)  # as on a machine of 8 CPUs or fewer
    calls = []

    def part(rows):
        calls.append((rows.start, rows.stop, chunks.threads()))
        return np.full((rows.stop - rows.start, 1), float(rows.start))

    out = chunks.map_rows(part, 5000, 1, np.float64, ONE_THREAD_PRODUCT, 4096)
    bounds = sorted((start, stop) for start, stop, _ in calls)
    assert bounds == [(s, min(s + 625, 5000)) for s in range(0, 5000, 625)]  # 8 parts
    np.testing.assert_array_equal(out[:, 0], np.repeat(np.arange(0, 5000, 625), 625))
    # at most max_rows a part; no part smaller than MIN_PART_ROWS unless it is the last
    calls.clear()
    chunks.map_rows(part, 5000, 1, np.float64, ONE_THREAD_PRODUCT, 500)
    assert max(stop - start for start, stop, _ in calls) == 500
    calls.clear()
    chunks.map_rows(part, 600, 1, np.float64, ONE_THREAD_PRODUCT, 4096)
    assert sorted((a, b) for a, b, _ in calls) == [(0, 300), (300, 600)]  # 256 rows or more


def test_a_small_prediction_is_one_pass_and_its_result_a_copy():
    buffer = np.zeros((3, 2))
    calls = []

    def part(rows):
        calls.append(rows)
        return buffer

    out = chunks.map_rows(part, 3, 2, np.float64, 10, 4096)
    assert calls == [slice(0, 3)]
    assert out is not buffer and not np.shares_memory(out, buffer)
    net = _wide()
    x = _rows(1, 784)
    first = net.forward(x)
    second = net.forward(_rows(1, 784, seed=1))
    assert not np.array_equal(first, second)  # the first result was not overwritten


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_large_prediction_is_the_same_bits_on_one_and_several_threads(dtype):
    net = _wide(dtype)
    X = _rows(3000, 784, dtype)
    results = []
    for n in (1, 2, SEVERAL):
        with threadpool_limits(limits=n):
            results.append(net.forward(X))
            results.append(net.hidden(X))
            assert _blas_threads() == n  # BLAS got its count back
    for got in results[2::2]:
        np.testing.assert_array_equal(got, results[0])
    for got in results[3::2]:
        np.testing.assert_array_equal(got, results[1])
    # each row as its part computed it, on one BLAS thread
    with threadpool_limits(limits=1):
        np.testing.assert_array_equal(net.forward(X[:375]), results[0][:375])


def test_parts_run_on_several_threads_with_blas_held_to_one(monkeypatch):
    seen = []
    lock = threading.Lock()
    barrier = threading.Barrier(2, timeout=10)

    def part(rows):
        with lock:
            seen.append((threading.get_ident(), _blas_threads()))
        if rows.start < 512:
            barrier.wait()  # the first two parts at once: two threads, or this times out
        return np.zeros((rows.stop - rows.start, 1))

    with threadpool_limits(limits=2):
        if chunks.threads() < 2:
            pytest.skip("numpy's BLAS reports a single thread here")
        chunks.map_rows(part, 2048, 1, np.float64, ONE_THREAD_PRODUCT, 4096)
        assert _blas_threads() == 2
    assert len({ident for ident, _ in seen}) == 2
    assert {count for _, count in seen} == {1}


def test_predictions_from_eight_threads_at_once_are_the_same_bits():
    net = _wide()
    X = _rows(2000, 784)
    expected = net.forward(X)
    results = [None] * 8

    def run(i):
        results[i] = net.forward(X)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results:
        np.testing.assert_array_equal(got, expected)


def test_a_part_that_raises_raises_in_the_caller():
    def part(rows):
        if rows.start == 1024:
            raise FloatingPointError("part three")
        return np.zeros((rows.stop - rows.start, 1))

    with pytest.raises(FloatingPointError, match="part three"):
        chunks.map_rows(part, 4096, 1, np.float64, ONE_THREAD_PRODUCT, 4096)


def test_a_convolutional_network_runs_its_parts_in_turn_and_splits_each_batch():
    net = Network([Conv2D(4, 3, activation="relu"), MaxPool2D(2), Dense(3, "softmax")],
                  input_shape=(1, 8, 8), seed=0)
    X = _rows(700, 64, np.float64)
    with threadpool_limits(limits=1):
        one = net.forward(X)
    with threadpool_limits(limits=SEVERAL):
        several = net.forward(X)
    np.testing.assert_array_equal(several, one)


def test_an_unpickled_network_knows_its_largest_product():
    net = _wide()
    state = net.__getstate__()
    del state["largest_product"]  # as pickled before the count existed
    old = Network.__new__(Network)
    old.__setstate__(state)
    assert old.largest_product == 784 * 100
    np.testing.assert_array_equal(old.forward(_rows(5, 784)), net.forward(_rows(5, 784)))
    assert pickle.loads(pickle.dumps(net)).largest_product == 784 * 100
