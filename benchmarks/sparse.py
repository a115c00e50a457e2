"""Fit time on sparse input: nablanet's and scikit-learn's MLPClassifier on the same CSR data.

    python benchmarks/sparse.py                       # both cases, 3 fits each
    python benchmarks/sparse.py --samples 5000 --repeats 5 --threads 2

Two cases, each fitted by both libraries with the same settings (hidden layer (100,), adam,
batch 200, a fixed number of epochs: ``tol=0`` and ``n_iter_no_change`` past ``max_iter``,
so that neither stops early), runs alternating between the libraries:

- ``wide``: 100 000 features at 1% density. scikit-learn's ``make_classification`` gives
  500 dense features (50 informative); the wide matrix keeps 1% of the entries of
  ``X[:, j % 500]`` for its column ``j``, chosen at random, so the classes stay separable;
- ``digits``: scikit-learn's digits (scaled to [0, 1]) as CSR, about half of it zeros.

Prints the CPU model, NumPy's BLAS and the load average (other programs on the machine
slow every figure), then per case the median seconds per fit of each library, their ratio
(nablanet / scikit-learn: below 1 is faster) and the training accuracy of each.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from _machine import cpu_model


def blas() -> str:
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not pools:
        return "unknown"
    # NumPy's own BLAS (SciPy may bring another): it does the dense products
    p = next((p for p in pools if "numpy" in p.get("filepath", "")), pools[0])
    return f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}, NumPy's)"


def wide_data(n_samples: int, n_features: int = 100_000, density: float = 0.01) -> tuple:
    """``make_classification`` spread over ``n_features`` sparse columns (see the notes)."""
    from sklearn.datasets import make_classification

    base, y = make_classification(n_samples=n_samples, n_features=500, n_informative=50,
                                  n_redundant=0, n_classes=2, random_state=0)
    rng = np.random.default_rng(0)
    per_row = int(round(density * n_features))
    cols = np.stack([np.sort(rng.choice(n_features, size=per_row, replace=False))
                     for _ in range(n_samples)])
    rows = np.repeat(np.arange(n_samples), per_row)
    values = base[rows, cols.ravel() % base.shape[1]]
    X = sp.csr_matrix((values, (rows, cols.ravel())), shape=(n_samples, n_features))
    return X, y


def digits_data() -> tuple:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return sp.csr_matrix(X / 16.0), y


def fit_seconds(module: Any, X: Any, y: Any, epochs: int) -> tuple[float, float]:
    """Seconds of one fit, and the training accuracy it reaches."""
    from sklearn.exceptions import ConvergenceWarning

    est = module.MLPClassifier(hidden_layer_sizes=(100,), max_iter=epochs, tol=0.0,
                               n_iter_no_change=epochs + 1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        est.fit(X, y)
        seconds = time.perf_counter() - t0
    return seconds, float(est.score(X, y))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=2000, help="rows of the wide case")
    p.add_argument("--repeats", type=int, default=3, help="fits per library and case")
    p.add_argument("--epochs", type=int, default=5, help="epochs per fit (digits: 10 times)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads for both")
    args = p.parse_args(argv)

    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    import sklearn
    import sklearn.neural_network as skl

    import nablanet

    print(f"machine   {cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"software  Python {platform.python_version()}, NumPy {np.__version__}, "
          f"SciPy {__import__('scipy').__version__}, scikit-learn {sklearn.__version__}")
    print(f"BLAS      {blas()}, {args.threads} thread(s)")
    cases = {"wide": (wide_data(args.samples), args.epochs),
             "digits": (digits_data(), 10 * args.epochs)}
    libraries = {"nablanet": nablanet, "scikit-learn": skl}
    print(f"{'case':<8}{'shape':>16}{'density':>9}{'epochs':>7}  "
          + "".join(f"{name + ' s':>15}{'acc':>7}" for name in libraries) + f"{'ratio':>8}")
    for case, ((X, y), epochs) in cases.items():
        times: dict[str, list[float]] = {name: [] for name in libraries}
        accuracy: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, module in libraries.items():  # alternate, so load shifts hit both
                seconds, accuracy[name] = fit_seconds(module, X, y, epochs)
                times[name].append(seconds)
        med = {name: statistics.median(t) for name, t in times.items()}
        density = X.nnz / (X.shape[0] * X.shape[1])
        ratio = f"{med['nablanet'] / med['scikit-learn']:>8.2f}"
        print(f"{case:<8}{str(X.shape):>16}{density:>9.3f}{epochs:>7}  "
              + "".join(f"{med[n]:>15.3f}{accuracy[n]:>7.3f}" for n in libraries) + ratio)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
