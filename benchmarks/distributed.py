"""nablanet.distributed on one machine: overhead, L-BFGS, local SGD, memory bounds, projection.

    python benchmarks/distributed.py                    # about 10 minutes on 2 idle cores
    python benchmarks/distributed.py --quick            # 20k rows, fewer iterations (~3 min)
    python benchmarks/distributed.py --gb 3             # the 3 GB bigger-than-memory run
    python benchmarks/distributed.py --skip lbfgs,sgd   # only overhead, memory, projection

What it prints, in order:

1. the machine: CPU model, BLAS library and threads, load average;
2. the per-round overhead of a Dask scheduler round trip on LocalCluster(2) (an empty
   task, and one DaskObjective evaluation of a tiny network: θ out, sums back);
3. seconds per L-BFGS iteration on Fashion-MNIST (784-100-10, float32) in one process
   and on LocalCluster with 1 and 2 worker processes (one BLAS thread each);
4. local SGD (Adam, 2 workers) for K in {1, 10, 100}: seconds per epoch and test
   accuracy, against single-process minibatch Adam at the same number of epochs;
5. bigger than memory: a float32 .npy written to disk (``--gb``), trained by L-BFGS on
   workers whose memory limit is below the data's size, with each worker's peak RSS;
6. a projection for N machines from the measured compute rate and overhead.

On one 2-core machine the cluster proves correctness and memory bounds, not speed:
the workers share the same two cores the single process uses.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import cpu_model  # from this folder, before it leaves the path below

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# This file's own name would shadow the `distributed` package: take its folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SECTIONS = ("overhead", "lbfgs", "sgd", "memory", "projection")



def blas_info() -> str:
    """NumPy's BLAS: library, version, kernel and threads (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    parts = [
        f"{p.get('internal_api')} {p.get('version')} kernel {p.get('architecture')}, "
        f"{p.get('num_threads')} threads"
        for p in threadpool_info()
        if p.get("user_api") == "blas"
    ]
    return "; ".join(parts) or "no BLAS found by threadpoolctl"


def cluster(n_workers: int, memory_limit: Any = "auto") -> Any:
    """A LocalCluster of single-threaded worker processes on the loopback address."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        memory_limit=memory_limit,
    )


def load_data(rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fashion-MNIST as float32 in [0, 1]: (X_train[:rows], Y one-hot, X_test, y_test)."""
    from nablanet.data import load_fashion_mnist

    d = load_fashion_mnist(dtype=np.float32)
    X, y = d.X_train[:rows], d.y_train[:rows]
    Y = np.eye(10, dtype=np.float32)[y]
    return np.ascontiguousarray(X), Y, d.X_test, d.y_test


def make_net(seed: int = 0) -> Any:
    from nablanet import Network

    return Network(
        [784, 100, 10],
        activation="relu",
        output_activation="softmax",
        weight_decay=1e-4,
        seed=seed,
        dtype=np.float32,
    )


def test_accuracy(net: Any, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(net.forward(X).argmax(axis=1) == y))


# --- 2. round overhead ------------------------------------------------------------------


def bench_overhead(repeats: int) -> dict[str, float]:
    import dask
    import dask.array as da
    from distributed import Client

    from nablanet import Network
    from nablanet.distributed import DaskObjective

    with cluster(2) as c, Client(c):
        dask.delayed(sum)([1, 2]).compute()
        times = []
        for i in range(repeats):
            t0 = time.perf_counter()
            dask.delayed(sum, pure=False)([i, 2]).compute()
            times.append(time.perf_counter() - t0)
        empty = statistics.median(times)
        net = Network([4, 3, 2], seed=0)
        X = da.from_array(np.random.default_rng(0).normal(size=(100, 4)), chunks=50)
        Y = da.from_array(np.ones((100, 2)) * 0.5, chunks=50)
        obj = DaskObjective(net, X, Y)
        obj(net.theta)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            obj(net.theta)
            times.append(time.perf_counter() - t0)
        tiny = statistics.median(times)
    print(f"  empty task round trip        : {empty * 1e3:7.1f} ms (median of {repeats})")
    print(
        f"  DaskObjective, tiny net, 2 blocks: {tiny * 1e3:7.1f} ms per evaluation "
        "(θ out, a 3-leaf tree of sums back)"
    )
    return {"round": tiny, "empty": empty}


# --- 3. L-BFGS per iteration --------------------------------------------------------------


def lbfgs_seconds(net: Any, X: Any, Y: Any, iters: int) -> tuple[float, float]:
    """Median seconds per L-BFGS iteration (History.epoch_time) and the final loss."""
    from nablanet import train

    h = train(net, X, Y, optimizer="lbfgs", epochs=iters)
    times = h.best.epoch_time[1:] or h.best.epoch_time  # the first includes set-up
    return statistics.median(times), h.train_loss[-1]


def bench_lbfgs(X: np.ndarray, Y: np.ndarray, folder: Path, iters: int) -> dict[str, float]:
    from distributed import Client
    from threadpoolctl import threadpool_limits

    from nablanet.distributed import from_npy

    out: dict[str, float] = {}
    for threads in (1, 2):
        with threadpool_limits(threads):
            s, loss = lbfgs_seconds(make_net(), X, Y, iters)
        out[f"process{threads}"] = s
        print(
            f"  one process, {threads} BLAS thread(s): {s:7.3f} s/iteration  (loss after "
            f"{iters}: {loss:.5f})"
        )
    np.save(folder / "X.npy", X)
    np.save(folder / "Y.npy", Y)
    for n in (1, 2):
        with cluster(n) as c, Client(c):
            rows = math.ceil(len(X) / n)
            Xd, Yd = from_npy(folder / "X.npy", rows), from_npy(folder / "Y.npy", rows)
            s, loss = lbfgs_seconds(make_net(), Xd, Yd, iters)
        out[f"cluster{n}"] = s
        print(
            f"  LocalCluster, {n} worker(s) x 1 thread: {s:7.3f} s/iteration  (loss after "
            f"{iters}: {loss:.5f}; {n} block(s) read from .npy on the workers)"
        )
    return out


# --- 4. local SGD ------------------------------------------------------------------------


def bench_local_sgd(
    X: np.ndarray,
    Y: np.ndarray,
    Xt: np.ndarray,
    yt: np.ndarray,
    folder: Path,
    ks: list[int],
    epochs: int,
    batch: int,
    lr: float,
) -> None:
    from distributed import Client
    from threadpoolctl import threadpool_limits

    from nablanet import train
    from nablanet.distributed import from_npy, local_sgd

    net = make_net()
    with threadpool_limits(1):
        h = train(
            net, X, Y, optimizer="adam", learning_rate=lr, epochs=epochs, batch_size=batch, seed=0
        )
    base = test_accuracy(net, Xt, yt)
    print(
        f"  one process (1 thread), Adam, batch {batch}: "
        f"{statistics.median(h.best.epoch_time):7.3f} s/epoch, "
        f"test accuracy {base:.2%} after {epochs} epochs"
    )
    if not (folder / "X.npy").exists():
        np.save(folder / "X.npy", X)
        np.save(folder / "Y.npy", Y)
    with cluster(2) as c, Client(c):
        rows = math.ceil(len(X) / 2)
        Xd, Yd = from_npy(folder / "X.npy", rows), from_npy(folder / "Y.npy", rows)
        print(
            f"  {'K':>5}  {'rounds':>7}  {'s/epoch':>8}  {'test acc':>8}  {'gap vs 1 process':>17}"
        )
        for K in ks:
            net = make_net()
            r = local_sgd(
                net,
                Xd,
                Yd,
                optimizer="adam",
                sync_every=K,
                epochs=epochs,
                batch_size=batch,
                learning_rate=lr,
                seed=0,
            )
            acc = test_accuracy(net, Xt, yt)
            gap = (acc - base) * 100
            verdict = "within 1 point" if abs(gap) <= 1.0 else "MORE than 1 point"
            print(
                f"  {K:>5}  {r.rounds:>7}  {statistics.median(r.epoch_time):8.3f}  {acc:8.2%}  "
                f"{gap:+6.2f} points ({verdict})"
            )


# --- 5. bigger than memory ----------------------------------------------------------------


def write_big(path: Path, gb: float, d: int, seed: int = 0) -> tuple[int, Path]:
    """A float32 (m, d) .npy of about ``gb`` GB and a (m, 1) 0/1 target file, in chunks."""
    m = int(gb * 1e9 / (4 * d))
    X = np.lib.format.open_memmap(path / "big_X.npy", mode="w+", dtype=np.float32, shape=(m, d))
    Y = np.lib.format.open_memmap(path / "big_Y.npy", mode="w+", dtype=np.float32, shape=(m, 1))
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d).astype(np.float32) / np.sqrt(d)
    step = 1 << 16
    for start in range(0, m, step):
        rows = rng.normal(size=(min(step, m - start), d)).astype(np.float32)
        X[start : start + len(rows)] = rows
        Y[start : start + len(rows), 0] = rows @ w > 0
    X.flush()
    Y.flush()
    del X, Y
    return m, path / "big_X.npy"


def _peak_rss() -> int:
    """This process's peak resident set size in bytes: VmHWM of /proc/self/status.

    Not ``getrusage``: on Linux its ru_maxrss survives exec, so a worker process spawned
    from this (large) benchmark process would report the benchmark's peak, not its own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def bench_memory(folder: Path, gb: float, d: int, iters: int, limit: int | None) -> None:
    from distributed import Client

    from nablanet import Network
    from nablanet.distributed import DaskObjective, from_npy
    from nablanet.optim import LBFGS

    t0 = time.perf_counter()
    m, _ = write_big(folder, gb, d)
    size = m * d * 4
    limit = limit or min(1 << 30, int(size * 0.75))
    print(
        f"  data: {m} x {d} float32 = {size / 2**30:.2f} GiB on disk (written in "
        f"{time.perf_counter() - t0:.1f} s); 2 workers limited to {limit / 2**30:.2f} GiB "
        f"each (below the data's size)"
    )
    rows = max(1, (16 << 20) // (4 * d))  # 16 MiB blocks
    with cluster(2, memory_limit=limit) as c, Client(c) as client:
        X = from_npy(folder / "big_X.npy", rows)
        Y = from_npy(folder / "big_Y.npy", rows)
        net = Network(
            [d, 32, 1], activation="relu", output_activation="sigmoid", seed=0, dtype=np.float32
        )
        obj = DaskObjective(net, X, Y, persist=False)  # re-read per evaluation: no copy kept
        evals = 0

        def counted(theta: Any) -> Any:
            nonlocal evals
            evals += 1
            return obj(theta)

        t0 = time.perf_counter()
        result = LBFGS(max_iter=iters).minimize(counted, net.theta)
        seconds = time.perf_counter() - t0
        peaks = client.run(_peak_rss)
        limits = {w: i["memory_limit"] for w, i in client.scheduler_info()["workers"].items()}
    print(
        f"  L-BFGS {result.n_iter} iterations, {evals} evaluations over {X.numblocks[0]} "
        f"blocks of {rows} rows: {seconds:.1f} s ({seconds / evals:.2f} s/evaluation), "
        f"J {result.J:.5f}"
    )
    for worker, peak in sorted(peaks.items()):
        ok = "under" if peak < limits[worker] else "OVER"
        print(
            f"  worker {worker}: peak RSS {peak / 2**20:7.1f} MiB, limit "
            f"{limits[worker] / 2**20:7.1f} MiB -> {ok} its limit"
        )


# --- 6. projection ---------------------------------------------------------------------------


def projection(
    n_params: int, seconds_per_eval: float, rows: int, overhead: float, gbps: float
) -> None:
    """Time per evaluation on N machines: m / (N r) + o + ⌈log₂N⌉ · 2|θ|·4 B / bandwidth."""
    rate = rows / seconds_per_eval  # rows per second per process (one core)
    bytes_round = 2 * n_params * 4
    link = gbps * 1e9 / 8
    print(
        f"  measured: {rate:,.0f} rows/s per process (1 thread, 784-100-10 forward+backward); "
        f"round overhead o = {overhead * 1e3:.1f} ms; |θ| = {n_params} -> {bytes_round / 1e6:.2f} "
        f"MB per worker per round (θ out, ∇ back, float32); link {gbps:g} Gbit/s"
    )
    print(
        f"  {'N':>4}  {'depth':>5}  {'comm/round':>10}  {'60k rows':>9}  {'1M rows':>9}  "
        f"{'10M rows':>9}  {'crossover rows':>14}"
    )
    for N in (1, 2, 4, 8, 16, 64):
        depth = math.ceil(math.log2(N)) if N > 1 else 0
        comm = depth * bytes_round / link + (bytes_round / link if N > 1 else 0.0)
        extra = (overhead + comm) if N > 1 else 0.0

        def t(m: int, N: int = N, extra: float = extra) -> float:
            return m / (N * rate) + extra

        cross = "-" if N == 1 else f"{rate * extra / (1 - 1 / N):,.0f}"
        print(
            f"  {N:>4}  {depth:>5}  {comm * 1e3:8.2f}ms  {t(60_000):8.3f}s  {t(10**6):8.3f}s  "
            f"{t(10**7):8.3f}s  {cross:>14}"
        )
    print(
        "  crossover: the rows above which N machines beat one process, m* = r·(o + comm)/(1 − 1/N)"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="20k rows, 3 L-BFGS iterations, K in 10,100"
    )
    p.add_argument("--rows", type=int, default=60000, help="Fashion-MNIST training rows")
    p.add_argument("--lbfgs-iters", type=int, default=6)
    p.add_argument("--sgd-epochs", type=int, default=3)
    p.add_argument("--ks", default="1,10,100", help="local SGD sync_every values")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--gb", type=float, default=0.75, help="size of the bigger-than-memory file")
    p.add_argument("--features", type=int, default=256, help="columns of that file")
    p.add_argument("--memory-iters", type=int, default=3)
    p.add_argument(
        "--worker-memory",
        type=int,
        default=None,
        help="bytes per worker for the memory run (default min(1 GiB, 0.75 x data))",
    )
    p.add_argument("--gbps", type=float, default=10.0, help="network link for the projection")
    p.add_argument(
        "--skip", default="", help=f"comma-separated sections among {', '.join(SECTIONS)}"
    )
    p.add_argument("--dir", default=None, help="scratch folder (default: a temporary one)")
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.lbfgs_iters, args.ks, args.gb = 20000, 3, "10,100", min(args.gb, 0.5)
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(SECTIONS):
        p.error(f"--skip takes names among {', '.join(SECTIONS)}")
    ks = [int(k) for k in args.ks.split(",")]

    from importlib.metadata import version

    print("nablanet.distributed on one machine")
    print(f"  machine  : {cpu_model()}, {os.cpu_count()} CPUs")
    print(
        f"  load avg : {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1/5/15 min) at start; "
        "near or above the CPU count means other work shares the cores"
    )
    print(f"  BLAS     : {blas_info()}")
    print(
        f"  python {platform.python_version()}, numpy {np.__version__}, dask {version('dask')}, "
        f"distributed {version('distributed')}"
    )
    overhead = 0.03
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        if "overhead" not in skip:
            print("\n== per-round overhead, LocalCluster(2 workers x 1 thread) on 127.0.0.1")
            overhead = bench_overhead(20)["round"]
        needs_data = {"lbfgs", "sgd", "projection"} - skip
        if needs_data:
            X, Y, Xt, yt = load_data(args.rows)
        seconds_per_eval = None
        if "lbfgs" not in skip:
            print(
                f"\n== L-BFGS on Fashion-MNIST, 784-100-10 relu/softmax, float32, {len(X)} rows, "
                f"{args.lbfgs_iters} iterations (median s/iteration, first excluded)"
            )
            res = bench_lbfgs(X, Y, folder, args.lbfgs_iters)
            print(
                f"  cluster / process(1 thread): "
                f"1 worker {res['cluster1'] / res['process1']:.2f}x, "
                f"2 workers {res['cluster2'] / res['process1']:.2f}x the time"
            )
        if "sgd" not in skip:
            print(
                f"\n== local SGD (Adam, lr {args.lr:g}, batch {args.batch}) on 2 workers, "
                f"{args.sgd_epochs} epochs, {len(X)} rows; test accuracy on 10000 rows"
            )
            bench_local_sgd(X, Y, Xt, yt, folder, ks, args.sgd_epochs, args.batch, args.lr)
        if "memory" not in skip:
            print(
                "\n== bigger than memory: L-BFGS on a float32 .npy read by memory-limited workers"
            )
            bench_memory(folder, args.gb, args.features, args.memory_iters, args.worker_memory)
        if "projection" not in skip:
            from threadpoolctl import threadpool_limits

            net = make_net()
            with threadpool_limits(1):
                net.loss_and_grad(X, Y)
                t0 = time.perf_counter()
                for _ in range(3):
                    net.loss_and_grad(X, Y)
                seconds_per_eval = (time.perf_counter() - t0) / 3
            print(
                f"\n== projection for N machines (one worker each; {seconds_per_eval:.3f} s per "
                f"evaluation of {len(X)} rows in one process)"
            )
            projection(net.n_params, seconds_per_eval, len(X), overhead, args.gbps)
    print("\nOn one 2-core machine the cluster proves correctness and memory bounds, not speed:")
    print("its workers share the two cores that the single process uses by itself.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
