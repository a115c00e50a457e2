"""Hypothesis profiles for the fuzz tests: ``fast`` for ``make test``, ``long`` for fuzzing.

``NABLANET_FUZZ_MINUTES=10 pytest tests/fuzz`` selects ``long``: every fuzz target then
repeats Hypothesis runs, each with a new seed, until its share of the minutes is spent
(the minutes divided among the targets collected); batch k is seeded
``NABLANET_FUZZ_SEED + k`` (default 0), so a failure names a seed that reproduces it.
Without it, ``fast`` runs a fixed, derandomised handful of cases per target, in seconds.
The cases tried per target are printed at the end of the session (``make fuzz``).

A target is a plain test that defines its ``@given`` function inside and hands it to
``_fuzz.run_fuzz``, counting each case with ``_fuzz.count("name")``; fixtures come in
through the outer test. The tools of ``tests/`` (``model_files.py``) are importable here.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import _fuzz
from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "fast", max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=_QUIET,
)
settings.register_profile(
    "long", max_examples=500, deadline=None, derandomize=False, database=None,
    suppress_health_check=_QUIET, print_blob=True,
)
settings.load_profile("long" if _fuzz.MINUTES > 0 else "fast")



def pytest_collection_modifyitems(items: list[Any]) -> None:
    n = sum(1 for item in items if "tests/fuzz/" in str(item.fspath).replace(os.sep, "/"))
    _fuzz.TARGETS[0] = max(n, 1)


# The tools shared with the other tests (e.g. model_files.py, which crafts model files).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _fuzz.CASES:
        profile = f"long, {_fuzz.MINUTES:g} min" if _fuzz.MINUTES > 0 else "fast"
        terminalreporter.section(f"fuzz cases per target ({profile})")
        for name, n in sorted(_fuzz.CASES.items()):
            terminalreporter.write_line(f"{n:>9}  {name}")
        terminalreporter.write_line(f"{sum(_fuzz.CASES.values()):>9}  in all")
