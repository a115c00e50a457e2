"""Each fit's choice of BLAS threads: one, or all the pool has, whichever is faster now.

OpenBLAS's worker threads busy-wait for work. On a quiet machine its threads split each
product and a 784-100-10 epoch is twice as fast with two of them as with one; but when
another process shares a core, each product waits for the thread that lost its time slice,
and the spinning threads take CPU from the thread that has work: measured on 2 cores with
one core busy, 2 threads ran an epoch 3× slower than on a quiet machine, 1 thread 1.0×
(issue 25; with more load, 10-30× slower than 1 thread). Which is faster depends on the
load, which changes during a fit, so a fit measures rather than guesses: `ThreadChoice`
times a few steps with each setting, keeps the faster one, and measures again after a
while, or at once when the chosen setting turns much slower than it measured. Its probes
cost at most about 1/`RECHECK_FACTOR` of the fit's time.

OpenBLAS's own knob, ``OPENBLAS_THREAD_TIMEOUT`` (how long idle workers spin before they
sleep), is read once, when NumPy loads the library, so a library imported after NumPy
cannot set it; and it would not stop the waiting inside a product, which is what a busy
core slows. threadpoolctl's thread count, by contrast, can change between any two steps.

The numbers. OpenBLAS splits a product's rows among its threads, and with several threads
it also blocks the inner (summed) dimension differently once that is longer than one of
its blocks (measured here: a 784-long sum in float32, a 200-long one in float64): such a
product (the input layer's ``X W`` of a 784-input network; ∂J/∂W over a batch of 200 in
float64) then differs in the last bit from the one-thread product; shorter sums are
bit-identical whatever the count. So a fit that switches can end with weights that differ
from a fit that did not in the last bits of float32 or float64 rounding, as any change of
thread count does with OpenBLAS. For results that are bit-for-bit the same on every
run, fix the count: ``adaptive_threads(False)``, or ``threadpoolctl.threadpool_limits(n)``
around the fit, which leaves nothing to choose when n is 1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from nablanet._blas import ONE_THREAD_PRODUCT, available_threads, choose_threads

#: Steps timed with each setting in one probe; their median is compared (robust to the
#: single step that another process's burst slows or a quiet moment speeds up).
PROBE_STEPS = 3
#: Steps at the start of a fit left untimed: buffers, caches and compiled kernels warm up.
WARMUP_STEPS = 2
#: After a probe that took t seconds, the next comes after RECHECK_FACTOR · t seconds of
#: training (at least `MIN_RECHECK_SECONDS`): probing costs about 1/RECHECK_FACTOR at most.
RECHECK_FACTOR = 20.0
MIN_RECHECK_SECONDS = 1.0
#: Between probes, `SLOW_STEPS` steps in a row each slower than SLOW_FACTOR times the
#: chosen setting's probe median mean the load has changed: probe again at once rather
#: than wait (measured here: a choice of 2 threads made in a quiet moment ran at 15-35 ms
#: a step, against 0.6 ms when it was made, until the next probe).
SLOW_FACTOR = 3.0
SLOW_STEPS = 3

_adaptive: ContextVar[bool] = ContextVar("nablanet_adaptive_threads", default=True)
#: The thread count is the process's, not the fit's: of fits running at once in several
#: Python threads only one chooses, or one's restore would undo another's choice.
_choosing = threading.Lock()


@contextmanager
def adaptive_threads(enabled: bool = True) -> Iterator[None]:
    """Let the fits inside choose their BLAS threads by measurement (the default), or not.

    With ``enabled=False`` a fit runs with the BLAS threads it finds, as set by
    ``OPENBLAS_NUM_THREADS`` or ``threadpoolctl.threadpool_limits``: its result is then
    the same bits on every run, whatever the load.
    """
    token = _adaptive.set(enabled)
    try:
        yield
    finally:
        _adaptive.reset(token)


class ThreadChoice:
    """Times steps with 1 and with all BLAS threads, and runs with the faster.

    Call `step` around each step (a minibatch, or one evaluation of a full-batch
    objective) and `close` at the end of the fit, which restores the thread count.
    With one thread available, adaptation turned off, products too small for OpenBLAS to
    split, or another fit choosing at the same time in another Python thread, it does
    nothing.
    """

    def __init__(self, layer_sizes: Sequence[int], rows: int) -> None:
        self.chose = False  # whether the count in force is this fit's choice
        largest = rows * max(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=True))
        n = 1
        self.owns_lock = (_adaptive.get() and largest >= ONE_THREAD_PRODUCT
                          and _choosing.acquire(blocking=False))
        if self.owns_lock:
            n = available_threads()
            if n == 1:  # nothing to choose
                self.close()
        self.options = (n, 1) if n > 1 else ()
        self.threads = n
        self.skip = WARMUP_STEPS
        self.times: dict[int, list[float]] = {t: [] for t in self.options}
        self.probing = bool(self.options)
        self.next_probe = 0.0
        self.probe_start = 0.0
        self.chosen: list[int] = []  # the setting each probe chose, in order
        self.expected = 0.0  # the chosen setting's median step time in the last probe
        self.slow = 0  # steps in a row slower than SLOW_FACTOR · expected

    @contextmanager
    def step(self) -> Iterator[None]:
        """Time one step, switching threads as the probe requires."""
        if not self.options:
            yield
            return
        if not self.probing and time.perf_counter() >= self.next_probe:
            self._start_probe()
        if self.probing and self.skip == 0:
            self._use(self._probe_setting())
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
        if not self.probing:
            self._watch(seconds)
            return
        if self.skip:
            self.skip -= 1
            if self.skip == 0:
                self.probe_start = time.perf_counter()
            return
        self.times[self.threads].append(seconds)
        if all(len(v) >= PROBE_STEPS for v in self.times.values()):
            self._choose()

    def _watch(self, seconds: float) -> None:
        """Probe at the next step if the chosen setting has become much slower."""
        self.slow = self.slow + 1 if seconds > SLOW_FACTOR * self.expected else 0
        if self.slow >= SLOW_STEPS:
            self.next_probe = 0.0
            self.slow = 0

    def close(self) -> None:
        """Restore the thread count the fit started with; let another fit choose."""
        self._restore()
        if self.owns_lock:
            self.owns_lock = False
            _choosing.release()

    def _restore(self) -> None:
        if self.chose:
            choose_threads(None)
            self.chose = False

    def _start_probe(self) -> None:
        self.probing = True
        self.probe_start = time.perf_counter()
        self.times = {t: [] for t in self.options}

    def _probe_setting(self) -> int:
        """Alternate the settings, so that a change of load meets both alike."""
        return min(self.options, key=lambda t: (len(self.times[t]), -t))

    def _choose(self) -> None:
        best = min(self.options, key=lambda t: _median(self.times[t]))
        self._use(best)
        self.chosen.append(best)
        self.expected = _median(self.times[best])
        self.probing = False
        now = time.perf_counter()
        self.next_probe = now + max(MIN_RECHECK_SECONDS, RECHECK_FACTOR * (now - self.probe_start))

    def _use(self, threads: int) -> None:
        if threads == self.threads:
            return
        choose_threads(threads)  # from any Python thread (`nablanet._blas`)
        self.chose = True
        self.threads = threads



def _median(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2]
