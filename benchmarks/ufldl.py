"""UFLDL's later chapters on nablanet's engine: figures printed in one run.

Usage: .venv/bin/python benchmarks/ufldl.py [--quick] [flags below]

1. Gradient checks with UFLDL's parameters (ε = 1e-4, threshold 1e-9).
2. The sparse autoencoder exercise (64-25-64, ρ = 0.01, β = 3, λ = 1e-4) on natural-image
   patches, L-BFGS: nablanet against the same J written in PyTorch (autograd, float64) and
   in plain NumPy (UFLDL's sparseAutoencoderCost), all three from the same θ₀ and driven
   by the same scipy L-BFGS-B settings, so that time and final J compare the cost and
   gradient evaluations only. With --busy N, also with N cores kept busy by spinning
   processes (issue 25), and nablanet's SparseAutoencoder estimator too: each run's
   seconds quiet and loaded, and their ratio.
3. Softmax regression (λ = 1e-4, 100 L-BFGS iterations) against scikit-learn's
   LogisticRegression at the same penalty, C = 1/(λ m): LogisticRegression minimises
   ½‖W‖² + C Σ_i log-loss_i, which is (C m) · [(1/m) Σ_i log-loss_i + (λ/2)‖W‖²] exactly
   when 1/(C m) = λ. Digits and Fashion-MNIST.
4. Self-taught learning: a sparse autoencoder learns features from classes 5-9 without
   labels; softmax regression on those features classifies 0-4, against softmax
   regression on the raw pixels. Digits and Fashion-MNIST.
5. The stacked autoencoder on Fashion-MNIST before and after fine-tuning.

Every run uses one thread unless --threads says otherwise (the machine's cores are often
shared); the sizes are flags, and the header prints the configuration that ran.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings
from typing import Any

import numpy as np
import scipy
from _busy import Spinners, describe, passes, slowdown_table
from _machine import cpu_model, load_average
from scipy.optimize import minimize
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from nablanet import Network, SoftmaxRegression, SparseAutoencoder, StackedAutoencoderClassifier
from nablanet.data import load_fashion_mnist, natural_image_patches
from nablanet.gradcheck import check_gradient
from nablanet.optim.scipy_min import LBFGS
from nablanet.training import train

EPS, THRESHOLD = 1e-4, 1e-9


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--patches", type=int, default=10000)
    p.add_argument("--ae-iters", type=int, default=400)
    p.add_argument("--fashion-rows", type=int, default=60000,
                   help="training rows of Fashion-MNIST for softmax regression")
    p.add_argument("--stl-rows", type=int, default=10000,
                   help="unlabelled Fashion-MNIST rows (classes 5-9) for self-taught learning")
    p.add_argument("--stl-iters", type=int, default=200)
    p.add_argument("--stl-hidden", type=int, default=196)
    p.add_argument("--stl-decay", type=float, default=3e-3,
                   help="λ of the Fashion-MNIST autoencoder (UFLDL's MNIST value)")
    p.add_argument("--stl-digits-decay", type=float, default=1e-4,
                   help="λ of the digits autoencoder (3e-3 is too strong for 64 inputs)")
    p.add_argument("--sae-rows", type=int, default=10000, help="Fashion-MNIST rows, stacked AE")
    p.add_argument("--sae-hidden", type=int, nargs="+", default=[200, 200])
    p.add_argument("--sae-pretrain-iters", type=int, default=100)
    p.add_argument("--sae-iters", type=int, default=100)
    p.add_argument("--skip", nargs="*", default=[],
                   choices=["gradients", "autoencoder", "softmax", "stl", "stacked"])
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS and PyTorch threads (1 on a shared machine)")
    p.add_argument("--busy", type=int, default=0,
                   help="also run the sparse autoencoder with N cores kept busy (0)")
    p.add_argument("--busy-rounds", type=int, default=2,
                   help="quiet and loaded runs each of the sparse autoencoder with --busy")
    args = p.parse_args()
    if args.busy < 0:
        p.error("--busy must be 0 or more")
    if args.quick:
        args.patches, args.ae_iters, args.fashion_rows = 2000, 50, 5000
        args.stl_rows, args.stl_iters, args.stl_hidden = 2000, 30, 49
        args.sae_rows, args.sae_hidden = 2000, [50, 50]
        args.sae_pretrain_iters, args.sae_iters = 20, 20
    return args


def header(args: argparse.Namespace) -> None:
    import torch
    from threadpoolctl import threadpool_info

    blas = [f"{p['internal_api']} {p.get('version')} kernel {p.get('architecture', '?')} "
            f"({p.get('threading_layer', '?')}, {p['num_threads']} threads)"
            for p in threadpool_info() if p["user_api"] == "blas"]
    print(f"CPU: {cpu_model()}; Python {platform.python_version()}, NumPy {np.__version__}, "
          f"SciPy {scipy.__version__}, PyTorch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    print(f"BLAS: {'; '.join(blas)}")
    print(f"load average: {load_average()} at the start")
    print(f"configuration: {vars(args)}")


def section(title: str) -> None:
    print(f"\n## {title}")


# --- 1. gradient checks -------------------------------------------------------------------


def gradient_checks() -> bool:
    section("Gradient checks, UFLDL's parameters (ε = 1e-4, pass below 1e-9)")
    rng = np.random.default_rng(0)
    P = natural_image_patches(10, 8, seed=1)
    digits = load_digits().data[:100] / 16.0
    Y10 = np.eye(10)[load_digits().target[:100]]
    cases = [
        ("sparse AE 64-25-64 sigmoid, 10 patches", Network(
            [64, 25, 64], weight_decay=1e-4, sparsity=(0.01, 3.0), seed=0), P, P, None),
        ("sparse AE 64-25-64 tanh units, linear decoder", Network(
            [64, 25, 64], activation="tanh", output_activation="identity", weight_decay=1e-4,
            sparsity=(0.01, 3.0), seed=0), P, P, None),
        ("sparse AE, 2 penalised layers, sample weights", Network(
            [64, 20, 15, 64], weight_decay=1e-4, sparsity=(0.1, 3.0), seed=0), P, P,
            rng.uniform(0.5, 2.0, 10)),
        ("softmax regression 64-10, 100 digits, λ=1e-4", Network(
            [64, 10], output_activation="softmax", weight_decay=1e-4, init="normal", seed=0),
            digits, Y10, None),
        ("stacked AE fine-tuning net 64-20-15-10, λ=3e-3", Network(
            [64, 20, 15, 10], output_activation="softmax", weight_decay=3e-3, seed=0),
            digits[:20], Y10[:20], None),
    ]
    ok = True
    for name, net, X, Y, s in cases:
        report = net.check_gradient(X, Y, eps=EPS, tol=THRESHOLD, sample_weight=s)
        ok &= report.passed
        print(f"{name:<52} {report.relative_difference:.2e}  "
              f"{'pass' if report.passed else 'FAIL'}")
    net = Network([64, 25, 64], weight_decay=1e-4, sparsity=(0.01, 3.0), seed=0)
    X, Y = P, P
    masks = [(rng.random((10, 25)) < 0.8) / 0.8]
    report = check_gradient(lambda t: net.loss_and_grad(X, Y, t, dropout_masks=masks),
                            net.theta.copy(), eps=EPS, tol=THRESHOLD)
    ok &= report.passed
    print(f"{'sparse AE 64-25-64 with a dropout mask':<52} {report.relative_difference:.2e}  "
          f"{'pass' if report.passed else 'FAIL'}")
    return ok


# --- 2. the sparse autoencoder exercise -----------------------------------------------------


def numpy_cost(theta: np.ndarray, X: np.ndarray, v: int, h: int, lam: float, rho: float,
               beta: float) -> tuple[float, np.ndarray]:
    """UFLDL's sparseAutoencoderCost, straightforwardly (rows are samples)."""
    n1, n2 = h * v, 2 * h * v
    W1, W2 = theta[:n1].reshape(v, h).T, theta[n1:n2].reshape(h, v).T
    b1, b2 = theta[n2:n2 + h], theta[n2 + h:]
    m = X.shape[0]
    a2 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    a3 = 1 / (1 + np.exp(-(a2 @ W2.T + b2)))
    rho_hat = a2.mean(axis=0)
    J = (0.5 * np.sum((a3 - X) ** 2) / m + lam / 2 * (np.sum(W1**2) + np.sum(W2**2))
         + beta * np.sum(rho * np.log(rho / rho_hat)
                         + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))))
    d3 = (a3 - X) * a3 * (1 - a3)
    d2 = (d3 @ W2 + beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))) * a2 * (1 - a2)
    gW1, gW2 = d2.T @ X / m + lam * W1, d3.T @ a2 / m + lam * W2
    return J, np.concatenate([gW1.T.ravel(), gW2.T.ravel(), d2.mean(0), d3.mean(0)])


def torch_cost_factory(X: np.ndarray, v: int, h: int, lam: float, rho: float, beta: float):
    import torch

    Xt = torch.from_numpy(X)
    n1, n2 = h * v, 2 * h * v

    def cost(theta: np.ndarray) -> tuple[float, np.ndarray]:
        t = torch.from_numpy(theta).requires_grad_()
        W1, W2 = t[:n1].view(v, h).T, t[n1:n2].view(h, v).T
        b1, b2 = t[n2:n2 + h], t[n2 + h:]
        a2 = torch.sigmoid(Xt @ W1.T + b1)
        a3 = torch.sigmoid(a2 @ W2.T + b2)
        rho_hat = a2.mean(0)
        J = (0.5 * ((a3 - Xt) ** 2).sum() / X.shape[0]
             + lam / 2 * ((W1**2).sum() + (W2**2).sum())
             + beta * (rho * torch.log(rho / rho_hat)
                       + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum())
        J.backward()
        return float(J.detach()), t.grad.numpy().copy()

    return cost


def autoencoder_exercise(args: argparse.Namespace) -> None:
    section(f"Sparse autoencoder 64-25-64 on {args.patches} natural-image patches, "
            f"{args.ae_iters} L-BFGS iterations (ρ=0.01, β=3, λ=1e-4), same θ₀")
    X = natural_image_patches(args.patches, 8, seed=0)
    v, h, lam, rho, beta = 64, 25, 1e-4, 0.01, 3.0

    def network() -> Network:
        return Network([v, h, v], weight_decay=lam, sparsity=(rho, beta), init="ufldl", seed=0)

    theta0 = network().theta.copy()
    options = {"maxiter": args.ae_iters, "gtol": 1e-9, "maxfun": 15000}

    def ours() -> tuple[float, int]:
        net = network()
        hist = train(net, X, X, optimizer=LBFGS(max_iter=args.ae_iters, tol=1e-9),
                     epochs=args.ae_iters, batch_size=None, shuffle=False, seed=0)
        return net.cost(X, X), len(hist.train_loss)

    def scipy_driven(fun: Any) -> Any:
        def run() -> tuple[float, int]:
            res = minimize(fun, theta0.copy(), jac=True, method="L-BFGS-B", options=options)
            return float(res.fun), int(res.nit)
        return run

    def estimator() -> tuple[float, int]:  # the same L-BFGS, through the public estimator
        ae = SparseAutoencoder(h, sparsity_target=rho, sparsity_weight=beta, weight_decay=lam,
                               max_iter=args.ae_iters, random_state=0).fit(X)
        return ae.net_.cost(X, X), ae.n_iter_

    runs: dict[str, Any] = {
        "nablanet (Network + LBFGS)": ours,
        "PyTorch autograd, float64": scipy_driven(torch_cost_factory(X, v, h, lam, rho, beta)),
        "NumPy + scipy (UFLDL's recipe)": scipy_driven(
            lambda t: numpy_cost(t, X, v, h, lam, rho, beta)),
    }
    if args.busy:
        runs["nablanet SparseAutoencoder.fit"] = estimator
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in runs}
    first: dict[str, tuple[float, int]] = {}  # final J and iterations of the first quiet run
    for r, busy in passes(args.busy_rounds if args.busy else 1, args.busy):
        names = list(runs)
        with Spinners(busy):
            for name in names[r % len(names):] + names[: r % len(names)]:
                start = time.perf_counter()
                J, nit = runs[name]()
                times[name][1 if busy else 0].append(time.perf_counter() - start)
                if not busy:
                    first.setdefault(name, (J, nit))
    J0 = numpy_cost(theta0, X, v, h, lam, rho, beta)[0]
    J0_torch = torch_cost_factory(X, v, h, lam, rho, beta)(theta0.copy())[0]
    print(f"J(θ₀): nablanet {network().cost(X, X):.10f}, PyTorch {J0_torch:.10f}, "
          f"NumPy {J0:.10f}")
    quiet = {name: statistics.median(q) for name, (q, _) in times.items()}
    base = quiet["nablanet (Network + LBFGS)"]
    print(f"{'implementation':<34}{'seconds':>9}{'final J':>12}{'iterations':>11}"
          f"{'time / nablanet':>17}")
    for name, (J, nit) in first.items():
        print(f"{name:<34}{quiet[name]:>9.2f}{J:>12.6f}{nit:>11}{quiet[name] / base:>17.2f}")
    if args.busy:
        print(f"\n{describe(args.busy)}; {args.busy_rounds} run(s) of each; {args.threads} BLAS "
              "thread(s)" + ("" if args.threads > 1 else
                             " (one thread cannot spin-wait: --threads 2 for the default)"))
        print(slowdown_table(times, args.busy))


# --- 3. softmax regression ------------------------------------------------------------------


def digits_split() -> tuple[np.ndarray, ...]:
    X, y = load_digits(return_X_y=True)
    return tuple(train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y))


def fashion(rows: int) -> tuple[np.ndarray, ...]:
    data = load_fashion_mnist(dtype=np.float64)
    return data.X_train[:rows], data.X_test, data.y_train[:rows], data.y_test


def softmax_vs_sklearn(args: argparse.Namespace) -> None:
    lam = 1e-4
    section(f"Softmax regression, λ = {lam:g}, 100 L-BFGS iterations, vs "
            "LogisticRegression(C = 1/(λ m))")
    print(f"{'data':<28}{'m':>7}{'ours acc':>10}{'ours s':>8}{'sklearn acc':>13}"
          f"{'sklearn s':>11}{'ours J':>11}{'sklearn J':>11}")
    for name, (Xtr, Xte, ytr, yte) in (("digits", digits_split()),
                                        ("Fashion-MNIST", fashion(args.fashion_rows))):
        m = Xtr.shape[0]
        start = time.perf_counter()
        ours = SoftmaxRegression(lam, 100, random_state=0).fit(Xtr, ytr)
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            theirs = LogisticRegression(C=1 / (lam * m), max_iter=100).fit(Xtr, ytr)
        t_theirs = time.perf_counter() - start
        Y = np.eye(10)[ytr]
        other = ours.net_.copy()
        other.W[0][...], other.b[0][...] = theirs.coef_, theirs.intercept_
        print(f"{name:<28}{m:>7}{ours.score(Xte, yte):>10.4f}{t_ours:>8.2f}"
              f"{theirs.score(Xte, yte):>13.4f}{t_theirs:>11.2f}"
              f"{ours.net_.cost(Xtr, Y):>11.5f}{other.cost(Xtr, Y):>11.5f}")


# --- 4. self-taught learning ----------------------------------------------------------------


def self_taught(args: argparse.Namespace) -> None:
    section("Self-taught learning: features from classes 5-9 (no labels), classify 0-4")
    print("(ρ = 0.1, β = 3; softmax λ = 1e-4, 100 iterations, on raw pixels or on features)")
    print(f"{'data':<16}{'unlabelled':>11}{'train':>7}{'test':>7}{'hidden':>7}{'λ':>8}"
          f"{'iters':>6}{'raw pixels':>12}{'AE features':>13}{'AE seconds':>12}")
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    low = y < 5
    Xtr, Xte, ytr, yte = train_test_split(X[low], y[low], test_size=0.5, random_state=0,
                                          stratify=y[low])
    _stl_row("digits", X[~low], Xtr, Xte, ytr, yte, 196, 400, args.stl_digits_decay)
    data = load_fashion_mnist(dtype=np.float64)
    high = data.y_train >= 5
    unlabelled = data.X_train[high][: args.stl_rows]
    train_low, test_low = data.y_train < 5, data.y_test < 5
    _stl_row("Fashion-MNIST", unlabelled, data.X_train[train_low], data.X_test[test_low],
             data.y_train[train_low], data.y_test[test_low], args.stl_hidden, args.stl_iters,
             args.stl_decay)


def _stl_row(name: str, U: np.ndarray, Xtr: np.ndarray, Xte: np.ndarray, ytr: np.ndarray,
             yte: np.ndarray, hidden: int, iters: int, decay: float) -> None:
    start = time.perf_counter()
    ae = SparseAutoencoder(hidden, sparsity_target=0.1, sparsity_weight=3.0, weight_decay=decay,
                           max_iter=iters, random_state=0).fit(U)
    seconds = time.perf_counter() - start
    raw = SoftmaxRegression(1e-4, 100, random_state=0).fit(Xtr, ytr).score(Xte, yte)
    feat = SoftmaxRegression(1e-4, 100, random_state=0).fit(ae.transform(Xtr), ytr)
    acc = feat.score(ae.transform(Xte), yte)
    print(f"{name:<16}{U.shape[0]:>11}{Xtr.shape[0]:>7}{Xte.shape[0]:>7}{hidden:>7}{decay:>8g}"
          f"{iters:>6}"
          f"{raw:>12.4f}{acc:>13.4f}{seconds:>12.1f}")


# --- 5. stacked autoencoder -----------------------------------------------------------------


def stacked(args: argparse.Namespace) -> None:
    hidden = tuple(args.sae_hidden)
    section(f"Stacked autoencoder {hidden} on Fashion-MNIST ({args.sae_rows} training rows, "
            f"pretraining {args.sae_pretrain_iters}, fine-tuning {args.sae_iters} L-BFGS "
            "iterations; test set 10000)")
    Xtr, Xte, ytr, yte = fashion(args.sae_rows)
    start = time.perf_counter()
    sae = StackedAutoencoderClassifier(
        hidden, pretrain_max_iter=args.sae_pretrain_iters, max_iter=args.sae_iters,
        fine_tune=False, random_state=0,
    ).fit(Xtr, ytr)
    t_pre = time.perf_counter() - start
    before = sae.score(Xte, yte)
    # fine_tune=True runs exactly this after the same pretraining: reuse it, not redo it
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sae.mlp_.set_params(max_iter=args.sae_iters)
        sae.mlp_.fit(Xtr, ytr)
    t_fine = time.perf_counter() - start
    after = sae.score(Xte, yte)
    print(f"before fine-tuning: test accuracy {before:.4f} (pretraining {t_pre:.0f} s)")
    print(f"after fine-tuning:  test accuracy {after:.4f} (fine-tuning {t_fine:.0f} s, "
          f"{sae.mlp_.n_iter_} iterations)")
    print(f"bars: after >= 0.88: {'met' if after >= 0.88 else 'NOT met'}; after - before >= "
          f"0.03: {'met' if after - before >= 0.03 else 'NOT met'} ({after - before:+.4f})")


def main() -> None:
    args = parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        header(args)
        steps: list[tuple[str, Any]] = [
            ("gradients", lambda: gradient_checks()),
            ("autoencoder", lambda: autoencoder_exercise(args)),
            ("softmax", lambda: softmax_vs_sklearn(args)),
            ("stl", lambda: self_taught(args)),
            ("stacked", lambda: stacked(args)),
        ]
        total = time.perf_counter()
        for name, step in steps:
            if name not in args.skip:
                step()
        print(f"\ntotal {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
