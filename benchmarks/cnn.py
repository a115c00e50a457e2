"""Convolutional networks: nablanet against PyTorch CPU and JAX, per step and per epoch.

The network of UFLDL's "Convolutional Neural Network" exercise: 20 filters of 9×9 with
sigmoid units over 28×28 images, 2×2 mean pooling, a softmax layer of 10 (cross-entropy),
float32, batches of --batch rows (256). One step is what a training step computes before
the optimizer: the cost and its gradient with respect to every parameter.

- nablanet: ``Network([Conv2D(20, 9), MeanPool2D(2), Dense(10, "softmax")],
  input_shape=(1, 28, 28), dtype=np.float32)`` and its ``loss_and_grad`` (cross-entropy),
  the work buffers made at the first step and reused;
- PyTorch: the same model as ``nn.Sequential(Conv2d, Sigmoid, AvgPool2d, Flatten,
  Linear)`` with ``F.cross_entropy``, ``loss.backward()`` after ``zero_grad``;
- JAX: the same model with ``lax.conv_general_dilated`` and ``lax.reduce_window``, its
  cost and gradient one ``jax.jit`` function.

All start from the same weights and their costs and gradients are compared before any
timing. Then --rounds rounds alternate the three, each timing --steps steps; the figures
are medians over rounds of the wall time and of the process's CPU time per batch (with
one thread the CPU time is what the step takes on an idle core, steady when other
processes share the machine; the wall time is not). All are held to --threads threads
(BLAS through threadpoolctl, ``torch.set_num_threads``, XLA's flags). --profile adds the
time of each of nablanet's passes, the layers run one by one as the network runs them.

--epoch trains each peer for one epoch of Fashion-MNIST's 60,000 training images (SGD,
α 0.1, momentum 0.9, batch --batch, the rows in one fixed shuffled order for all), each
in a fresh subprocess, alternating peers and models over --rounds rounds, and prints per
peer the seconds per epoch (wall and CPU, the best round), the test accuracy on the
10,000 test images, the peak resident memory of the process (``ru_maxrss``) and how much
of it the training added, the FLOPs per epoch and the share of the GEMM throughput.
nablanet trains through ``nablanet.train`` (its own choice of threads included, issue 25).

Data: Fashion-MNIST's training images from /usr/share/datasets/fashion-mnist (Debian's
dataset-fashion-mnist, ``make fashion-mnist``) where present, else random images.

Run: ``python benchmarks/cnn.py [--threads 1] [--batch 256] [--rounds 7] [--profile]``;
``python benchmarks/cnn.py --epoch [--threads 1] [--rounds 2]`` (both models).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model, load_average
from threadpoolctl import threadpool_info, threadpool_limits

from nablanet import Network
from nablanet.data.idx import read_idx
from nablanet.layers import Buffers, Conv2D, Dense, MaxPool2D, MeanPool2D

DATA = Path("/usr/share/datasets/fashion-mnist")
FASHION = DATA / "train-images-idx3-ubyte.gz"
PEERS = ("nablanet", "PyTorch", "JAX")
ROWS = 60_000  # an epoch: Fashion-MNIST's training set
Array = np.ndarray


def images(n: int, rng: np.random.Generator) -> tuple[Array, str]:
    """n images of 28×28 as float32 rows in [0, 1], and where they came from."""
    if FASHION.exists():
        X = read_idx(FASHION)[:n].reshape(n, 784).astype(np.float32) / 255.0
        return X, f"Fashion-MNIST ({FASHION})"
    return rng.random((n, 784), dtype=np.float32), "random images (Fashion-MNIST not installed)"


MODELS = {
    # UFLDL's CNN exercise: 20 filters 9×9, sigmoid, mean pooling 2×2, softmax.
    "ufldl": lambda: [Conv2D(20, 9), MeanPool2D(2), Dense(10, "softmax")],
    # Nielsen's chapter 6, two conv-pool layers (network3.py's sigmoid): 20 then 40
    # filters 5×5, max pooling 2×2, a dense layer of 100, softmax.
    "nielsen": lambda: [Conv2D(20, 5), MaxPool2D(2), Conv2D(40, 5), MaxPool2D(2),
                        Dense(100), Dense(10, "softmax")],
}


def step_flops(net: Network, m: int) -> int:
    """Multiply-adds ×2 of one step's products: forward, ∂J/∂W and (above the first) ∂J/∂a_in."""
    total = 0
    for l, layer in enumerate(net.layers):
        if isinstance(layer, Conv2D):
            F, Ho, Wo = layer.output_shape
            one = 2 * F * layer.input_shape[0] * math.prod(layer.kernel_size) * Ho * Wo
        elif isinstance(layer, Dense):
            one = 2 * layer.n_in * layer.units
        else:
            continue
        total += one * (3 if l else 2)
    return m * total


def torch_model(net: Network) -> Any:
    """The same layers in ``torch.nn`` (valid padding), with the network's weights."""
    import torch

    act = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}
    modules: list[Any] = []
    flat = False
    for layer, W, b in zip(net.layers, net.W, net.b, strict=True):
        if isinstance(layer, Conv2D):
            assert layer.padding == "valid"
            F, C = W.shape[:2]
            mod = torch.nn.Conv2d(C, F, layer.kernel_size, stride=layer.stride)
        elif isinstance(layer, MeanPool2D | MaxPool2D):
            pool = torch.nn.AvgPool2d if isinstance(layer, MeanPool2D) else torch.nn.MaxPool2d
            modules.append(pool(layer.size))
            continue
        else:
            if not flat:
                modules.append(torch.nn.Flatten())
                flat = True
            mod = torch.nn.Linear(layer.n_in, layer.n_out)
        with torch.no_grad():
            mod.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
            mod.bias.copy_(torch.from_numpy(b.copy()))
        modules.append(mod)
        if layer.activation.name in act:
            modules.append(act[layer.activation.name]())
    return torch.nn.Sequential(*modules)  # softmax: inside F.cross_entropy


def jax_model(net: Network) -> tuple[Any, list[tuple[Any, Any]]]:
    """The same layers as a JAX function ``logits(params, X)``, and the network's weights.

    X has shape (m, C, H, W); convolutions are ``lax.conv_general_dilated`` in NCHW/OIHW
    (cross-correlation, as nablanet and PyTorch), poolings ``lax.reduce_window``.
    """
    import jax
    import jax.numpy as jnp

    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in zip(net.W, net.b, strict=True)]
    layers = net.layers

    def logits(params: Any, x: Any) -> Any:
        for layer, (W, b) in zip(layers, params, strict=True):
            if isinstance(layer, Conv2D):
                x = jax.lax.conv_general_dilated(
                    x, W, layer.stride, "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")
                ) + b[None, :, None, None]
            elif isinstance(layer, MeanPool2D | MaxPool2D):
                window = (1, 1, *layer.size)
                if isinstance(layer, MaxPool2D):
                    x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, window, "VALID")
                else:
                    x = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, window, "VALID")
                    x = x / math.prod(layer.size)
                continue
            else:
                x = x.reshape(x.shape[0], -1) @ W.T + b
            name = layer.activation.name
            if name != "softmax":  # softmax: inside the cost
                x = {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jnp.tanh}[name](x)
        return x

    return logits, params


def jax_cost(logits: Any) -> Any:
    """Mean cross-entropy ``cost(params, X, y)`` of a `jax_model`'s logits."""
    import jax
    import jax.numpy as jnp

    def cost(params: Any, x: Any, y: Any) -> Any:
        z = jax.nn.log_softmax(logits(params, x))
        return -jnp.mean(jnp.take_along_axis(z, y[:, None], axis=1))

    return cost


def set_xla_threads(threads: int) -> None:
    """XLA's CPU threads, before JAX is imported (its flags are read once)."""
    flags = f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def profile(net: Network, X: Array, steps: int) -> dict[str, float]:
    """CPU seconds of each layer's forward and backward pass, run as the network runs them.

    The buffers are the training loop's (z overwritten by a in the hidden layers), made
    here so that each pass can be timed alone; a convolution's im2col copy and its
    product are also timed apart.
    """
    m, dtype = X.shape[0], net.dtype
    layers, last = net.layers, len(net.layers) - 1
    grad = np.empty(net.n_params, dtype)
    dW, db = net.views(grad)
    bufs = []
    for l, layer in enumerate(layers):
        A = np.empty((m, layer.n_out), dtype)
        Z = A if l < last else np.empty_like(A)
        D = np.empty_like(A) if l < last and layer.has_derivative else None
        bufs.append(Buffers(Z, A, D, np.empty_like(A), layer.scratch(m, dtype)))
    a_in = [X, *(buf.A for buf in bufs[:-1])]

    def median_cpu(call: Callable[[], Any]) -> float:
        call()
        return statistics.median(timed(call, steps)[1] for _ in range(3))

    times: dict[str, float] = {}
    for l, layer in enumerate(layers):
        name = f"layer {l + 1} {type(layer).__name__}"

        def fwd(l: int = l, layer: Any = layer) -> None:
            layer.forward(a_in[l], net.W[l], net.b[l], bufs[l], True, l < last)

        times[f"{name}: forward"] = median_cpu(fwd)
        if isinstance(layer, Conv2D):
            cols = bufs[l].scratch.cols
            x = a_in[l].reshape(m, *layer.input_shape)
            Z = bufs[l].Z.reshape(m, layer.filters, -1)
            times["    of which im2col"] = median_cpu(
                lambda x=x, cols=cols, layer=layer: layer._im2col(x, cols))
            times["    of which GEMM"] = median_cpu(
                lambda cols=cols, Z=Z, l=l: np.matmul(bufs[l].scratch.Wb, cols, out=Z))
    bufs[-1].delta[...] = np.random.default_rng(0).normal(0, 1e-3, bufs[-1].delta.shape)
    for l in range(last, -1, -1):
        layer, below = layers[l], bufs[l - 1] if l else None
        name = f"layer {l + 1} {type(layer).__name__}"

        def bwd(l: int = l, layer: Any = layer, below: Any = below) -> None:
            g = None if below is None else below.delta
            layer.backward(a_in[l], net.W[l], bufs[l], dW[l], db[l], g)

        times[f"{name}: backward"] = median_cpu(bwd)
        if below is not None and below.D is not None:
            times[f"layer {l} δ ⊙ f'(z) (BP2)"] = median_cpu(
                lambda below=below: np.multiply(below.delta, below.D, out=below.delta))
    return times


def torch_step(model: Any, X: Any, y: Any) -> float:
    import torch.nn.functional as F

    model.zero_grad(set_to_none=False)
    loss = F.cross_entropy(model(X), y)
    loss.backward()
    return float(loss.detach())


def gemm_peak(threads: int) -> float:
    """GFLOP/s of a large float32 product (2048³) with ``threads`` threads: the yardstick."""
    rng = np.random.default_rng(1)
    A = rng.random((2048, 2048), dtype=np.float32)
    out = np.empty_like(A)
    with threadpool_limits(limits=threads):
        np.matmul(A, A, out=out)
        best = min(timed(lambda: np.matmul(A, A, out=out), 1)[1] for _ in range(3))
    return 2 * 2048**3 / best / 1e9


def timed(call: Callable[[], Any], steps: int) -> tuple[float, float]:
    """Wall and CPU seconds per call over ``steps`` calls."""
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        call()
    return (time.perf_counter() - start) / steps, (time.process_time() - start_cpu) / steps


def fashion(split: str) -> tuple[Array, Array]:
    """Fashion-MNIST's ``train`` or ``t10k`` images (float32 rows in [0, 1]) and labels."""
    X = read_idx(DATA / f"{split}-images-idx3-ubyte.gz")
    y = read_idx(DATA / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return X.reshape(len(X), 784).astype(np.float32) / 255.0, y


def child(args: argparse.Namespace) -> None:
    """One peer, one model, one epoch in this (fresh) process; prints one JSON line."""
    set_xla_threads(args.threads)
    peer, m = args.child, args.batch
    X, y = fashion("train")
    order = np.random.default_rng(0).permutation(len(X))  # the same order for every peer
    X, y = X[order][: args.rows], y[order][: args.rows]
    X_test, y_test = fashion("t10k")
    net = Network(MODELS[args.model](), input_shape=(1, 28, 28), dtype=np.float32, seed=0)
    if args.model == "ufldl":
        net.W[0][...] = np.random.default_rng(0).normal(0, 0.1, net.W[0].shape)
    run = {"nablanet": epoch_nablanet, "PyTorch": epoch_torch, "JAX": epoch_jax}[peer]
    setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = [0]

    def trained() -> None:  # the high-water mark of training, before any prediction
        peak[0] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    wall, cpu, predict = run(net, X, y, m, args.threads, trained)
    # Predictions batch by batch, for every peer alike (a prediction's memory is not the
    # training's; nablanet's `forward` takes up to 4096 rows at once).
    predicted = np.concatenate([predict(X_test[k : k + m]) for k in range(0, len(X_test), m)])
    print(json.dumps({"peer": peer, "model": args.model, "wall": wall, "cpu": cpu,
                      "accuracy": float(np.mean(predicted == y_test)),
                      "peak_mb": peak[0] / 1024, "added_mb": (peak[0] - setup) / 1024,
                      "steps_wall": STEPS.get("wall"), "steps_cpu": STEPS.get("cpu"),
                      "total_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


Epoch = tuple[float, float, Callable[[Array], Array]]


def epoch_nablanet(net: Network, X: Array, y: Array, m: int, threads: int,
                   trained: Callable[[], None]) -> Epoch:
    """``nablanet.train``, all of it timed; its epoch's steps alone go to `STEPS`."""
    from nablanet import Callback, train
    from nablanet.optim import SGD

    class Clock(Callback):  # the epoch's steps alone, and the memory they reached
        def on_epoch_begin(self, state: Any) -> None:
            self.start = time.perf_counter(), time.process_time()

        def on_epoch_end(self, state: Any) -> bool:
            STEPS.update(wall=time.perf_counter() - self.start[0],
                         cpu=time.process_time() - self.start[1])
            trained()
            return False

    Y = np.eye(10, dtype=np.float32)[y]
    with threadpool_limits(limits=threads):
        start, start_cpu = time.perf_counter(), time.process_time()
        train(net, X, Y, optimizer=SGD(0.1, momentum=0.9), epochs=1, batch_size=m,
              shuffle=False, callbacks=[Clock()])
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return wall, cpu, lambda X: net.forward(X).argmax(axis=1)


#: nablanet's epoch without what `train` does around it (its final cost over all the
#: training rows, its setup): wall and CPU seconds.
STEPS: dict[str, float] = {}


def epoch_torch(net: Network, X: Array, y: Array, m: int, threads: int,
                trained: Callable[[], None]) -> Epoch:
    import torch

    torch.set_num_threads(threads)
    model = torch_model(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    tX, ty = torch.from_numpy(X.reshape(-1, 1, 28, 28)), torch.from_numpy(y)
    start, start_cpu = time.perf_counter(), time.process_time()
    for k in range(0, len(X), m):
        opt.zero_grad(set_to_none=False)
        torch.nn.functional.cross_entropy(model(tX[k : k + m]), ty[k : k + m]).backward()
        opt.step()
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    trained()

    def predict(X: Array) -> Array:
        with torch.no_grad():
            return model(torch.from_numpy(X.reshape(-1, 1, 28, 28))).argmax(1).numpy()

    return wall, cpu, predict


def epoch_jax(net: Network, X: Array, y: Array, m: int, threads: int,
              trained: Callable[[], None]) -> Epoch:
    """One jitted step (cost, gradient, momentum update), compiled before the clock starts."""
    import jax

    logits, params = jax_model(net)
    grad = jax.grad(jax_cost(logits))

    @jax.jit
    def step(params: Any, v: Any, x: Any, y: Any) -> Any:
        v = jax.tree.map(lambda v, g: 0.9 * v - 0.1 * g, v, grad(params, x, y))
        return jax.tree.map(lambda p, v: p + v, params, v), v

    v = jax.tree.map(lambda p: p * 0, params)
    X4, y32 = X.reshape(-1, 1, 28, 28), y.astype(np.int32)
    for rows in {m, len(X) % m} - {0}:  # compile both batch shapes, untimed
        jax.block_until_ready(step(params, v, X4[:rows], y32[:rows]))
    start, start_cpu = time.perf_counter(), time.process_time()
    for k in range(0, len(X), m):
        params, v = step(params, v, X4[k : k + m], y32[k : k + m])
    jax.block_until_ready(params)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    trained()
    forward = jax.jit(logits)
    return wall, cpu, lambda X: np.asarray(forward(params, X.reshape(-1, 1, 28, 28)).argmax(1))


def epochs(args: argparse.Namespace) -> None:
    """Every peer and model for --rounds rounds, alternating, each in a fresh process."""
    models, peers = args.models.split(","), args.peers.split(",")
    load = os.getloadavg()
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for model in models:
            for peer in peers:
                cmd = [sys.executable, __file__, "--child", peer, "--model", model,
                       "--threads", str(args.threads), "--batch", str(args.batch),
                       "--rows", str(args.rows)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                runs.setdefault((model, peer), []).append(json.loads(out.splitlines()[-1]))
    peak = gemm_peak(args.threads)
    steps = -(-args.rows // args.batch)
    print(f"CPU: {cpu_model()}; {args.threads} thread(s); load average "
          f"{load[0]:.1f} before, {os.getloadavg()[0]:.1f} after; best of {args.rounds} "
          f"round(s); a 2048³ float32 GEMM: {peak:.1f} GFLOP/s of CPU time")
    for model in models:
        net = Network(MODELS[model](), input_shape=(1, 28, 28), dtype=np.float32, seed=0)
        flops = step_flops(net, args.batch) * args.rows / args.batch
        print(f"model {model}: {' → '.join(map(repr, net.layers))}; batch {args.batch}, "
              f"{steps} steps, {flops / 1e12:.2f} TFLOP per epoch")
        for peer in peers:
            rs = runs[(model, peer)]
            wall, cpu = min(r["wall"] for r in rs), min(r["cpu"] for r in rs)
            rate = flops / cpu / 1e9
            print(f"  {peer:9s} {wall:6.1f} s/epoch wall, {cpu:6.1f} s CPU "
                  f"({cpu / steps * 1e3:5.1f} ms a step; {rate:5.1f} GFLOP/s, {rate / peak:4.0%} "
                  f"of the GEMM's), test accuracy {rs[-1]['accuracy']:.4f}, peak memory "
                  f"{max(r['peak_mb'] for r in rs):5.0f} MB (training +"
                  f"{max(r['added_mb'] for r in rs):4.0f} MB)")
            if rs[0].get("steps_cpu") is not None:
                steps_wall = min(r["steps_wall"] for r in rs)
                print(f"  {'':9s} of which the epoch's steps {steps_wall:6.1f} s "
                      f"wall, {min(r['steps_cpu'] for r in rs):6.1f} s CPU (the rest: train's "
                      f"setup and its final cost over all rows, peak memory "
                      f"{max(r['total_peak_mb'] for r in rs):5.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="ufldl")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="steps per timing (default 10)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="time each of nablanet's passes")
    parser.add_argument("--epoch", action="store_true",
                        help="train each peer one epoch in a fresh process (both models)")
    parser.add_argument("--models", default="ufldl,nielsen", help="--epoch's models")
    parser.add_argument("--peers", default=",".join(PEERS), help="--epoch's peers")
    parser.add_argument("--rows", type=int, default=ROWS,
                        help="--epoch's training rows (default 60000, the whole set)")
    parser.add_argument("--child", choices=PEERS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        child(args)
        return
    if args.epoch:
        epochs(args)
        return
    set_xla_threads(args.threads)
    import jax
    import torch

    load = load_average()  # before this run adds its own
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    m = args.batch
    X_all, source = images(4 * m, rng)
    labels = rng.integers(0, 10, 4 * m)
    Y_all = np.eye(10, dtype=np.float32)[labels]
    batches = [(X_all[k * m : (k + 1) * m], Y_all[k * m : (k + 1) * m]) for k in range(4)]

    net = Network(MODELS[args.model](), input_shape=(1, 28, 28), dtype=np.float32, seed=0)
    if args.model == "ufldl":
        net.W[0][...] = rng.normal(0, 0.1, net.W[0].shape)  # UFLDL: Wc = 1e-1 * randn
    model = torch_model(net)
    tX = [torch.from_numpy(Xb.reshape(m, 1, 28, 28)) for Xb, _ in batches]
    ty = [torch.from_numpy(labels[k * m : (k + 1) * m]) for k in range(4)]

    with threadpool_limits(limits=args.threads):
        # The same cost and gradient first: else the timings compare different work.
        J, grad = net.loss_and_grad(*batches[0])
        J_t = torch_step(model, tX[0], ty[0])
        dW1 = net.views(grad)[0][0]
        gap = float(np.abs(dW1 - model[0].weight.grad.numpy()).max() / np.abs(dW1).max())
        print(f"cost nablanet {J:.6f}, PyTorch {J_t:.6f}; filter gradients differ by "
              f"{gap:.1e} of their largest entry")
        logits, params = jax_model(net)
        jax_grad = jax.jit(jax.value_and_grad(jax_cost(logits)))
        jX = [jax.device_put(Xb.reshape(m, 1, 28, 28)) for Xb, _ in batches]
        jy = [jax.device_put(labels[k * m : (k + 1) * m].astype(np.int32)) for k in range(4)]
        J_j, g_j = jax.block_until_ready(jax_grad(params, jX[0], jy[0]))
        gap_j = float(np.abs(dW1 - np.asarray(g_j[0][0])).max() / np.abs(dW1).max())
        print(f"cost JAX {float(J_j):.6f}; its filter gradients differ from nablanet's by "
              f"{gap_j:.1e} of their largest entry")

        k = [0]

        def ours() -> None:
            k[0] = (k[0] + 1) % 4
            net.loss_and_grad(*batches[k[0]])

        def theirs() -> None:
            k[0] = (k[0] + 1) % 4
            torch_step(model, tX[k[0]], ty[k[0]])

        def jaxs() -> None:
            k[0] = (k[0] + 1) % 4
            jax.block_until_ready(jax_grad(params, jX[k[0]], jy[k[0]]))

        results: dict[str, list[tuple[float, float]]] = {p: [] for p in PEERS}
        for _ in range(args.rounds):
            results["nablanet"].append(timed(ours, args.steps))
            results["PyTorch"].append(timed(theirs, args.steps))
            results["JAX"].append(timed(jaxs, args.steps))

        passes = profile(net, batches[0][0], args.steps) if args.profile else {}

    flops = step_flops(net, m)
    peak = gemm_peak(args.threads)
    print(f"CPU: {cpu_model()}; {args.threads} thread(s); load average {load} at the start")
    for info in threadpool_info():
        print(f"BLAS: {info.get('internal_api')} {info.get('version')} "
              f"({info.get('architecture', '-')}): {info.get('filepath')}")
    print(f"torch {torch.__version__}, jax {jax.__version__}; data: {source}")
    print(f"model {args.model}: {' → '.join(map(repr, net.layers))}")
    print(f"float32, batch {m}: {flops / 1e9:.2f} GFLOP per step (forward + backward); a "
          f"2048³ float32 GEMM runs at {peak:.1f} GFLOP/s of CPU time here")
    med = {}
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        med[name] = (wall, cpu)
        rate = flops / cpu / 1e9
        print(f"  {name:9s} {wall * 1e3:7.2f} ms/batch wall, {cpu * 1e3:7.2f} ms CPU "
              f"({rate:5.1f} GFLOP/s of CPU time, {rate / peak:.0%} of the GEMM's)")
    for peer in PEERS[1:]:
        ratio_wall = med["nablanet"][0] / med[peer][0]
        ratio_cpu = med["nablanet"][1] / med[peer][1]
        print(f"  nablanet / {peer}: {ratio_wall:.2f} (wall), {ratio_cpu:.2f} (CPU)")
    if passes:
        print("nablanet per pass (ms CPU):")
        for name, seconds in passes.items():
            print(f"  {name:34s} {seconds * 1e3:7.2f}")
        total = sum(t for name, t in passes.items() if not name.startswith(" "))
        print(f"  {'sum':34s} {total * 1e3:7.2f}")


if __name__ == "__main__":
    main()
