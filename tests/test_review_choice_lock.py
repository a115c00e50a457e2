"""Review finding (fixed): a fit that fails while setting up its epochs keeps the adaptive-
threads lock for good.

`RunLoop.descend` (nablanet/training/run.py) builds ``_Epoch(..., self._threads(bs))``: the
`ThreadChoice` is made first, and takes the process-wide ``_choosing`` lock, and only then
``_Epoch.__init__`` runs ``opt.init(theta)`` (a user's optimizer, or Adam's two vectors of
n_params: a MemoryError), all before the ``try: ... finally: epoch.threads.close()``. When
that raises, ``close`` never runs: the lock stays taken, and no later fit in the process
chooses its BLAS threads any more (each finds another fit "choosing" and does nothing), so
on a loaded machine every later fit keeps the slow setting (issue 25).

Right behaviour: the ThreadChoice is made inside the ``try`` (or after the epoch's other
state), so that the lock is released whatever fails.
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import nablanet
from nablanet import Network
from nablanet.training import blas_threads


class BrokenInit:
    learning_rate = 0.01

    def init(self, theta):
        raise MemoryError("no room for the optimizer's state")

    def step(self, theta, grad, state, learning_rate=None):
        raise AssertionError("never reached")


@pytest.fixture
def release_the_lock_after():
    yield
    if blas_threads._choosing.locked():  # on main: do not leave the other tests without it
        blas_threads._choosing.release()


def test_a_fit_whose_optimizer_fails_to_start_lets_later_fits_choose(release_the_lock_after):
    net = Network([784, 100, 10], activation="relu", output_activation="softmax", seed=0)
    rng = np.random.default_rng(0)
    X = rng.random((300, 784))
    Y = np.eye(10)[rng.integers(0, 10, 300)]
    with threadpool_limits(limits=2):
        probe = blas_threads.ThreadChoice(net.layer_sizes, 256)
        probe.close()
        if probe.options != (2, 1):
            pytest.skip("numpy's BLAS cannot take two threads here")
        with pytest.raises(MemoryError, match="no room"):
            nablanet.train(net, X, Y, optimizer=BrokenInit(), batch_size=256, epochs=1)
        later = blas_threads.ThreadChoice(net.layer_sizes, 256)
        later.close()
    # Before the fix: the failed fit still holds the lock: a later fit has nothing to choose.
    assert later.options == (2, 1)
    assert not blas_threads._choosing.locked()
