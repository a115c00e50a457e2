"""Mutation testing of nablanet's core with mutmut (`make mutate`; not part of `make test`).

mutmut changes one thing at a time in the code (a ``<`` into ``<=``, a constant, a
dropped argument...) and runs the tests that reach the changed function: a mutant that no
test notices (it "survives") is a change in behaviour the suite would let through.

Each group below mutates a few core modules against the fast tests that check them (the
whole suite would take hours per module on this machine). It runs in its own copy of the
project under build/mutate/GROUP, measured from scratch each time (the share depends on
the tests as much as on the code). Prints, per module, the share of mutants killed, and writes the
survivors' names to build/mutate/GROUP/survivors.txt (show one with
``cd build/mutate/GROUP && ../../../.venv/bin/mutmut show NAME``).

Usage: ``python tests/mutation/mutate.py [GROUP ...]`` (all groups without arguments).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "mutate"

#: group → (modules mutated, tests run against them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "activations": (
        ["nablanet/activations.py"],
        ["tests/test_activations.py", "tests/test_activations_buffers.py"],
    ),
    "losses": (
        ["nablanet/losses.py"],
        ["tests/test_losses.py", "tests/test_losses_unfused.py", "tests/test_network.py"],
    ),
    "network": (
        ["nablanet/network.py"],
        ["tests/test_network.py", "tests/test_layout.py", "tests/test_sparsity.py",
         "tests/test_sparse.py", "tests/test_gradcheck.py", "tests/test_diagnostics.py",
         "tests/test_repr_html.py", "tests/test_io.py"],
    ),
    "run": (
        ["nablanet/training/run.py"],
        ["tests/test_minibatches.py", "tests/test_run_loop.py", "tests/test_train.py",
         "tests/test_train_guard.py"],
    ),
    "optim": (
        ["nablanet/optim/*"],
        ["tests/test_optim.py", "tests/test_optim_contracts.py", "tests/test_schedules.py"],
    ),
    "io": (
        ["nablanet/io/header.py", "nablanet/io/container.py"],
        ["tests/test_io.py", "tests/test_io_refusals.py", "tests/test_io_integrity.py",
         "tests/test_io_files.py", "tests/test_io_header_fields.py",
         "tests/test_io_container_helpers.py"],
    ),
}


def setup_cfg(modules: list[str], tests: list[str]) -> str:
    """mutmut's settings for one group (it reads them from setup.cfg)."""

    def lines(items: list[str]) -> str:
        return "".join(f"\n    {item}" for item in items)

    return (
        "[mutmut]\n"
        "source_paths = nablanet\n"
        f"only_mutate ={lines(modules)}\n"
        f"pytest_add_cli_args_test_selection ={lines(tests)}\n"
        # -p no:randomly etc. are not installed; keep pytest quiet and warnings as in the suite
        "pytest_add_cli_args =\n    -p no:cacheprovider\n    -q\n"
        "use_git_change_detection = false\n"
    )


def prepare(group: str) -> Path:
    """Copy the current sources and tests into the group's folder (keeping mutmut's cache)."""
    modules, tests = GROUPS[group]
    where = WORK / group
    where.mkdir(parents=True, exist_ok=True)
    for name in ("nablanet", "tests"):
        shutil.rmtree(where / name, ignore_errors=True)
        shutil.copytree(ROOT / name, where / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.rmtree(where / "mutants", ignore_errors=True)  # last run's results
    shutil.copy2(ROOT / "pyproject.toml", where / "pyproject.toml")
    (where / "setup.cfg").write_text(setup_cfg(modules, tests))
    return where


def run(group: str) -> None:
    where = prepare(group)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    mutmut = [sys.executable, "-m", "mutmut", "run", "--max-children", "2"]
    subprocess.run(["nice", "-n", "19", *mutmut], cwd=where, env=env, check=False)
    report(group, where)


def statuses(where: Path) -> dict[str, dict[str, str]]:
    """{module: {mutant: status}} from mutmut's per-file records."""
    from mutmut.stats import status_by_exit_code

    found: dict[str, dict[str, str]] = {}
    for meta in sorted((where / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(where / "mutants"))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        found[module] = {name: status_by_exit_code[code] for name, code in codes.items()}
    return found


def report(group: str, where: Path) -> None:
    survivors = []
    for module, by_mutant in statuses(where).items():
        counts = Counter(by_mutant.values())
        total = len(by_mutant)
        if not total:
            continue
        killed = counts["killed"]
        rest = "".join(f"; {n} {s}" for s, n in sorted(counts.items()) if s != "killed")
        print(f"{module}: {killed}/{total} killed ({killed / total:.1%}){rest}")
        survivors += [name for name, s in by_mutant.items() if s in ("survived", "no tests")]
    (where / "survivors.txt").write_text("".join(f"{name}\n" for name in sorted(survivors)))


def main(argv: list[str]) -> int:
    unknown = [g for g in argv if g not in GROUPS]
    if unknown:
        print(f"unknown group(s) {', '.join(unknown)}; valid: {', '.join(GROUPS)}",
              file=sys.stderr)
        return 2
    for group in argv or list(GROUPS):
        print(f"== {group}: {', '.join(GROUPS[group][0])}", flush=True)
        run(group)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
