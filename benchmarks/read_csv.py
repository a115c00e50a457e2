"""Reading speed and peak memory of `nablanet.datasets.read_csv` against pandas and pyarrow.

Usage: .venv/bin/python benchmarks/read_csv.py [--rows 2000000] [--columns 10]

Writes a CSV of ``--rows`` rows of ``--columns`` numeric columns (the last one a class
label, 0-4) into a temporary folder, then reads it with each reader in a fresh process, so
that each peak resident memory (``ru_maxrss``) is that reader's alone, and prints MB/s of the
read alone and with the reader's import, the peak and its ratio to the final float64
array, also less the memory of a process that has only imported the libraries. Issue 20's
target for nablanet: at least 100 MB/s on 2,000,000 x 10 (about 175 MB), peak at most twice
the final array.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from _machine import cpu_model

#: Each reader as (its import, its read), timed apart and together.
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
t_read = time.perf_counter()
{read}
dt = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(dt - t, dt - t_read, peak * 1024)
"""
#: The resident memory of a process that has imported the libraries and read nothing.
BASELINE = ("import resource, numpy, pandas, pyarrow.csv, nablanet.datasets; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)")


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


def child(code: str, *args: str) -> list[str]:
    """What a fresh Python process running ``code`` prints, split."""
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, check=True).stdout.split()


def measure(name: str, path: str) -> tuple[float, float, int]:
    """(seconds with the import, seconds of the read alone, peak resident bytes) of one
    reader in a fresh process."""
    imports, read = READERS[name]
    out = child(CHILD.format(imports=imports, read=read), path)
    return float(out[0]), float(out[1]), int(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--columns", type=int, default=10)
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}")
    print(f"BLAS: {blas()}")
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
        for name in READERS:
            seconds, read, peak = measure(name, path)
            print(f"{name:>9}: read {read:5.2f} s {size / 1e6 / read:6.1f} MB/s; with the "
                  f"import {seconds:5.2f} s {size / 1e6 / seconds:6.1f} MB/s; "
                  f"peak {peak / 1e6:7.1f} MB ({peak / final:.2f}x the final array; own "
                  f"{(peak - base) / 1e6:.1f} MB, {(peak - base) / final:.2f}x)")


if __name__ == "__main__":
    main()
