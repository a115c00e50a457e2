"""The training run loop's promises beyond batch composition (nablanet.training.run).

Mutation testing (`make mutate`) found these unchecked: the inverted-dropout masks the
loop draws (which units, what scale, every batch, the full batch too); a full batch is
never shuffled; each epoch's recorded time; dropout refused for L-BFGS; divergence
reported by the guard, never by NumPy's overflow warnings, naming the batch where it
happened and carrying the history. Data: scikit-learn's bundled digits.
"""

import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from nablanet import Network, TrainingDiverged
from nablanet.training import train

P = 0.3  # the dropout probability


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    X, y = d.data[:200] / 16.0, d.target[:200]
    return X, np.eye(10)[y]


def new_net(dtype=np.float64):
    return Network([64, 40, 30, 10], activation="relu", output_activation="softmax", seed=0,
                   dtype=dtype)


def record_masks(net):
    """Wrap the loss function: keep each call's dropout masks (copies) and batch size."""
    seen = []
    inner = net.loss_and_grad_into

    def spy(X, Y, theta, grad, *, sample_weight=None, dropout_masks=None):
        masks = None if dropout_masks is None else [m.copy() for m in dropout_masks]
        seen.append((X.shape[0], masks))
        return inner(X, Y, theta, grad, sample_weight=sample_weight, dropout_masks=dropout_masks)

    net.loss_and_grad_into = spy
    return seen


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [32, None])
def test_dropout_masks_keep_each_unit_with_probability_1_minus_p_scaled_by_its_inverse(
        digits, batch_size, dtype):
    X, Y = digits
    net = new_net(dtype)
    seen = record_masks(net)
    train(net, X, Y, optimizer="sgd", epochs=2, batch_size=batch_size, dropout=P, seed=0)
    sizes = [200] * 2 if batch_size is None else ([32] * 6 + [8]) * 2
    assert [m for m, _ in seen] == sizes
    scale = dtype(1.0) / dtype(1.0 - P)
    for m, masks in seen:
        assert [mask.shape for mask in masks] == [(m, 40), (m, 30)]
        for mask in masks:
            assert mask.dtype == dtype
            assert set(np.unique(mask)) <= {dtype(0.0), scale}
    dropped = np.concatenate([(mask == 0).ravel() for _, masks in seen for mask in masks])
    # 28 000 Bernoulli(0.3) draws: the share lies within 0.3 ± 0.015 (over 5 sigma)
    assert abs(dropped.mean() - P) < 0.015
    # fresh masks for every batch
    assert not np.array_equal(seen[0][1][0][:8], seen[1][1][0][:8])


def test_a_full_batch_is_never_shuffled(digits):
    """shuffle=True changes nothing for a full batch: the same weights, dropout included."""
    X, Y = digits
    nets = [new_net(), new_net()]
    for net, shuffle in zip(nets, [True, False], strict=True):
        train(net, X, Y, optimizer="adam", epochs=3, dropout=P, shuffle=shuffle, seed=4)
    np.testing.assert_array_equal(nets[0].theta, nets[1].theta)


@pytest.mark.parametrize("optimizer", ["sgd", "lbfgs"])
def test_each_epoch_records_the_seconds_it_took(digits, optimizer):
    X, Y = digits
    t0 = time.perf_counter()
    h = train(new_net(), X, Y, optimizer=optimizer, epochs=3, batch_size=50)
    elapsed = time.perf_counter() - t0
    assert len(h.runs[0].epoch_time) == h.runs[0].n_epochs >= 1
    assert all(isinstance(t, float) and 0.0 <= t <= elapsed for t in h.runs[0].epoch_time)
    assert sum(h.runs[0].epoch_time) <= elapsed


def test_dropout_is_refused_for_a_full_batch_minimizer(digits):
    X, Y = digits
    with pytest.raises(ValueError, match=r"^dropout needs a stochastic optimizer \(sgd or adam\), "
                                         r"not L-BFGS/CG$"):
        train(new_net(), X, Y, optimizer="lbfgs", dropout=0.5, epochs=2)


def test_a_runaway_rate_is_caught_at_the_batch_with_no_numpy_warning(digits):
    X, Y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would surface as an error
        with pytest.raises(TrainingDiverged, match=r"^training diverged at epoch 1 \(batch 2\): "
                                                   r"the cost grew to") as info:
            train(new_net(), X, Y, optimizer="sgd", learning_rate=1e8, batch_size=25, epochs=3)
    assert info.value.history.runs[0].n_epochs == 0  # no epoch passed the guard


def test_lbfgs_divergence_names_the_best_finite_cost_with_no_numpy_warning(digits):
    X, Y = digits
    X = X.copy()
    X[5, 3] = 1e308
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TrainingDiverged, match="^training diverged in LBFGS iteration 1: "
                                                   "stopped: non-finite J ") as info:
            train(new_net(), X, Y, optimizer="lbfgs", epochs=5)
    message = str(info.value)
    assert "theta holds the best finite point evaluated (J=" in message
    assert " there). X holds a value of 1e+308 (row 5, column 3)" in message
    assert info.value.history is not None and len(info.value.history.runs) == 1


def test_lbfgs_divergence_at_the_start_names_no_best_cost(digits):
    X, Y = digits
    X = X.copy()
    X[0] = np.finfo(np.float64).max  # every input unit: the first sums are already inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TrainingDiverged, match="at the initial point") as info:
            train(new_net(), X, Y, optimizer="lbfgs", epochs=5)
    message = str(info.value)
    assert "non-finite J or gradient at the initial point (J=nan). X holds a value" in message
    assert " there)" not in message
