"""Review finding: Network.hidden keeps whole-data-set buffers after the call."""

import tracemalloc

import numpy as np

from nablanet.network import Network


def test_hidden_does_not_keep_buffers_the_size_of_the_data():
    """forward evaluates in chunks of rows, so the buffers it keeps are bounded; hidden
    (used by transform) made one workspace of X's full height (A, D, δ of every layer)
    and kept it in the thread's cache: 1.3 GB held after hidden() on 200 000 x 64 rows
    (256 hidden units), against 48 MB after forward()."""
    net = Network([64, 256, 10], seed=0)
    X = np.random.default_rng(0).random((20000, 64))
    tracemalloc.start()
    try:
        net.forward(X)
        after_forward = tracemalloc.get_traced_memory()[0]
        H = net.hidden(X)
        del H
        after_hidden = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after_hidden - after_forward < 20e6  # H itself is 41 MB and was released
