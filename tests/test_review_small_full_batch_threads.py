"""Review finding (fixed): a full-batch L-BFGS fit on fewer than 512 rows is NOT the same
bits whatever the threads.

What is wrong: `PartedPass.parts_for` (nablanet/network_parts.py) returns None where the
batch makes a single part, which `row_parts` does for every m < 2 * MIN_PART_ROWS = 512
rows; `RunLoop._full_batch` then takes the old unsplit pass and `RunLoop._threads` keeps
the BLAS-thread chooser, so each product runs on the process's (or the chosen) count and
OpenBLAS's multi-threaded sums change the last bits. Yet docs/guide.md and the CHANGELOG say
of every full-batch step of a network without convolutions or a sparsity penalty: "Its
result is the same bits whatever the thread count or the load". scikit-learn's bundled
regression set (diabetes, 442 rows) with a wide hidden layer is such a case.

What is right: either the same bits (a single part still run with BLAS held to one thread,
or parts smaller than 256 rows when m is small but the product is large), or docs that
name the exception (batches of fewer than 512 rows choose their threads as before).
"""

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from threadpoolctl import threadpool_limits

from nablanet.estimators.regressor import MLPRegressor


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lbfgs_on_442_rows_is_the_same_bits_whatever_the_threads():
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    thetas = []
    for n in (1, 2):
        with threadpool_limits(limits=n):
            est = MLPRegressor(hidden_layer_sizes=(1000,), solver="lbfgs", alpha=0.0,
                               max_iter=10, random_state=0).fit(X, y)
        thetas.append(np.concatenate([c.ravel() for c in est.coefs_]))
    np.testing.assert_array_equal(thetas[1], thetas[0])
