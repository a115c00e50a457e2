"""Hypothesis profiles for the fuzz tests: ``fast`` for ``make test``, ``long`` for fuzzing.

``NABLANET_FUZZ_MINUTES=10 pytest tests/fuzz`` selects ``long``: every fuzz target then
repeats fresh, randomly seeded Hypothesis runs until its share of the minutes is spent
(the minutes divided among the targets collected). Without it, ``fast`` runs a fixed,
derandomised handful of cases per target, in seconds. The cases tried per target are
printed at the end of the session.
"""

from __future__ import annotations

import os
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
    suppress_health_check=_QUIET,
)
settings.load_profile("long" if _fuzz.MINUTES > 0 else "fast")



def pytest_collection_modifyitems(items: list[Any]) -> None:
    n = sum(1 for item in items if "tests/fuzz/" in str(item.fspath).replace(os.sep, "/"))
    _fuzz.TARGETS[0] = max(n, 1)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _fuzz.CASES:
        terminalreporter.write_line(
            "fuzz cases: " + ", ".join(f"{k} {v}" for k, v in sorted(_fuzz.CASES.items()))
        )
