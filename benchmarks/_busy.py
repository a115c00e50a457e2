"""Other work on the machine, on purpose: `--busy N` in the scripts here (issue 25).

Users rarely have a quiet machine: a browser, a CI runner's other jobs, a second grid
search. `Spinners` stands in for them with N plain processes that each keep one core busy
while a loaded pass runs, and `passes` gives the order of the quiet and loaded passes, so
that every script measures "quiet" and "busy" the same way:

    for r, busy in passes(repeats, n_busy):
        with Spinners(busy):
            ...  # time repeat r, into the quiet or the busy figures

The two kinds alternate (quiet, busy, busy, quiet, ...) so that the load no benchmark
controls (other programs starting or ending) falls on both alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

#: Each spinning process stops by itself after this many seconds, should it outlive the
#: benchmark (which kills them as soon as a loaded pass ends).
SPIN_LIMIT_S = 900
SPIN = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end: pass"


class Spinners:
    """N processes that each keep one core busy, as a browser or another job would.

    ``Spinners(0)`` starts nothing: a quiet pass runs under the same ``with``.
    """

    def __init__(self, n: int) -> None:
        if n < 0:
            raise ValueError(f"the number of busy cores must be 0 or more, got {n}")
        self.n = n
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Spinners:
        code = SPIN.format(limit=SPIN_LIMIT_S)
        # Each in a session of its own, as another program would be: Linux's autogroup
        # scheduling shares the CPU fairly between sessions first, so a spinner left in
        # the benchmark's session would take half of the benchmark's own share instead
        # (measured: 4x slower under other load, where a separate session costs far less).
        self.procs = [
            subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
            for _ in range(self.n)
        ]
        if self.procs:
            time.sleep(0.2)  # let them start spinning before anything is timed
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()
        self.procs = []


def passes(repeats: int, busy: int) -> list[tuple[int, int]]:
    """The passes to run, in order: (repeat, cores to keep busy during it).

    Without ``busy`` one quiet pass per repeat; with it, each repeat also has a loaded
    pass, quiet first in even repeats and loaded first in odd ones.
    """
    if not busy:
        return [(r, 0) for r in range(repeats)]
    order: list[tuple[int, int]] = []
    for r in range(repeats):
        pair = [(r, 0), (r, busy)]
        order.extend(pair if r % 2 == 0 else pair[::-1])
    return order


def describe(busy: int) -> str:
    """One header line: what the loaded passes run beside."""
    cores = f"{busy} core{'s' if busy != 1 else ''}"
    return (f"busy: loaded passes run with {cores} kept busy by plain spinning processes (each "
            "in its own session, started before and killed after each loaded pass); quiet and "
            "loaded passes alternate")


def slowdown_table(rows: dict[str, tuple[list[float], list[float]]], busy: int,
                   unit: str = "s", scale: float = 1.0) -> str:
    """Median quiet and loaded times of each row and their ratio, as aligned text.

    ``rows`` maps a label to (quiet seconds, loaded seconds); ``scale`` converts seconds
    to ``unit`` (1e3 for ms).
    """
    width = max([len("case"), *map(len, rows)])
    lines = [f"{'case':<{width}}{'quiet ' + unit:>14}{f'busy {busy} ' + unit:>14}"
             f"{'busy/quiet':>12}{'n':>6}"]
    for label, (quiet, loaded) in rows.items():
        q, b = statistics.median(quiet) * scale, statistics.median(loaded) * scale
        lines.append(f"{label:<{width}}{q:>14.3f}{b:>14.3f}{b / q:>11.2f}x"
                     f"{min(len(quiet), len(loaded)):>6}")
    return "\n".join(lines)
