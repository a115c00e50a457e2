"""Single-threaded prediction latency: `MLPClassifier.predict_proba` on 1 and 10 000 rows.

    python benchmarks/predict_latency.py                  # digits, hidden (64,), float64
    python benchmarks/predict_latency.py --repeats 5000 --json out.json
    python benchmarks/predict_latency.py --busy 1         # and 10 000 rows with a core busy

Prints the median (and the 10th and 90th percentiles) of many timed calls of
``predict_proba`` on one row and on 10 000 rows, for a classifier fitted on scikit-learn's
digits, plus ``Network.forward`` on the same rows (the network alone, without the
estimator's input checks). The CPU model, NumPy's BLAS and the load average are printed
with the figures, since they decide them. Run it before and after a change to the
prediction path; compare medians, not single runs.

With ``--busy N`` it then times the 10 000-row calls again, and scikit-learn's own
``MLPClassifier.predict_proba`` fitted the same way, on the machine's BLAS threads
(``--busy-threads``; these calls are where threads pay), in passes that alternate between
a quiet machine and one with N cores kept busy by spinning processes (issue 25): the
quiet and loaded medians of each, their ratio, and scikit-learn's time over nablanet's.
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
from _busy import Spinners, describe, passes, slowdown_table
from _machine import cpu_model, load_average, numpy_blas


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
    p.add_argument("--busy", type=int, default=0,
                   help="also time the 10 000-row calls with N cores kept busy (0)")
    p.add_argument("--busy-threads", type=int, default=None,
                   help="BLAS threads of the --busy comparison (default: the machine's)")
    p.add_argument("--busy-rounds", type=int, default=4,
                   help="quiet and loaded passes each of the --busy comparison")
    p.add_argument("--repeats-busy", type=int, default=50,
                   help="timed calls per case in each --busy pass")
    args = p.parse_args(argv)
    if args.busy < 0:
        p.error("--busy must be 0 or more")

    from threadpoolctl import threadpool_info, threadpool_limits

    machine_threads = max(p.get("num_threads", 1) for p in threadpool_info()
                          if p.get("user_api") == "blas")
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
    print(f"machine  {cpu_model()}, Python {platform.python_version()}, NumPy {np.__version__}")
    print(f"BLAS     {numpy_blas()}")
    print(f"load     {load_average()} at the start")
    print("model    MLPClassifier(hidden_layer_sizes=(64,)) on digits, 64-64-10, float64")
    print(f"{'case':<30}{'median':>12}{'p10':>12}{'p90':>12}{'calls':>8}")
    out: dict[str, Any] = {"machine": cpu_model(), "blas": numpy_blas(), "cases": {}}
    for name, fn, repeats in cases:
        t = np.array(_time(fn, repeats)) * 1e6
        med, p10, p90 = np.median(t), np.percentile(t, 10), np.percentile(t, 90)
        print(f"{name:<30}{med:>10.1f}us{p10:>10.1f}us{p90:>10.1f}us{repeats:>8}")
        out["cases"][name] = {"median_us": med, "p10_us": p10, "p90_us": p90, "calls": repeats}
    if args.busy:
        threads = args.busy_threads or machine_threads
        out["busy"] = busy_comparison(clf, X, y, X10k, args, threads)
    if args.json:
        from nablanet.io.files import write_file  # refuses devices, FIFOs, folders

        write_file(args.json, json.dumps(out, indent=2).encode())
    return 0


def busy_comparison(clf: Any, X: Any, y: Any, X10k: Any, args: argparse.Namespace,
                    threads: int) -> dict[str, Any]:
    """The 10 000-row calls, nablanet's and scikit-learn's, quiet and with cores busy."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings():  # the same fit as nablanet's: 50 epochs, hidden (64,)
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkMLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0).fit(X, y)
    cases: dict[str, Callable[[], Any]] = {
        "nablanet predict_proba, 10 000 rows": lambda: clf.predict_proba(X10k),
        "nablanet Network.forward, 10 000 rows": lambda: clf.net_.forward(X10k),
        "scikit-learn predict_proba, 10 000 rows": lambda: sk.predict_proba(X10k),
    }
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in cases}
    print(f"\n{describe(args.busy)}; {args.busy_rounds} passes of each, "
          f"{args.repeats_busy} calls per case and pass; {threads} BLAS thread(s) for both "
          "libraries (the machine's, unlike the one-thread figures above)")
    with threadpool_limits(threads):
        for r, busy in passes(args.busy_rounds, args.busy):
            names = list(cases)
            with Spinners(busy):
                for name in names[r % len(names):] + names[: r % len(names)]:
                    times[name][1 if busy else 0].extend(_time(cases[name], args.repeats_busy))
    print(slowdown_table(times, args.busy, unit="ms", scale=1e3))
    med = {name: (float(np.median(q)), float(np.median(b))) for name, (q, b) in times.items()}
    ours, theirs = (med["nablanet predict_proba, 10 000 rows"],
                    med["scikit-learn predict_proba, 10 000 rows"])
    print(f"scikit-learn / nablanet predict_proba: quiet {theirs[0] / ours[0]:.2f}x, "
          f"busy {theirs[1] / ours[1]:.2f}x (above 1: nablanet faster)")
    print(f"load     {load_average()} at the end")
    return {"cores": args.busy, "threads": threads, "cases": {
        name: {"quiet_median_ms": 1e3 * q, "busy_median_ms": 1e3 * b, "ratio": b / q,
               "calls": len(times[name][0])} for name, (q, b) in med.items()}}


if __name__ == "__main__":
    sys.exit(main())
