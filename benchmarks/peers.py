"""One training run, the same in every framework: nablanet, scikit-learn, PyTorch and JAX.

Every trainer builds a fresh network of the given sizes (relu hidden layers, softmax output,
mean cross-entropy, float32), trains it with Adam(lr, β1, β2, ε) and no weight decay for
``spec.epochs`` epochs on minibatches of ``spec.batch_size`` rows drawn from a new shuffle
each epoch, and returns the wall-clock seconds of every epoch and the test accuracy after the
last one. Each epoch is timed on its own with ``time.perf_counter``:

- nablanet: ``History.best.epoch_time`` from one ``nablanet.train`` call of all epochs (the
  loop's own clock around each epoch's minibatch steps);
- scikit-learn: one ``MLPClassifier.fit`` of all epochs; a subclass notes the time at the end
  of every epoch (sklearn calls ``_update_no_improvement_count`` once per epoch) and the
  epoch is the time between two such notes;
- PyTorch: our own eager loop (randperm, index rows, forward, backward, ``Adam.step``);
- JAX: one call of a jitted function that runs a whole epoch (``lax.scan`` over the
  minibatches) per epoch, ended by ``block_until_ready``.

The first epoch of every run is the warm-up (JIT compilation, buffer allocation, first
touch of memory) and the caller leaves it out of the timings. Torch and JAX are imported
only inside the functions that need them: they are optional benchmark dependencies.
"""

from __future__ import annotations

import importlib
import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FRAMEWORKS = ("nablanet", "sklearn", "torch", "jax", "nablanet-fixed")
LABELS = {
    "nablanet": "nablanet",
    "nablanet-fixed": "nablanet, fixed threads",
    "sklearn": "scikit-learn",
    "torch": "PyTorch (eager)",
    "jax": "JAX (jit+scan)",
}


@dataclass
class Data:
    """A training set and a test set: float32 rows, int64 labels, one-hot float32 targets."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    synthetic: bool = False
    Y_train: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.n_classes = int(max(self.y_train.max(), self.y_test.max())) + 1
        self.Y_train = np.eye(self.n_classes, dtype=np.float32)[self.y_train]

    def head(self, m: int) -> Data:
        """The first m training rows (views, no copy) and the whole test set."""
        if m >= self.X_train.shape[0]:
            return self
        return Data(
            self.name, self.X_train[:m], self.y_train[:m], self.X_test, self.y_test, self.synthetic
        )


@dataclass(frozen=True)
class Spec:
    """What every framework trains: the same network, optimizer, batches and epochs."""

    sizes: tuple[int, ...]
    batch_size: int | None  # None: the whole training set each step
    epochs: int
    seed: int
    learning_rate: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8


@dataclass
class RunResult:
    """Seconds of every epoch (warm-up first included), and the state after the last."""

    epoch_times: list[float]
    test_accuracy: float
    train_loss: float
    timing: str


def probe(framework: str, threads: int) -> tuple[bool, str]:
    """Whether a framework can be imported here, and its version (or why not)."""
    modules = {
        "nablanet": ["nablanet"],
        "nablanet-fixed": ["nablanet"],
        "sklearn": ["sklearn"],
        "torch": ["torch"],
        "jax": ["jax", "jaxlib", "optax"],
    }[framework]
    versions = []
    for name in modules:
        try:
            mod = importlib.import_module(name)
        except Exception as exc:  # ImportError, or a broken install
            return False, f"{name} not importable ({type(exc).__name__}: {exc})"
        versions.append(f"{name} {getattr(mod, '__version__', '?')}")
    if framework == "torch":
        torch_setup(threads)
    return True, ", ".join(versions)


def _batch(spec: Spec, m: int) -> int:
    return m if spec.batch_size is None else min(spec.batch_size, m)


def accuracy(predicted: np.ndarray, y: np.ndarray) -> float:
    """Share of labels predicted right."""
    return float(np.mean(np.asarray(predicted) == y))


# --- nablanet ------------------------------------------------------------------------------


def _nablanet_clock() -> Any:
    """A callback that timestamps every epoch: a fallback should epoch_time go away."""
    import nablanet

    class Clock(nablanet.Callback):
        def __init__(self) -> None:
            self.begin: list[float] = []
            self.end: list[float] = []

        def on_epoch_begin(self, state: Any) -> None:
            self.begin.append(time.perf_counter())

        def on_epoch_end(self, state: Any) -> bool:
            self.end.append(time.perf_counter())
            return False

    return Clock()


def nablanet_network(sizes: tuple[int, ...], seed: int, dtype: Any = np.float32) -> Any:
    """nablanet's network for the benchmark: relu hidden layers, softmax + cross-entropy."""
    import nablanet

    return nablanet.Network(
        sizes, activation="relu", output_activation="softmax", dtype=dtype, seed=seed
    )


def train_nablanet(data: Data, spec: Spec) -> RunResult:
    """``nablanet.train`` with ``nablanet.optim.Adam``; epochs from ``History.best.epoch_time``."""
    import nablanet
    from nablanet.optim import Adam

    net = nablanet_network(spec.sizes, spec.seed)
    clock = _nablanet_clock()
    history = nablanet.train(
        net,
        data.X_train,
        data.Y_train,
        optimizer=Adam(
            learning_rate=spec.learning_rate,
            beta_1=spec.beta_1,
            beta_2=spec.beta_2,
            epsilon=spec.epsilon,
        ),
        batch_size=spec.batch_size,
        epochs=spec.epochs,
        shuffle=True,
        seed=spec.seed,
        callbacks=[clock],
    )
    times = list(getattr(history.best, "epoch_time", None) or [])
    timing = "History.best.epoch_time"
    if len(times) != spec.epochs:
        times = [e - b for b, e in zip(clock.begin, clock.end, strict=True)]
        timing = "callback clock (epoch_time missing)"
    acc = accuracy(net.forward(data.X_test).argmax(axis=1), data.y_test)
    return RunResult(times, acc, float(history.train_loss[-1]), timing)


def train_nablanet_fixed(data: Data, spec: Spec) -> RunResult:
    """`train_nablanet` with the BLAS threads it finds, as before issue 25: no choice."""
    from nablanet.training.blas_threads import adaptive_threads

    with adaptive_threads(False):
        return train_nablanet(data, spec)


# --- scikit-learn --------------------------------------------------------------------------

_SKLEARN_CLASS: list[type] = []


def _sklearn_class() -> type:
    """MLPClassifier that timestamps the end of each epoch (once per epoch in sklearn)."""
    if _SKLEARN_CLASS:
        return _SKLEARN_CLASS[0]
    from sklearn.neural_network import MLPClassifier

    class EpochClockMLP(MLPClassifier):
        def _update_no_improvement_count(self, *args: Any, **kwargs: Any) -> Any:
            ticks = getattr(self, "bench_ticks_", None)
            if ticks is not None:
                ticks.append(time.perf_counter())
            return super()._update_no_improvement_count(*args, **kwargs)

    _SKLEARN_CLASS.append(EpochClockMLP)
    return EpochClockMLP


def train_sklearn(data: Data, spec: Spec) -> RunResult:
    """One ``MLPClassifier(solver="adam").fit`` of all epochs, timed at each epoch's end."""
    m = data.X_train.shape[0]
    clf = _sklearn_class()(
        hidden_layer_sizes=spec.sizes[1:-1],
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=_batch(spec, m),
        learning_rate_init=spec.learning_rate,
        beta_1=spec.beta_1,
        beta_2=spec.beta_2,
        epsilon=spec.epsilon,
        max_iter=spec.epochs,
        shuffle=True,
        random_state=spec.seed,
        tol=0.0,
        n_iter_no_change=spec.epochs + 1,
        early_stopping=False,
    )
    clf.bench_ticks_ = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, by design
        t0 = time.perf_counter()
        clf.fit(data.X_train, data.y_train)
        t1 = time.perf_counter()
    ticks = [t0, *clf.bench_ticks_]
    if len(ticks) == spec.epochs + 1:
        times = list(np.diff(ticks))
        timing = "fit(max_iter=epochs), time between epoch ends"
    else:  # the private hook was renamed: fall back to the mean over the whole fit
        times = [(t1 - t0) / spec.epochs] * spec.epochs
        timing = "fit(max_iter=epochs) / epochs (per-epoch hook missing)"
    if clf.coefs_[0].dtype != np.float32:
        timing += f"; computed in {clf.coefs_[0].dtype}"
    acc = accuracy(clf.predict(data.X_test), data.y_test)
    return RunResult(times, acc, float(clf.loss_), timing)


# --- PyTorch -------------------------------------------------------------------------------

_TORCH_THREADS: list[int] = []


def torch_setup(threads: int) -> Any:
    """Import torch and give it ``threads`` intra-op threads and one inter-op thread."""
    import torch

    if not _TORCH_THREADS:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only allowed before torch's first parallel work
            pass
        _TORCH_THREADS.append(threads)
    return torch


def _torch_model(torch: Any, sizes: tuple[int, ...], seed: int) -> Any:
    torch.manual_seed(seed)
    layers: list[Any] = []
    for l, (s_in, s_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(s_in, s_out))
        if l < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def train_torch(data: Data, spec: Spec, threads: int = 2) -> RunResult:
    """Eager PyTorch: default Linear init, ``torch.optim.Adam``, ``F.cross_entropy``."""
    torch = torch_setup(threads)
    F = torch.nn.functional
    model = _torch_model(torch, spec.sizes, spec.seed)
    opt = torch.optim.Adam(
        model.parameters(),
        lr=spec.learning_rate,
        betas=(spec.beta_1, spec.beta_2),
        eps=spec.epsilon,
        weight_decay=0.0,
    )
    X = torch.from_numpy(data.X_train)  # shares memory with the NumPy array
    y = torch.from_numpy(data.y_train)
    m = X.shape[0]
    bs = _batch(spec, m)
    gen = torch.Generator().manual_seed(spec.seed)
    times: list[float] = []
    loss_sum = math.nan
    for _ in range(spec.epochs):
        t0 = time.perf_counter()
        loss_sum = 0.0
        batches: Iterable[tuple[Any, Any]]
        if bs == m:  # full batch: the data as it is, no gather
            batches = [(X, y)]
        else:
            perm = torch.randperm(m, generator=gen)
            batches = (
                (X.index_select(0, idx), y.index_select(0, idx)) for idx in torch.split(perm, bs)
            )
        for xb, yb in batches:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * xb.shape[0]
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        predicted = model(torch.from_numpy(data.X_test)).argmax(dim=1).numpy()
    return RunResult(times, accuracy(predicted, data.y_test), loss_sum / m, "own loop")


# --- JAX -----------------------------------------------------------------------------------

_JAX_EPOCHS: dict[tuple[Any, ...], Callable[..., Any]] = {}


def _jax_mlp(jnp: Any, params: list[tuple[Any, Any]], x: Any) -> Any:
    for W, b in params[:-1]:
        x = jnp.maximum(x @ W + b, 0.0)
    W, b = params[-1]
    return x @ W + b


def _jax_epoch(sizes: tuple[int, ...], m: int, bs: int, spec: Spec) -> Callable[..., Any]:
    """A jitted function running one epoch of minibatch Adam steps (cached per shape)."""
    key = (sizes, m, bs, spec.learning_rate, spec.beta_1, spec.beta_2, spec.epsilon)
    if key in _JAX_EPOCHS:
        return _JAX_EPOCHS[key]
    import jax
    import jax.numpy as jnp
    import optax

    opt = optax.adam(spec.learning_rate, b1=spec.beta_1, b2=spec.beta_2, eps=spec.epsilon)

    def loss_fn(params: Any, xb: Any, yb: Any) -> Any:
        logits = _jax_mlp(jnp, params, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(carry: Any, xy: Any) -> Any:
        params, opt_state = carry
        xb, yb = xy
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    n_full, tail = divmod(m, bs)

    def epoch(params: Any, opt_state: Any, rng: Any, X: Any, y: Any) -> Any:
        rng, sub = jax.random.split(rng)
        if bs == m:  # full batch: no shuffle or gather needed
            (params, opt_state), loss = step((params, opt_state), (X, y))
            return params, opt_state, rng, loss
        perm = jax.random.permutation(sub, m)

        def gathered(carry: Any, idx: Any) -> Any:
            return step(carry, (jnp.take(X, idx, axis=0), jnp.take(y, idx, axis=0)))

        idx = perm[: n_full * bs].reshape(n_full, bs)
        (params, opt_state), losses = jax.lax.scan(gathered, (params, opt_state), idx)
        total = losses.sum() * bs
        if tail:  # the last, smaller batch, as the other frameworks do
            (params, opt_state), loss = gathered((params, opt_state), perm[n_full * bs :])
            total = total + loss * tail
        return params, opt_state, rng, total / m

    compiled = jax.jit(epoch)
    _JAX_EPOCHS[key] = compiled
    return compiled


def _jax_init(jax: Any, sizes: tuple[int, ...], seed: int) -> list[tuple[Any, Any]]:
    """He-normal weights (in, out) and zero biases, float32."""
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(seed), len(sizes) - 1)
    return [
        (
            jax.random.normal(k, (s_in, s_out), jnp.float32) * np.float32(np.sqrt(2.0 / s_in)),
            jnp.zeros(s_out, jnp.float32),
        )
        for k, s_in, s_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


_JAX_DATA: dict[int, Any] = {}


def _jax_arrays(jax: Any, data: Data) -> Any:
    """The data as JAX arrays, put on the device once per data set."""
    key = id(data.X_train)
    if key not in _JAX_DATA:
        _JAX_DATA.clear()
        _JAX_DATA[key] = (
            data.X_train,  # keeps id() valid while cached
            jax.device_put(data.X_train),
            jax.device_put(data.y_train.astype(np.int32)),
            jax.device_put(data.X_test),
        )
    return _JAX_DATA[key][1:]


def train_jax(data: Data, spec: Spec) -> RunResult:
    """A whole epoch compiled with ``jax.jit`` + ``lax.scan``, ``optax.adam``."""
    import jax
    import jax.numpy as jnp
    import optax

    X, y, X_test = _jax_arrays(jax, data)
    m = X.shape[0]
    epoch = _jax_epoch(spec.sizes, m, _batch(spec, m), spec)
    params = _jax_init(jax, spec.sizes, spec.seed)
    opt_state = optax.adam(
        spec.learning_rate, b1=spec.beta_1, b2=spec.beta_2, eps=spec.epsilon
    ).init(params)
    rng = jax.random.PRNGKey(spec.seed + 1)
    times: list[float] = []
    loss = jnp.nan
    for _ in range(spec.epochs):
        t0 = time.perf_counter()
        params, opt_state, rng, loss = epoch(params, opt_state, rng, X, y)
        jax.block_until_ready((params, loss))
        times.append(time.perf_counter() - t0)
    predicted = np.asarray(_jax_mlp(jnp, params, X_test).argmax(axis=1))
    return RunResult(times, accuracy(predicted, data.y_test), float(loss), "jitted epoch calls")


TRAINERS: dict[str, Callable[..., RunResult]] = {
    "nablanet": train_nablanet,
    "nablanet-fixed": train_nablanet_fixed,
    "sklearn": train_sklearn,
    "torch": train_torch,
    "jax": train_jax,
}


# --- loss-and-gradient throughput of the peers ---------------------------------------------


def torch_grad_call(
    sizes: tuple[int, ...], X: np.ndarray, y: np.ndarray, threads: int
) -> Callable[[], None]:
    """One forward + backward pass of the PyTorch network on (X, y), as a function."""
    torch = torch_setup(threads)
    model = _torch_model(torch, sizes, 0)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def call() -> None:
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(Xt), yt).backward()

    return call


def jax_grad_call(
    sizes: tuple[int, ...], X: np.ndarray, y: np.ndarray, threads: int
) -> Callable[[], None]:
    """One jitted ``value_and_grad`` of the JAX network on (X, y), as a function.

    ``threads`` is for symmetry with `torch_grad_call`: XLA's threads are set before import.
    """
    import jax
    import jax.numpy as jnp
    import optax

    params = _jax_init(jax, sizes, 0)
    Xj, yj = jax.device_put(X), jax.device_put(y.astype(np.int32))

    def loss_fn(params: Any, xb: Any, yb: Any) -> Any:
        logits = _jax_mlp(jnp, params, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    grad = jax.jit(jax.value_and_grad(loss_fn))

    def call() -> None:
        jax.block_until_ready(grad(params, Xj, yj))

    call()  # compile outside the timing
    return call


# --- L-BFGS ----------------------------------------------------------------------------------


def lbfgs_sklearn(
    X: np.ndarray, y: np.ndarray, hidden: tuple[int, ...], max_iter: int, seed: int
) -> dict[str, Any]:
    """``MLPClassifier(solver="lbfgs", tol=0)`` for ``max_iter`` iterations: time and loss."""
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=hidden,
        activation="relu",
        solver="lbfgs",
        alpha=0.0,
        max_iter=max_iter,
        tol=0.0,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "loss": float(clf.loss_),
        "n_iter": int(clf.n_iter_),
        "dtype": str(clf.coefs_[0].dtype),
    }


def lbfgs_nablanet(
    X: np.ndarray,
    Y: np.ndarray,
    sizes: tuple[int, ...],
    target: float,
    n_equal: int,
    max_iter: int,
    seed: int,
    dtype: Any = np.float32,
) -> dict[str, Any]:
    """``nablanet.train(optimizer=LBFGS(tol=0, ftol=0))`` until J <= target and n_equal iterations.

    A callback notes the time when the training cost first reaches ``target`` and the cost
    after ``n_equal`` iterations, and stops the run once it has both (or at ``max_iter``).
    The clock starts before the network is built, as sklearn's ``fit`` includes its init.
    """
    import nablanet
    from nablanet.optim import LBFGS

    class Watch(nablanet.Callback):
        def __init__(self) -> None:
            self.t_hit: float | None = None
            self.it_hit: int | None = None
            self.J_at_n = math.nan
            self.t_at_n = math.nan

        def on_epoch_end(self, state: Any) -> bool:
            now = time.perf_counter()
            J = state.history.train_loss[-1]
            it = len(state.history.train_loss)
            if self.t_hit is None and J <= target:
                self.t_hit, self.it_hit = now, it
            if it == n_equal:
                self.J_at_n, self.t_at_n = J, now
            return self.t_hit is not None and it >= n_equal

    watch = Watch()
    t0 = time.perf_counter()
    net = nablanet_network(sizes, seed, dtype)
    history = nablanet.train(
        net,
        X,
        Y,
        optimizer=LBFGS(max_iter=max_iter, tol=0.0, ftol=0.0),
        epochs=max_iter,
        seed=seed,
        callbacks=[watch],
    )
    t_end = time.perf_counter()
    return {
        "seconds_to_target": None if watch.t_hit is None else watch.t_hit - t0,
        "iter_to_target": watch.it_hit,
        "loss_at_equal_iter": watch.J_at_n,
        "seconds_at_equal_iter": watch.t_at_n - t0,
        "n_iter": history.best.n_epochs,
        "final_loss": float(history.train_loss[-1]),
        "seconds_total": t_end - t0,
    }
