"""Callbacks driven by hand: a `TrainState` whose history the test writes epoch by epoch.

No training happens here. Each test plays the part of the training loop (append the
epoch's record, then call the hook), so every number the callback sees is chosen in the
test and every decision it makes can be predicted exactly.
"""

import io
import math
import sys

import numpy as np
import pytest

from nablanet import Network
from nablanet.optim.schedules import ReduceOnPlateau, StepDecay
from nablanet.training import (
    Callback,
    EarlyStopping,
    EpochLogger,
    LearningRateSchedule,
    ProgressBar,
    RunHistory,
    TrainState,
)

NAN = math.nan


def make_state(*, has_validation=False, total_epochs=10, run=0, learning_rate=0.1):
    net = Network([3, 4, 2], activation="tanh", output_activation="softmax", seed=0)
    return TrainState(net, 0, run, learning_rate, RunHistory(), has_validation, total_epochs)


def record(state, train_loss, val_loss=NAN, val_score=NAN, seconds=0.01):
    """What the loop does at the end of an epoch before the callbacks' on_epoch_end."""
    h = state.history
    state.epoch = len(h.train_loss)
    h.train_loss.append(train_loss)
    h.val_loss.append(val_loss)
    h.val_score.append(val_score)
    h.learning_rate.append(state.learning_rate)
    h.epoch_time.append(seconds)


def drive(cb, state, epochs, set_theta=True):
    """Run hooks over epochs given as dicts; return on_epoch_end's answers.

    With ``set_theta`` the weights at the end of epoch e are all equal to e + 1, so a
    restored theta names the epoch it came from.
    """
    cb.on_train_begin(state)
    answers = []
    for e, values in enumerate(epochs):
        state.epoch = e
        cb.on_epoch_begin(state)
        if set_theta:
            state.net.theta[...] = e + 1.0
        record(state, **values)
        answers.append(cb.on_epoch_end(state))
    return answers


def losses(*values):
    return [{"train_loss": v} for v in values]


# --- RunHistory, TrainState, Callback -----------------------------------------------------


def test_run_history_counts_epochs_and_starts_empty():
    h = RunHistory(seed=3)
    assert h.n_epochs == 0 and h.stop_reason == "max_epochs" and math.isnan(h.final_loss)
    h.train_loss.extend([1.0, 0.5])
    assert h.n_epochs == 2


def test_monitored_loss_is_validation_loss_when_there_is_validation():
    state = make_state(has_validation=True)
    assert math.isnan(state.monitored_loss())  # nothing recorded yet
    record(state, 0.5, val_loss=0.7)
    assert state.monitored_loss() == 0.7
    plain = make_state(has_validation=False)
    record(plain, 0.5)
    assert plain.monitored_loss() == 0.5


def test_base_callback_does_nothing_and_never_stops():
    state = make_state()
    before = state.net.theta.copy()
    answers = drive(Callback(), state, losses(1.0, 0.5), set_theta=False)
    assert answers == [None, None]
    np.testing.assert_array_equal(state.net.theta, before)


# --- EarlyStopping ------------------------------------------------------------------------


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    cb = EarlyStopping(patience=3, min_delta=0.0, monitor="train_loss")
    answers = drive(cb, make_state(), losses(1.0, 0.9, 0.95, 0.92, 0.91))
    # epoch 1 is the best; epochs 2, 3, 4 do not improve on it: stop after the third.
    assert answers == [False, False, False, False, True]
    assert cb.best_epoch == 1 and cb.best == 0.9 and cb.wait == 3


def test_an_improvement_resets_the_wait():
    cb = EarlyStopping(patience=2, min_delta=0.0, monitor="train_loss")
    answers = drive(cb, make_state(), losses(1.0, 1.1, 0.8, 0.9, 0.85))
    assert answers == [False, False, False, False, True]
    assert cb.best_epoch == 2


def test_improvements_smaller_than_min_delta_do_not_count():
    cb = EarlyStopping(patience=2, min_delta=0.01, monitor="train_loss")
    # each epoch improves by 0.005 < min_delta: the best stays at epoch 0
    answers = drive(cb, make_state(), losses(1.0, 0.995, 0.99))
    assert answers == [False, False, True]
    assert cb.best_epoch == 0 and cb.best == 1.0
    # an improvement larger than min_delta counts
    cb2 = EarlyStopping(patience=2, min_delta=0.01, monitor="train_loss")
    answers = drive(cb2, make_state(), losses(1.0, 0.98, 0.975))
    assert answers == [False, False, False] and cb2.best_epoch == 1


def test_restore_best_puts_the_best_weights_back_in_place():
    state = make_state()
    theta_buffer = state.net.theta
    cb = EarlyStopping(patience=2, min_delta=0.0, monitor="train_loss")
    drive(cb, state, losses(1.0, 0.4, 0.6, 0.7))
    np.testing.assert_array_equal(state.net.theta, 4.0)  # the last epoch's weights
    cb.on_train_end(state)
    np.testing.assert_array_equal(state.net.theta, 2.0)  # epoch 1's weights (e + 1)
    assert state.net.theta is theta_buffer
    assert np.shares_memory(state.net.W[0], state.net.theta)


def test_the_kept_weights_are_a_copy_not_a_view():
    state = make_state()
    cb = EarlyStopping(patience=5, min_delta=0.0, monitor="train_loss")
    drive(cb, state, losses(1.0))
    state.net.theta[...] = -7.0  # the loop keeps updating theta in place
    cb.on_train_end(state)
    np.testing.assert_array_equal(state.net.theta, 1.0)


def test_restore_best_false_leaves_the_last_weights():
    state = make_state()
    cb = EarlyStopping(patience=2, min_delta=0.0, monitor="train_loss", restore_best=False)
    drive(cb, state, losses(1.0, 0.4, 0.6, 0.7))
    cb.on_train_end(state)
    np.testing.assert_array_equal(state.net.theta, 4.0)


def test_val_loss_is_monitored_when_there_is_validation_data():
    state = make_state(has_validation=True)
    cb = EarlyStopping(patience=2, min_delta=0.0)  # monitor="val_loss" by default
    epochs = [
        {"train_loss": 1.0, "val_loss": 1.0},
        {"train_loss": 0.8, "val_loss": 0.9},  # best validation loss
        {"train_loss": 0.6, "val_loss": 0.95},
        {"train_loss": 0.4, "val_loss": 0.97},  # training loss still falls: stop anyway
    ]
    assert drive(cb, state, epochs) == [False, False, False, True]
    assert cb.best_epoch == 1 and cb.best == 0.9
    cb.on_train_end(state)
    np.testing.assert_array_equal(state.net.theta, 2.0)


def test_val_loss_falls_back_to_the_training_loss_without_validation():
    cb = EarlyStopping(patience=1, min_delta=0.0)
    assert drive(cb, make_state(has_validation=False), losses(1.0, 0.5, 0.7)) == [
        False,
        False,
        True,
    ]
    assert cb.best == 0.5


def test_train_loss_monitor_ignores_the_validation_loss():
    state = make_state(has_validation=True)
    cb = EarlyStopping(patience=1, min_delta=0.0, monitor="train_loss")
    epochs = [
        {"train_loss": 1.0, "val_loss": 1.0},
        {"train_loss": 0.9, "val_loss": 2.0},  # validation worse, training better
        {"train_loss": 0.8, "val_loss": 3.0},
    ]
    assert drive(cb, state, epochs) == [False, False, False]
    assert cb.best_epoch == 2


def test_val_score_is_maximised():
    state = make_state(has_validation=True)
    cb = EarlyStopping(patience=2, min_delta=0.01, monitor="val_score")
    epochs = [
        {"train_loss": 1.0, "val_loss": 1.0, "val_score": 0.50},
        {"train_loss": 0.9, "val_loss": 1.1, "val_score": 0.70},  # best score
        {"train_loss": 0.8, "val_loss": 0.8, "val_score": 0.705},  # < min_delta better
        {"train_loss": 0.7, "val_loss": 0.7, "val_score": 0.60},
    ]
    assert drive(cb, state, epochs) == [False, False, False, True]
    assert cb.best_epoch == 1 and cb.best == -0.70
    cb.on_train_end(state)
    np.testing.assert_array_equal(state.net.theta, 2.0)


def test_val_score_without_validation_data_is_an_error():
    cb = EarlyStopping(monitor="val_score")
    with pytest.raises(ValueError, match="val_score.*validation data"):
        drive(cb, make_state(has_validation=False), losses(1.0))


def test_val_score_that_was_never_measured_is_an_error():
    state = make_state(has_validation=True)
    cb = EarlyStopping(monitor="val_score", patience=2)
    with pytest.raises(ValueError, match="score"):
        drive(cb, state, [{"train_loss": 1.0, "val_loss": 1.0, "val_score": NAN}] * 3)


def test_on_train_begin_forgets_the_previous_run():
    state = make_state()
    cb = EarlyStopping(patience=2, min_delta=0.0, monitor="train_loss")
    drive(cb, state, losses(0.1, 0.2, 0.3))
    assert cb.best == 0.1
    second = make_state(run=1)
    answers = drive(cb, second, losses(0.5, 0.4))  # worse than run 0's best, still improving
    assert answers == [False, False]
    assert cb.best == 0.4 and cb.best_epoch == 1 and cb.wait == 0
    cb.on_train_end(second)
    np.testing.assert_array_equal(second.net.theta, 2.0)


def test_on_train_end_without_any_epoch_changes_nothing():
    state = make_state()
    before = state.net.theta.copy()
    cb = EarlyStopping()
    cb.on_train_begin(state)
    cb.on_train_end(state)
    np.testing.assert_array_equal(state.net.theta, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"monitor": "accuracy"}, "'accuracy'; valid: train_loss, val_loss, val_score"),
        ({"patience": 0}, "patience"),
        ({"patience": -3}, "patience"),
        ({"min_delta": -1e-3}, "min_delta"),
        ({"patience": True}, "patience must be an integer >= 1, got True"),
        ({"min_delta": True}, r"min_delta must be a number in \[0, inf\), got True"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


def test_nan_min_delta_is_refused():
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(min_delta=math.nan)


def test_non_integer_patience_is_refused():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=2.5)


# --- LearningRateSchedule -----------------------------------------------------------------


class RecordingSchedule:
    def __init__(self):
        self.calls = []
        self.resets = 0

    def __call__(self, epoch, loss):
        self.calls.append((epoch, loss))
        return 1.0 / (epoch + 1)

    def reset(self):
        self.resets += 1


def test_schedule_sets_the_rate_of_each_epoch_from_the_monitored_loss():
    schedule = RecordingSchedule()
    state = make_state(has_validation=True)
    cb = LearningRateSchedule(schedule)
    epochs = [
        {"train_loss": 1.0, "val_loss": 2.0},
        {"train_loss": 0.5, "val_loss": 1.5},
        {"train_loss": 0.25, "val_loss": 1.25},
    ]
    drive(cb, state, epochs, set_theta=False)
    # None before the first epoch, then the latest validation loss
    assert schedule.calls == [(0, None), (1, 2.0), (2, 1.5)]
    assert state.history.learning_rate == [1.0, 0.5, 1.0 / 3.0]
    assert schedule.resets == 1


def test_schedule_reads_the_training_loss_without_validation():
    schedule = RecordingSchedule()
    drive(LearningRateSchedule(schedule), make_state(), losses(0.9, 0.8), set_theta=False)
    assert schedule.calls == [(0, None), (1, 0.9)]


def test_step_decay_schedule_values():
    state = make_state()
    drive(LearningRateSchedule(StepDecay(1.0, step_size=2, gamma=0.5)), state,
          losses(*[1.0] * 5), set_theta=False)
    assert state.history.learning_rate == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_plateau_schedule_is_reset_for_each_run():
    plateau = ReduceOnPlateau(1.0, factor=0.5, patience=1, min_delta=0.0)
    cb = LearningRateSchedule(plateau)
    state = make_state()
    drive(cb, state, losses(1.0, 2.0, 3.0), set_theta=False)
    assert state.history.learning_rate == [1.0, 1.0, 0.5]
    second = make_state(run=1)
    drive(cb, second, losses(5.0), set_theta=False)
    assert second.history.learning_rate == [1.0]  # not 0.5 or 0.25: reset


def test_schedule_without_reset_is_fine():
    state = make_state()
    drive(LearningRateSchedule(lambda epoch, loss: 0.3), state, losses(1.0), set_theta=False)
    assert state.history.learning_rate == [0.3]


# --- EpochLogger --------------------------------------------------------------------------


def test_epoch_logger_writes_one_line_per_epoch():
    stream = io.StringIO()
    state = make_state(total_epochs=3, learning_rate=0.05)
    drive(EpochLogger(stream), state, losses(0.9, 0.8, 0.7), set_theta=False)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("run 1  epoch 1  loss 0.9  lr 0.05")
    assert lines[2].startswith("run 1  epoch 3  loss 0.7")
    assert all(line.endswith("s") for line in lines)
    assert "val_loss" not in stream.getvalue()


def test_epoch_logger_shows_validation_and_score():
    stream = io.StringIO()
    state = make_state(has_validation=True, total_epochs=2, run=1)
    epochs = [
        {"train_loss": 0.9, "val_loss": 1.1, "val_score": NAN},
        {"train_loss": 0.8, "val_loss": 1.0, "val_score": 0.75},
    ]
    drive(EpochLogger(stream), state, epochs, set_theta=False)
    first, second = stream.getvalue().splitlines()
    assert first.startswith("run 2  epoch 1  loss 0.9  val_loss 1.1  lr")
    assert "val_score" not in first  # not measured: not shown
    assert "val_loss 1  val_score 0.7500" in second


def test_epoch_logger_every_n_epochs_and_the_last():
    stream = io.StringIO()
    state = make_state(total_epochs=5)
    drive(EpochLogger(stream, every=2), state, losses(5, 4, 3, 2, 1), set_theta=False)
    epochs = [line.split("  ")[1] for line in stream.getvalue().splitlines()]
    assert epochs == ["epoch 2", "epoch 4", "epoch 5"]


def test_epoch_logger_defaults_to_standard_error(capsys):
    drive(EpochLogger(), make_state(total_epochs=1), losses(0.5), set_theta=False)
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("run 1  epoch 1  loss 0.5")


# --- ProgressBar --------------------------------------------------------------------------


def run_bar(bar, state):
    drive(bar, state, [{"train_loss": 0.5, "val_loss": 0.6, "val_score": 0.9}] * 3,
          set_theta=False)
    bar.on_train_end(state)


def test_progress_bar_is_quiet_when_stderr_is_not_a_terminal(capsys):
    assert not sys.stderr.isatty()
    run_bar(ProgressBar(), make_state(has_validation=True, total_epochs=3))
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_forced_progress_bar_shows_epochs_and_losses(capsys):
    bar = ProgressBar(force=True)
    run_bar(bar, make_state(has_validation=True, total_epochs=3))
    out, err = capsys.readouterr()
    assert out == ""
    assert "3/3" in err and "loss=0.5" in err and "val_loss=0.6" in err
    assert "val_score=0.9000" in err
    assert bar._bar is None  # closed


def test_progress_bar_names_later_runs(capsys):
    run_bar(ProgressBar(force=True), make_state(total_epochs=3, run=2))
    assert "run 3" in capsys.readouterr().err
