"""The backpropagation explorer: one offline HTML page for a trained network.

`explore(model, X, Y)` returns an `Explorer`, whose ``html`` is a self-contained page
(no script, style, font or image from the network) holding the network's weights,
biases, activations and loss and the chosen samples as JSON, and a small JavaScript
engine written from docs/math.md (§3 forward, §4 cost, §6 BP1–BP4) that computes z, a,
δ and the gradient of one sample itself, so that nudging a weight is live. The page
exposes that engine as ``window.nablanet`` (``samples``, ``trace(k)``, ``cost(k)``,
``gradient(k)``, ``setWeight(l, i, j, value)``; see docs/guide.md).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet.activations import LEAKY_SLOPE
from nablanet.diagnostics import SATURATION_THRESHOLD
from nablanet.network import Network

Array = NDArray[Any]

#: Samples a page holds by default: enough to compare, small enough to stay light.
DEFAULT_ROWS = 20


@dataclass(frozen=True)
class Explorer:
    """A backpropagation explorer page (see `explore`).

    Attributes
    ----------
    html : str
        The whole page, one self-contained HTML document.
    """

    html: str

    def save(self, path: Any) -> None:
        """Write the page to ``path`` (all of it or nothing, through an atomic write)."""
        from nablanet.io.files import write_file

        write_file(path, self.html.encode("utf-8"))

    def _repr_html_(self) -> str:
        """Jupyter's display: the page in a sandboxed frame (its script runs there)."""
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            'sandbox="allow-scripts" style="width:100%;height:720px;border:0"></iframe>'
        )


def explore(model: Any, X: Any, Y: Any, *, rows: int = DEFAULT_ROWS,
            title: str | None = None) -> Explorer:
    """Build the backpropagation explorer of ``model`` on the first ``rows`` samples.

    Parameters
    ----------
    model : Network or fitted nablanet estimator
        A bare `Network`, or an estimator with a fitted network (``net_``).
    X : array-like or scipy.sparse matrix of shape (m, s_1)
        Inputs, as the model takes them.
    Y : array-like
        Targets: coded for the output activation for a `Network` (one-hot for softmax,
        0/1 for sigmoid ...), the labels or values ``fit`` takes for an estimator.
    rows : int, default 20
        How many samples (the first ones) the page holds.
    title : str, optional
        The page's heading; default the network's description.

    Returns
    -------
    Explorer

    Raises
    ------
    ValueError
        For a network with a sparsity penalty (its cost depends on the whole batch, not
        on one sample) or a ``rows`` that is not a positive integer.
    """
    net, X, Y = _network_and_targets(model, X, Y)
    if not (isinstance(rows, int | np.integer) and rows >= 1):
        raise ValueError(f"rows must be a positive integer, got {rows!r}")
    if any(p is not None for p in net.sparsity):
        raise ValueError(
            "the explorer shows one sample's cost and gradient; a sparsity penalty depends "
            "on the mean activation of a whole batch, so a network with one is not supported"
        )
    X, Y = X[:rows], Y[:rows]
    if hasattr(X, "toarray"):  # scipy.sparse: the page holds a few dense rows
        X = X.toarray()
    payload = _payload(net, np.asarray(X, np.float64), np.asarray(Y, np.float64))
    return Explorer(_page(payload, title or repr(net)))


def _network_and_targets(model: Any, X: Any, Y: Any) -> tuple[Network, Any, Array]:
    """The network and (X, Y) as it computes with them (targets coded for its output)."""
    if isinstance(model, Network):
        from nablanet._arrays import check_pair

        X, Y = check_pair(X, Y, n_inputs=model.layer_sizes[0],
                          n_outputs=model.layer_sizes[-1], dtype=np.float64)
        return model, X, Y
    if not hasattr(model, "_encoded_pair"):
        raise TypeError(
            f"explore needs a nablanet Network or fitted estimator, got {type(model).__name__}"
        )
    # The estimator's own encoding, the one its diagnose and check_gradient use (it
    # also refuses an unfitted estimator with scikit-learn's NotFittedError).
    X, Y = model._encoded_pair(X, Y)
    return model.net_, X, Y


def _payload(net: Network, X: Array, Y: Array) -> dict[str, Any]:
    """Everything the page's engine needs, as plain JSON values."""
    out = net.activations[-1]
    return {
        "layer_sizes": list(net.layer_sizes),
        "activations": [a.name for a in net.activations],
        # Infinite for exp (JSON has no infinity): only saturating units consult it.
        "max_derivative": [a.max_derivative if a.saturating else None for a in net.activations],
        "saturating": [a.saturating for a in net.activations],
        "can_die": [a.can_die for a in net.activations],
        "loss": net.loss.name,
        # δ = a − y at the output exactly where the loss is the activation's canonical one.
        "canonical": net.loss.is_canonical(out),
        "weight_decay": float(net.weight_decay),
        "leaky_slope": LEAKY_SLOPE,
        "saturation_threshold": SATURATION_THRESHOLD,
        "W": [np.asarray(W, np.float64).tolist() for W in net.W],
        "b": [np.asarray(b, np.float64).tolist() for b in net.b],
        "samples": {"X": X.tolist(), "Y": Y.tolist()},
    }


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _page(payload: dict[str, Any], title: str) -> str:
    """The HTML document: styles, data and scripts inline."""
    # "</" inside a script element would end it early; "<\/" is the same JSON string.
    data = json.dumps(payload, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    return _asset("page.html").format(
        title=html.escape(title),
        style=_asset("page.css"),
        data=data,
        engine=_asset("engine.js"),
        ui=_asset("page.js"),
    )
