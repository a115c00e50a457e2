"""Helpers of the fuzz tests: the time share of each target and the count of its cases."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable

from hypothesis import seed

MINUTES = float(os.environ.get("NABLANET_FUZZ_MINUTES", "0") or 0)
#: Batch k of every target's long run is seeded SEED + k: a failure is reproducible.
SEED = int(os.environ.get("NABLANET_FUZZ_SEED", "0") or 0)
CASES: Counter[str] = Counter()
TARGETS = [1]  # the number of fuzz targets collected (set by conftest)


def run_fuzz(run: Callable[[], None]) -> None:
    """Run one Hypothesis test: once (fast), or repeatedly for this target's share (long)."""
    if MINUTES <= 0:
        run()
        return
    stop = time.monotonic() + MINUTES * 60 / TARGETS[0]
    batch = 0
    while time.monotonic() < stop:
        seed(SEED + batch)(run)
        batch += 1
        try:
            run()
        except BaseException as exc:
            exc.add_note(f"fuzz batch seed {SEED + batch - 1} (NABLANET_FUZZ_SEED={SEED})")
            raise


def count(name: str) -> None:
    """Count one case of the target ``name``."""
    CASES[name] += 1
