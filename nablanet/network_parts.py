"""A large batch's cost and gradient in fixed parts of rows, on threads that sleep (issue 25).

J and ∂J/∂θ are sums over the examples of w_i C_i and w_i ∇C_i, w_i being example i's
share of the mean (docs/math.md §6), plus the weight decay. So the batch's rows go in
fixed parts (`nablanet.layers.chunks.row_parts`), every product on one BLAS thread, the
parts shared among the pool's threads as each becomes free (a thread that gets less of the
CPU takes fewer), in two rounds:

1. each part's forward pass and BP1, with the shares of the whole batch: its Σ w_i C_i,
   and for a sparsity penalty its Σ w_i a_i of each penalised layer;
2. once ρ̂ = Σ w_i a_i / Σ w_i is known from every part (added in part order), each
   part's δ terms of the penalty and its backward pass: its Σ w_i ∇C_i.

The parts' sums are added in part order, then the penalty's cost and the weight decay
once. The parts depend on the number of rows alone, so the result is the same bits
whatever the thread count or the load. It differs from one unsplit pass only in the order
of the additions over the examples (about 1e-16 relative in float64).

Not split: a network whose layers split each batch themselves (convolution, pooling);
it keeps one pass and the measured choice of BLAS threads (`nablanet.training.blas_threads`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet import kernels
from nablanet._blas import ONE_THREAD_PRODUCT
from nablanet.layers.chunks import holding_blas, row_parts, run_parts
from nablanet.network import Network
from nablanet.sparsity import SparsityPass
from nablanet.workspace import Workspace

Array = NDArray[Any]


class _Sums(SparsityPass):
    """A part's Σ w_i a_i of each penalised layer, no δ term (ρ̂ needs every part first)."""

    def observe(self, l: int, A: Array, sample_weight: Array, D: Array | None) -> None:
        """Accumulate the part's sums only (see `SparsityPass.observe`)."""
        super().observe(l, A, sample_weight, None)


class PartedPass:
    """J and ∂J/∂θ of batches of m rows, part by part; keeps its buffers for its life.

    Build it with `for_rows`, which says None where a batch of m rows is not split.
    Memory: the buffers of the whole batch (as one unsplit pass takes) and one gradient
    vector per part.
    """

    def __init__(self, net: Network, parts: list[slice]) -> None:
        self.net, self.parts = net, parts
        self.workspaces = [Workspace(net.layers, s.stop - s.start, net.dtype, False) for s in parts]
        self.grads = np.empty((len(parts), net.n_params), net.dtype)
        self.costs = np.empty(len(parts))
        m = parts[-1].stop
        self.uniform = np.full(m, 1.0 / m, net.dtype)  # as `Workspace.uniform`: the same w_i

    @staticmethod
    def parts_for(net: Network, m: int) -> list[slice] | None:
        """The parts of a batch of m rows, or None where it is not split (module docstring).

        Also None below `ONE_THREAD_PRODUCT`, where OpenBLAS uses one thread anyway. A
        batch too small for two parts is one part, still on one BLAS thread: its bits too
        must not depend on the thread count. At most `nablanet.layers.chunks.PARTS` parts:
        the whole batch's buffers are what one unsplit pass takes, and the parts' gradient
        vectors stay few.
        """
        if net.splits_batch or m * net.largest_product < ONE_THREAD_PRODUCT:
            return None
        return row_parts(m, max_rows=m)

    @classmethod
    def for_rows(cls, net: Network, m: int) -> PartedPass | None:
        """The pass for batches of m rows, or None where they are not split (`parts_for`)."""
        parts = cls.parts_for(net, m)
        return None if parts is None else cls(net, parts)

    def __call__(
        self, X: Any, Y: Array, theta: Array, grad: Array, sample_weight: Array | None = None
    ) -> float:
        """J at ``theta``, ∂J/∂θ into ``grad``: `Network.loss_and_grad_into` (checks nothing)."""
        net = self.net
        if sample_weight is None:
            share = self.uniform
        else:  # as the network's own shares: s_i / Σ s over the whole batch
            share = (sample_weight / sample_weight.sum()).astype(net.dtype)
        W, b = (net.W, net.b) if theta is net.theta else net.views(theta)
        penalised = any(p is not None for p in net.sparsity)
        penalty = SparsityPass(net.sparsity, net.activations[:-1])
        sums = [_Sums(net.sparsity, net.activations[:-1]) for _ in self.parts] if penalised else []

        def forward(j: int, rows: slice) -> None:  # round 1: forward pass and BP1
            ws = self.workspaces[j]
            sums_j = sums[j] if penalised else None
            net._forward(X[rows], W, b, ws, True, None, False, sums_j, share[rows])  # private: part
            out = ws.buffers[-1]
            self.costs[j] = net.loss.cost_and_delta(
                net.activations[-1], out.Z, out.A, Y[rows], share[rows], out.delta
            )

        def backward(j: int, rows: slice) -> None:  # round 2: the penalty's δ terms, backward
            ws = self.workspaces[j]
            terms = {}
            for l in penalty.ranges:
                D = ws.buffers[l].D
                assert D is not None  # a penalised layer's activation has f'
                terms[l] = penalty.delta_term(l, share[rows], D)
            dW, db = net.views(self.grads[j])
            net._backward(X[rows], W, ws, dW, db, terms)  # private: a part's backward pass

        # All of it on one BLAS thread, the decay's Σ W² too (a long dot product is summed
        # in another order on several threads).
        with holding_blas():
            run_parts(forward, self.parts)
            for part in sums:  # ρ̂ from every part's Σ w_i a_i, added in part order
                for l, wA in part.sums.items():
                    penalty.sums[l] = wA if l not in penalty.sums else penalty.sums[l] + wA
                    penalty.totals[l] = penalty.totals.get(l, 0.0) + part.totals[l]
            run_parts(backward, self.parts)
            np.copyto(grad, self.grads[0])
            for g in self.grads[1:]:  # in part order: the same bits whatever ran where
                grad += g
            J = float(np.sum(self.costs)) + net.weight_decay_cost(theta)
            if penalised:
                J += penalty.cost()
            if net.weight_decay:  # λW, once; the biases are not decayed
                n = net.n_weights
                kernels.axpy(net.dtype.type(net.weight_decay), theta[:n], grad[:n])
        return J
