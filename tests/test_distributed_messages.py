"""What train() on dask arrays says when it cannot go on (issue 19, item 5).

Run on dask's synchronous scheduler: the messages are made in the block tasks and in the
driver, the same on a cluster.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from nablanet import train
from nablanet.network import Network


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def diabetes_blocks(chunk=150):
    X, y = load_diabetes(return_X_y=True)
    return X, (y - y.mean())[:, None] / y.std(), chunk


@pytest.mark.parametrize("row, column", [(0, 0), (149, 3), (150, 0), (301, 9), (441, 2)])
def test_a_nan_is_named_by_its_row_in_X_not_in_its_block(row, column):
    X, Y, chunk = diabetes_blocks()
    X[row, column] = np.nan
    net = Network([10, 3, 1], seed=0)
    with pytest.raises(ValueError, match=rf"X contains NaN or infinity \(first at row {row}, "
                                         rf"column {column}\)"):
        train(net, da.from_array(X, chunks=(chunk, -1)), da.from_array(Y, chunks=(chunk, -1)),
              optimizer="lbfgs", epochs=2)


def test_an_overflow_in_a_later_block_is_named_by_its_row_in_X():
    X, Y, chunk = diabetes_blocks()
    X[400, 1] = 1e300  # finite in float64, not in the network's float32
    net = Network([10, 3, 1], seed=0, dtype=np.float32)
    with pytest.raises(ValueError, match=r"row 400, column 1\), which overflows float32"):
        train(net, da.from_array(X, chunks=(chunk, -1)), da.from_array(Y, chunks=(chunk, -1)),
              optimizer="lbfgs", epochs=2)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_minibatch_optimizers_point_to_local_sgd(optimizer):
    X, Y, chunk = diabetes_blocks()
    net = Network([10, 3, 1], seed=0)
    before = net.theta.copy()
    Xd, Yd = da.from_array(X, chunks=(chunk, -1)), da.from_array(Y, chunks=(chunk, -1))
    with pytest.raises(ValueError, match=rf"optimizer='{optimizer}' on dask arrays.*"
                                         r"nablanet\.distributed\.local_sgd\(net, X, Y, "
                                         rf"optimizer='{optimizer}', sync_every=\.\.\.\)"):
        train(net, Xd, Yd, optimizer=optimizer, epochs=2)
    np.testing.assert_array_equal(net.theta, before)


def test_the_default_optimizer_too_and_full_batch_methods_still_run():
    X, Y, chunk = diabetes_blocks()
    Xd, Yd = da.from_array(X, chunks=(chunk, -1)), da.from_array(Y, chunks=(chunk, -1))
    with pytest.raises(ValueError, match="local_sgd"):
        train(Network([10, 3, 1], seed=0), Xd, Yd, epochs=2)  # train's default is adam
    for optimizer in ("gd", "lbfgs", "cg"):
        history = train(Network([10, 3, 1], seed=0), Xd, Yd, optimizer=optimizer, epochs=3)
        assert np.isfinite(history.runs[-1].final_loss)
