"""Whole-process times: a first fit in a fresh interpreter, ``nablanet --help``, ``nablanet train``.

Each case is a new ``python`` process, run --runs times (after one unmeasured warm-up
run that fills the OS file cache and numba's on-disk cache); the script prints the
median wall time and the median CPU time (user + system, from the children's rusage:
steadier than wall time on a busy machine) and the ratios to scikit-learn:

- ``nablanet fit``: ``import nablanet``, load digits, ``MLPClassifier(max_iter=1).fit``;
- ``sklearn fit``: the same with ``sklearn.neural_network.MLPClassifier``;
- ``nablanet fit, compiled``: the same fit inside ``nablanet.compiled_kernels()``, as a
  fit large enough to use numba's kernels runs: what loading them costs;
- ``nablanet --help`` and ``nablanet train --data digits`` (the command line's defaults:
  100 epochs), each run as the ``nablanet`` console script runs it.

The one-time cost of a fresh install (numba compiling the kernels, with an empty cache:
what ``make`` pays once at install, ``nablanet.kernels.warm_cache``) is measured once,
with ``NUMBA_CACHE_DIR`` pointing at an empty folder, and printed beside the warm figure.
The header says whether nablanet's bytecode is cached (as after ``pip install`` or the
Makefile's install): without it every process compiles nablanet's modules again.

Run: ``python benchmarks/first_fit.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model

FIT = (
    "import warnings; warnings.simplefilter('ignore')\n"
    "from sklearn.datasets import load_digits; X, y = load_digits(return_X_y=True)\n"
    "{imp}\n"
    "{ctx}MLPClassifier(max_iter=1).fit(X, y)"
)
CLI = "import sys; from nablanet.cli import main; sys.exit(main(sys.argv[1:]))"
NABLANET = "import nablanet; from nablanet import MLPClassifier"
CASES = {
    "nablanet fit": [sys.executable, "-c", FIT.format(imp=NABLANET, ctx="")],
    "sklearn fit": [sys.executable, "-c", FIT.format(
        imp="from sklearn.neural_network import MLPClassifier", ctx="")],
    "nablanet fit, compiled": [sys.executable, "-c", FIT.format(
        imp=NABLANET, ctx="with nablanet.compiled_kernels(): ")],
    "nablanet --help": [sys.executable, "-c", CLI, "--help"],
    "nablanet train --data digits": [sys.executable, "-c", CLI, "train", "--data", "digits"],
}


def blas_kernel() -> str:
    """NumPy's BLAS and its kernel, from threadpoolctl."""
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl reports)
    from threadpoolctl import threadpool_info

    return "; ".join(f"{p['internal_api']} {p.get('version')} kernel {p.get('architecture')}"
                     for p in threadpool_info() if p["user_api"] == "blas")


def bytecode_cached() -> bool:
    """Whether every nablanet module has an up-to-date .pyc beside it."""
    import importlib.util

    import nablanet

    root = Path(nablanet.__file__).parent
    for source in root.rglob("*.py"):
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime:
            return False
    return True


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-train", action="store_true", help="leave out 'nablanet train'")
    args = parser.parse_args()
    cases = {k: v for k, v in CASES.items() if not (args.skip_train and "train" in k)}
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; Python {sys.version.split()[0]}; "
          f"BLAS: {blas_kernel()}")
    print(f"{args.runs} runs per case after one warm-up; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}; "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    print(f"nablanet's bytecode cached: {bytecode_cached()}; PYTHONDONTWRITEBYTECODE="
          f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '(unset)')}")
    results: dict[str, tuple[float, float]] = {}
    for name, cmd in cases.items():
        run_once(cmd)
        walls, cpus = zip(*(run_once(cmd) for _ in range(args.runs)), strict=True)
        results[name] = (statistics.median(walls), statistics.median(cpus))
        print(f"{name:<30} wall {results[name][0]:6.3f} s   cpu {results[name][1]:6.3f} s   "
              f"(wall runs: {', '.join(f'{w:.2f}' for w in walls)})")
    ours, theirs = results["nablanet fit"], results["sklearn fit"]
    print(f"\nfirst fit, nablanet / scikit-learn: wall {ours[0] / theirs[0]:.2f}x "
          f"({ours[0] - theirs[0]:+.3f} s), cpu {ours[1] / theirs[1]:.2f}x "
          f"({ours[1] - theirs[1]:+.3f} s)")
    compiled = results["nablanet fit, compiled"]
    print(f"loading the compiled kernels (a fit above COMPILE_AT): cpu "
          f"{compiled[1] - ours[1]:+.3f} s over the small fit")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cold = run_once(CASES["nablanet fit, compiled"], env)
        warm = run_once(CASES["nablanet fit, compiled"], env)
    print(f"fresh install (empty numba cache): first compiled fit wall {cold[0]:.3f} s, cpu "
          f"{cold[1]:.3f} s; the next process {warm[0]:.3f} s / {warm[1]:.3f} s: one-time "
          f"compile cost about {cold[1] - warm[1]:.2f} s of CPU (paid at install by make)")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
