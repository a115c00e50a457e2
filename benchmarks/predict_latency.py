"""Single-threaded prediction latency: `MLPClassifier.predict_proba` on 1 and 10 000 rows.

    python benchmarks/predict_latency.py                  # digits, hidden (64,), float64
    python benchmarks/predict_latency.py --repeats 5000 --json out.json

Prints the median (and the 10th and 90th percentiles) of many timed calls of
``predict_proba`` on one row and on 10 000 rows, for a classifier fitted on scikit-learn's
digits, plus ``Network.forward`` on the same rows (the network alone, without the
estimator's input checks). The CPU model and NumPy's BLAS are printed with the figures,
since they decide them. Run it before and after a change to the prediction path; compare
medians, not single runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model as _cpu_model


def _blas() -> str:
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    pool = next((p for p in pools if "numpy" in p.get("filepath", "")), pools[0] if pools else None)
    if pool is None:
        return "unknown"
    return (
        f"{pool.get('internal_api')} {pool.get('version')} "
        f"({pool.get('architecture')}, {pool.get('num_threads')} threads)"
    )


def _time(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Seconds per call, ``repeats`` times, after a few warm-up calls."""
    for _ in range(min(20, repeats)):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=2000, help="timed calls on 1 row")
    p.add_argument("--repeats-large", type=int, default=200, help="timed calls on 10 000 rows")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one thread: the figure is the single-threaded path's
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning

    import nablanet
    from nablanet import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    with warnings.catch_warnings():  # 50 epochs are enough to time a prediction
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0).fit(X, y)
    rng = np.random.default_rng(0)
    X1 = np.ascontiguousarray(X[:1])
    X10k = np.ascontiguousarray(X[rng.integers(0, X.shape[0], 10_000)])
    net = clf.net_

    cases = [
        ("predict_proba, 1 row", lambda: clf.predict_proba(X1), args.repeats),
        ("predict_proba, 10 000 rows", lambda: clf.predict_proba(X10k), args.repeats_large),
        ("Network.forward, 1 row", lambda: net.forward(X1), args.repeats),
        ("Network.forward, 10 000 rows", lambda: net.forward(X10k), args.repeats_large),
    ]
    print(f"nablanet {nablanet.__file__}")
    print(f"machine  {_cpu_model()}, Python {platform.python_version()}, NumPy {np.__version__}")
    print(f"BLAS     {_blas()}")
    print("model    MLPClassifier(hidden_layer_sizes=(64,)) on digits, 64-64-10, float64")
    print(f"{'case':<30}{'median':>12}{'p10':>12}{'p90':>12}{'calls':>8}")
    out: dict[str, Any] = {"machine": _cpu_model(), "blas": _blas(), "cases": {}}
    for name, fn, repeats in cases:
        t = np.array(_time(fn, repeats)) * 1e6
        med, p10, p90 = np.median(t), np.percentile(t, 10), np.percentile(t, 90)
        print(f"{name:<30}{med:>10.1f}us{p10:>10.1f}us{p90:>10.1f}us{repeats:>8}")
        out["cases"][name] = {"median_us": med, "p10_us": p10, "p90_us": p90, "calls": repeats}
    if args.json:
        from nablanet.io.files import write_file  # refuses devices, FIFOs, folders

        write_file(args.json, json.dumps(out, indent=2).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
