"""nablanet against scikit-learn, PyTorch and JAX, in one process, against the GEMM lower bound.

    python benchmarks/run.py                 # every case (about 5 minutes on 2 idle cores)
    python benchmarks/run.py --quick         # 784-100-10 at batch 200 on 20k rows, and more
    python benchmarks/run.py --frameworks nablanet,torch --cases b200,b32 --json out.json
    python benchmarks/run.py --busy 1 --cases b200 --epochs 3   # quiet and with 1 core busy
    python benchmarks/run.py --busy 1 --cases b200,lbfgs --busy-epochs 3   # loaded runs shorter

See benchmarks/README.md for what each number means and how the lower bound is computed.
Progress goes to stderr, the tables and the bars to stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _busy import Spinners, passes
from _machine import cpu_model as _cpu_model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CASE_NAMES = ("b200", "b32", "full", "deep", "lbfgs", "grad", "gradcheck", "memory")
QUICK_CASES = ("b200", "grad", "gradcheck", "memory")
XLA_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={n}"


# --- the process's threads, before NumPy, torch or JAX are imported -------------------------


def pin_threads(threads: int) -> dict[str, Any]:
    """Restrict this process to ``threads`` CPUs and tell XLA the same; return what was done.

    threadpoolctl (NumPy's BLAS) and ``torch.set_num_threads`` take a thread count, but
    XLA sizes its CPU pool from the CPUs the process may run on, so on a machine with more
    cores the process is pinned to its first ``threads`` CPUs (a no-op on a 2-core machine).
    Must run before JAX is imported; XLA_FLAGS is read once, at JAX's first use.
    """
    info: dict[str, Any] = {"threads": threads}
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = list(range(os.cpu_count() or 1))
    info["cpus_available"] = len(cpus)
    if len(cpus) > threads:
        os.sched_setaffinity(0, cpus[:threads])
        info["pinned_to"] = cpus[:threads]
    flags = XLA_THREAD_FLAGS.format(n=threads)
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    info["XLA_FLAGS"] = os.environ["XLA_FLAGS"]
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    thread_info = pin_threads(args.threads)
    if args.memory_child:
        return memory_child(args)
    return Bench(args, thread_info).run()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a small run (about a minute)")
    p.add_argument(
        "--frameworks",
        default="nablanet,sklearn,torch,jax",
        help="comma-separated subset of nablanet,sklearn,torch,jax (default: all), and "
        "nablanet-fixed: nablanet with the BLAS threads it finds, no choice (issue 25)",
    )
    p.add_argument(
        "--cases",
        default=None,
        help=f"comma-separated subset of {','.join(CASE_NAMES)} "
        f"(default: all; --quick: {','.join(QUICK_CASES)})",
    )
    p.add_argument("--json", type=Path, default=None, help="also write every number to this file")
    p.add_argument("--threads", type=int, default=2, help="threads for every framework (2)")
    p.add_argument("--repeats", type=int, default=None, help="runs per framework (3; quick 2)")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs per run, the first a warm-up (5, full batch 10; quick 3)",
    )
    p.add_argument("--samples", type=int, default=None, help="training rows (60000; quick 20000)")
    p.add_argument("--lbfgs-iter", type=int, default=None, help="sklearn's L-BFGS iterations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--busy",
        type=int,
        default=0,
        help="also time each training case and lbfgs with N cores kept busy by spinning "
        "processes (0)",
    )
    p.add_argument(
        "--busy-epochs",
        type=int,
        default=None,
        help="epochs per loaded training run, the first a warm-up (default: as --epochs); "
        "fewer bound the loaded passes, where peers run many times slower",
    )
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    valid = ("nablanet", "sklearn", "torch", "jax", "nablanet-fixed")
    bad = [f for f in args.frameworks if f not in valid]
    if bad:
        p.error(f"unknown framework(s) {bad}; valid: {', '.join(valid)}")
    cases = args.cases.split(",") if args.cases else list(QUICK_CASES if args.quick else CASE_NAMES)
    args.cases = [c.strip() for c in cases if c.strip()]
    bad = [c for c in args.cases if c not in CASE_NAMES]
    if bad:
        p.error(f"unknown case(s) {bad}; valid: {', '.join(CASE_NAMES)}")
    if args.threads < 1:
        p.error("--threads must be at least 1")
    if args.busy < 0:
        p.error("--busy must be 0 or more")
    if args.busy_epochs is not None and args.busy_epochs < 2:
        p.error("--busy-epochs must be at least 2 (the first epoch is not timed)")
    args.repeats = args.repeats or (2 if args.quick else 3)
    args.samples = args.samples or (20000 if args.quick else 60000)
    args.lbfgs_iter = args.lbfgs_iter or (30 if args.quick else 100)
    return args


# --- small helpers -----------------------------------------------------------------------


def say(msg: str) -> None:
    """Progress, on stderr."""
    print(msg, file=sys.stderr, flush=True)


def quantiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return {k: math.nan for k in ("median", "min", "max", "q1", "q3")}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {
        "median": float(med),
        "min": float(v.min()),
        "max": float(v.max()),
        "q1": float(q1),
        "q3": float(q3),
    }


def fmt(x: float | None, spec: str = ".3f", none: str = "-") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return none
    return format(x, spec)


def table(header: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append(indent + "  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(
            indent
            + "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


def rss_mib(field: str = "VmHWM") -> float:
    """Resident memory of this process, MiB: the peak so far (VmHWM) or now (VmRSS).

    Linux's ``/proc/self/status`` counts this program only. ``ru_maxrss`` of
    ``resource.getrusage`` is the fallback elsewhere, but on Linux a child inherits its
    parent's high-water mark through fork + exec, so there it would report the parent's.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


# --- data ----------------------------------------------------------------------------------


def load_data(quick: bool) -> Any:
    """Fashion-MNIST as float32 (one copy), or for --quick only a labelled synthetic stand-in."""
    import numpy as np
    from peers import Data

    try:
        from nablanet.data import load_fashion_mnist

        ds = load_fashion_mnist(dtype=np.float32)
        return Data("Fashion-MNIST", ds.X_train, ds.y_train, ds.X_test, ds.y_test)
    except FileNotFoundError as exc:
        how = (
            "Fashion-MNIST is not installed. Get it with `make fashion-mnist` "
            "(Debian's dataset-fashion-mnist, into /usr/share/datasets/fashion-mnist), or "
            "`python -c 'from nablanet.data import load_fashion_mnist; "
            "load_fashion_mnist(download=True)'`."
        )
        if not quick:
            say(f"error: {how}\n({exc})")
            raise SystemExit(2) from None
        say(f"warning: {how} --quick goes on with SYNTHETIC data of the same shape.")
        rng = np.random.default_rng(0)
        prototypes = rng.random((10, 784), dtype=np.float32)

        def make(m: int) -> tuple[Any, Any]:
            y = rng.integers(0, 10, m)
            X = prototypes[y] + rng.normal(0, 0.6, (m, 784)).astype(np.float32)
            return np.clip(X, 0, 1, out=X), y.astype(np.int64)

        X_train, y_train = make(20000)
        X_test, y_test = make(5000)
        return Data("SYNTHETIC (Fashion-MNIST not found)", X_train, y_train, X_test, y_test, True)


# --- the benchmark -------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    title: str
    sizes: tuple[int, ...]
    batch_size: int | None
    epochs: int


@dataclass
class CaseResult:
    case: Case
    m: int
    repeats: int
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The same runs with --busy cores kept busy (empty without --busy).
    busy: dict[str, dict[str, Any]] = field(default_factory=dict)

    def median(self, fw: str, busy: bool = False) -> float:
        r = (self.busy if busy else self.results).get(fw)
        return r["seconds"]["median"] if r and r["timed"] else math.nan

    def accuracy(self, fw: str) -> float:
        r = self.results.get(fw)
        return r["accuracy"]["median"] if r and r["accuracies"] else math.nan


class Bench:
    def __init__(self, args: argparse.Namespace, thread_info: dict[str, Any]) -> None:
        self.args = args
        self.out: dict[str, Any] = {"threads": thread_info, "args": _jsonable(vars(args))}
        self.notes: list[str] = []
        self.cases: dict[str, CaseResult] = {}
        self.frameworks: list[str] = []
        self.versions: dict[str, str] = {}

    # -- setup --

    def run(self) -> int:
        args = self.args
        t_start = time.perf_counter()
        self.out["load_average_start"] = _loadavg()
        import numpy as np
        from threadpoolctl import threadpool_info, threadpool_limits

        if str(ROOT) not in sys.path:  # a checkout without `pip install -e .`
            sys.path.append(str(ROOT))
        self.limits = threadpool_limits(limits=args.threads)
        self.probe_frameworks()
        self.out["environment"] = self.environment(threadpool_info())
        self.print_header()

        data = load_data(args.quick)
        self.data = data.head(args.samples)
        self.out["data"] = {
            "name": data.name,
            "m_train": int(self.data.X_train.shape[0]),
            "m_test": int(data.X_test.shape[0]),
            "X_train_float32_MiB": self.data.X_train.nbytes / 2**20,
        }
        say(
            f"data: {data.name}, {self.data.X_train.shape[0]} training rows, "
            f"{data.X_test.shape[0]} test rows"
        )

        import bound

        self.bound = bound
        self.gemm32 = bound.GemmTimer(np.float32)
        self.rates: dict[str, list[float]] = {"float32": [], "float64": []}
        self.measure_rates("start")

        epochs = args.epochs
        train_cases = {
            "b200": Case("b200", "784-100-10, Adam, batch 200", (784, 100, 10), 200, epochs or 5),
            "b32": Case("b32", "784-100-10, Adam, batch 32", (784, 100, 10), 32, epochs or 5),
            "full": Case(
                "full", "784-100-10, Adam, full batch", (784, 100, 10), None, epochs or 10
            ),
            "deep": Case(
                "deep",
                "784-256-128-100-10, Adam, batch 200",
                (784, 256, 128, 100, 10),
                200,
                epochs or 5,
            ),
        }
        if args.quick and not args.epochs:
            for c in train_cases.values():
                c.epochs = 3
        for name in args.cases:
            try:
                if name in train_cases:
                    self.cases[name] = self.train_case(train_cases[name])
                elif name == "lbfgs":
                    self.out["lbfgs"] = self.lbfgs_case()
                elif name == "grad":
                    self.out["loss_and_grad"] = self.grad_case()
                elif name == "gradcheck":
                    self.out["gradcheck"] = self.gradcheck_case()
                elif name == "memory":
                    self.out["memory"] = self.memory_case()
            except Exception as exc:  # one broken case must not lose the others
                self.note(f"case {name} failed: {type(exc).__name__}: {exc}")
                traceback.print_exc(file=sys.stderr)
        self.measure_rates("end")
        self.out["load_average_end"] = _loadavg()
        self.out["seconds_total"] = time.perf_counter() - t_start

        self.report()
        if args.json:
            from nablanet.io.files import write_file  # refuses devices, FIFOs, folders

            args.json.parent.mkdir(parents=True, exist_ok=True)
            write_file(args.json, json.dumps(_jsonable(self.out), indent=1).encode())
            print(f"\nresults written to {args.json}")
        return 0

    def note(self, msg: str) -> None:
        self.notes.append(msg)
        say(f"note: {msg}")

    def probe_frameworks(self) -> None:
        from peers import probe

        for fw in self.args.frameworks:
            ok, info = probe(fw, self.args.threads)
            if ok:
                self.frameworks.append(fw)
                self.versions[fw] = info
            else:
                self.note(f"{fw} skipped: {info} (pip install -r benchmarks/requirements.txt)")
        if "nablanet" not in self.frameworks:
            self.note("nablanet not selected or not importable: no speed-ups or bars")

    def environment(self, pools: list[dict[str, Any]]) -> dict[str, Any]:
        import numpy as np

        env: dict[str, Any] = {
            "python": platform.python_version(),
            "machine": _cpu_model(),
            "numpy": np.__version__,
            "versions": self.versions,
            "threadpools": pools,
        }
        blas = [p for p in pools if p.get("user_api") == "blas"]
        numpy_blas = next(
            (p for p in blas if "numpy" in p.get("filepath", "")), blas[0] if blas else None
        )
        env["numpy_blas"] = numpy_blas
        for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            if os.environ.get(var):
                env[var] = os.environ[var]
        if "torch" in self.frameworks:
            import torch

            env["torch_threads"] = {
                "intra_op": torch.get_num_threads(),
                "inter_op": torch.get_num_interop_threads(),
            }
        return env

    def print_header(self) -> None:
        env, th = self.out["environment"], self.out["threads"]
        print("nablanet benchmark against its peers, in one process")
        print(
            f"  machine   : {env['machine']}, {th['cpus_available']} CPUs available"
            + (f", pinned to CPUs {th['pinned_to']}" if "pinned_to" in th else "")
        )
        print(
            f"  load avg  : {' '.join(f'{x:.2f}' for x in self.out['load_average_start'])} "
            "(1/5/15 min) at start: anything near or above the core count means other work "
            "shares the CPUs and every timing is slower and noisier"
        )
        print(
            f"  python {env['python']}, numpy {env['numpy']}; "
            + "; ".join(self.versions[f] for f in self.frameworks if "nablanet" not in f)
            + (
                f"; nablanet {self.versions['nablanet'].split()[-1]}"
                if "nablanet" in self.versions
                else ""
            )
        )
        blas = env.get("numpy_blas")
        if blas:
            print(
                f"  threads   : numpy BLAS {blas.get('internal_api')} {blas.get('version')} "
                f"kernel {blas.get('architecture')}, {blas.get('num_threads')} threads "
                "(threadpoolctl; also scikit-learn's)"
            )
        if "torch_threads" in env:
            t = env["torch_threads"]
            print(
                f"              torch intra-op {t['intra_op']}, inter-op {t['inter_op']} "
                "(torch.set_num_threads / set_num_interop_threads)"
            )
        if "jax" in self.frameworks:
            print(
                f'              JAX/XLA: XLA_FLAGS="{th["XLA_FLAGS"]}"; XLA sizes its pool '
                "from the CPUs the process may use"
            )
        if env.get("OPENBLAS_CORETYPE"):
            print(
                f"  WARNING   : OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']} is set: it forces "
                "an older OpenBLAS kernel and slows numpy (and so nablanet and scikit-learn). "
                "For a fair run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE make bench"
            )
        if self.args.busy:
            print(
                f"  busy      : each training case and lbfgs also run with {self.args.busy} "
                "core(s) kept busy by plain spinning processes (started before and killed "
                "after each loaded pass); quiet and loaded passes alternate"
                + (
                    f"; loaded training runs {self.args.busy_epochs} epochs"
                    if self.args.busy_epochs
                    else ""
                )
            )
        for n in self.notes:
            print(f"  note      : {n}")
        sys.stdout.flush()

    # -- GEMM rates --

    def measure_rates(self, when: str) -> None:
        import numpy as np

        for name, dt in (("float32", np.float32), ("float64", np.float64)):
            rate = self.bound.square_rate(dt)
            self.rates[name].append(rate)
            say(f"GEMM rate ({when}) {name} {self.bound.SQUARE}^2: {rate:.1f} GFLOP/s")
        # re-measure the shapes met so far: the best time wins
        for g in list(self.gemm32.seconds):
            self.gemm32.measure(g)

    def shape_rate(self) -> float:
        """The best float32 rate any network-shaped product reached (GFLOP/s), 0 if none."""
        rates = [g.flops / t for g, t in self.gemm32.seconds.items() if t > 0]
        return max(rates, default=0.0) / 1e9

    def rate(self, dtype: str = "float32") -> float:
        """The machine's matrix-multiply rate (FLOP/s): the best measured in this run.

        The large square product at the start and the end, and for float32 also every
        product at the networks' own shapes, so that a square product slowed by a burst of
        background load cannot put the bound above what a product really achieved.
        """
        best = max(self.rates[dtype])
        if dtype == "float32":
            best = max(best, self.shape_rate())
        return best * 1e9

    # -- training cases --

    def train_case(self, case: Case) -> CaseResult:
        from peers import LABELS

        args = self.args
        data = self.data
        m = data.X_train.shape[0]
        res = CaseResult(case, m, args.repeats)
        fws = list(self.frameworks)
        # measure the GEMMs of this case now (cached; re-measured at the end)
        self.gemm32.epoch_seconds(case.sizes, m, case.batch_size)
        kinds = [res.results, res.busy] if args.busy else [res.results]
        for results in kinds:
            for fw in fws:
                results[fw] = {
                    "label": LABELS[fw],
                    "runs": [],
                    "timed": [],
                    "accuracies": [],
                    "errors": [],
                }
        for r, busy in passes(args.repeats, args.busy):
            order = fws[r % len(fws) :] + fws[: r % len(fws)] if fws else []
            with Spinners(busy):
                self.train_pass(case, r, order, res.busy if busy else res.results, busy)
        for results in kinds:
            for entry in results.values():
                entry["seconds"] = quantiles(entry["timed"])
                entry["accuracy"] = quantiles(entry["accuracies"])
                for err in sorted(set(entry["errors"])):
                    self.note(
                        f"{case.name}: {entry['label']} failed {entry['errors'].count(err)}x: "
                        f"{err}"
                    )
        return res

    def train_pass(
        self, case: Case, r: int, order: list[str], results: dict[str, Any], busy: int
    ) -> None:
        """Run repeat r of a case once per framework, in ``order``, into ``results``."""
        from peers import TRAINERS, Spec

        args, data = self.args, self.data
        where = f"{case.name} {r + 1}/{args.repeats}" + (f" busy {busy}" if busy else "")
        for fw in order:
            epochs = args.busy_epochs if busy and args.busy_epochs else case.epochs
            spec = Spec(case.sizes, case.batch_size, epochs, args.seed + r)
            entry = results[fw]
            gc.collect()
            try:
                if fw == "torch":
                    out = TRAINERS[fw](data, spec, args.threads)
                else:
                    out = TRAINERS[fw](data, spec)
            except Exception as exc:
                entry["errors"].append(f"{type(exc).__name__}: {exc}")
                say(f"[{where}] {fw} FAILED: {exc}")
                traceback.print_exc(file=sys.stderr)
                continue
            timed = out.epoch_times[1:] if len(out.epoch_times) > 1 else out.epoch_times
            entry["runs"].append(
                {
                    "epoch_times": out.epoch_times,
                    "test_accuracy": out.test_accuracy,
                    "train_loss": out.train_loss,
                }
            )
            entry["timed"].extend(timed)
            entry["accuracies"].append(out.test_accuracy)
            entry["timing"] = out.timing
            say(
                f"[{where}] {fw:8s} "
                f"{quantiles(timed)['median']:.3f} s/epoch, "
                f"warm-up {out.epoch_times[0]:.3f} s, "
                f"test acc {100 * out.test_accuracy:.2f}%"
            )

    def lower_bound(self, case: Case, m: int) -> dict[str, float]:
        b = self.bound
        flops = b.epoch_flops(case.sizes, m, case.batch_size)
        flops_issue = b.epoch_flops(case.sizes, m, case.batch_size, input_delta=True)
        rate = self.rate()
        return {
            "gflop": flops / 1e9,
            "gflop_issue": flops_issue / 1e9,
            "rate_gflops": rate / 1e9,
            "seconds": flops / rate,
            "seconds_issue": flops_issue / rate,
            "seconds_gemm_shapes": self.gemm32.epoch_seconds(case.sizes, m, case.batch_size),
        }

    # -- L-BFGS --

    def lbfgs_case(self) -> dict[str, Any]:
        import numpy as np

        args = self.args
        out: dict[str, Any] = {"sizes": [784, 100, 10], "m": 0, "runs": []}
        if not {"nablanet", "sklearn"} <= set(self.frameworks):
            self.note("L-BFGS case needs nablanet and sklearn: skipped")
            return out
        m = min(10000, self.data.X_train.shape[0])
        X, y, Y = self.data.X_train[:m], self.data.y_train[:m], self.data.Y_train[:m]
        out["m"] = m
        out["sklearn_max_iter"] = args.lbfgs_iter
        loaded: list[dict[str, Any]] = []
        for r, busy in passes(args.repeats, args.busy):
            with Spinners(busy):
                run = self.lbfgs_run(X, y, Y, Y.astype(np.float64), r, busy)
            (loaded if busy else out["runs"]).append(run)
        out.update(lbfgs_summary(out["runs"]))
        if args.busy:
            out["busy_cores"] = args.busy
            out["busy"] = {"runs": loaded, **lbfgs_summary(loaded)}
        return out

    def lbfgs_run(
        self, X: Any, y: Any, Y: Any, Y64: Any, r: int, busy: int
    ) -> dict[str, dict[str, Any]]:
        """Repeat r: scikit-learn's lbfgs sets the target, nablanet (float32, float64) chases it."""
        import numpy as np
        from peers import lbfgs_nablanet, lbfgs_sklearn

        n, seed = self.args.lbfgs_iter, self.args.seed + r
        gc.collect()
        sk = lbfgs_sklearn(X, y, (100,), n, seed)
        gc.collect()
        nb = lbfgs_nablanet(X, Y, (784, 100, 10), sk["loss"], sk["n_iter"], 3 * n, seed)
        gc.collect()
        nb64 = lbfgs_nablanet(
            X, Y64, (784, 100, 10), sk["loss"], sk["n_iter"], 3 * n, seed, np.float64
        )
        where = f"lbfgs {r + 1}/{self.args.repeats}" + (f" busy {busy}" if busy else "")
        say(
            f"[{where}] sklearn {sk['n_iter']} iter {sk['seconds']:.2f} s "
            f"-> loss {sk['loss']:.5f}; nablanet reached it in "
            f"{fmt(nb['seconds_to_target'], '.2f')} s ({nb['iter_to_target']} iter), loss "
            f"{nb['loss_at_equal_iter']:.5f} at iter {sk['n_iter']}"
        )
        return {"sklearn": sk, "nablanet": nb, "nablanet_float64": nb64}

    # -- loss_and_grad throughput --

    def grad_case(self) -> dict[str, Any]:
        import numpy as np
        from peers import jax_grad_call, nablanet_network, torch_grad_call

        sizes = (784, 100, 10)
        m = self.data.X_train.shape[0]
        rows: list[dict[str, Any]] = []

        def bench(call: Any, b: int) -> float:
            call()
            times: list[float] = []
            t_end = time.perf_counter() + (1.0 if b < m else 3.0)
            while len(times) < 3 or (time.perf_counter() < t_end and len(times) < 500):
                t0 = time.perf_counter()
                call()
                times.append(time.perf_counter() - t0)
            return float(np.median(times))

        for b in (200, m):
            X = self.data.X_train[:b]
            y = self.data.y_train[:b]
            if "nablanet" in self.frameworks:
                for dt in ("float32", "float64"):
                    net = nablanet_network(sizes, 0, dtype=np.dtype(dt))
                    Xd = X if dt == "float32" else X.astype(dt)
                    Yd = self.data.Y_train[:b].astype(dt, copy=False)
                    s = bench(lambda net=net, Xd=Xd, Yd=Yd: net.loss_and_grad(Xd, Yd), b)
                    rows.append({"framework": "nablanet", "dtype": dt, "batch": b, "seconds": s})
                    del Xd
            for fw, make in (("torch", torch_grad_call), ("jax", jax_grad_call)):
                if fw not in self.frameworks:
                    continue
                try:
                    s = bench(make(sizes, X, y, self.args.threads), b)
                except Exception as exc:
                    self.note(f"loss_and_grad: {fw} failed: {type(exc).__name__}: {exc}")
                    continue
                rows.append({"framework": fw, "dtype": "float32", "batch": b, "seconds": s})
            say(f"[grad] batch {b} done")
        for row in rows:
            row["samples_per_s"] = row["batch"] / row["seconds"]
            flops = self.bound.epoch_flops(sizes, row["batch"], None)
            row["x_lower_bound"] = row["seconds"] / (flops / self.rate(row["dtype"]))
        return {"sizes": list(sizes), "rows": rows}

    # -- gradient check --

    def gradcheck_case(self) -> dict[str, Any]:
        import numpy as np

        if "nablanet" not in self.frameworks:
            return {}
        import nablanet

        sizes = (100, 90, 10)  # 100·90 + 90 + 90·10 + 10 = 10 000 parameters
        net = nablanet.Network(
            sizes, activation="tanh", output_activation="softmax", dtype=np.float64, seed=0
        )
        rng = np.random.default_rng(0)
        X = rng.standard_normal((20, sizes[0]))
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 20)]
        t0 = time.perf_counter()
        report = net.check_gradient(X, Y)
        seconds = time.perf_counter() - t0
        n_eval = 2 * report.n_checked + 1
        say(f"[gradcheck] {seconds:.2f} s, relative difference {report.relative_difference:.2e}")
        return {
            "sizes": list(sizes),
            "n_params": int(net.n_params),
            "batch": 20,
            "seconds": seconds,
            "evaluations": n_eval,
            "relative_difference": float(report.relative_difference),
            "passed": bool(report.passed),
            "n_checked": int(report.n_checked),
        }

    # -- memory, in a fresh process --

    def memory_case(self) -> dict[str, Any]:
        if "nablanet" not in self.frameworks:
            return {}
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--memory-child",
            "--threads",
            str(self.args.threads),
            "--seed",
            str(self.args.seed),
        ]
        say("[memory] training nablanet on the 60k set in a fresh process ...")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"memory child exited {proc.returncode}: {proc.stderr[-2000:]}")
        return json.loads(lines[-1])

    # -- report --

    def report(self) -> None:
        data = self.out["data"]
        self.out["rates_gflops"] = self.rates
        print()
        print(
            f"data: {data['name']}, {data['m_train']} training rows, {data['m_test']} test "
            f"rows; float32; {self.args.threads} threads everywhere"
        )
        print(
            f"GEMM rate, float32: {self.rate() / 1e9:.1f} GFLOP/s, the best measured in this run "
            f"[{self.bound.SQUARE}x{self.bound.SQUARE} at start {self.rates['float32'][0]:.1f}, "
            f"at end {self.rates['float32'][-1]:.1f}; best network-shaped product "
            f"{self.shape_rate():.1f}]; float64 ({self.bound.SQUARE}^2): "
            f"{self.rate('float64') / 1e9:.1f}"
        )
        self.out["cases"] = {}
        timings = {
            e["label"]: e.get("timing")
            for r in self.cases.values()
            for e in r.results.values()
            if e.get("timing")
        }
        if timings:
            print("epochs timed by: " + "; ".join(f"{k}: {v}" for k, v in timings.items()))
        for name, res in self.cases.items():
            self.out["cases"][name] = self.print_case(res)
        if "lbfgs" in self.out:
            self.print_lbfgs(self.out["lbfgs"])
        if "loss_and_grad" in self.out:
            self.print_grad(self.out["loss_and_grad"])
        if self.out.get("gradcheck"):
            g = self.out["gradcheck"]
            print(
                f"\n== gradient check: {'-'.join(map(str, g['sizes']))} tanh/softmax, "
                f"{g['n_params']} parameters, {g['batch']} samples, float64"
            )
            print(
                f"  {g['seconds']:.2f} s for {g['evaluations']} cost evaluations "
                f"({1e6 * g['seconds'] / g['evaluations']:.0f} us each); relative difference "
                f"{g['relative_difference']:.2e} ({'passed' if g['passed'] else 'FAILED'}, "
                f"{g['n_checked']} of {g['n_params']} coordinates)"
            )
        if self.out.get("memory"):
            self.print_memory(self.out["memory"])
        self.out["bars"] = self.bars()
        print(
            f"\n(total {self.out['seconds_total']:.0f} s; load average at end "
            f"{' '.join(f'{x:.2f}' for x in self.out['load_average_end'])})"
        )
        if self.notes:
            print("notes:")
            for n in self.notes:
                print(f"  - {n}")

    def print_case(self, res: CaseResult) -> dict[str, Any]:
        case = res.case
        lb = self.lower_bound(case, res.m)
        timed_per_run = case.epochs - 1 if case.epochs > 1 else 1
        print(
            f"\n== {case.title}: {res.m} rows, {res.repeats} runs x {case.epochs} epochs "
            f"(first epoch of each run untimed), {timed_per_run * res.repeats} timed epochs "
            "per framework"
        )
        print(
            f"  lower bound {lb['seconds']:.3f} s/epoch = {lb['gflop']:.2f} GFLOP (minimal "
            f"count) / {lb['rate_gflops']:.0f} GFLOP/s;  issue's count {lb['gflop_issue']:.2f} "
            f"GFLOP -> {lb['seconds_issue']:.3f} s;  BLAS alone at these shapes "
            f"{lb['seconds_gemm_shapes']:.3f} s"
        )
        nab = res.median("nablanet")
        rows = []
        for fw, e in res.results.items():
            s = e["seconds"]
            med = s["median"]
            rows.append(
                [
                    e["label"],
                    fmt(med),
                    f"{fmt(s['min'])}-{fmt(s['max'])}" if e["timed"] else "-",
                    str(len(e["timed"])),
                    fmt(100 * e["accuracy"]["median"], ".2f") + ("%" if e["accuracies"] else ""),
                    "-"
                    if fw == "nablanet"
                    else fmt(med / nab, ".2f") + "x"
                    if math.isfinite(nab) and math.isfinite(med)
                    else "-",
                    fmt(med / lb["seconds"], ".2f"),
                    fmt(med / lb["seconds_issue"], ".2f"),
                ]
            )
        print(
            table(
                [
                    "framework",
                    "s/epoch",
                    "min-max",
                    "n",
                    "test acc",
                    "nablanet speed-up",
                    "x bound",
                    "x bound (issue)",
                ],
                rows,
            )
        )
        if res.busy:
            self.print_busy(res)
        return {
            "title": case.title,
            "sizes": case.sizes,
            "batch_size": case.batch_size,
            "epochs_per_run": case.epochs,
            "m": res.m,
            "lower_bound": lb,
            "results": res.results,
            "busy_cores": self.args.busy,
            "busy_epochs_per_run": self.args.busy_epochs or case.epochs,
            "results_busy": res.busy,
        }

    def print_busy(self, res: CaseResult) -> None:
        """Each framework's quiet and loaded times side by side (--busy)."""
        n = self.args.busy
        print(
            f"  with {n} core{'s' if n > 1 else ''} kept busy by spinning processes (the same "
            "runs, alternating with the quiet ones"
            + (f", {self.args.busy_epochs} epochs each" if self.args.busy_epochs else "")
            + "):"
        )
        nab = res.median("nablanet", busy=True)
        rows = []
        for fw, e in res.busy.items():
            quiet, busy = res.median(fw), res.median(fw, busy=True)
            s = e["seconds"]
            rows.append(
                [
                    e["label"],
                    fmt(quiet),
                    fmt(busy),
                    f"{fmt(s['min'])}-{fmt(s['max'])}" if e["timed"] else "-",
                    fmt(busy / quiet, ".2f") + "x",
                    "-" if fw == "nablanet" else fmt(busy / nab, ".2f") + "x",
                ]
            )
        print(
            table(
                [
                    "framework",
                    "quiet s/epoch",
                    f"busy {n} s/epoch",
                    "busy min-max",
                    "slowdown",
                    "nablanet speed-up busy",
                ],
                rows,
            )
        )

    def print_lbfgs(self, out: dict[str, Any]) -> None:
        if not out.get("runs"):
            return
        n_iter = [r["sklearn"]["n_iter"] for r in out["runs"]]
        print(
            f"\n== L-BFGS, 784-100-10, full batch on {out['m']} rows: time to reach the loss "
            f"scikit-learn's lbfgs ends with after max_iter={out['sklearn_max_iter']} "
            f"(it ran {n_iter} iterations; tol=0; sklearn computes in {out['sklearn_dtype']})"
        )
        rows = []
        for i, r in enumerate(out["runs"]):
            sk, nb = r["sklearn"], r["nablanet"]
            rows.append(
                [
                    f"run {i + 1}",
                    f"{sk['loss']:.5f}",
                    f"{sk['seconds']:.2f}",
                    fmt(nb["seconds_to_target"], ".2f", "not reached"),
                    str(nb["iter_to_target"]),
                    f"{nb['loss_at_equal_iter']:.5f}",
                    fmt(sk["seconds"] / nb["seconds_to_target"], ".2f") + "x"
                    if nb["seconds_to_target"]
                    else "-",
                ]
            )
        print(
            table(
                [
                    "",
                    "target loss",
                    "sklearn s",
                    "nablanet s",
                    "nablanet iter",
                    "nablanet loss @ same iter",
                    "speed-up",
                ],
                rows,
            )
        )
        print(
            f"  median: sklearn {out['sklearn_seconds']:.2f} s, nablanet "
            f"{fmt(out['nablanet_seconds_to_target'], '.2f', 'not reached')} s (float32; in "
            "float64, as sklearn computes: "
            f"{fmt(out['nablanet_float64_seconds_to_target'], '.2f', 'not reached')} s); "
            f"per iteration sklearn {1e3 * out['sklearn_per_iter']:.1f} ms, nablanet "
            f"{1e3 * out['nablanet_per_iter']:.1f} ms"
        )
        if out.get("busy"):
            self.print_lbfgs_busy(out)

    def print_lbfgs_busy(self, out: dict[str, Any]) -> None:
        """The L-BFGS times quiet and loaded side by side (--busy)."""
        n, loaded = out["busy_cores"], out["busy"]
        print(
            f"  with {n} core{'s' if n > 1 else ''} kept busy by spinning processes (the same "
            "runs, alternating with the quiet ones; each loaded run chases the loss of "
            "scikit-learn's loaded run):"
        )

        def spread(values: list[float]) -> str:
            return f"{fmt(min(values), '.2f')}-{fmt(max(values), '.2f')}"

        def seconds(runs: list[dict[str, Any]], who: str) -> list[float]:
            if who == "sklearn":
                return [r["sklearn"]["seconds"] for r in runs]
            return [r[who]["seconds_to_target"] or math.inf for r in runs]

        sk_busy = loaded["sklearn_seconds"]
        rows = []
        for who, label, key in (
            ("sklearn", "scikit-learn lbfgs, its max_iter", "sklearn_seconds"),
            ("nablanet", "nablanet float32, to the target", "nablanet_seconds_to_target"),
            (
                "nablanet_float64",
                "nablanet float64, to the target",
                "nablanet_float64_seconds_to_target",
            ),
        ):
            quiet, busy = out[key], loaded[key]
            rows.append(
                [
                    label,
                    fmt(quiet, ".2f", "not reached"),
                    fmt(busy, ".2f", "not reached"),
                    spread(seconds(loaded["runs"], who)),
                    fmt(busy / quiet, ".2f") + "x",
                    "-" if who == "sklearn" else fmt(sk_busy / busy, ".2f") + "x",
                ]
            )
        print(
            table(
                [
                    "",
                    "quiet s",
                    f"busy {n} s",
                    "busy min-max",
                    "slowdown",
                    "nablanet speed-up busy",
                ],
                rows,
            )
        )
        print(
            f"  per iteration, quiet / busy: sklearn {1e3 * out['sklearn_per_iter']:.1f} / "
            f"{1e3 * loaded['sklearn_per_iter']:.1f} ms, nablanet "
            f"{1e3 * out['nablanet_per_iter']:.1f} / {1e3 * loaded['nablanet_per_iter']:.1f} ms"
        )

    def print_grad(self, out: dict[str, Any]) -> None:
        print(
            "\n== loss_and_grad throughput, 784-100-10 (one forward + backward, no step; "
            "nablanet's public Network.loss_and_grad, input checks included)"
        )
        rows = [
            [
                r["framework"],
                r["dtype"],
                str(r["batch"]),
                f"{1e3 * r['seconds']:.3f}",
                f"{r['samples_per_s']:,.0f}",
                f"{r['x_lower_bound']:.2f}",
            ]
            for r in out["rows"]
        ]
        print(table(["framework", "dtype", "batch", "ms/call", "samples/s", "x bound"], rows))

    def print_memory(self, mem: dict[str, Any]) -> None:
        print(
            f"\n== memory: nablanet 784-100-10, batch 200, {mem['epochs']} epochs on "
            f"{mem['m_train']} rows, fresh process"
        )
        print(
            f"  peak RSS {mem['peak_rss_MiB']:.0f} MiB (after imports {mem['rss_imports_MiB']:.0f}"
            f" MiB);  X_train as float32 {mem['X_train_MiB']:.1f} MiB, X_test "
            f"{mem['X_test_MiB']:.1f} MiB"
        )
        print(
            f"  traced heap (tracemalloc, counts NumPy buffers): peak while loading "
            f"{mem['load_peak_MiB']:.1f} MiB = {mem['load_peak_MiB'] / mem['X_train_MiB']:.2f} "
            f"x X_train; held after loading {mem['loaded_MiB']:.1f} MiB; extra while training "
            f"{mem['train_extra_MiB']:.1f} MiB = "
            f"{mem['train_extra_MiB'] / mem['X_train_MiB']:.2f} x X_train"
        )

    # -- bars --

    def busy_bars(self, res: CaseResult, add: Any) -> None:
        """Issue 25's bars: speed that holds with --busy cores taken by other work."""
        n = self.args.busy
        quiet, busy = res.median("nablanet"), res.median("nablanet", busy=True)
        add(
            f"784-100-10 b200, {n} core(s) busy: nablanet within 1.6x of its quiet time",
            busy / quiet <= 1.6 if math.isfinite(busy / quiet) else None,
            f"{busy / quiet:.2f}x ({busy:.3f} s vs {quiet:.3f} s)",
        )
        for fw, factor in (("sklearn", 1.3), ("torch", 1.3), ("jax", 1.0)):
            s = res.median(fw, busy=True) / busy
            add(
                f"784-100-10 b200, {n} core(s) busy: >= {factor}x faster than {fw}",
                s >= factor if math.isfinite(s) else None,
                f"{s:.2f}x" if math.isfinite(s) else "not measured",
            )

    def lbfgs_busy_bars(self, out: dict[str, Any], add: Any) -> None:
        """The b200 bars of issue 25, applied to L-BFGS's full-batch products (--busy)."""
        n = out["busy_cores"]
        quiet, busy = out["nablanet_seconds_to_target"], out["busy"]["nablanet_seconds_to_target"]
        ratio = busy / quiet
        add(
            f"L-BFGS, {n} core(s) busy: nablanet within 1.6x of its quiet time",
            ratio <= 1.6 if math.isfinite(ratio) else None,
            f"{ratio:.2f}x ({busy:.2f} s vs {quiet:.2f} s)"
            if math.isfinite(ratio)
            else "nablanet did not reach sklearn's loss",
        )
        sk = out["busy"]["sklearn_seconds"]
        add(
            f"L-BFGS, {n} core(s) busy: faster than scikit-learn's lbfgs to the same loss",
            busy < sk,
            f"{busy:.2f} s vs {sk:.2f} s ({sk / busy:.2f}x)"
            if math.isfinite(busy)
            else "nablanet did not reach sklearn's loss",
        )

    def bars(self) -> list[dict[str, Any]]:
        bars: list[dict[str, Any]] = []
        quick = self.args.quick or self.out["data"]["m_train"] < 60000

        def add(text: str, ok: bool | None, measured: str) -> None:
            verdict = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
            bars.append({"bar": text, "verdict": verdict, "measured": measured})

        def speedup(case: str, fw: str) -> float:
            res = self.cases.get(case)
            if res is None:
                return math.nan
            return res.median(fw) / res.median("nablanet")

        def speed_bar(case: str, fw: str, factor: float, text: str) -> None:
            s = speedup(case, fw)
            add(
                text,
                None if not math.isfinite(s) else s >= factor,
                f"{s:.2f}x" if math.isfinite(s) else "not measured",
            )

        b200 = self.cases.get("b200")
        if b200 is not None and math.isfinite(b200.median("nablanet")):
            lb = self.lower_bound(b200.case, b200.m)
            med = b200.median("nablanet")
            r_issue, r_min = med / lb["seconds_issue"], med / lb["seconds"]
            add(
                "784-100-10 b200: nablanet <= 1.5x the lower bound (issue's FLOP count)",
                r_issue <= 1.5,
                f"{r_issue:.2f}x ({med:.3f} s vs {lb['seconds_issue']:.3f} s)",
            )
            add(
                "  same, stricter minimal FLOP count (no input-layer delta)",
                r_min <= 1.5,
                f"{r_min:.2f}x ({med:.3f} s vs {lb['seconds']:.3f} s)",
            )
        else:
            add("784-100-10 b200: nablanet <= 1.5x the lower bound", None, "not measured")
        speed_bar("b200", "sklearn", 3.0, "784-100-10 b200: >= 3x faster than scikit-learn")
        speed_bar("b200", "torch", 1.8, "784-100-10 b200: >= 1.8x faster than PyTorch")
        speed_bar("b200", "jax", 1.25, "784-100-10 b200: >= 1.25x faster than compiled JAX")
        for fw in ("sklearn", "torch", "jax"):
            label = {"sklearn": "scikit-learn", "torch": "PyTorch", "jax": "JAX"}[fw]
            if b200 is None or not math.isfinite(b200.accuracy(fw)):
                add(
                    f"784-100-10 b200: test accuracy within 0.5 points of {label}",
                    None,
                    "not measured",
                )
                continue
            d = 100 * (b200.accuracy("nablanet") - b200.accuracy(fw))
            add(
                f"784-100-10 b200: test accuracy within 0.5 points of {label} "
                "(not more than 0.5 below)",
                d >= -0.5,
                f"{100 * b200.accuracy('nablanet'):.2f}% vs {100 * b200.accuracy(fw):.2f}% "
                f"({d:+.2f} points, after {b200.case.epochs} epochs)",
            )
        if b200 is not None and b200.busy:
            self.busy_bars(b200, add)
        speed_bar("b32", "jax", 1.0, "784-100-10 b32: at least as fast as compiled JAX")
        speed_bar("b32", "torch", 3.7, "784-100-10 b32: >= 3.7x faster than PyTorch")
        speed_bar("deep", "sklearn", 2.0, "784-256-128-100-10 b200: >= 2x faster than scikit-learn")
        speed_bar("deep", "torch", 2.0, "784-256-128-100-10 b200: >= 2x faster than PyTorch")
        lb = self.out.get("lbfgs") or {}
        if lb.get("runs"):
            s, n = lb["sklearn_seconds"], lb["nablanet_seconds_to_target"]
            add(
                "L-BFGS: faster than scikit-learn's lbfgs to the same loss",
                n < s,
                f"{n:.2f} s vs {s:.2f} s ({s / n:.2f}x)"
                if math.isfinite(n)
                else "nablanet did not reach sklearn's loss",
            )
        else:
            add("L-BFGS: faster than scikit-learn's lbfgs to the same loss", None, "not measured")
        if lb.get("busy"):
            self.lbfgs_busy_bars(lb, add)
        mem = self.out.get("memory") or {}
        if mem:
            ok = mem["load_peak_MiB"] < 2 * mem["X_train_MiB"] and (
                mem["train_extra_MiB"] < mem["X_train_MiB"]
            )
            add(
                "memory: no copy of the training set beyond one float32 version "
                "(load peak < 2x and training extra < 1x X_train)",
                ok,
                f"peak RSS {mem['peak_rss_MiB']:.0f} MiB; load peak "
                f"{mem['load_peak_MiB'] / mem['X_train_MiB']:.2f}x, training extra "
                f"{mem['train_extra_MiB'] / mem['X_train_MiB']:.2f}x X_train",
            )
        else:
            add(
                "memory: no copy of the training set beyond one float32 version",
                None,
                "not measured",
            )

        print(
            f"\n== bars (medians from this run; float32; {self.args.threads} threads)"
            + (
                f" -- only {self.out['data']['m_train']} rows: indicative, not the issue's "
                "60k measurement"
                if quick
                else ""
            )
        )
        width = max(len(b["bar"]) for b in bars)
        for b in bars:
            print(f"  [{b['verdict']}] {b['bar'].ljust(width)}  {b['measured']}")
        return bars


def lbfgs_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the L-BFGS runs: seconds to the target, per iteration, sklearn's dtype."""
    import numpy as np

    def median(values: list[float]) -> float:
        return float(np.median(values))

    def to_target(run: dict[str, Any]) -> float:
        return run["seconds_to_target"] or math.inf  # None: never reached

    return {
        "sklearn_seconds": median([r["sklearn"]["seconds"] for r in runs]),
        "nablanet_seconds_to_target": median([to_target(r["nablanet"]) for r in runs]),
        "sklearn_per_iter": median(
            [r["sklearn"]["seconds"] / max(r["sklearn"]["n_iter"], 1) for r in runs]
        ),
        "nablanet_per_iter": median(
            [r["nablanet"]["seconds_total"] / max(r["nablanet"]["n_iter"], 1) for r in runs]
        ),
        "nablanet_float64_seconds_to_target": median(
            [to_target(r["nablanet_float64"]) for r in runs]
        ),
        "sklearn_dtype": runs[0]["sklearn"]["dtype"],
    }


# --- the memory run, in its own process ------------------------------------------------------


def memory_child(args: argparse.Namespace) -> int:
    """Load Fashion-MNIST as float32 and train nablanet 784-100-10; print one JSON line."""
    import tracemalloc

    import numpy as np
    from threadpoolctl import threadpool_limits

    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    import nablanet
    from nablanet.data import load_fashion_mnist
    from nablanet.optim import Adam

    epochs = 2
    with threadpool_limits(limits=args.threads):
        rss_imports = rss_mib("VmRSS")
        tracemalloc.start()
        ds = load_fashion_mnist(dtype=np.float32)
        loaded, load_peak = tracemalloc.get_traced_memory()
        Y = np.eye(10, dtype=np.float32)[ds.y_train]
        net = nablanet.Network(
            (784, 100, 10),
            activation="relu",
            output_activation="softmax",
            dtype=np.float32,
            seed=args.seed,
        )
        tracemalloc.reset_peak()
        before_train, _ = tracemalloc.get_traced_memory()
        nablanet.train(
            net, ds.X_train, Y, optimizer=Adam(), batch_size=200, epochs=epochs, seed=args.seed
        )
        _, train_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    mib = 2**20
    print(
        json.dumps(
            {
                "m_train": int(ds.X_train.shape[0]),
                "epochs": epochs,
                "X_train_MiB": ds.X_train.nbytes / mib,
                "X_test_MiB": ds.X_test.nbytes / mib,
                "X_dtype": str(ds.X_train.dtype),
                "rss_imports_MiB": rss_imports,
                "peak_rss_MiB": rss_mib(),
                "load_peak_MiB": load_peak / mib,
                "loaded_MiB": loaded / mib,
                "train_extra_MiB": (train_peak - before_train) / mib,
            }
        )
    )
    return 0


# --- odds and ends ---------------------------------------------------------------------------


def _loadavg() -> list[float]:
    try:
        return list(os.getloadavg())
    except OSError:
        return [math.nan] * 3



def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item") and callable(obj.item):  # NumPy scalars
        return _jsonable(obj.item())
    return obj


if __name__ == "__main__":
    sys.exit(main())
