"""The matrix-multiply lower bound of one training epoch, measured on this machine.

One minibatch step of a network with layer sizes (s_1, ..., s_L) on b rows does, for every
weight layer l with W(l) of shape (s_{l+1}, s_l) (rows are samples, as in nablanet):

    forward       Z(l+1) = A(l) W(l)ᵀ        (b × s_l) · (s_l × s_{l+1})   2·b·s_l·s_{l+1} FLOPs
    gradient      ∂J/∂W(l) = Δ(l+1)ᵀ A(l)    (s_{l+1} × b) · (b × s_l)    2·b·s_l·s_{l+1}
    backprop      Δ(l) = Δ(l+1) W(l)          (b × s_{l+1}) · (s_{l+1} × s_l)  2·b·s_l·s_{l+1}
                  (every layer but the first: nobody needs ∂J/∂X)

so an epoch of m rows costs 2·m·Σ_l s_l s_{l+1} (forward) + 2·m·Σ_l s_l s_{l+1} (∂W) +
2·m·Σ_{l≥2} s_l s_{l+1} (Δ) FLOPs: the *minimal count*. The issue's count also propagates Δ
into the input layer (the third term over every l, i.e. 6·m·Σ_l s_l s_{l+1}); both are
reported. Bias gradients, activations, the loss and the optimizer step are O(m·Σ s_l) or
O(n_params) and left out: the bound is the GEMM work alone.

The bound divides those FLOPs by the best single-precision GEMM rate measured in this run
on a large square product (the machine's matrix-multiply rate). A second, less optimistic
floor times each product at its own shapes and sums the times: what the BLAS alone needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

SQUARE = 2048


@dataclass(frozen=True)
class Gemm:
    """One matrix product of a training step: what it computes and its shape (M×K)·(K×N)."""

    kind: str  # "forward", "dW" or "delta"
    layer: int
    M: int
    K: int
    N: int

    @property
    def flops(self) -> int:
        """2·M·K·N multiply-adds."""
        return 2 * self.M * self.K * self.N


def step_gemms(sizes: tuple[int, ...], b: int, input_delta: bool = False) -> list[Gemm]:
    """The GEMMs of one forward + backward pass on b rows (see the module docstring)."""
    out: list[Gemm] = []
    for l, (s_in, s_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        out.append(Gemm("forward", l, b, s_in, s_out))
        out.append(Gemm("dW", l, s_out, b, s_in))
        if l > 0 or input_delta:
            out.append(Gemm("delta", l, b, s_out, s_in))
    return out


def batches(m: int, batch_size: int | None) -> list[tuple[int, int]]:
    """(batch rows, how many such batches) for an epoch of m rows."""
    bs = m if batch_size is None else min(batch_size, m)
    n_full, tail = divmod(m, bs)
    return [(bs, n_full)] + ([(tail, 1)] if tail else [])


def epoch_flops(
    sizes: tuple[int, ...], m: int, batch_size: int | None, input_delta: bool = False
) -> int:
    """GEMM FLOPs of one epoch (minimal count, or the issue's with ``input_delta``)."""
    return sum(
        n * sum(g.flops for g in step_gemms(sizes, b, input_delta))
        for b, n in batches(m, batch_size)
    )


def _best_seconds(call: Any, min_block: float = 0.05, blocks: int = 3) -> float:
    """Fastest seconds per call over ``blocks`` blocks of at least ``min_block`` seconds."""
    call()  # warm up: first touch, BLAS thread start
    t0 = time.perf_counter()
    call()
    once = max(time.perf_counter() - t0, 1e-7)
    n = max(1, int(min_block / once))
    best = once
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def square_rate(dtype: Any = np.float32, n: int = SQUARE, seed: int = 0) -> float:
    """GFLOP/s of an n×n by n×n product (best of a few)."""
    rng = np.random.default_rng(seed)
    A = rng.random((n, n), dtype=np.float64).astype(dtype)
    B = rng.random((n, n), dtype=np.float64).astype(dtype)
    C = np.empty((n, n), dtype)
    seconds = _best_seconds(lambda: np.matmul(A, B, out=C), min_block=0.2, blocks=3)
    return 2 * n**3 / seconds / 1e9


def gemm_seconds(g: Gemm, dtype: Any = np.float32, seed: int = 0) -> float:
    """Best seconds of one product laid out as nablanet's backpropagation lays it out."""
    rng = np.random.default_rng(seed)
    if g.kind == "forward":  # A (b, s_in) · W(s_out, s_in)ᵀ
        A = rng.random((g.M, g.K), dtype=np.float32).astype(dtype)
        W = rng.random((g.N, g.K), dtype=np.float32).astype(dtype)
        left, right = A, W.T
    elif g.kind == "dW":  # Δ (b, s_out)ᵀ · A (b, s_in)
        D = rng.random((g.K, g.M), dtype=np.float32).astype(dtype)
        A = rng.random((g.K, g.N), dtype=np.float32).astype(dtype)
        left, right = D.T, A
    else:  # Δ (b, s_out) · W (s_out, s_in)
        D = rng.random((g.M, g.K), dtype=np.float32).astype(dtype)
        W = rng.random((g.K, g.N), dtype=np.float32).astype(dtype)
        left, right = D, W
    C = np.empty((g.M, g.N), dtype)
    return _best_seconds(lambda: np.matmul(left, right, out=C))


class GemmTimer:
    """Measured product times, cached per shape (the best seen wins)."""

    def __init__(self, dtype: Any = np.float32) -> None:
        self.dtype = dtype
        self.seconds: dict[Gemm, float] = {}

    def measure(self, g: Gemm) -> float:
        """Measure (again) and keep the best."""
        key = Gemm(g.kind, 0, g.M, g.K, g.N)
        t = gemm_seconds(key, self.dtype)
        self.seconds[key] = min(t, self.seconds.get(key, np.inf))
        return self.seconds[key]

    def get(self, g: Gemm) -> float:
        """The best time so far, measuring once if never seen."""
        key = Gemm(g.kind, 0, g.M, g.K, g.N)
        if key not in self.seconds:
            return self.measure(g)
        return self.seconds[key]

    def epoch_seconds(self, sizes: tuple[int, ...], m: int, batch_size: int | None) -> float:
        """Sum of each product's own best time over one epoch (minimal count)."""
        return sum(
            n * sum(self.get(g) for g in step_gemms(sizes, b)) for b, n in batches(m, batch_size)
        )
