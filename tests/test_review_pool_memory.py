"""Review finding (fixed): a prediction leaves work buffers in every pool thread that took
a part, for good.

`Network._activations` runs each part with ``self._workspace(rows)``: the buffers of the
thread that runs the part, kept per thread (``threading.local``) and per batch size (up to
`MAX_WORKSPACES` = 4 sizes). Pool threads never end, so after one large prediction each of
the n threads that took parts keeps its part's buffers (Z/A, f'(z) and delta of every layer:
three times what a prediction needs) for as long as the network lives; predictions of other
sizes add other part sizes, up to 4 per thread. The memory a network keeps after predicting
thus grows with the thread count: on 2 threads twice what one thread keeps (measured below);
on a 32-core machine with BLAS on 32 threads, 25 parts of 4 096 rows of a 784-1000-1000-10
network in float64 keep ~200 MB per thread, about 5 GB, where `forward` before this change
kept one thread's chunks (~0.4 GB).

Right behaviour: what a network keeps after a prediction does not grow with the thread
count, e.g. the pool threads' parts use buffers that are dropped (or handed back to the
caller's cache) at the end of the pass, and a prediction's buffers hold only A (and the
output Z), not f'(z) and delta.
"""

import gc
import threading
import tracemalloc

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from nablanet import Network
from nablanet.layers import chunks


def _kept_after_forward(n_threads, X):
    net = Network([784, 300, 10], activation="relu", output_activation="softmax",
                  dtype=np.float32, seed=0)
    if n_threads > 1:  # make sure a pool thread takes a part (however loaded the machine)
        caller, pool_part = threading.current_thread(), threading.Event()
        forward = net._forward

        def spy(*args, **kwargs):
            if threading.current_thread() is caller:
                pool_part.wait(5)
            else:
                pool_part.set()
            return forward(*args, **kwargs)

        net._forward = spy
    with threadpool_limits(limits=n_threads):
        if chunks.threads() != n_threads:
            pytest.skip(f"cannot give numpy's BLAS {n_threads} threads here")
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            out = net.forward(X)
            del out
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    return kept, net  # the network alive: its buffers are what is measured


def test_what_a_prediction_keeps_does_not_grow_with_the_thread_count():
    X = np.random.default_rng(0).random((8000, 784)).astype(np.float32)  # 8 parts of 1000
    one, _net1 = _kept_after_forward(1, X)
    two, _net2 = _kept_after_forward(2, X)
    # Before the fix: the pool thread keeps its own part buffers as well: two ~= 2 x one.
    assert two <= 1.25 * one, f"kept {one / 1e6:.1f} MB on 1 thread, {two / 1e6:.1f} MB on 2"
