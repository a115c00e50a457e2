"""Reading speed and peak memory of `nablanet.datasets.read_csv` against pandas and pyarrow.

Usage: .venv/bin/python benchmarks/read_csv.py [--rows 2000000] [--columns 10] [--repeat 3]
[--against DIR]

Writes a CSV of ``--rows`` rows of ``--columns`` numeric columns (the last one a class
label, 0-4) into a temporary folder, then reads it with each reader in fresh processes, so
that each peak resident memory (``ru_maxrss``) is that reader's alone. Each process times
its first read (the figure issue 20 sets: at least 100 MB/s on 2,000,000 x 10, about 175
MB, with a peak at most twice the final float64 array), the same with the reader's import,
and a second read of the same file. Each figure is the best of ``--repeat`` processes per
reader, the readers taking turns, so that a shared machine's load weighs on each alike;
the CPU time of the first read (user and system) is printed too, being less sensitive to
other jobs than the wall-clock time. ``--against DIR`` adds the nablanet found in the
folder DIR (e.g. an older commit, ``git worktree add DIR COMMIT``) as another reader.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import numpy as np
from _machine import cpu_model

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Each reader as (its import, its read).
READERS = {
    "nablanet": ("from nablanet.datasets import read_csv", "X, y, _ = read_csv(PATH)"),
    "pandas": ("import pandas as pd", "X = pd.read_csv(PATH).to_numpy()"),
    "pyarrow": ("import pyarrow.csv as pc", "X = pc.read_csv(PATH).to_pandas().to_numpy()"),
}

CHILD = """
import resource, sys, time
PATH = sys.argv[1]
t = time.perf_counter()
{imports}
t_read, cpu = time.perf_counter(), time.process_time()
{read}
t_first, cpu = time.perf_counter(), time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
X = y = None
{read}
t_second = time.perf_counter()
print(t_first - t_read, t_first - t, t_second - t_first, cpu, peak * 1024,
      getattr(sys.modules.get("nablanet"), "__file__", "-"))
"""
#: The resident memory of a process that has imported the libraries and read nothing.
BASELINE = ("import resource, numpy, pandas, pyarrow.csv, nablanet.datasets; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)")


@dataclass(frozen=True)
class Run:
    """One fresh process's figures, in seconds and bytes."""

    first: float  # the first read
    with_import: float  # the reader's import and the first read
    second: float  # a second read of the same file in the same process
    first_cpu: float  # the first read's CPU time, user and system
    peak: int  # peak resident memory over the import and the first read


def write_table(path: str, rows: int, columns: int, seed: int = 0) -> None:
    """A CSV of ``rows`` x ``columns``: normal features with 6 significant digits, a label."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        f.write(",".join(f"f{j}" for j in range(columns - 1)) + ",label\n")
        for start in range(0, rows, 100_000):
            m = min(100_000, rows - start)
            X = rng.standard_normal((m, columns - 1))
            y = rng.integers(0, 5, m)
            body = np.column_stack([X, y])
            np.savetxt(f, body, fmt=["%.6g"] * (columns - 1) + ["%d"], delimiter=",")


def blas() -> str:
    """NumPy's BLAS library and kernel (threadpoolctl), for the record."""
    from threadpoolctl import threadpool_info

    parts = [f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}, "
             f"{p.get('num_threads')} threads)" for p in threadpool_info()
             if p.get("user_api") == "blas"]
    return "; ".join(parts) or "none found"


def load() -> str:
    """The 1-minute load average, for the record (a shared machine's other jobs)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def child(code: str, *args: str, root: str = HERE) -> list[str]:
    """What a fresh Python process running ``code`` with nablanet from ``root`` prints, split.

    It runs in ``root``, as ``python -c`` puts the working folder first on its path.
    """
    env = {**os.environ, "PYTHONPATH": root}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, cwd=root, check=True).stdout.split()


def measure(reader: str, path: str, root: str) -> Run:
    """One fresh process reading ``path`` twice with ``reader``."""
    imports, read = READERS[reader]
    out = child(CHILD.format(imports=imports, read=read), path, root=root)
    if reader == "nablanet" and not out[5].startswith(root):
        raise RuntimeError(f"the nablanet from {root} was to be read, not {out[5]}")
    return Run(float(out[0]), float(out[1]), float(out[2]), float(out[3]), int(out[4]))


def best(runs: list[Run]) -> Run:
    """Each figure's best over ``runs``: the least time, the least peak."""
    return Run(*(min(getattr(r, f) for r in runs) for f in Run.__dataclass_fields__))


def report(name: str, b: Run, size: int, final: int, base: int) -> str:
    mb = size / 1e6
    return (f"{name:>12}: first read {b.first:5.2f} s {mb / b.first:6.1f} MB/s (CPU "
            f"{b.first_cpu:5.2f} s); with the import {b.with_import:5.2f} s "
            f"{mb / b.with_import:6.1f} MB/s; later read {b.second:5.2f} s "
            f"{mb / b.second:6.1f} MB/s; peak {b.peak / 1e6:6.1f} MB ({b.peak / final:.2f}x "
            f"the final array; own {(b.peak - base) / 1e6:.1f} MB, {(b.peak - base) / final:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3,
                        help="fresh processes per reader; each figure is their best")
    parser.add_argument("--against", metavar="DIR",
                        help="a folder holding another nablanet package, read as another reader")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores); load average {load()}")
    print(f"BLAS: {blas()}")
    readers = [("nablanet", "nablanet", HERE), ("pandas", "pandas", HERE),
               ("pyarrow", "pyarrow", HERE)]
    if args.against:
        readers.insert(1, ("nablanet " + os.path.basename(os.path.normpath(args.against)),
                           "nablanet", os.path.abspath(args.against)))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "table.csv")
        write_table(path, args.rows, args.columns)
        size = os.path.getsize(path)
        final = args.rows * (args.columns - 1) * 8
        print(f"file: {args.rows} rows x {args.columns} columns, {size / 1e6:.1f} MB; "
              f"final float64 array {final / 1e6:.1f} MB")
        base = int(child(BASELINE)[0])
        print(f"a process that imported numpy, pandas, pyarrow and nablanet: {base / 1e6:.1f} MB "
              "resident; 'own' below is the peak less that")
        runs: dict[str, list[Run]] = {name: [] for name, _, _ in readers}
        for _ in range(args.repeat):  # the readers take turns
            for name, reader, root in readers:
                runs[name].append(measure(reader, path, root))
        print(f"best of {args.repeat} fresh processes each (load average now {load()}):")
        for name, _, _ in readers:
            print(report(name, best(runs[name]), size, final, base))


if __name__ == "__main__":
    main()
