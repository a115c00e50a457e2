"""UFLDL's convolution exercises and Nielsen's chapter 6, trained to the end on Fashion-MNIST.

Usage: ``python benchmarks/cnn_exercises.py EXPERIMENT [flags]``, one experiment a run:

- ``ufldl-cnn``: UFLDL's CNN exercise (``cnnTrain.m``): 20 filters of 9×9, sigmoid, 2×2
  mean pooling, softmax; minibatch SGD with momentum (batch 256, α 0.1, momentum 0.5 for
  iterations 1–19 and 0.95 from iteration 20, α halved after each epoch), 3 epochs, no
  weight decay, UFLDL's initial weights (filters 0.1·N(0, 1), softmax weights uniform in
  ±√6/√(10 + 2000 + 1), biases 0). nablanet (``nablanet.train`` with
  `MomentumSwitchSGD` and a `StepDecay` of ½ per epoch) beside the same model in PyTorch
  from the same weights, with the same update (UFLDL's v ← μ v + α g, θ ← θ − v) over the
  same batches in the same order (the order ``nablanet.train`` draws from ``--seed``).
- ``features``: convolution and pooling of learnt features (UFLDL's "Working with large
  images" and its linear-decoder exercise): 8×8 patches of the training images, ZCA
  whitening (ε 0.1), a sparse autoencoder with a linear decoder (``--features`` hidden
  sigmoid units, ρ 0.035, β 5, λ 3e-3, L-BFGS); its features, folded with the whitening
  into one filter bank, are convolved over whole images (a `Conv2D` holding them, fixed)
  and mean-pooled (``--pool``, 7: 7×7 over the 21×21 maps, a 3×3 grid, as UFLDL's 19×19
  pools over 57×57 maps); softmax regression (λ 1e-4, L-BFGS) classifies the pooled
  features, against softmax regression on the raw pixels.
- ``nielsen``: chapter 6's networks (``--variant``): 1 one conv-pool layer (20 filters
  5×5, max pool 2) + dense 100 + softmax, sigmoid; 2 two conv-pool layers (20 then 40
  filters); 3 as 2 with ReLU; 4 as 3 with dropout (``--dropout``, 0.5) on the dense layer
  (chapter 6's last network has two dense layers of 1000 there: ``--dense 1000
  --dense-layers 2``, about twice the time of network 3 per epoch).

Each prints the machine (CPU, BLAS), the configuration, one line per epoch, the test
accuracy, seconds per epoch, and the figure the source reports beside it. Fashion-MNIST
is read from /usr/share/datasets/fashion-mnist (``nablanet.data.load_fashion_mnist``).
One BLAS thread unless ``--threads``: the machine's cores are shared.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _machine import cpu_model, load_average
from threadpoolctl import threadpool_info, threadpool_limits

import nablanet
from nablanet import Network, SoftmaxRegression, SparseAutoencoder, ZCAWhitening
from nablanet.data import load_fashion_mnist
from nablanet.layers import Conv2D, Dense, MaxPool2D, MeanPool2D
from nablanet.optim import SGD, Adam
from nablanet.optim.momentum_switch import MomentumSwitchSGD
from nablanet.optim.schedules import StepDecay
from nablanet.training.callbacks import Callback

Array = np.ndarray
SHAPE = (1, 28, 28)

#: What each source reports on MNIST, for the line printed beside ours.
SOURCE = {
    "ufldl-cnn": "UFLDL's CNN exercise: about 97% on MNIST test (3 epochs)",
    "features": "UFLDL's convolution-and-pooling exercise: about 80% on its STL-10 subset "
                "(4 classes, 64×64 colour images, 400 features)",
    "nielsen1": "Nielsen ch. 6, one conv-pool + dense 100, sigmoid: 98.78% on MNIST (60 epochs)",
    "nielsen2": "Nielsen ch. 6, two conv-pool layers, sigmoid: 99.06% on MNIST (60 epochs)",
    "nielsen3": "Nielsen ch. 6, two conv-pool layers, ReLU: 99.23% on MNIST (60 epochs)",
    "nielsen4": "Nielsen ch. 6, ReLU + dropout 0.5 on two dense layers of 1000, data expanded "
                "by 1-pixel shifts: 99.60% on MNIST (40 epochs)",
}


# --- reporting -------------------------------------------------------------------------


def header(args: argparse.Namespace) -> None:
    """The machine and the run's configuration."""
    print(f"CPU: {cpu_model()}; Python {platform.python_version()}, NumPy {np.__version__}, "
          f"nablanet {nablanet.__version__}; {args.threads} BLAS thread(s)")
    for info in threadpool_info():
        print(f"BLAS: {info.get('internal_api')} {info.get('version')} "
              f"({info.get('architecture', '-')})")
    print(f"load average: {load_average()} at the start")
    print("config: " + ", ".join(f"{k}={v}" for k, v in sorted(vars(args).items())))


def footer(name: str, accuracy: float, seconds: list[float], source: str) -> None:
    """Test accuracy and seconds per epoch, with the source's figure beside them."""
    per_epoch = f"{np.mean(seconds):.1f} s per epoch (wall)" if seconds else "-"
    print(f"RESULT {name}: Fashion-MNIST test accuracy {accuracy:.4f}; {per_epoch}")
    print(f"  source: {SOURCE[source]}")


class EpochPrinter(Callback):
    """Prints each epoch's mean minibatch cost, its wall time and the test accuracy."""

    def __init__(self, X_test: Array, y_test: Array) -> None:
        self.X_test, self.y_test = X_test, y_test

    def on_epoch_end(self, state: Any) -> None:
        h = state.history
        acc = test_accuracy(state.net, self.X_test, self.y_test)
        print(f"  epoch {state.epoch + 1}: cost {h.train_loss[-1]:.4f}, α {state.learning_rate:g}, "
              f"{h.epoch_time[-1]:.1f} s, test accuracy {acc:.4f}", flush=True)


def test_accuracy(net: Network, X: Array, y: Array, rows: int = 1000) -> float:
    """Share of rows whose largest output is the label (in slices of ``rows``)."""
    hits = 0
    for start in range(0, X.shape[0], rows):
        out = net.forward(X[start : start + rows])
        hits += int((out.argmax(axis=1) == y[start : start + rows]).sum())
    return hits / X.shape[0]


def fashion(train_rows: int | None) -> tuple[Array, Array, Array, Array]:
    """Fashion-MNIST in float32, pixels in [0, 1]; the first ``train_rows`` training rows."""
    data = load_fashion_mnist(dtype=np.float32)
    X, y = data.X_train, data.y_train
    if train_rows is not None:
        X, y = X[:train_rows], y[:train_rows]
    return X, y, data.X_test, data.y_test


def one_hot(y: Array, dtype: Any = np.float32) -> Array:
    return np.eye(10, dtype=dtype)[y]


# --- UFLDL's CNN exercise ----------------------------------------------------------------


def ufldl_init(net: Network, seed: int) -> None:
    """``cnnInitParams.m``: Wc = 1e-1·randn, Wd uniform in ±√6/√(10 + hidden + 1), b = 0."""
    rng = np.random.default_rng(seed)
    W_conv, W_out = net.W[0], net.W[2]
    W_conv[...] = 0.1 * rng.standard_normal(W_conv.shape)
    r = math.sqrt(6) / math.sqrt(W_out.shape[0] + W_out.shape[1] + 1)
    W_out[...] = rng.uniform(-r, r, W_out.shape)
    for b in net.b:
        b[...] = 0.0


def ufldl_cnn(args: argparse.Namespace) -> None:
    X, y, X_test, y_test = fashion(args.train_rows)
    net = Network([Conv2D(20, 9), MeanPool2D(2), Dense(10, "softmax")], input_shape=SHAPE,
                  dtype=np.float32, seed=args.seed)
    ufldl_init(net, args.seed)
    theta0 = net.theta.copy()
    opt = MomentumSwitchSGD(learning_rate=0.1, momentum=0.95, initial_momentum=0.5,
                            switch_at=20)
    schedule = StepDecay(0.1, step_size=1, gamma=0.5)
    print(f"nablanet: {' → '.join(map(repr, net.layers))}")
    history = nablanet.train(net, X, one_hot(y), optimizer=opt, learning_rate=schedule,
                             epochs=args.epochs, batch_size=256, seed=args.seed,
                             callbacks=[EpochPrinter(X_test, y_test)])
    ours = test_accuracy(net, X_test, y_test)
    footer("nablanet", ours, history.best.epoch_time, "ufldl-cnn")
    if args.no_torch:
        return
    theirs, seconds = torch_ufldl(net, theta0, X, y, X_test, y_test, args)
    footer("PyTorch (same weights, update and batches)", theirs, seconds, "ufldl-cnn")


def batch_order(m: int, batch: int, epochs: int, seed: int) -> list[list[Array]]:
    """The minibatches of ``nablanet.train(..., batch_size=batch, seed=seed)``, per epoch.

    Without validation data or dropout its generator's only draws are one in-place
    shuffle of the same index array per epoch (`nablanet.training.run`); the last batch
    of an epoch is the remainder.
    """
    rng = np.random.default_rng(seed)
    order = np.arange(m)
    epochs_batches = []
    for _ in range(epochs):
        rng.shuffle(order)
        epochs_batches.append([order[s : s + batch].copy() for s in range(0, m, batch)])
    return epochs_batches


def torch_ufldl(net: Network, theta0: Array, X: Array, y: Array, X_test: Array, y_test: Array,
                args: argparse.Namespace) -> tuple[float, list[float]]:
    """The same network in PyTorch from θ₀, trained with UFLDL's update by hand."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    start = net.copy()
    start.theta[...] = theta0
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 20, 9), torch.nn.Sigmoid(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(2000, 10),
    )
    with torch.no_grad():
        for mod, W, b in zip((model[0], model[4]), (start.W[0], start.W[2]),
                             (start.b[0], start.b[2]), strict=True):
            mod.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
            mod.bias.copy_(torch.from_numpy(b.copy()))
    params = list(model.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    tX = torch.from_numpy(X.reshape(-1, *SHAPE))
    ty = torch.from_numpy(y)
    alpha, it, seconds = 0.1, 0, []
    print(f"PyTorch {torch.__version__}: {model}")
    for e, batches in enumerate(batch_order(X.shape[0], 256, args.epochs, args.seed)):
        t0, total = time.perf_counter(), 0.0
        for rows in batches:
            it += 1
            mu = 0.95 if it >= 20 else 0.5
            idx = torch.from_numpy(rows)
            for p in params:
                p.grad = None
            loss = F.cross_entropy(model(tX[idx]), ty[idx])
            loss.backward()
            with torch.no_grad():
                for p, v in zip(params, velocity, strict=True):
                    v.mul_(mu).add_(p.grad, alpha=alpha)  # UFLDL: v = μ v + α g; θ = θ − v
                    p.sub_(v)
            total += float(loss.detach()) * len(rows)
        seconds.append(time.perf_counter() - t0)
        with torch.no_grad():
            acc = float((model(torch.from_numpy(X_test.reshape(-1, *SHAPE))).argmax(1)
                         == torch.from_numpy(y_test)).double().mean())
        print(f"  epoch {e + 1}: cost {total / X.shape[0]:.4f}, α {alpha:g}, "
              f"{seconds[-1]:.1f} s, test accuracy {acc:.4f}", flush=True)
        alpha /= 2
    return acc, seconds


# --- learnt features, convolved and pooled -----------------------------------------------


def sample_patches(X: Array, n: int, size: int, seed: int) -> Array:
    """``n`` random size×size patches of random images, as rows."""
    rng = np.random.default_rng(seed)
    images = X.reshape(-1, 28, 28)
    k = rng.integers(0, images.shape[0], n)
    r, c = rng.integers(0, 28 - size + 1, (2, n))
    rows = r[:, None] + np.arange(size)[None, :]
    cols = c[:, None] + np.arange(size)[None, :]
    return images[k[:, None, None], rows[:, :, None], cols[:, None, :]].reshape(n, size * size)


def feature_network(ae: SparseAutoencoder, zca: ZCAWhitening, pool: int) -> Network:
    """A [Conv2D, MeanPool2D] network computing the features at every position, pooled.

    The autoencoder's hidden unit j sees x' = M (x − x̄), M the symmetric ZCA matrix:
    σ(W x' + b) = σ((W M) x + b − W M x̄), one filter bank over raw patches (UFLDL's
    ``cnnConvolve`` folds the whitening in the same way).
    """
    W = ae.net_.W[0] @ zca.whitening_
    b = ae.net_.b[0] - W @ zca.mean_
    size = int(math.isqrt(W.shape[1]))
    # float32: a third of float64's time here, and far below the features' own precision.
    net = Network([Conv2D(W.shape[0], size), MeanPool2D(pool)], input_shape=SHAPE,
                  dtype=np.float32)
    net.W[0][...] = W.reshape(-1, 1, size, size)
    net.b[0][...] = b
    return net


def pooled(net: Network, X: Array, rows: int = 500) -> Array:
    """The network's output for every row of X in float64 (computed in slices of ``rows``)."""
    return np.vstack([net.forward(X[s : s + rows]).astype(np.float64)
                      for s in range(0, X.shape[0], rows)])


def features(args: argparse.Namespace) -> None:
    X, y, X_test, y_test = fashion(args.train_rows)
    t0 = time.perf_counter()
    patches = sample_patches(X, args.patches, 8, args.seed).astype(np.float64)
    zca = ZCAWhitening(epsilon=0.1).fit(patches)
    ae = SparseAutoencoder(args.features, sparsity_target=0.035, sparsity_weight=5.0,
                           weight_decay=3e-3, output_activation="identity",
                           max_iter=args.ae_iter, random_state=args.seed)
    ae.fit(zca.transform(patches))
    t_ae = time.perf_counter() - t0
    print(f"sparse autoencoder 64-{args.features}-64 (linear decoder) on {args.patches} "
          f"ZCA-whitened patches: {ae.n_iter_} L-BFGS iterations, J {ae.loss_curve_[-1]:.4f}, "
          f"{t_ae:.1f} s")
    net = feature_network(ae, zca, pool=args.pool)
    print(f"feature network: {' → '.join(map(repr, net.layers))}: "
          f"{net.layer_sizes[-1]} pooled features an image")
    t0 = time.perf_counter()
    F_train, F_test = pooled(net, X), pooled(net, X_test)
    t_conv = time.perf_counter() - t0
    print(f"convolved and pooled {X.shape[0] + X_test.shape[0]} images in {t_conv:.1f} s")
    results = []
    for name, A, A_test in (("pooled learnt features", F_train, F_test),
                            ("raw pixels", X.astype(np.float64), X_test.astype(np.float64))):
        t0 = time.perf_counter()
        clf = SoftmaxRegression(weight_decay=1e-4, max_iter=args.softmax_iter,
                                random_state=args.seed).fit(A, y)
        acc = clf.score(A_test, y_test)
        results.append(acc)
        print(f"RESULT softmax regression on {name} ({A.shape[1]} inputs, "
              f"{clf.n_iter_} L-BFGS iterations, {time.perf_counter() - t0:.1f} s): "
              f"Fashion-MNIST test accuracy {acc:.4f}")
    print(f"  source: {SOURCE['features']}")


# --- Nielsen's chapter 6 -----------------------------------------------------------------


def dense_dropout_train(net: Network, X: Array, Y: Array, opt: Any, args: argparse.Namespace,
                        on_epoch: Callable[[int, float, float], None]) -> list[float]:
    """Minibatch training with dropout on the dense hidden layers only (chapter 6's).

    The masks are drawn here, one per dense hidden layer (None for the convolution and
    pooling layers), and passed to ``Network.loss_and_grad``, so that what is dropped is
    explicit in the benchmark.
    """
    rng = np.random.default_rng(args.seed)
    keep = 1.0 - args.dropout
    hidden = [l for l, layer in enumerate(net.layers[:-1]) if isinstance(layer, Dense)]
    state, grad_seconds = opt.init(net.theta), []
    order = np.arange(X.shape[0])
    for e in range(args.epochs):
        rng.shuffle(order)
        t0, total = time.perf_counter(), 0.0
        for s in range(0, X.shape[0], args.batch):
            rows = order[s : s + args.batch]
            masks: list[Array | None] = [None] * (len(net.layers) - 1)
            for l in hidden:
                u = rng.random((len(rows), net.layers[l].units), dtype=np.float32)
                masks[l] = (u < keep).astype(np.float32) / np.float32(keep)
            J, grad = net.loss_and_grad(X[rows], Y[rows], dropout_masks=masks)
            opt.step(net.theta, grad, state, schedule_rate(args, e))
            total += J * len(rows)
        grad_seconds.append(time.perf_counter() - t0)
        on_epoch(e, total / X.shape[0], grad_seconds[-1])
    return grad_seconds


def schedule_rate(args: argparse.Namespace, epoch: int) -> float:
    """η of ``epoch`` (from 0): ``--learning-rate`` × ``--lr-decay`` ** epoch."""
    return float(args.learning_rate * args.lr_decay**epoch)


def nielsen(args: argparse.Namespace) -> None:
    X, y, X_test, y_test = fashion(args.train_rows)
    v = args.variant
    dense = args.dense
    f = "sigmoid" if v <= 2 else "relu"
    layers: list[Any] = [Conv2D(20, 5, activation=f), MaxPool2D(2)]
    if v >= 2:
        layers += [Conv2D(40, 5, activation=f), MaxPool2D(2)]
    layers += [Dense(dense, f) for _ in range(args.dense_layers)] + [Dense(10, "softmax")]
    net = Network(layers, input_shape=SHAPE, dtype=np.float32, seed=args.seed)
    opt = Adam(learning_rate=args.learning_rate) if args.optimizer == "adam" else \
        SGD(learning_rate=args.learning_rate, momentum=args.momentum)
    print(f"network {v}: {' → '.join(map(repr, net.layers))}; {args.optimizer}, "
          f"η {args.learning_rate:g} × {args.lr_decay:g} per epoch, batch {args.batch}, "
          f"{args.epochs} epochs"
          + (f", dropout {args.dropout} on the dense layers" if v == 4 else ""))
    if v == 4:
        def on_epoch(e: int, J: float, seconds: float) -> None:
            print(f"  epoch {e + 1}: cost {J:.4f}, η {schedule_rate(args, e):g}, {seconds:.1f} s, "
                  f"test accuracy {test_accuracy(net, X_test, y_test):.4f}", flush=True)

        seconds = dense_dropout_train(net, X, one_hot(y), opt, args, on_epoch)
    else:
        schedule = StepDecay(args.learning_rate, step_size=1, gamma=args.lr_decay)
        history = nablanet.train(net, X, one_hot(y), optimizer=opt,
                                 learning_rate=schedule, epochs=args.epochs,
                                 batch_size=args.batch, seed=args.seed,
                                 callbacks=[EpochPrinter(X_test, y_test)])
        seconds = history.best.epoch_time
    footer(f"Nielsen network {v}", test_accuracy(net, X_test, y_test), seconds, f"nielsen{v}")


# --- command line ----------------------------------------------------------------------


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-rows", type=int, default=None,
                        help="use the first N training images (default all 60000)")
    sub = parser.add_subparsers(dest="experiment", required=True)
    p = sub.add_parser("ufldl-cnn", help="UFLDL's CNN exercise, nablanet and PyTorch")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--no-torch", action="store_true", help="nablanet only")
    p = sub.add_parser("features", help="convolution and pooling of learnt features")
    p.add_argument("--features", type=int, default=64, help="hidden units (UFLDL: 400)")
    p.add_argument("--patches", type=int, default=20000, help="patches (UFLDL: 100000)")
    p.add_argument("--pool", type=int, choices=(3, 7, 21), default=7,
                   help="mean pooling size over the 21×21 maps (7: a 3×3 grid, UFLDL's)")
    p.add_argument("--ae-iter", type=int, default=400, help="autoencoder L-BFGS iterations")
    p.add_argument("--softmax-iter", type=int, default=200, help="softmax L-BFGS iterations")
    p = sub.add_parser("nielsen", help="chapter 6's networks")
    p.add_argument("--variant", type=int, choices=(1, 2, 3, 4), required=True)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--lr-decay", type=float, default=1.0,
                   help="η is multiplied by this after each epoch (default 1: constant)")
    p.add_argument("--momentum", type=float, default=0.9, help="sgd's μ (default 0.9)")
    p.add_argument("--dense", type=int, default=100, help="units per dense layer (100)")
    p.add_argument("--dense-layers", type=int, default=1,
                   help="dense hidden layers (1; chapter 6's last network has 2 of 1000)")
    p.add_argument("--dropout", type=float, default=0.5, help="variant 4's rate")
    return parser.parse_args(argv)


def main() -> None:
    args = parse()
    header(args)
    run = {"ufldl-cnn": ufldl_cnn, "features": features, "nielsen": nielsen}[args.experiment]
    with threadpool_limits(limits=args.threads):
        run(args)


if __name__ == "__main__":
    main()
