"""The exact data-parallel cost: J(θ) and ∂J/∂θ summed over row blocks on a Dask cluster.

J is a weighted mean over examples, so with unnormalised weights s_i
(1 when none are given) and row blocks B_1 … B_k::

    J(θ)   = (Σ_b Σ_{i∈B_b} s_i C_i(θ)) / (Σ_b Σ_{i∈B_b} s_i)  +  (λ/2) Σ W²
    ∂J/∂θ  = (Σ_b Σ_{i∈B_b} s_i ∇C_i(θ)) / (Σ_b Σ_{i∈B_b} s_i)  +  λ W

Each block's task returns its three sums (Σ sC, Σ s∇C, Σ s) where the block lives; the
sums travel up a fixed binary tree (`tree_sum`) and the driver divides once and adds the
weight decay once. Only θ goes out and one gradient per tree edge comes back: the data
never moves. The result equals `Network.loss_and_grad` on the concatenated arrays up to
the order of floating-point additions (about 1e-15 relative in float64).
"""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._optional import requires_extra
from nablanet.distributed._blocks import aligned, one_thread, row_data, ship, tree_sum
from nablanet.kernels import fit_kernels, use_compiled
from nablanet.network import Network

Array = NDArray[Any]
Sums = tuple[float, Array | None, float]


def unpickle_network(blob: bytes) -> Network:
    """A private copy of the round's network, its θ moved to an aligned buffer.

    Unpickled arrays may be views into the received bytes at any address; see
    `nablanet.distributed._blocks.aligned` for why every task computes on aligned θ.
    """
    net: Network = pickle.loads(blob)
    net.bind_theta(aligned(net.theta, net.dtype))
    return net


@one_thread
def block_sums(
    net_bytes: bytes,
    X: Array,
    Y: Array,
    sample_weight: Array | None,
    gradient: bool,
    compiled: bool = True,
) -> Sums:
    """One row block's (Σ s_i C_i, Σ s_i ∇C_i, Σ s_i), without weight decay.

    Parameters
    ----------
    net_bytes : bytes
        The pickled network holding the round's θ (its weight decay set to 0). Each task
        unpickles its own copy, so threads of one worker never share work buffers.
    X : ndarray of shape (m_b, s_1)
    Y : ndarray of shape (m_b, s_{n_l})
    sample_weight : ndarray of shape (m_b,), optional
        Blocks as `nablanet.distributed._blocks.checked_block` returns them.
    gradient : bool
        Also backpropagate (else only the forward pass and the cost).
    compiled : bool, default True
        Use the compiled kernels (`nablanet.kernels.fit_kernels`): the driver's choice,
        passed explicitly since a context variable does not travel to the workers.

    Returns
    -------
    (float, ndarray of shape (n_params,) in float64 or None, float)

    Notes
    -----
    The network computes the block's weighted *mean* J_b and ∇J_b with weights
    s_i / Σ_b s; multiplying by Σ_b s gives the sums back (one rounding each).
    """
    net = unpickle_network(net_bytes)
    # Checked by `checked_block`; aligned again only if the block moved (a no-op otherwise).
    X, Y = aligned(X, net.dtype), aligned(Y, net.dtype)
    if sample_weight is not None:
        sample_weight = aligned(sample_weight, np.float64)
    S = float(X.shape[0]) if sample_weight is None else float(sample_weight.sum())
    if S == 0.0:  # a block whose rows all weigh nothing adds nothing
        return 0.0, np.zeros(net.n_params) if gradient else None, 0.0
    with fit_kernels(compiled):
        if not gradient:
            return net.cost_unchecked(X, Y, sample_weight=sample_weight) * S, None, S
        grad = aligned(np.empty(net.n_params, dtype=net.dtype), net.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite J: the driver's call
            J = net.loss_and_grad_into(X, Y, net.theta, grad, sample_weight=sample_weight)
    return J * S, grad.astype(np.float64) * S, S


def add_sums(a: Sums, b: Sums) -> Sums:
    """Add two blocks' sums (a node of the reduction tree)."""
    g = None if a[1] is None or b[1] is None else a[1] + b[1]
    return a[0] + b[0], g, a[2] + b[2]


class DaskObjective:
    """J(θ) and ∂J/∂θ of a network over dask arrays, computed on the row blocks.

    Parameters
    ----------
    net : Network
        Gives the architecture, the loss, the weight decay λ and the dtype. Its θ is not
        used or changed: calls pass θ.
    X : dask array of shape (m, s_1), or a dask dataframe
        Chunked along rows; columns are put into one chunk and unknown row counts are
        computed.
    Y : dask array of shape (m, s_{n_l}) or (m,)
        Targets coded for the output activation; rechunked to X's row blocks.
    sample_weight : dask array of shape (m,), optional
    persist : bool, default True
        Keep the blocks in the workers' memory between evaluations (a lost block is
        recomputed from its recipe). False re-reads them from their source every
        evaluation: for data larger than the cluster's memory.

    Notes
    -----
    With a ``distributed.Client`` active the tasks run on its cluster and θ is scattered
    to every worker once per evaluation; without one, dask's local threaded scheduler
    runs them. Calling the object returns ``(J, grad)``, so it plugs into
    `nablanet.check_gradient` and into `nablanet.optim` minimizers.
    """

    def __init__(
        self, net: Network, X: Any, Y: Any, sample_weight: Any = None, *, persist: bool = True
    ) -> None:
        if any(p is not None for p in net.sparsity):
            # ρ̂, each hidden unit's mean activation, is a mean over every row: the penalty
            # does not split into per-block sums.
            raise ValueError(
                "a network with a sparsity penalty cannot be trained on dask arrays: its "
                "penalty depends on the mean activation over all rows at once"
            )
        self.net = net
        self.X, self.Y, self.sample_weight, self._blocks = row_data(
            net, X, Y, sample_weight, persist=persist
        )

    @property
    def n_samples(self) -> int:
        """Number of rows m."""
        return int(self.X.shape[0])

    @property
    def n_blocks(self) -> int:
        """Number of row blocks (tasks per evaluation)."""
        return len(self._blocks)

    def _round(self, theta: Any, gradient: bool) -> tuple[Sums, Array]:
        """Compute the tree-summed block sums at θ; also return θ in the net's dtype."""
        with requires_extra("dask"):
            import dask

        net = self.net.astype(self.net.dtype)
        net.weight_decay = 0.0  # added once, at the end
        theta = np.asarray(theta, dtype=net.dtype)
        if theta.shape != (net.n_params,):
            raise ValueError(f"theta must have shape ({net.n_params},), got {theta.shape}")
        with np.errstate(over="ignore", invalid="ignore"):
            net.theta[...] = theta  # the setter refuses NaN; a diverging run reports it
        ref = ship(net)
        task = dask.delayed(block_sums, pure=False)
        # Rows on a cluster are many: the workers compile unless the caller forbids it.
        compiled = use_compiled(math.inf)
        parts = [task(ref, xb, yb, wb, gradient, compiled) for xb, yb, wb in self._blocks]
        (sums,) = dask.compute(tree_sum(parts, add_sums))
        return sums, theta

    def loss_and_grad(self, theta: Any, grad: Array | None = None) -> tuple[float, Array]:
        """J(θ) and ∂J/∂θ over all rows.

        Parameters
        ----------
        theta : array-like of shape (n_params,)
        grad : ndarray of shape (n_params,), optional
            Written in place if given (any float dtype).

        Returns
        -------
        J : float
        grad : ndarray of shape (n_params,), the network's dtype unless ``grad`` is given
        """
        (total, G, S), theta = self._round(theta, gradient=True)
        assert G is not None
        self._check_weight(S)
        net = self.net
        n = net.n_weights
        g = G / S
        if net.weight_decay:  # ∂/∂W of (λ/2)ΣW²; biases are not decayed
            g[:n] += net.weight_decay * theta[:n]
        if grad is None:
            grad = np.empty(net.n_params, dtype=net.dtype)
        grad[...] = g
        return total / S + net.weight_decay_cost(theta), grad

    def __call__(self, theta: Any) -> tuple[float, Array]:
        """``(J, grad)`` at θ, the form `nablanet.check_gradient` and the minimizers take."""
        return self.loss_and_grad(theta)

    def cost(self, theta: Any) -> float:
        """J(θ) alone: a forward pass per block, no backpropagation."""
        (total, _, S), theta = self._round(theta, gradient=False)
        self._check_weight(S)
        return total / S + self.net.weight_decay_cost(theta)

    def _check_weight(self, S: float) -> None:
        if not S > 0 or not math.isfinite(S):
            raise ValueError(f"sample_weight sums to {S}: no sample would count")
