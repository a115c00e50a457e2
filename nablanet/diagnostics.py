"""Why a network learns slowly, read off BP1–BP4 (docs/math.md §6, Nielsen ch. 2, 3 and 5).

- BP4, ∂C/∂w_jk = a_k δ_j: a weight learns slowly when the input unit feeding it is
  small, and not at all when that unit is 0 on every example (a starved input).
- BP1, δ = ∂C/∂a ⊙ f'(z): an output that is saturated (f'(z) ≈ 0) *and wrong* learns
  slowly under squared error; a saturated output that is right is only confident.
  Cross-entropy removes the f'(z) factor at the output, not in the hidden layers.
- BP2, δ^l = (W^lᵀ δ^(l+1)) ⊙ f'(z^l): each layer back multiplies δ by W and f', so in
  a deep sigmoid network the first layers' gradients can be orders of magnitude smaller
  than the last's (vanishing gradients, Nielsen ch. 5).
- A ReLU unit that is negative for every example is dead: f'(z) = 0 everywhere.
- A hidden layer whose units do not vary across examples has collapsed, and a network
  whose cost is that of the best constant prediction (the class frequencies) guesses.

A convolution or pooling layer is read per feature map (docs/math.md §8): a map is dead
when its z is <= 0 at every position of every example, collapsed when it is the same
map for every example, and a convolution's input map is starved when it is near 0
everywhere (its filter weights are shared by every position: one zero pixel does not
stop them, a zero map does). A pooling layer has no parameters: no starved inputs, and
NaN for ‖∂J/∂b‖ and ‖dW‖/‖W‖.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from nablanet.activations import Activation, get_activation
from nablanet.losses import Loss

Array = NDArray[Any]


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
#: A layer is reported when at least this share of its (example, unit) pairs is saturated.
SATURATED_LAYER = 0.5
#: Output pairs saturated *and wrong* (|a − y| above half the output's range) are reported
#: from this share on; a well-trained digits network has 0.04%.
WRONG_SATURATED = 0.01
#: An input unit is starved when its mean |a| is below this share of its layer's mean |a|.
STARVED_INPUT = 0.01
#: Inputs whose mean |a_in| exceeds this are unscaled (raw wine: 62, breast cancer: 3.3e4).
UNSCALED_INPUT = 10.0
#: Gradients vanish when mean |δ| at the output is this many times that at the first layer.
VANISHING_RATIO = 100.0
#: A hidden unit has collapsed when its activation's standard deviation across the
#: examples is below this share of its output range (1 for an unbounded activation).
COLLAPSED_STD = 1e-3
#: A network whose data cost is within this share of the best constant prediction's guesses.
GUESSING_MARGIN = 0.02


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
        Its units, or its feature maps (``maps``).
    saturated_fraction : float
        Share of (example, unit) pairs with f'(z) < 0.1 · max f' (0 for non-saturating
        activations).
    wrong_saturated_fraction : float
        Output layer only (0 elsewhere): share of (example, unit) pairs that are
        saturated and wrong, |a − y| above half the output's range. Only these learn
        slowly under squared error (BP1).
    dead_fraction : float
        Share of relu-type units (or maps) whose input is <= 0 on every example.
    collapsed_fraction : float
        Share of units whose activation barely varies across the examples (standard
        deviation below 1e-3 of the output range): they pass the next layer the same
        value whatever the input.
    mean_abs_delta : float
        Mean |δ_i| of the layer's units, δ_i = ∂C_i/∂z_i per example (docs/math.md §6).
    bias_gradient_norm : float
        ‖∂J/∂b[l]‖, Nielsen's measure of how fast a layer learns (chapter 5); NaN for a
        layer without parameters (a pooling).
    mean_abs_input : float
        Mean |a_in| of the activations feeding W[l]: small values mean slow weights.
    grad_weight_ratio : float
        ‖∂J/∂W[l]‖ / ‖W[l]‖: how fast the layer's weights move relative to their size
        (NaN for a layer without weights, a pooling).
    zero_inputs : tuple of str
        The input units of W[l] that are 0 on every example, by name (the data's column
        names for the first layer, else "unit k"): their weights get exactly zero
        gradient (BP4).
    starved_inputs : tuple of str
        The input units, not always 0, whose mean |a| is below 1% of the layer's mean
        |a_in|: their weights learn that much more slowly. A convolution's are its input
        maps ("map k").
    maps : bool
        Whether the layer's output is feature maps (a convolution or a pooling): then
        units, dead and collapsed count maps.
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
    wrong_saturated_fraction: float = 0.0
    collapsed_fraction: float = 0.0
    bias_gradient_norm: float = 0.0
    zero_inputs: tuple[str, ...] = ()
    starved_inputs: tuple[str, ...] = ()
    maps: bool = False


@dataclass(frozen=True)
class Diagnosis:
    """Per-layer diagnostics, as data (`layers`, `as_dicts`) and as text (`str`).

    Attributes
    ----------
    layers : list of LayerDiagnosis
    loss : str
    J : float
        The cost, weight decay included.
    target_note : str or None
        A finding about the targets' scale.
    data_cost : float or None
        The mean cost without weight decay or sparsity penalty.
    constant_cost : float or None
        The data cost of the best constant prediction: the class frequencies for a
        classifier, the mean target under squared error (None where the loss has none).
    classifier : bool
        Whether the targets are class codes (0/1 entries for a [0, 1] output).
    """

    layers: list[LayerDiagnosis]
    loss: str
    J: float
    target_note: str | None = None
    data_cost: float | None = None
    constant_cost: float | None = None
    classifier: bool = False

    @property
    def bias_gradient_norms(self) -> list[float]:
        """‖∂J/∂b‖ of each layer, first to last: Nielsen's per-layer learning speeds."""
        return [d.bias_gradient_norm for d in self.layers]

    @property
    def guessing(self) -> bool:
        """Whether the data cost is no better than the best constant prediction's."""
        if self.data_cost is None or not self.constant_cost:
            return False
        return self.data_cost >= (1.0 - GUESSING_MARGIN) * self.constant_cost

    def as_dicts(self) -> list[dict[str, Any]]:
        """The table as a list of plain dictionaries (for JSON).

        ``"maps": true`` only on the rows of feature-map layers: a dense network's rows
        are as they were before convolutions.
        """
        rows = []
        for d in self.layers:
            row = {**asdict(d), "zero_inputs": list(d.zero_inputs),
                   "starved_inputs": list(d.starved_inputs)}
            if not d.maps:
                del row["maps"]
            rows.append(row)
        return rows

    def findings(self) -> list[str]:
        """Sentences saying what the numbers mean for learning: only what slows it."""
        out = []
        unscaled = bool(self.layers) and self.layers[0].mean_abs_input > UNSCALED_INPUT
        if unscaled:
            out.append(_unscaled_inputs(self.layers[0]))
        if self.guessing:
            out.append(self._guessing())
        for d in self.layers:
            out += _layer_findings(d, self.loss, unscaled)
        vanishing = _vanishing(self.layers)
        if vanishing:
            out.append(vanishing)
        if self.target_note:
            out.append(self.target_note)
        if not out:
            out.append("No harmful saturation, dead, collapsed or starved units and no "
                       "vanishing gradient: nothing stalls.")
        return out

    def _guessing(self) -> str:
        assert self.data_cost is not None and self.constant_cost is not None
        what = ("predicting the class frequencies for every example" if self.classifier
                else "predicting the mean target for every example")
        return (
            f"the cost without weight decay, {self.data_cost:.4g}, is no better than that "
            f"of {what} ({self.constant_cost:.4g}): the network has learnt nothing from "
            "its inputs; it guesses. Look for a collapsed or dead layer, saturated units "
            "or unscaled inputs below, or train longer."
        )

    def _repr_html_(self) -> str:
        """Jupyter's display: the same table and findings as ``print``."""
        from nablanet._html import as_html

        return as_html("Diagnosis", str(self))

    def __str__(self) -> str:
        head = (
            f"{'layer':>5} {'role':<7}{'activation':<11}{'units':>6}{'saturated':>10}"
            f"{'sat+wrong':>10}{'dead':>7}{'collapsed':>10}{'mean|δ|':>11}{'‖∂J/∂b‖':>11}"
            f"{'mean|a_in|':>11}{'‖dW‖/‖W‖':>11}"
        )
        rows = [f"J = {self.J:.6g} ({self.loss})", head]
        for d in self.layers:
            rows.append(
                f"{d.layer + 1:>5} {d.role:<7}{d.activation:<11}{d.units:>6}"
                f"{d.saturated_fraction:>10.1%}{d.wrong_saturated_fraction:>10.2%}"
                f"{d.dead_fraction:>7.1%}{d.collapsed_fraction:>10.1%}"
                f"{d.mean_abs_delta:>11.3e}{d.bias_gradient_norm:>11.3e}"
                f"{d.mean_abs_input:>11.3e}{d.grad_weight_ratio:>11.3e}"
            )
        return "\n".join(rows + [""] + self.findings())


def _where(d: LayerDiagnosis) -> str:
    return f"layer {d.layer + 1} ({d.role}, {d.activation})"


def _layer_findings(d: LayerDiagnosis, loss: str, unscaled: bool) -> list[str]:
    """The findings about one layer, in the order saturation, death, collapse, starving."""
    out = []
    canonical = get_activation(d.activation).canonical_loss == loss
    if d.role == "output" and not canonical and d.wrong_saturated_fraction >= WRONG_SATURATED:
        # Nielsen ch. 3: a saturated output is harmful only where it is wrong.
        out.append(
            f"{_where(d)}: {d.wrong_saturated_fraction:.1%} of its outputs are saturated "
            f"and wrong (near one end of the range while the target is at the other). "
            f"Their δ = ∂C/∂a ⊙ f'(z) is tiny exactly where the error is large (BP1), so "
            f"these examples learn slowly; cross-entropy removes the f'(z) factor at the "
            f"output."
        )
    if d.role == "hidden" and d.saturated_fraction >= SATURATED_LAYER:
        out.append(
            f"{_where(d)}: {d.saturated_fraction:.0%} of its activations are saturated "
            f"(f'(z) near 0). Their δ = (Wᵀδ) ⊙ f'(z) is tiny (BP2), so the weights into "
            f"these units learn slowly (BP4: ∂C/∂w = a_in δ_out). A cross-entropy cost "
            f"does not help here: it removes f'(z) at the output only. Smaller initial "
            f"weights or scaled inputs keep z out of the flat ends."
        )
    units = "feature maps" if d.maps else "units"
    if d.dead_fraction > 0:
        cause = (
            "The unscaled inputs are the likely cause: they make z = Wx + b and the first "
            "steps huge. Standardise the features."
            if unscaled else "A smaller learning rate or leaky_relu avoids this."
        )
        out.append(
            f"{_where(d)}: {d.dead_fraction:.0%} of its {units} are dead (z <= 0 on every "
            f"example): f'(z) = 0, so they pass no error back and never learn. {cause}"
        )
    collapsed = d.collapsed_fraction >= 0.5 and d.collapsed_fraction > d.dead_fraction
    if d.role == "hidden" and collapsed:  # not merely dead relu units, reported above
        out.append(
            f"{_where(d)}: the layer has collapsed: {d.collapsed_fraction:.0%} of its {units} "
            f"take the same value on every example (standard deviation below "
            f"{COLLAPSED_STD:g} of their range), so the layers above see the same features "
            f"whatever the input and can only predict a constant."
        )
    if d.zero_inputs:
        out.append(
            f"{_where(d)}: {_count(d.zero_inputs, 'input')} 0 on every example "
            f"({_names(d.zero_inputs)}): by BP4, ∂C/∂w = a_in δ_out, their weights get "
            f"exactly zero gradient and never move except by weight decay."
        )
    if d.starved_inputs:
        out.append(
            f"{_where(d)}: {_count(d.starved_inputs, 'input')} near 0 (mean |a| below "
            f"{STARVED_INPUT:.0%} of the layer's mean {d.mean_abs_input:.2e}: "
            f"{_names(d.starved_inputs)}): their weights learn that much more slowly (BP4)."
        )
    elif d.mean_abs_input < 1e-2:
        out.append(
            f"{_where(d)}: the activations feeding it are near 0 (mean |a_in| "
            f"{d.mean_abs_input:.1e}), so its weights learn slowly (BP4)."
        )
    return out


def _count(names: tuple[str, ...], what: str) -> str:
    return f"1 {what} is" if len(names) == 1 else f"{len(names)} {what}s are"


def _names(names: tuple[str, ...], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def _unscaled_inputs(first: LayerDiagnosis) -> str:
    return (
        f"the inputs are unscaled (mean |x| {first.mean_abs_input:.3g}): z = Wx + b is "
        "then large, so sigmoid and tanh units saturate, relu units die and one learning "
        "rate cannot suit every feature. Standardise the features (StandardScaler, or "
        "the mean and standard deviation of the training set) before anything else."
    )


def _vanishing(layers: list[LayerDiagnosis]) -> str | None:
    """Nielsen ch. 5: the first layer's δ orders of magnitude below the output's.

    Only with two hidden layers or more: with one, a small δ is a saturated layer's,
    and that finding says so.
    """
    if len(layers) < 3:
        return None
    first, last = layers[0], layers[-1]
    if not first.mean_abs_delta < last.mean_abs_delta / VANISHING_RATIO:
        return None
    ratio = last.mean_abs_delta / first.mean_abs_delta if first.mean_abs_delta else float("inf")
    norms = ", ".join(f"{d.bias_gradient_norm:.3g}" for d in layers)
    return (
        f"vanishing gradients: mean |δ| falls from {last.mean_abs_delta:.2e} at the output "
        f"to {first.mean_abs_delta:.2e} at layer 1, {ratio:.3g} times smaller. By BP2 each "
        f"layer back multiplies δ by Wᵀ and by f'(z) (at most {_max_fprime(layers)}), so the "
        f"first layers learn orders of magnitude more slowly than the last (Nielsen ch. 5; "
        f"‖∂J/∂b‖ per layer: {norms}). Fewer layers, relu units, or an initialisation "
        f"scaled to the layer sizes (glorot, he) keep the products near 1."
    )


def _max_fprime(layers: list[LayerDiagnosis]) -> str:
    hidden = [get_activation(d.activation) for d in layers[:-1]]
    return " and ".join(sorted({f"{a.max_derivative:g} for {a.name}" for a in hidden}))


def diagnose(
    net: Traceable,
    X: Any,
    Y: Any,
    *,
    feature_names: Sequence[str] | None = None,
    targets_scaled: bool = False,
) -> Diagnosis:
    """Diagnose ``net`` on a batch: saturation, dead and collapsed units, δ sizes, slow weights.

    Parameters
    ----------
    net : Network (any `Traceable`)
    X : array-like of shape (m, s_1)
    Y : array-like of shape (m, s_{n_l})
    feature_names : sequence of str, optional
        Names of the s_1 input columns (an estimator's ``feature_names_in_``): starved
        inputs are named by them, else as "unit k".
    targets_scaled : bool, default False
        The model's targets were scaled for training (and the scaling folded back into
        its output): no advice to scale them.

    Returns
    -------
    Diagnosis

    Notes
    -----
    Every number comes from one `Network.trace`: δ_i = ∂C_i/∂z_i per example, so mean |δ|
    compares layers and examples on one scale (docs/math.md §6).
    """
    tr = net.trace(X, Y)
    assert tr.J is not None
    Y = np.asarray(Y, dtype=np.float64)
    n_in = int(np.prod(tr.a[0].shape[1:]))  # (m, C, H, W) for feature maps
    if feature_names is not None and len(feature_names) != n_in:
        raise ValueError(
            f"feature_names has {len(feature_names)} names for {n_in} input columns"
        )
    layers = [
        _layer(net, tr, l, act, Y, feature_names if l == 0 else None)
        for l, act in enumerate(net.activations)
    ]
    out = net.activations[-1]
    # The cost without weight decay or sparsity: what a constant prediction competes with.
    C = net.loss.per_example(tr.z[-1], tr.a[-1], Y.astype(tr.a[-1].dtype, copy=False))
    data_cost = float(np.mean(C))
    # Poisson deviance with exp fits counts at their own scale (log a = z): standardising
    # them would make them negative, which it refuses.
    note = None if targets_scaled or net.loss.name == "poisson" else _target_note(out, Y)
    return Diagnosis(
        layers=layers, loss=net.loss.name, J=float(tr.J), target_note=note,
        data_cost=data_cost, constant_cost=_constant_cost(net.loss.name, Y),
        classifier=_is_classifier(out, Y),
    )


def _layer(
    net: Traceable, tr: Any, l: int, act: Activation, Y: Array, names: Sequence[str] | None
) -> LayerDiagnosis:
    """The diagnosis of weight layer ``l`` from the trace."""
    a = tr.a[l + 1]
    output = l == len(net.activations) - 1
    saturated = _saturated(act, a)
    wrong = 0.0
    if output and act.saturating:
        lo, hi = act.output_range
        wrong = float(np.mean(saturated & (np.abs(a - Y) > (hi - lo) / 2)))
    weighted = net.W[l].size > 0  # a pooling layer has none
    w_norm = float(np.linalg.norm(net.W[l]))
    g_norm = float(np.linalg.norm(tr.dW[l]))
    feeds_dead = l > 0 and net.activations[l - 1].can_die
    a_in = tr.a[l]
    zero: tuple[str, ...] = ()  # a pooling layer has no weights to starve
    starved: tuple[str, ...] = ()
    if weighted and a.ndim > 2:  # a convolution: its shared filters read whole maps
        zero, starved = _starved_inputs(_per_map(a_in), None, feeds_dead, label="map")
    elif weighted:
        zero, starved = _starved_inputs(_rows(a_in), names, skip_zero=feeds_dead)
    # Per unit, or per feature map: its examples and positions together.
    dead = (a <= 0).all(axis=(0, *range(2, a.ndim))) if act.can_die else np.zeros(1)
    return LayerDiagnosis(
        layer=l,
        role="output" if output else "hidden",
        activation=act.name,
        units=a.shape[1],
        saturated_fraction=float(np.mean(saturated)),
        wrong_saturated_fraction=wrong,
        dead_fraction=float(np.mean(dead)),
        collapsed_fraction=_collapsed(act, a),
        mean_abs_delta=float(np.mean(np.abs(tr.delta[l]))),
        bias_gradient_norm=float(np.linalg.norm(tr.db[l])) if weighted else float("nan"),
        mean_abs_input=_mean_abs(a_in),
        grad_weight_ratio=(g_norm / w_norm if w_norm > 0 else float("inf")) if weighted
        else float("nan"),
        zero_inputs=zero,
        starved_inputs=starved,
        maps=a.ndim > 2,
    )


def _rows(A: Any) -> Any:
    """Each example's values as one row: (m, C·H·W) for maps, else A itself."""
    return A.reshape(A.shape[0], -1) if isinstance(A, np.ndarray) and A.ndim > 2 else A


def _per_map(A: Array) -> Array:
    """Feature maps (m, C, H, W) as (m·H·W, C): each map's values in one column."""
    return np.moveaxis(A, 1, -1).reshape(-1, A.shape[1])


def _saturated(act: Activation, a: Array) -> NDArray[np.bool_]:
    """Which (example, unit) pairs sit where f'(z) < 10% of its maximum."""
    if not act.saturating:
        return np.zeros(a.shape, dtype=bool)
    # softmax: its Jacobian's diagonal a(1 - a) says how flat each unit is.
    fprime = a * (1.0 - a) if act.derivative is None else act.derivative(a, a.copy())
    return fprime < SATURATION_THRESHOLD * act.max_derivative


def _collapsed(act: Activation, a: Array) -> float:
    """Share of units whose activation's standard deviation across examples is ~0.

    A feature map has collapsed when each of its positions has: the same map whatever
    the example.
    """
    if a.shape[0] < 2:
        return 0.0
    lo, hi = act.output_range
    span = hi - lo if act.bounded else 1.0
    flat = a.std(axis=0) < COLLAPSED_STD * span
    return float(np.mean(flat.all(axis=tuple(range(1, flat.ndim)))))


def _starved_inputs(
    A: Any, names: Sequence[str] | None, skip_zero: bool, label: str = "unit"
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Input columns that are 0 on every row, and those whose mean |a| is near 0.

    ``skip_zero``: the always-0 units of a relu-type layer are its dead units, reported
    as such already. Columns without ``names`` are called "<label> k".
    """
    col = _column_mean_abs(A)

    def name(k: Any) -> str:
        return str(names[k]) if names is not None else f"{label} {k}"

    layer_mean = float(col.mean()) if col.size else 0.0
    zero = () if skip_zero else tuple(name(k) for k in np.flatnonzero(col == 0))
    near = tuple(name(k) for k in np.flatnonzero((col > 0) & (col < STARVED_INPUT * layer_mean)))
    return zero, near


def _constant_cost(loss: str, Y: Array) -> float | None:
    """The data cost of the best constant prediction p = mean of Y's rows (None: unknown)."""
    cost = _CONSTANT_COSTS.get(loss)
    return None if cost is None or Y.size == 0 else float(cost(Y.mean(axis=0), Y))


def _entropy(p: Array) -> Array:
    """−p log p, with 0 log 0 = 0."""
    return -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)


#: Each loss's cost of predicting p = mean(Y) for every row: the class frequencies'
#: entropy for the log-losses, ½ Σ_k Var(Y_k) for squared error (R² = 0).
_CONSTANT_COSTS: dict[str, Any] = {
    "cross_entropy": lambda p, Y: float(_entropy(p).sum()),
    "binary_cross_entropy": lambda p, Y: float((_entropy(p) + _entropy(1.0 - p)).sum()),
    "squared_error": lambda p, Y: 0.5 * float(Y.var(axis=0).sum()),
}


def _is_classifier(out: Activation, Y: Array) -> bool:
    """Whether Y codes classes for ``out``: every entry one end of its range."""
    lo, hi = out.output_range
    return bool(out.bounded and Y.size and np.isin(Y, (lo, hi)).all())


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


def _column_mean_abs(A: Any) -> Array:
    """Mean |entry| of each column, dense or scipy.sparse."""
    if isinstance(A, np.ndarray):
        return np.mean(np.abs(A), axis=0)
    return np.asarray(abs(A).mean(axis=0)).ravel()


def _mean_abs(A: Any) -> float:
    """Mean |entry| of a dense array or a scipy.sparse matrix (whose unstored entries are 0)."""
    if isinstance(A, np.ndarray):
        return float(np.mean(np.abs(A)))
    return float(np.abs(A.data).sum()) / (A.shape[0] * A.shape[1])
