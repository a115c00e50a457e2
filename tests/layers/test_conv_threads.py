"""Convolution and pooling on several threads: the same bits whatever the thread count.

`nablanet.layers.chunks` splits a batch into fixed chunks of examples and runs them on as
many threads as BLAS may use; what is summed over examples (∂J/∂W) is summed chunk by
chunk in order, so 1, 2 or 3 threads give identical costs and gradients.
"""

import multiprocessing
import os
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from nablanet import Network, compiled_kernels, kernels
from nablanet.layers import Conv2D, Dense, MaxPool2D, MeanPool2D, chunks

# Blas threads as each test sees them: numpy's OpenBLAS, whatever the environment set.
SEVERAL = 3


NETS = {
    # every kind of layer, stride and padding
    "mixed": (lambda: [Conv2D(3, 3, activation="relu"), MaxPool2D(2),
                       Conv2D(4, 2, stride=2, padding="same", activation="tanh"),
                       MeanPool2D(1), Dense(5), Dense(3, "softmax")], (2, 9, 9)),
    # a dense layer of 800 inputs after the convolution
    "wide dense": (lambda: [Conv2D(8, 3), Dense(5), Dense(3, "softmax")], (1, 12, 12)),
}


def _blas_threads():
    return next(p["num_threads"] for p in threadpool_info() if "numpy" in p["filepath"])


def _threads_available():
    with threadpool_limits(limits=SEVERAL):
        return chunks.threads()


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cost_and_gradient_are_the_same_bits_on_one_and_several_threads(dtype, name):
    if _threads_available() < 2:
        pytest.skip("numpy's BLAS reports a single thread here")
    rng = np.random.default_rng(0)
    m = 2 * chunks.CHUNK + 7  # three chunks, the last one short
    layers, shape = NETS[name]
    X = rng.normal(size=(m, int(np.prod(shape)))).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, m)]
    net = Network(layers(), input_shape=shape, dtype=dtype, seed=3)
    results = []
    for n in (1, 2, SEVERAL):
        with threadpool_limits(limits=n):
            results.append(net.loss_and_grad(X, Y))
            results.append((0.0, net.forward(X).ravel()))
            assert _blas_threads() == n  # the pass gave BLAS its count back
    J1, g1 = results[0]
    assert np.isfinite(J1) and np.abs(g1).max() > 0
    for J, g in results[2::2]:
        assert J == J1
        np.testing.assert_array_equal(g, g1)
    for _, p in results[3::2]:
        np.testing.assert_array_equal(p, results[1][1])


def test_chunks_are_fixed_by_the_batch_size_alone():
    assert chunks.chunks(70) == [slice(0, 32), slice(32, 64), slice(64, 70)]
    assert chunks.chunks(32) == [slice(0, 32)]
    assert chunks.chunks(0) == []


def test_several_threads_run_chunks_at_once_and_blas_gets_its_count_back():
    if _threads_available() < 2:
        pytest.skip("numpy's BLAS reports a single thread here")
    meeting = threading.Barrier(2, timeout=10)  # broken unless two chunks run at once
    seen = []

    def work(j, s):
        if j < 2:
            meeting.wait()
        seen.append((j, s, _blas_threads()))

    with threadpool_limits(limits=2):
        chunks.run_chunks(work, 4 * chunks.CHUNK)
        assert chunks.threads() == _blas_threads() == 2
    assert sorted(j for j, _, _ in seen) == [0, 1, 2, 3]
    assert {n for _, _, n in seen} == {1}  # one BLAS thread inside each chunk


def test_workers_see_the_callers_kernel_choice_and_pass_exceptions_back():
    if _threads_available() < 2:
        pytest.skip("numpy's BLAS reports a single thread here")
    choices = []

    def work(j, s):
        choices.append(kernels.current().compiled)
        if j == 3:
            raise ValueError("chunk 3 failed")

    with threadpool_limits(limits=2), compiled_kernels():
        with pytest.raises(ValueError, match="chunk 3 failed"):
            chunks.run_chunks(work, 4 * chunks.CHUNK)
        assert chunks.threads() == 2
    assert choices == [True] * 4


def test_a_convolutional_network_holds_blas_to_one_thread_through_its_whole_pass(monkeypatch):
    # OpenBLAS's idle threads spin after each product they share: a dense layer's product
    # on two threads would leave one spinning through the convolution that follows.
    if _threads_available() < 2:
        pytest.skip("numpy's BLAS reports a single thread here")
    seen = []
    forward = Dense.forward

    def recording(self, *args):
        seen.append(_blas_threads())
        return forward(self, *args)

    monkeypatch.setattr(Dense, "forward", recording)
    X = np.random.default_rng(0).normal(size=(40, 36))
    Y = np.eye(3)[np.arange(40) % 3]
    conv = Network([Conv2D(2, 3), Dense(4), Dense(3, "softmax")], input_shape=(1, 6, 6))
    dense = Network([Dense(4), Dense(3, "softmax")], input_shape=(36,))
    with threadpool_limits(limits=2):
        conv.loss_and_grad(X, Y)
        conv.forward(X)
        assert seen == [1] * 4 and _blas_threads() == 2
        dense.loss_and_grad(X, Y)
        assert seen[4:] == [2] * 2  # a network without convolutions keeps its BLAS threads


def test_a_forked_process_runs_chunks_on_a_pool_of_its_own():
    if _threads_available() < 2 or not hasattr(os, "fork"):
        pytest.skip("needs two BLAS threads and os.fork")
    with threadpool_limits(limits=2):
        chunks.run_chunks(lambda j, s: None, 4 * chunks.CHUNK)  # the parent's pool exists
        seen = multiprocessing.get_context("fork").Queue()
        child = multiprocessing.get_context("fork").Process(
            target=_run_in_child, args=(seen,))
        child.start()
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
        assert child.exitcode == 0 and seen.get(timeout=5) == [0, 1, 2, 3]


def _run_in_child(seen):
    done = []
    with threadpool_limits(limits=2):
        chunks.run_chunks(lambda j, s: done.append(j), 4 * chunks.CHUNK)
    seen.put(sorted(done))
