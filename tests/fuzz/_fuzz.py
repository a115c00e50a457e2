"""Helpers of the fuzz tests: the time share of each target and the count of its cases."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable

MINUTES = float(os.environ.get("NABLANET_FUZZ_MINUTES", "0") or 0)
CASES: Counter[str] = Counter()
TARGETS = [1]  # the number of fuzz targets collected (set by conftest)


def run_fuzz(run: Callable[[], None]) -> None:
    """Run one Hypothesis test: once (fast), or repeatedly for this target's share (long)."""
    if MINUTES <= 0:
        run()
        return
    stop = time.monotonic() + MINUTES * 60 / TARGETS[0]
    while time.monotonic() < stop:
        run()


def count(name: str) -> None:
    """Count one case of the target ``name``."""
    CASES[name] += 1
