"""Why a network learns slowly, read off BP1–BP4 (docs/math.md §6, Nielsen ch. 2).

- BP4, ∂C/∂w = a_in δ_out: a weight learns slowly when the activation feeding it is small.
- BP1/BP2, δ = (...) ⊙ f'(z): a sigmoid or tanh unit near its flat ends (saturated) has
  f'(z) ≈ 0, so its δ and every weight into it learn slowly. A saturated output layer
  stalls squared error; cross-entropy removes the f'(z) factor at the output.
- A ReLU unit that is negative for every example is dead: f'(z) = 0 everywhere, it
  never learns again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from nablanet.activations import Activation, get_activation
from nablanet.losses import Loss


class Traceable(Protocol):
    """What `diagnose` needs of a network (a `Network` is one).

    Its activations, weights and loss, and ``trace(X, Y)``: one forward and backward
    pass that keeps z, a, δ and ∂J/∂W of every layer (see `nablanet.network.Trace`).
    This module asks for no more, so the network can offer ``diagnose`` as a method
    without the two modules importing each other.
    """

    activations: list[Activation]
    W: list[NDArray[Any]]
    loss: Loss

    def trace(self, X: Any, Y: Any = None, *, sample_weight: Any = None) -> Any:
        """Run forward and backward propagation and keep every quantity."""
        ...

#: A unit counts as saturated on an example when f'(z) is below this share of max f'.
SATURATION_THRESHOLD = 0.1


@dataclass(frozen=True)
class LayerDiagnosis:
    """What one weight layer's units and weights look like on a batch.

    Attributes
    ----------
    layer : int
        Index l of W[l] (0 = the first hidden layer's weights).
    role : str
        "hidden" or "output".
    activation : str
    units : int
    saturated_fraction : float
        Share of (example, unit) pairs with f'(z) < 0.1 · max f' (0 for non-saturating
        activations).
    dead_fraction : float
        Share of relu-type units whose input is <= 0 on every example.
    mean_abs_delta : float
        Mean |δ| of the layer's units (δ per example, before averaging over m).
    mean_abs_input : float
        Mean |a_in| of the activations feeding W[l]: small values mean slow weights.
    grad_weight_ratio : float
        ‖∂J/∂W[l]‖ / ‖W[l]‖: how fast the layer's weights move relative to their size.
    """

    layer: int
    role: str
    activation: str
    units: int
    saturated_fraction: float
    dead_fraction: float
    mean_abs_delta: float
    mean_abs_input: float
    grad_weight_ratio: float


@dataclass(frozen=True)
class Diagnosis:
    """Per-layer diagnostics, as data (`layers`, `as_dicts`) and as text (`str`)."""

    layers: list[LayerDiagnosis]
    loss: str
    J: float
    target_note: str | None = None

    def as_dicts(self) -> list[dict[str, Any]]:
        """The table as a list of plain dictionaries (for JSON)."""
        return [asdict(d) for d in self.layers]

    def findings(self) -> list[str]:
        """Sentences saying what the numbers mean for learning."""
        out = []
        for d in self.layers:
            where = f"layer {d.layer + 1} ({d.role}, {d.activation})"
            canonical = get_activation(d.activation).canonical_loss == self.loss
            if d.saturated_fraction >= 0.5 and d.role == "output" and canonical:
                out.append(
                    f"{where}: {d.saturated_fraction:.0%} of its outputs are near 0 or 1, but "
                    f"with {self.loss} the output error is δ = a − y: the f'(z) factor "
                    f"cancels, so saturation here does not slow learning (confident outputs)."
                )
            elif d.saturated_fraction >= 0.5:
                # BP1 gives an output unit's δ, BP2 a hidden unit's: both carry f'(z).
                delta = (
                    "δ = ∂C/∂a ⊙ f'(z) is tiny (BP1)" if d.role == "output"
                    else "δ = (Wᵀδ) ⊙ f'(z) is tiny (BP2)"
                )
                text = (
                    f"{where}: {d.saturated_fraction:.0%} of its activations are saturated "
                    f"(f'(z) near 0). Their {delta}, so the weights "
                    f"into these units learn slowly (BP4: ∂C/∂w = a_in δ_out)."
                )
                if d.role == "output" and self.loss == "squared_error":
                    text += (
                        " With squared error a saturated output stalls learning; "
                        "cross-entropy removes the f'(z) factor at the output."
                    )
                else:
                    text += " Smaller initial weights or inputs keep z out of the flat ends."
                out.append(text)
            if d.dead_fraction > 0:
                out.append(
                    f"{where}: {d.dead_fraction:.0%} of its units are dead (z <= 0 on every "
                    f"example): f'(z) = 0, so they pass no error back and never learn. "
                    f"A smaller learning rate or leaky_relu avoids this."
                )
            if d.mean_abs_input < 1e-2:
                out.append(
                    f"{where}: the activations feeding it are near 0 (mean |a_in| "
                    f"{d.mean_abs_input:.1e}), so its weights learn slowly (BP4)."
                )
        if self.target_note:
            out.append(self.target_note)
        if not out:
            out.append("No saturated or dead units and no starved weights: nothing stalls.")
        return out

    def _repr_html_(self) -> str:
        """Jupyter's display: the same table and findings as ``print``."""
        from nablanet._html import as_html

        return as_html("Diagnosis", str(self))

    def __str__(self) -> str:
        head = (
            f"{'layer':>5} {'role':<7}{'activation':<11}{'units':>6}{'saturated':>10}"
            f"{'dead':>7}{'mean|δ|':>11}{'mean|a_in|':>11}{'‖dW‖/‖W‖':>11}"
        )
        rows = [f"J = {self.J:.6g} ({self.loss})", head]
        for d in self.layers:
            rows.append(
                f"{d.layer + 1:>5} {d.role:<7}{d.activation:<11}{d.units:>6}"
                f"{d.saturated_fraction:>10.1%}{d.dead_fraction:>7.1%}"
                f"{d.mean_abs_delta:>11.3e}{d.mean_abs_input:>11.3e}{d.grad_weight_ratio:>11.3e}"
            )
        return "\n".join(rows + [""] + self.findings())


def diagnose(net: Traceable, X: Any, Y: Any) -> Diagnosis:
    """Diagnose ``net`` on a batch: saturation, dead units, δ sizes, slow weights.

    Parameters
    ----------
    net : Network (any `Traceable`)
    X : array-like of shape (m, s_1)
    Y : array-like of shape (m, s_{n_l})

    Returns
    -------
    Diagnosis
    """
    tr = net.trace(X, Y)
    m = tr.a[0].shape[0]
    assert tr.J is not None
    layers = []
    for l, act in enumerate(net.activations):
        a = tr.a[l + 1]
        if act.saturating:
            # softmax: its Jacobian's diagonal a(1 - a) says how flat each unit is.
            fprime = a * (1.0 - a) if act.derivative is None else act.derivative(a, a.copy())
            saturated = float(np.mean(fprime < SATURATION_THRESHOLD * act.max_derivative))
        else:
            saturated = 0.0
        dead = float(np.mean((a <= 0).all(axis=0))) if act.can_die else 0.0
        w_norm = float(np.linalg.norm(net.W[l]))
        g_norm = float(np.linalg.norm(tr.dW[l]))
        layers.append(
            LayerDiagnosis(
                layer=l,
                role="output" if l == len(net.activations) - 1 else "hidden",
                activation=act.name,
                units=a.shape[1],
                saturated_fraction=saturated,
                dead_fraction=dead,
                mean_abs_delta=float(np.mean(np.abs(tr.delta[l]))) * m,
                mean_abs_input=_mean_abs(tr.a[l]),
                grad_weight_ratio=g_norm / w_norm if w_norm > 0 else float("inf"),
            )
        )
    note = _target_note(net.activations[-1], np.asarray(Y, dtype=np.float64))
    return Diagnosis(layers=layers, loss=net.loss.name, J=float(tr.J), target_note=note)


#: Targets whose mean or standard deviation exceeds this (in any column) are "unscaled".
UNSCALED_TARGET = 10.0


def _target_note(out: Activation, Y: Any) -> str | None:
    """A finding about the targets' scale, or None when they suit the output layer.

    A bounded output (sigmoid, tanh) cannot reach targets outside its range; an unbounded
    one can, but targets of size ~100 (diabetes' progression) make the first errors huge
    and the useful learning rates tiny, so training with default settings crawls.
    """
    if Y.size == 0:
        return None
    lo, hi = out.output_range
    if out.bounded and (Y.min() < lo or Y.max() > hi):
        return (
            f"the targets span [{Y.min():.3g}, {Y.max():.3g}], outside the {out.name} "
            f"output's range [{lo:g}, {hi:g}]: scale them into it (MLPRegressor does)."
        )
    mean, std = np.abs(Y.mean(axis=0)).max(), Y.std(axis=0).max()
    if not out.bounded and max(mean, std) > UNSCALED_TARGET:
        return (
            f"the targets are unscaled (mean up to {mean:.3g}, standard deviation up to "
            f"{std:.3g}): the first errors are huge and a learning rate that suits them is "
            "tiny; standardise the targets (nablanet train does by default) and scale the "
            "predictions back."
        )
    return None


def _mean_abs(A: Any) -> float:
    """Mean |entry| of a dense array or a scipy.sparse matrix (whose unstored entries are 0)."""
    if isinstance(A, np.ndarray):
        return float(np.mean(np.abs(A)))
    return float(np.abs(A.data).sum()) / (A.shape[0] * A.shape[1])
