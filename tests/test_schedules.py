"""Tests of nablanet.optim.schedules: values by hand, plateau logic, validation, lookup."""

from __future__ import annotations

import math

import pytest

from nablanet.optim.schedules import (
    SCHEDULES,
    Constant,
    Cosine,
    InverseScaling,
    ReduceOnPlateau,
    StepDecay,
    get_schedule,
)


def test_constant_ignores_epoch_and_loss():
    s = Constant(0.3)
    assert [s(e, loss) for e, loss in [(0, None), (5, 1.0), (100, 0.01)]] == [0.3, 0.3, 0.3]


def test_inverse_scaling_by_hand():
    s = InverseScaling(0.1, power_t=0.5)
    # 0.1 / √(e + 1)
    assert s(0, None) == 0.1
    assert s(3, None) == pytest.approx(0.05, rel=1e-15)
    assert s(99, None) == pytest.approx(0.01, rel=1e-15)
    # steps_per_epoch = n_samples counts samples seen, as scikit-learn's 'invscaling':
    # after 2 epochs of 50 samples, 0.1 / (100 + 1)^0.25
    s = InverseScaling(0.1, power_t=0.25, steps_per_epoch=50)
    assert s(0, None) == 0.1
    assert s(2, None) == pytest.approx(0.1 / 101**0.25, rel=1e-15)
    assert InverseScaling(0.1, power_t=0.0)(7, None) == 0.1


def test_step_decay_by_hand():
    s = StepDecay(1.0, step_size=3, gamma=0.5)
    assert [s(e, None) for e in range(8)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_cosine_by_hand():
    s = Cosine(0.2, total_epochs=4, min_learning_rate=0.0)
    # 0.1 (1 + cos(π e / 4)): 0.2, 0.1 (1 + √2/2), 0.1, 0.1 (1 − √2/2), 0 from e = 4 on
    expected = [0.2, 0.1 * (1 + math.sqrt(0.5)), 0.1, 0.1 * (1 - math.sqrt(0.5)), 0.0, 0.0]
    assert [s(e, None) for e in range(6)] == pytest.approx(expected, abs=1e-15)
    s = Cosine(1.0, total_epochs=2, min_learning_rate=0.5)
    assert [s(e, None) for e in range(4)] == pytest.approx([1.0, 0.75, 0.5, 0.5], abs=1e-15)


def test_plateau_reduces_after_exactly_patience_non_improving_epochs():
    s = ReduceOnPlateau(1.0, factor=0.5, patience=3, min_delta=0.01)
    assert s(0, None) == 1.0  # no loss yet
    assert s(1, 2.0) == 1.0  # first loss: an improvement on inf
    assert s(2, 1.0) == 1.0  # improvement
    assert s(3, 0.995) == 1.0  # better, but by less than min_delta: bad epoch 1
    assert s(4, 1.5) == 1.0  # bad epoch 2
    assert s(5, 0.99) == 0.5  # 0.99 > 0.995 − 0.01: bad epoch 3 = patience -> halve
    assert s.bad_epochs == 0
    assert s.best_loss == 0.99  # the best loss followed every decrease
    assert s(6, 0.985) == 0.5  # bad 1
    assert s(7, 0.97) == 0.5  # 0.97 <= 0.985 − 0.01: improvement, the count restarts
    assert s(8, 0.97) == 0.5
    assert s(9, 0.97) == 0.5
    assert s(10, 0.97) == 0.25


def test_plateau_counts_nan_as_non_improving_and_none_as_nothing():
    s = ReduceOnPlateau(1.0, factor=0.1, patience=2, min_delta=0.0)
    assert s(0, 1.0) == 1.0
    assert s(1, math.nan) == 1.0
    assert s(2, None) == 1.0  # no new loss: the count stays at 1
    assert s.bad_epochs == 1
    assert s(3, math.nan) == pytest.approx(0.1)
    assert s.best_loss == 1.0


def test_plateau_with_zero_min_delta_counts_equal_loss_as_improvement():
    # As scikit-learn: bad when loss > best − tol, so with tol = 0 an equal loss is fine.
    s = ReduceOnPlateau(1.0, factor=0.5, patience=1, min_delta=0.0)
    assert [s(e, 1.0) for e in range(4)] == [1.0, 1.0, 1.0, 1.0]
    assert s(4, 1.1) == 0.5


def test_plateau_respects_min_learning_rate():
    s = ReduceOnPlateau(1.0, factor=0.1, patience=1, min_delta=0.0, min_learning_rate=0.05)
    rates = [s(e, 1.0 + e) for e in range(5)]  # the loss only grows
    assert rates == pytest.approx([1.0, 0.1, 0.05, 0.05, 0.05])


def test_plateau_reset_starts_over():
    s = ReduceOnPlateau(1.0, factor=0.5, patience=1, min_delta=0.0)
    s(0, 1.0)
    assert s(1, 2.0) == 0.5
    s.reset()
    assert (s.current_learning_rate, s.best_loss, s.bad_epochs) == (1.0, math.inf, 0)
    assert s(0, 5.0) == 1.0


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Constant(0.0), "learning_rate"),
        (lambda: Constant(-0.1), "learning_rate"),
        (lambda: InverseScaling(0.1, power_t=-1.0), "power_t"),
        (lambda: InverseScaling(0.1, steps_per_epoch=0), "steps_per_epoch"),
        (lambda: StepDecay(0.1, step_size=0), "step_size"),
        (lambda: StepDecay(0.1, step_size=2, gamma=1.5), "gamma"),
        (lambda: StepDecay(0.1, step_size=2, gamma=0.0), "gamma"),
        (lambda: Cosine(0.1, total_epochs=0), "total_epochs"),
        (lambda: Cosine(0.1, total_epochs=10, min_learning_rate=0.2), "min_learning_rate"),
        (lambda: ReduceOnPlateau(0.1, factor=1.0), "factor"),
        (lambda: ReduceOnPlateau(0.1, factor=0.0), "factor"),
        (lambda: ReduceOnPlateau(0.1, patience=0), "patience"),
        (lambda: ReduceOnPlateau(0.1, min_delta=-1.0), "min_delta"),
        (lambda: ReduceOnPlateau(0.1, min_learning_rate=1.0), "min_learning_rate"),
        (lambda: Constant(math.inf), "learning_rate"),
        (lambda: Constant("0.1"), "learning_rate"),
    ],
)
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_negative_epoch_raises():
    with pytest.raises(ValueError, match="epoch"):
        Constant(0.1)(-1, None)


def test_get_schedule_by_name():
    assert get_schedule("constant", 0.1)(3, None) == 0.1
    assert get_schedule("invscaling", 0.1, power_t=1.0)(1, None) == 0.05
    assert get_schedule("step", 0.1, step_size=1, gamma=0.5)(2, None) == 0.025
    assert get_schedule("cosine", 0.1, total_epochs=2)(2, None) == 0.0
    assert isinstance(get_schedule("plateau", 0.1, patience=2), ReduceOnPlateau)
    assert set(SCHEDULES) == {"constant", "invscaling", "step", "cosine", "plateau"}


def test_unknown_schedule_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown schedule 'adaptiv'") as excinfo:
        get_schedule("adaptiv", 0.1)
    assert str(excinfo.value) == (
        "unknown schedule 'adaptiv'; valid: constant, cosine, invscaling, plateau, step"
    )
