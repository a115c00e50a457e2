"""Print a SHA-256 of the parameters every reference fit ends with, one line per fit.

A refactoring that must not change any result (the layer engine, the kernel dispatcher)
runs this before and after and compares the two outputs line by line::

    python benchmarks/fingerprint.py > before.txt   # on the old commit
    python benchmarks/fingerprint.py | diff before.txt -

Small data (scikit-learn's digits, iris, diabetes) and few iterations: about a minute.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one thread: sums in a fixed order

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_diabetes, load_digits, load_iris

import nablanet as nn


def digest(*arrays: Any) -> str:
    """The first 16 hex digits of the SHA-256 of the arrays' bytes and shapes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _mlp(X: Any, y: Any, cls: Any = nn.MLPClassifier, fit: dict | None = None, **kw: Any) -> str:
    est = cls(random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y, **(fit or {}))
    return digest(*est.coefs_, *est.intercepts_)


def configurations() -> dict[str, Callable[[], str]]:
    """The reference fits, by name."""
    Xd, yd = load_digits(return_X_y=True)
    Xd = Xd[:600] / 16.0
    yd = yd[:600]
    Xi, yi = load_iris(return_X_y=True)
    Xr, yr = load_diabetes(return_X_y=True)
    Xr, yr = Xr[:300], yr[:300] / 100.0
    w = np.random.default_rng(0).uniform(0.2, 2.0, len(yd))
    small = {"hidden_layer_sizes": (25,), "max_iter": 15}
    return {
        "adam-relu-f64": lambda: _mlp(Xd, yd, **small),
        "adam-relu-f32": lambda: _mlp(Xd, yd, dtype=np.float32, **small),
        "sgd-nesterov-logistic": lambda: _mlp(Xd, yd, solver="sgd", activation="logistic", **small),
        "sgd-invscaling-tanh": lambda: _mlp(
            Xd, yd, solver="sgd", activation="tanh", learning_rate="invscaling", **small
        ),
        "lbfgs-tanh-iris": lambda: _mlp(Xi, yi, solver="lbfgs", activation="tanh", **small),
        "adam-two-layers-dropout": lambda: _mlp(
            Xd, yd, hidden_layer_sizes=(30, 20), dropout=0.2, max_iter=10
        ),
        "adam-sample-weight": lambda: _mlp(Xd, yd, fit={"sample_weight": w}, **small),
        "adam-sparse-input": lambda: _mlp(sp.csr_matrix(Xd), yd, **small),
        "adam-early-stopping": lambda: _mlp(Xd, yd, early_stopping=True, **small),
        "regressor-adam": lambda: _mlp(Xr, yr, cls=nn.MLPRegressor, **small),
        "regressor-lbfgs-f32": lambda: _mlp(
            Xr, yr, cls=nn.MLPRegressor, solver="lbfgs", dtype=np.float32, **small
        ),
        "network-sparsity-gd": lambda: _network_sparsity(Xd),
        "softmax-regression": lambda: _softmax(Xd, yd),
        "sparse-autoencoder": lambda: _autoencoder(Xd),
        "stacked-autoencoder": lambda: _stacked(Xd, yd),
    }


def _network_sparsity(X: Any) -> str:
    net = nn.Network([64, 20, 64], sparsity=(0.1, 3.0), weight_decay=1e-3, seed=0)
    nn.train(net, X, X, optimizer="gd", epochs=20, seed=0)
    return digest(net.theta)


def _softmax(X: Any, y: Any) -> str:
    est = nn.SoftmaxRegression(max_iter=20, random_state=0).fit(X, y)
    return digest(est.coef_, est.intercept_)


def _autoencoder(X: Any) -> str:
    est = nn.SparseAutoencoder(hidden_layer_size=16, max_iter=20, random_state=0).fit(X)
    return digest(est.net_.theta)


def _stacked(X: Any, y: Any) -> str:
    est = nn.StackedAutoencoderClassifier(hidden_layer_sizes=(20, 10), random_state=0)
    est.set_params(**{k: 10 for k in est.get_params() if k.endswith("max_iter")})
    est.fit(X, y)
    return digest(*est.mlp_.coefs_, *est.mlp_.intercepts_)


def main(names: list[str]) -> None:
    for name, run in configurations().items():
        if not names or name in names:
            print(f"{name:<26}{run()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
