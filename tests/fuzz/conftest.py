"""Fuzz targets: hypothesis properties on hostile input; brief in `make test`, long in `make fuzz`.

Every ``@given`` test in this folder is a fuzz target (one per test, or per parameter set).
Add a target by adding a ``test_fuzz_*.py`` module here; this file gives it:

- the profile ``nablanet-fuzz-fast`` (the default, used by ``make test``): a few dozen
  derandomized cases per target (the same cases on every run), seconds in all;
- the profile ``nablanet-fuzz-long``, selected by the environment variable
  ``NABLANET_FUZZ_MINUTES`` (``make fuzz FUZZ_MINUTES=10``): that many minutes in all,
  split evenly across the targets collected. Each target runs in batches of
  `LONG_BATCH` cases, batch k seeded with ``@seed(NABLANET_FUZZ_SEED + k)`` (default
  seed 0), until its share of the time is spent: the run is reproducible batch by batch,
  and a failure prints the batch seed and hypothesis's reproduction blob;
- a count of the cases each target ran, printed at the end of the run.

A target states its property in its own body and leaves the number of cases and the
seeds to the profile (no ``max_examples`` or ``derandomize`` in its ``@settings``).
The profiles are applied to this folder's tests only: the rest of the suite keeps its own
hypothesis settings.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, seed, settings

# The targets share the hand tools of tests/ (model_files.py: crafting hostile files),
# which is on sys.path only when pytest collected a test module there too.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FAST, LONG = "nablanet-fuzz-fast", "nablanet-fuzz-long"
#: Cases per call of a target in the long profile; calls repeat until its time is spent.
LONG_BATCH = 200
_COMMON: dict[str, Any] = {
    "database": None,
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile(FAST, max_examples=30, derandomize=True, **_COMMON)
settings.register_profile(LONG, max_examples=LONG_BATCH, derandomize=False, **_COMMON)

_FOLDER = os.path.dirname(os.path.abspath(__file__))
_counts: dict[str, int] = defaultdict(int)
_batches: dict[str, int] = defaultdict(int)
_seconds: dict[str, float] = defaultdict(float)


def fuzz_minutes() -> float | None:
    """The long run's total minutes, or None for the fast profile."""
    value = os.environ.get("NABLANET_FUZZ_MINUTES", "").strip()
    return float(value) if value else None


def _counting(item: pytest.Function) -> None:
    """Count every case hypothesis runs, through its documented ``inner_test`` hook."""
    handle = item.obj.hypothesis
    inner = handle.inner_test

    def counted(*args: Any, **kwargs: Any) -> Any:
        _counts[item.nodeid] += 1
        return inner(*args, **kwargs)

    handle.inner_test = counted


def _apply_profile(item: pytest.Function, name: str) -> None:
    fn = getattr(item.obj, "__func__", item.obj)
    profile = settings.get_profile(name)
    own = fn._hypothesis_internal_use_settings
    fn._hypothesis_internal_use_settings = settings(
        own,
        max_examples=profile.max_examples,
        derandomize=profile.derandomize,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[*own.suppress_health_check, *_COMMON["suppress_health_check"]],
    )


def _looping(item: pytest.Function, budget_s: float, base_seed: int) -> None:
    """Run the target in seeded batches until ``budget_s`` seconds are spent."""
    once = item.runtest

    def runtest() -> None:
        start = time.perf_counter()
        while True:
            seed(base_seed + _batches[item.nodeid])(item.obj)
            _batches[item.nodeid] += 1
            once()
            _seconds[item.nodeid] = time.perf_counter() - start
            if _seconds[item.nodeid] >= budget_s:
                return

    item.runtest = runtest  # type: ignore[method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    targets = [
        item
        for item in items
        if isinstance(item, pytest.Function)
        and os.path.abspath(str(item.path)).startswith(_FOLDER + os.sep)
        and hasattr(item.obj, "hypothesis")
    ]
    minutes = fuzz_minutes()
    for item in targets:
        _apply_profile(item, FAST if minutes is None else LONG)
        _counting(item)
        if minutes is not None:
            base = int(os.environ.get("NABLANET_FUZZ_SEED", "0"))
            _looping(item, 60.0 * minutes / max(len(targets), 1), base)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _counts:
        return
    minutes = fuzz_minutes()
    profile = FAST if minutes is None else f"{LONG}, {minutes:g} min"
    terminalreporter.section(f"fuzz cases per target ({profile})")
    outcomes = {
        report.nodeid: report.outcome
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
    }
    for nodeid, count in sorted(_counts.items()):
        extra = ""
        if nodeid in _batches:
            extra = f" in {_batches[nodeid]} batches, {_seconds[nodeid]:.0f} s"
        outcome = outcomes.get(nodeid, "?")
        terminalreporter.write_line(f"{count:>9} cases{extra}  {outcome:<7} {nodeid}")
    terminalreporter.write_line(f"{sum(_counts.values()):>9} cases in all")
