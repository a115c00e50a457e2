"""Accuracy (R² for diabetes) of nablanet's estimators against scikit-learn's, same settings.

Usage: .venv/bin/python benchmarks/accuracy.py [--fashion] [--seeds N]

Each data set is split 75/25 (stratified for classes), standardised as a scikit-learn user
would (Fashion-MNIST: pixels in [0, 1] as loaded), and fitted by both estimators with the
same parameters and random_state; the figures are means over seeds.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _machine import cpu_model, load_average, numpy_blas
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.preprocessing import StandardScaler

from nablanet import MLPClassifier, MLPRegressor


def small_sets():
    yield "digits", datasets.load_digits(return_X_y=True), True, {}
    yield "iris", datasets.load_iris(return_X_y=True), True, {}
    yield "breast-cancer", datasets.load_breast_cancer(return_X_y=True), True, {}
    yield "diabetes (R²)", datasets.load_diabetes(return_X_y=True), False, {"max_iter": 2000}


def compare(name, X_tr, X_te, y_tr, y_te, classify, params, seeds):
    ours, theirs, t_ours, t_theirs = [], [], 0.0, 0.0
    for seed in range(seeds):
        for cls, scores in (
            ((MLPClassifier if classify else MLPRegressor), ours),
            ((SkClassifier if classify else SkRegressor), theirs),
        ):
            t0 = time.perf_counter()
            model = cls(random_state=seed, **params).fit(X_tr, y_tr)
            dt = time.perf_counter() - t0
            if cls.__module__.startswith("nablanet"):
                t_ours += dt
            else:
                t_theirs += dt
            scores.append(model.score(X_te, y_te))
    print(
        f"{name:<16} scikit-learn {np.mean(theirs):.4f}  nablanet {np.mean(ours):.4f}  "
        f"(difference {np.mean(ours) - np.mean(theirs):+.4f}; fit time {t_theirs:.1f} s vs "
        f"{t_ours:.1f} s; {seeds} seeds)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fashion", action="store_true", help="also Fashion-MNIST (minutes)")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"CPU: {cpu_model()}; BLAS {numpy_blas()}; load average {load_average()}")
    for name, (X, y), classify, params in small_sets():
        parts = train_test_split(
            X, y, test_size=0.25, random_state=0, stratify=y if classify else None
        )
        X_tr, X_te, y_tr, y_te = parts
        scaler = StandardScaler().fit(X_tr)
        compare(name, scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te, classify,
                params, args.seeds)
    if args.fashion:
        from nablanet.data import load_fashion_mnist

        d = load_fashion_mnist()
        compare("fashion-mnist", d.X_train, d.X_test, d.y_train, d.y_test, True,
                {"hidden_layer_sizes": (100,)}, 1)


if __name__ == "__main__":
    main()
