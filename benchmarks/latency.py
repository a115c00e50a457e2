"""predict_proba latency: nablanet, scikit-learn, onnxruntime and PyTorch on one model.

One MLPClassifier is trained on scikit-learn's digits (64 features, 10 classes; hidden
layers from --hidden) and the very same weights are run four ways:

- nablanet: ``est.predict_proba(X)``;
- scikit-learn: ``nablanet.to_sklearn(est).predict_proba(X)``;
- onnxruntime: ``session.run`` on ``nablanet.to_onnx(est)`` (the float32 graph, input
  already float32, as a caller of a float32 graph holds it) and on the float64 graph;
- PyTorch: ``nablanet.to_torch(est)`` under ``torch.inference_mode``, numpy in and
  numpy out (``torch.from_numpy`` and ``.numpy()`` inside the timing).

Each figure is the median over --samples timing samples of one call's time, in µs;
a sample times enough back-to-back calls to last about 2 ms. Every runtime is limited to
--threads threads (BLAS through threadpoolctl, torch.set_num_threads, onnxruntime's
intra-op pool). Before timing, every runtime's probabilities are checked against
nablanet's. The script prints the CPU, the BLAS libraries and the ratios to nablanet.

Run: ``python benchmarks/latency.py [--rows 1,10,100,10000] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from _machine import cpu_model
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

import nablanet
from nablanet import MLPClassifier


def blas_lines() -> list[str]:
    return [
        f"{i.get('internal_api')} {i.get('version')} ({i.get('threading_layer', '-')}, "
        f"{i.get('architecture', '-')}), {i.get('num_threads')} threads: {i.get('filepath')}"
        for i in threadpool_info()
    ]


def median_call_us(
    call: Callable[[], Any], samples: int, target_s: float = 2e-3
) -> tuple[float, float]:
    """Medians over timing samples of one call's wall time and CPU time, in µs.

    The CPU time is this process's (``time.process_time``): with every runtime held to
    one thread it is the wall time the call would take on an idle machine, and it stays
    steady when other processes share the cores, which the wall time does not.
    """
    call()  # warm-up: first-touch allocations, lazy initialisation
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(target_s / once))
    walls, cpus = [], []
    for _ in range(samples):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(number):
            call()
        walls.append((time.perf_counter() - start) / number)
        cpus.append((time.process_time() - start_cpu) / number)
    return statistics.median(walls) * 1e6, statistics.median(cpus) * 1e6


def runtimes(est: MLPClassifier, threads: int) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """name -> function X (float64) -> probabilities; each built once, outside the timing."""
    import onnxruntime as ort

    fns: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "nablanet": est.predict_proba,
        "scikit-learn": nablanet.to_sklearn(est).predict_proba,
    }
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    for label, sample in (("onnxruntime f32", None), ("onnxruntime f64", np.zeros((1, 64)))):
        model = nablanet.to_onnx(est, X_sample=sample)
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        fns[label] = lambda X, s=session: s.run(["probabilities"], {"X": X})[0]
    try:
        import torch
    except ImportError:
        return fns
    torch.set_num_threads(threads)
    seq = nablanet.to_torch(est)

    def torch_proba(X: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return seq(torch.from_numpy(X)).numpy()

    fns[f"PyTorch {torch.__version__}"] = torch_proba
    return fns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1,10,100,10000")
    parser.add_argument("--hidden", default="100", help="hidden layer sizes, e.g. 100 or 256,128")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=31)
    args = parser.parse_args()
    rows = [int(r) for r in args.rows.split(",")]
    hidden = tuple(int(h) for h in args.hidden.split(","))

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden, max_iter=30, random_state=0).fit(X, y)
    rng = np.random.default_rng(0)
    batches = {m: np.ascontiguousarray(X[rng.integers(0, len(X), m)]) for m in rows}

    with threadpool_limits(limits=args.threads):
        print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; Python "
              f"{platform.python_version()}; numpy {np.__version__}; threads per runtime: "
              f"{args.threads}; load average {os.getloadavg()[0]:.2f} at the start")
        for line in blas_lines():
            print(f"BLAS: {line}")
        fns = runtimes(est, args.threads)
        print(f"model: digits MLPClassifier, layers {list(est.net_.layer_sizes)}, float64 "
              f"(train accuracy {est.score(X, y):.3f})\n")
        reference = est.predict_proba(X[:100])
        for name, fn in fns.items():
            Xin = X[:100].astype(np.float32) if "f32" in name else X[:100]
            error = np.abs(fn(Xin) - reference).max()
            assert error < 1e-5, f"{name} disagrees with nablanet by {error:.2e}"
        wall: dict[str, dict[int, float]] = {}
        cpu: dict[str, dict[int, float]] = {}
        for name, fn in fns.items():
            wall[name], cpu[name] = {}, {}
            for m, batch in batches.items():
                Xin = batch.astype(np.float32) if "f32" in name else batch
                wall[name][m], cpu[name][m] = median_call_us(
                    lambda fn=fn, Xin=Xin: fn(Xin), args.samples
                )
        print_table(wall, rows, "wall time")
        print()
        print_table(cpu, rows, "CPU time of this process (steady on a shared machine)")
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end (near the core count or "
              "above: other programs shared the CPUs, and the wall times suffered)")


def print_table(table: dict[str, dict[int, float]], rows: list[int], what: str) -> None:
    width = max(len(n) for n in table) + 2
    print(f"median predict_proba {what} per call, µs (ratio to nablanet)")
    print(" " * width + "".join(f"{m:>17} rows" for m in rows))
    base = table["nablanet"]
    for name, times in table.items():
        cells = "".join(f"{times[m]:>14.1f} ({times[m] / base[m]:4.2f}x)" for m in rows)
        print(f"{name:<{width}}{cells}")
    print("\nper row, µs: " + "  ".join(
        f"{name}: " + "/".join(f"{table[name][m] / m:.2f}" for m in rows) for name in table
    ))


if __name__ == "__main__":
    main()
