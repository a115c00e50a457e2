"""The sparsity penalty on a hidden layer's mean activations (UFLDL's sparse autoencoder).

For a hidden layer with units j, each example's share w_i of the cost (Σ_i w_i = 1: 1/m,
or s_i / Σ s with sample weights) and activations mapped into [0, 1] by the
activation's output range [lo, hi], p_ij = (a_ij − lo) / (hi − lo)::

    ρ̂_j = Σ_i w_i p_ij                                   the unit's mean activation
    P   = β Σ_j KL(ρ ‖ ρ̂_j),   KL(ρ ‖ ρ̂) = ρ log(ρ/ρ̂) + (1−ρ) log((1−ρ)/(1−ρ̂))
    ∂P/∂z_ij = w_i · β (−ρ/ρ̂_j + (1−ρ)/(1−ρ̂_j)) / (hi − lo) · f'(z_ij)

The last line is the term backpropagation adds to the layer's δ (docs/sparsity.md
derives it). For sigmoid units hi − lo = 1 and this is UFLDL's formula; for tanh units
the map (a + 1)/2 contributes the chain factor 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._checks import number
from nablanet.activations import Activation

Array = NDArray[Any]

#: How close ρ̂ may come to 0 or 1 (see `_inside`).
RHO_MARGIN = 1e-12


@dataclass(frozen=True)
class Sparsity:
    """A sparsity penalty β Σ_j KL(ρ ‖ ρ̂_j) on one hidden layer.

    Parameters
    ----------
    target : float
        ρ, the desired mean activation, in (0, 1) of the activation's range mapped to
        [0, 1] (UFLDL: 0.01 for sigmoid units).
    weight : float
        β ≥ 0, the penalty's weight in J (UFLDL: 3).
    """

    target: float
    weight: float

    def __post_init__(self) -> None:
        number(self.target, "sparsity target", 0.0, 1.0, low_open=True, high_open=True)
        number(self.weight, "sparsity weight", low=0.0)

    def cost(self, rho_hat: Array) -> float:
        """β Σ_j KL(ρ ‖ ρ̂_j) for mean activations ``rho_hat`` of shape (s,)."""
        rho, r = self.target, _inside(rho_hat)
        kl = rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r))
        return self.weight * float(kl.sum())

    def derivative(self, rho_hat: Array) -> Array:
        """∂/∂ρ̂_j of the penalty: β (−ρ/ρ̂_j + (1−ρ)/(1−ρ̂_j)), shape (s,)."""
        rho, r = self.target, _inside(rho_hat)
        return self.weight * (-rho / r + (1 - rho) / (1 - r))


def _inside(rho_hat: Array) -> Array:
    """ρ̂ kept RHO_MARGIN away from 0 and 1.

    A unit saturated on every example has ρ̂ = 0 or 1 exactly, where KL is infinite and
    its derivative times f'(z) = 0 is NaN; an L-BFGS line search that tries a long step
    would then stop on a non-finite J instead of backtracking. Inside the margin J and
    its gradient are exact; at the margin J is large (about 28 β) but finite.
    """
    return np.clip(rho_hat, RHO_MARGIN, 1.0 - RHO_MARGIN)


def unit_range(act: Activation) -> tuple[float, float]:
    """The activation's output range [lo, hi], which the penalty maps to [0, 1].

    Raises
    ------
    ValueError
        If the range is unbounded (relu, identity): a mean activation there has no
        target between "never active" and "always active".
    """
    lo, hi = act.output_range
    if not act.bounded:
        raise ValueError(
            f"a sparsity penalty needs bounded hidden units (sigmoid or tanh), not {act.name} "
            f"(range [{lo}, {hi}])"
        )
    return lo, hi


def penalties_for(value: Any, activations: list[Activation]) -> list[Sparsity | None]:
    """One `Sparsity` or None per hidden layer from a `Network`'s ``sparsity`` argument.

    ``None`` penalises nothing; one `Sparsity` (or a ``(target, weight)`` pair) applies
    to every hidden layer; a list gives one entry (or None) per hidden layer.
    """
    n_hidden = len(activations)
    if value is None:
        return [None] * n_hidden
    if isinstance(value, Sparsity):
        entries: list[Any] = [value] * n_hidden
    elif _is_pair(value):
        entries = [Sparsity(*value)] * n_hidden
    else:
        entries = list(value)
        if len(entries) != n_hidden:
            raise ValueError(
                f"sparsity needs one entry (or None) per hidden layer ({n_hidden}), "
                f"got {len(entries)}"
            )
    out: list[Sparsity | None] = []
    for entry, act in zip(entries, activations, strict=True):
        if entry is not None:
            entry = entry if isinstance(entry, Sparsity) else Sparsity(*entry)
            unit_range(act)
        out.append(entry)
    return out


def _is_pair(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )


class SparsityPass:
    """The penalty's part of one evaluation of J: ρ̂ of each penalised layer, its cost and δ term.

    The forward pass calls `observe` for each penalised layer, with the rows of one chunk
    and their weights (the chunked cost evaluation calls it once per chunk); with f'(z)
    given, the batch is complete and the layer's extra δ term is computed at once and
    kept in ``terms`` for backpropagation.
    """

    def __init__(self, penalties: list[Sparsity | None], activations: list[Activation]) -> None:
        self.penalties = penalties
        self.ranges = {
            l: unit_range(act)
            for l, (p, act) in enumerate(zip(penalties, activations, strict=True))
            if p is not None
        }
        self.sums: dict[int, Array] = {}
        self.totals: dict[int, float] = {}
        self.terms: dict[int, Array] = {}

    def observe(self, l: int, A: Array, sample_weight: Array, D: Array | None) -> None:
        """Accumulate Σ_i w_i a_ij of hidden layer ``l``; with ``D`` = f'(z), its δ term.

        Parameters
        ----------
        l : int
            Hidden layer index (0 = the first hidden layer).
        A : ndarray of shape (m, s)
            The layer's activations, before any dropout mask.
        sample_weight : ndarray of shape (m,)
            w_i, the rows' weights in the mean (with ``D``: their shares, summing to 1).
        D : ndarray of shape (m, s), optional
            f'(z) before any dropout mask: the penalty is on the unit's own activation,
            which dropout does not change. Given only for a whole batch.
        """
        wA = np.matmul(sample_weight, A)
        if l in self.sums:
            self.sums[l] += wA
            self.totals[l] += float(sample_weight.sum())
        else:
            self.sums[l] = wA
            self.totals[l] = float(sample_weight.sum())
        if D is not None:
            self.terms[l] = self.delta_term(l, sample_weight, D)

    def rho_hat(self, l: int) -> Array:
        """ρ̂ of layer ``l`` mapped to [0, 1]: (Σ_i w_i a_ij / Σ_i w_i − lo) / (hi − lo)."""
        lo, hi = self.ranges[l]
        return (self.sums[l].astype(np.float64) / self.totals[l] - lo) / (hi - lo)

    def cost(self) -> float:
        """Σ over the penalised layers of β Σ_j KL(ρ ‖ ρ̂_j)."""
        total = 0.0
        for l in self.ranges:
            p = self.penalties[l]
            assert p is not None
            total += p.cost(self.rho_hat(l))
        return total

    def delta_term(self, l: int, share: Array, D: Array) -> Array:
        """w_i · β KL'(ρ̂_j) / (hi − lo) · f'(z_ij), shape (m, s); the shares w sum to 1."""
        p = self.penalties[l]
        assert p is not None
        lo, hi = self.ranges[l]
        g = (p.derivative(self.rho_hat(l)) / (hi - lo)).astype(D.dtype)
        T = np.multiply.outer(share, g)
        T *= D
        return T
