"""Review finding (fixed): a fit's thread choice (`ThreadChoice`) and a prediction's hold
(`holding_blas`) fight.

Both save and restore the one process-wide OpenBLAS thread count, neither knowing of the
other (nablanet/training/blas_threads.py `_use`/`_restore`, nablanet/layers/chunks.py
`holding_blas`):

- a fit that starts while another thread's prediction holds BLAS reads the held count (1)
  as BLAS's and has "nothing to choose": it never adapts (it should read the count the hold
  saved, `chunks._saved`);
- a fit that switches threads while a prediction holds saves the held 1 as the "original"
  and restores it at its end, after the prediction gave back the real count: BLAS stays on
  one thread for the rest of the process;
- a fit that switches back to all threads during a prediction's hold lifts the hold: the
  prediction's parts run with BLAS on all threads each (issue 25's slow case, other bits).

The last two need both threads' settings to take effect. threadpoolctl 3.8 (pinned) ignores
the settings of all threads but one (see test_review_blas_hold_threads.py), but
pyproject.toml accepts threadpoolctl>=3.1, whose OpenBLAS setting is process-wide from any
thread, and a fix of that finding makes it so too: those tests make threadpoolctl set the
count from any thread, as it does there.

Right behaviour: one owner of the count. E.g. ThreadChoice sets its choice through the same
counted state as `holding_blas` (the choice becomes what the last hold restores; while a
hold is in progress the choice is recorded, not applied), and reads ``_saved`` while held.
"""

import threading

import pytest
from threadpoolctl import OpenBLASController

from nablanet._blas import blas_threads as _count
from nablanet.layers import chunks
from nablanet.training import blas_threads


@pytest.fixture
def any_thread_sets_blas(monkeypatch, two_blas_threads):
    # threadpoolctl < 3.8 (allowed by pyproject.toml): a set from any thread takes effect.
    if not hasattr(OpenBLASController, "_real_set_num_threads"):
        pytest.skip("this threadpoolctl already sets from any thread")
    monkeypatch.setattr(OpenBLASController, "set_num_threads",
                        OpenBLASController._real_set_num_threads)


class Holding:
    """A prediction's hold in another thread, entered and left on demand."""

    def __init__(self):
        self.entered, self.leave, self.seen = threading.Event(), threading.Event(), []
        self.go_on, self.checked = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        with chunks.holding_blas():
            self.seen.append(_count())
            self.entered.set()
            self.go_on.wait(5)
            self.seen.append(_count())  # a later part of the same prediction
            self.checked.set()
            self.leave.wait(5)

    def __enter__(self):
        self.thread.start()
        assert self.entered.wait(5)
        return self

    def __exit__(self, *exc):
        self.go_on.set()
        self.leave.set()
        self.thread.join(5)


def test_a_fit_that_starts_during_a_prediction_still_chooses(two_blas_threads):
    ready = threading.Event()
    release = threading.Event()

    def predicting_in_this_thread():
        with chunks.holding_blas():  # this (main) thread's prediction holds BLAS
            ready.set()
            release.wait(5)

    options = {}

    def fit():
        assert ready.wait(5)
        choice = blas_threads.ThreadChoice([784, 100, 10], 256)
        options["value"] = choice.options
        choice.close()
        release.set()

    t = threading.Thread(target=fit)
    t.start()
    predicting_in_this_thread()
    t.join(5)
    # Before the fix: the fit read the held count, 1, and never adapts: options == ().
    assert options["value"] == (2, 1)


def test_a_fit_gives_back_the_count_it_found_not_a_holds(any_thread_sets_blas, monkeypatch):
    monkeypatch.setattr(blas_threads, "WARMUP_STEPS", 0)
    choice = blas_threads.ThreadChoice([784, 100, 10], 256)
    assert choice.options == (2, 1)
    with choice.step():  # the probe's first step: 2 threads
        pass
    with Holding():  # another thread's prediction, while...
        with choice.step():  # ...the fit switches to 1 (saving the held 1 as "original")
            pass
    choice.close()
    # Before the fix: the fit restored the held 1 after the prediction had given back 2.
    assert _count() == 2


def test_a_fit_does_not_lift_a_hold_in_progress(any_thread_sets_blas, monkeypatch):
    monkeypatch.setattr(blas_threads, "WARMUP_STEPS", 0)
    choice = blas_threads.ThreadChoice([784, 100, 10], 256)
    assert choice.options == (2, 1)
    try:
        with choice.step():  # 2 threads
            pass
        with choice.step():  # 1 thread
            pass
        with Holding() as prediction:  # a prediction holds (BLAS already on 1)...
            with choice.step():  # ...and the fit's probe goes back to 2 threads
                pass
            prediction.go_on.set()
            assert prediction.checked.wait(5)
        # Before the fix: the prediction's later parts ran with BLAS on 2 threads: seen == [1, 2].
        assert prediction.seen == [1, 1]
    finally:
        choice.close()
