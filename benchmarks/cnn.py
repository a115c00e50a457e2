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
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model
from threadpoolctl import threadpool_info, threadpool_limits

from nablanet import Network
from nablanet.activations import get_activation
from nablanet.data.idx import read_idx
from nablanet.layers import Buffers, Conv2D, Dense, MeanPool2D
from nablanet.layers.conv import im2col_kernel

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
Array = np.ndarray


def images(n: int, rng: np.random.Generator) -> tuple[Array, str]:
    """n images of 28×28 as float32 rows in [0, 1], and where they came from."""
    if FASHION.exists():
        X = read_idx(FASHION)[:n].reshape(n, 784).astype(np.float32) / 255.0
        return X, f"Fashion-MNIST ({FASHION})"
    return rng.random((n, 784), dtype=np.float32), "random images (Fashion-MNIST not installed)"


class UfldlCnn:
    """The exercise network's layers run one by one (as `Network` runs them), for --profile."""

    def __init__(self, m: int, theta: Array) -> None:
        dtype = np.dtype(np.float32)
        self.conv = Conv2D(20, 9, activation="sigmoid")
        self.conv.build((1, 28, 28))
        self.pool = MeanPool2D(2)
        self.pool.build(self.conv.output_shape)
        n_conv, n_pool = self.conv.n_out, self.pool.n_out
        self.n_conv_w = self.conv.n_weights
        self.theta, self.grad = theta, np.empty_like(theta)
        A = np.empty((m, n_conv), dtype)  # z overwritten by a, as in training
        self.conv_buf = Buffers(A, A, np.empty_like(A), np.empty_like(A),
                                self.conv.scratch(m, dtype))
        P = np.empty((m, n_pool), dtype)
        self.pool_buf = Buffers(P, P, None, np.empty_like(P))
        self.g_pool = np.empty_like(P)
        self.g_conv = np.empty_like(A)
        self.z_out = np.empty((m, 10), dtype)
        self.softmax = get_activation("softmax")

    def views(self, theta: Array) -> tuple[Array, Array, Array, Array]:
        """W_conv (20, 1, 9, 9), W_out (10, 2000), b_conv (20,), b_out (10,)."""
        nc, no = self.n_conv_w, 10 * self.pool.n_out
        return (self.conv.weight_view(theta[:nc]), theta[nc : nc + no].reshape(10, -1),
                theta[nc + no : nc + no + 20], theta[nc + no + 20 :])

    def step(self, X: Array, Y: Array) -> float:
        """J and ∂J/∂θ into self.grad (cross-entropy, mean over the batch)."""
        Wc, Wo, bc, bo = self.views(self.theta)
        dWc, dWo, dbc, dbo = self.views(self.grad)
        m = X.shape[0]
        self.conv.forward(X, Wc, bc, self.conv_buf, True, True)
        self.pool.forward(self.conv_buf.A, Wc[:0], bc[:0], self.pool_buf, False, True)
        a_pool = self.pool_buf.A
        np.matmul(a_pool, Wo.T, out=self.z_out)
        self.z_out += bo
        a = self.softmax(self.z_out)
        J = -float(np.log(a[Y.astype(bool)]).sum()) / m
        delta = a - Y  # BP1 for softmax and cross-entropy
        delta /= m
        np.matmul(delta.T, a_pool, out=dWo)
        np.sum(delta, axis=0, out=dbo)
        np.matmul(delta, Wo, out=self.pool_buf.delta)  # the pool has f = identity
        self.pool.backward(self.conv_buf.A, Wc[:0], self.pool_buf, dWc[:0], dbc[:0], self.g_conv)
        np.multiply(self.g_conv, self.conv_buf.D, out=self.conv_buf.delta)  # BP2
        self.conv.backward(X, Wc, self.conv_buf, dWc, dbc, None)
        return J

    def passes(self, X: Array, Y: Array) -> dict[str, Callable[[], Any]]:
        """Each pass of `step` alone, for --profile (run after a step, on its buffers)."""
        Wc, Wo, bc, bo = self.views(self.theta)
        dWc, _, dbc, _ = self.views(self.grad)
        conv, buf, pbuf = self.conv, self.conv_buf, self.pool_buf
        cols = buf.scratch.cols
        m = X.shape[0]
        Z = buf.Z.reshape(m, 20, -1)
        sigmoid = conv.activation
        return {
            "conv forward: im2col": lambda: im2col_kernel()(
                X.reshape(m, 1, 28, 28), cols, *conv._geometry),
            "conv forward: GEMM [W b][cols; 1]": lambda: np.matmul(
                buf.scratch.Wb, cols, out=Z),
            "conv forward: sigmoid": lambda: sigmoid.f(buf.Z, buf.A),
            "conv forward: f'(z)": lambda: sigmoid.derivative(buf.A, buf.D),
            "mean pool forward": lambda: self.pool.forward(buf.A, Wc[:0], bc[:0], pbuf,
                                                           False, True),
            "dense output, both passes": lambda: np.matmul(pbuf.A, Wo.T, out=self.z_out),
            "mean pool backward": lambda: self.pool.backward(buf.A, Wc[:0], pbuf, dWc[:0],
                                                             dbc[:0], self.g_conv),
            "δ = ∂J/∂a ⊙ f'(z)": lambda: np.multiply(self.g_conv, buf.D, out=buf.delta),
            "conv backward (∂J/∂W, ∂J/∂b)": lambda: conv.backward(X, Wc, buf, dWc, dbc, None),
        }


def torch_model(theta_views: tuple[Array, Array, Array, Array]) -> Any:
    import torch

    Wc, Wo, bc, bo = theta_views
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 20, 9), torch.nn.Sigmoid(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(2000, 10),
    )
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(Wc.copy()))
        model[0].bias.copy_(torch.from_numpy(bc.copy()))
        model[4].weight.copy_(torch.from_numpy(Wo.copy()))
        model[4].bias.copy_(torch.from_numpy(bo.copy()))
    return model


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

    net = Network([Conv2D(20, 9), MeanPool2D(2), Dense(10, "softmax")],
                  input_shape=(1, 28, 28), dtype=np.float32, seed=0)
    (Wc, _, Wo), (bc, _, bo) = net.W, net.b
    Wc[...] = rng.normal(0, 0.1, Wc.shape)  # UFLDL: Wc = 1e-1 * randn
    model = torch_model((Wc, Wo, bc, bo))
    theta = np.concatenate([Wc.ravel(), Wo.ravel(), bc, bo]).astype(np.float32)
    layers = UfldlCnn(m, theta)
    tX = [torch.from_numpy(Xb.reshape(m, 1, 28, 28)) for Xb, _ in batches]
    ty = [torch.from_numpy(labels[k * m : (k + 1) * m]) for k in range(4)]

    with threadpool_limits(limits=args.threads):
        # The same cost and gradient first: else the timings compare different work.
        J, grad = net.loss_and_grad(*batches[0])
        J_t = torch_step(model, tX[0], ty[0])
        dWc = net.views(grad)[0][0]
        gap = float(np.abs(dWc - model[0].weight.grad.numpy()).max() / np.abs(dWc).max())
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

        profile = {}
        if args.profile:
            layers.step(*batches[0])
            for name, call in layers.passes(*batches[0]).items():
                call()
                profile[name] = statistics.median(timed(call, args.steps)[1] for _ in range(3))

    flops = 2 * m * (2 * 20 * 81 * 400 + 3 * 2000 * 10)
    peak = gemm_peak(args.threads)
    print(f"CPU: {cpu_model()}; {args.threads} thread(s)")
    for info in threadpool_info():
        print(f"BLAS: {info.get('internal_api')} {info.get('version')} "
              f"({info.get('architecture', '-')}): {info.get('filepath')}")
    print(f"torch {torch.__version__}; data: {source}")
    print(f"UFLDL CNN exercise (20 filters 9x9, sigmoid, mean pool 2, softmax 10), float32, "
          f"batch {m}: {flops / 1e9:.2f} GFLOP per step (forward + backward); a 2048³ "
          f"float32 GEMM runs at {peak:.1f} GFLOP/s of CPU time here")
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
    if profile:
        print("nablanet per pass (ms CPU):")
        for name, seconds in profile.items():
            print(f"  {name:36s} {seconds * 1e3:7.2f}")
        print(f"  {'sum':36s} {sum(profile.values()) * 1e3:7.2f}")


if __name__ == "__main__":
    main()
