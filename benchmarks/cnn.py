"""Forward + backward per batch: UFLDL's CNN exercise network, nablanet against PyTorch CPU.

The network of UFLDL's "Convolutional Neural Network" exercise: 20 filters of 9×9 with
sigmoid units over 28×28 images, 2×2 mean pooling, a softmax layer of 10 (cross-entropy),
float32, batches of --batch rows (256). One step is what a training step computes before
the optimizer: the cost and its gradient with respect to every parameter.

- nablanet: ``Network([Conv2D(20, 9), MeanPool2D(2), Dense(10, "softmax")],
  input_shape=(1, 28, 28), dtype=np.float32)`` and its ``loss_and_grad`` (cross-entropy),
  the work buffers made at the first step and reused;
- PyTorch: the same model as ``nn.Sequential(Conv2d, Sigmoid, AvgPool2d, Flatten,
  Linear)`` with ``F.cross_entropy``, ``loss.backward()`` after ``zero_grad``.

Both start from the same weights and their costs and gradients are compared before any
timing. Then --rounds rounds alternate the two, each timing --steps steps; the figures
are medians over rounds of the wall time and of the process's CPU time per batch (with
one thread the CPU time is what the step takes on an idle core, steady when other
processes share the machine; the wall time is not). Both are held to --threads threads
(BLAS through threadpoolctl, ``torch.set_num_threads``). --profile adds the time of each
of nablanet's passes, the layers run one by one as the network runs them.

Data: Fashion-MNIST's training images from /usr/share/datasets/fashion-mnist (Debian's
dataset-fashion-mnist, ``make fashion-mnist``) where present, else random images.

Run: ``python benchmarks/cnn.py [--threads 1] [--batch 256] [--rounds 7] [--profile]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model
from threadpoolctl import threadpool_info, threadpool_limits

from nablanet import Network
from nablanet.data.idx import read_idx
from nablanet.layers import Buffers, Conv2D, Dense, MaxPool2D, MeanPool2D

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="ufldl")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="steps per timing (default 10)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="time each of nablanet's passes")
    args = parser.parse_args()

    import torch

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

        k = [0]

        def ours() -> None:
            k[0] = (k[0] + 1) % 4
            net.loss_and_grad(*batches[k[0]])

        def theirs() -> None:
            k[0] = (k[0] + 1) % 4
            torch_step(model, tX[k[0]], ty[k[0]])

        results: dict[str, list[tuple[float, float]]] = {"nablanet": [], "PyTorch": []}
        for _ in range(args.rounds):
            results["nablanet"].append(timed(ours, args.steps))
            results["PyTorch"].append(timed(theirs, args.steps))

        passes = profile(net, batches[0][0], args.steps) if args.profile else {}

    flops = step_flops(net, m)
    peak = gemm_peak(args.threads)
    print(f"CPU: {cpu_model()}; {args.threads} thread(s)")
    for info in threadpool_info():
        print(f"BLAS: {info.get('internal_api')} {info.get('version')} "
              f"({info.get('architecture', '-')}): {info.get('filepath')}")
    print(f"torch {torch.__version__}; data: {source}")
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
    ratio_wall = med["nablanet"][0] / med["PyTorch"][0]
    ratio_cpu = med["nablanet"][1] / med["PyTorch"][1]
    print(f"  nablanet / PyTorch: {ratio_wall:.2f} (wall), {ratio_cpu:.2f} (CPU)")
    if passes:
        print("nablanet per pass (ms CPU):")
        for name, seconds in passes.items():
            print(f"  {name:34s} {seconds * 1e3:7.2f}")
        total = sum(t for name, t in passes.items() if not name.startswith(" "))
        print(f"  {'sum':34s} {total * 1e3:7.2f}")


if __name__ == "__main__":
    main()
