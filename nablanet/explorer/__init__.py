"""The backpropagation explorer: one offline HTML page for a trained network.

`explore(model, X, Y)` returns an `Explorer`, whose ``html`` is a self-contained page
(no script, style, font or image from the network) holding the network's weights,
biases, activations and loss and the chosen samples as JSON, and a small JavaScript
engine written from docs/math.md (§3 forward, §4 cost, §6 BP1–BP4, §8 convolution and
pooling) that computes z, a, δ and the gradient of one sample itself, so that nudging a
weight is live. The page exposes that engine as ``window.nablanet`` (``samples``,
``trace(k)``, ``cost(k)``, ``gradient(k)``, ``setWeight(l, i, j, value)``, and for a
convolution ``setWeight(l, f, c, u, v, value)``; see docs/guide.md).

This is a function of the model, not a method of `Network` or of the estimators: those
sit below the explorer and do not import it (tests/test_layering.py).
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
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

#: The layers the page's engine computes (engine.js), by class name.
LAYER_KINDS = ("Dense", "Conv2D", "MeanPool2D", "MaxPool2D")


@dataclass(frozen=True)
class Explorer:
    """A backpropagation explorer page (see `explore`).

    Attributes
    ----------
    html : str
        The whole page, one self-contained HTML document.
    data : dict
        What the page holds, as the JSON inside it: ``layer_sizes``, ``input_shape``,
        ``layers`` (each layer's kind and geometry), ``activations``, ``loss``, ``W``,
        ``b`` (nested lists shaped as ``net.W[l]``: ``W[l][i][j]`` is ``net.W[l][i, j]``
        for a dense layer, ``W[l][f][c][u][v]`` for a convolution, ``[]`` for a pooling),
        ``samples`` (``{"X", "Y"}``, the inputs flattened channel first, the targets coded
        for the output), ``image_shape`` and ``curves`` (the training curves, or None).
    """

    html: str = field(repr=False)
    data: dict[str, Any] = field(repr=False, compare=False)

    def __repr__(self) -> str:
        sizes = "-".join(map(str, self.data["layer_sizes"]))
        return (f"<Explorer of a {sizes} network on {len(self.data['samples']['X'])} "
                f"samples, {len(self.html.encode('utf-8')):,} bytes>")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the page to ``path``: all of it or nothing (`nablanet.io.files.write_file`).

        Parameters
        ----------
        path : str or path-like
            The HTML file; replaced if it exists, refused where `write_file` refuses
            (a folder, a dangling link ...).
        """
        from nablanet.io.files import write_file

        write_file(path, self.html.encode("utf-8"))

    def _repr_html_(self) -> str:
        """Jupyter's display: the page in a sandboxed frame (its script runs there)."""
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            'sandbox="allow-scripts" style="width:100%;height:720px;border:0"></iframe>'
        )


def explore(model: Any, X: Any, Y: Any, *, rows: int = DEFAULT_ROWS,
            title: str | None = None, image_shape: tuple[int, int] | None = None,
            history: Any = None) -> Explorer:
    """Build the backpropagation explorer of ``model`` on the first ``rows`` samples.

    Parameters
    ----------
    model : Network or fitted nablanet estimator
        A bare `Network`, or an estimator with a fitted network (``net_``).
    X : array-like or scipy.sparse matrix of shape (m, s_1), or (m, C, H, W)
        Inputs, as the model takes them.
    Y : array-like
        Targets: coded for the output activation for a `Network` (one-hot for softmax,
        0/1 for sigmoid ...), the labels or values ``fit`` takes for an estimator.
    rows : int, default 20
        How many samples (the first ones) the page holds.
    title : str, optional
        The page's heading; default the network's description.
    image_shape : (int, int), optional
        ``(height, width)`` when the inputs are images (pixels row by row): the page draws
        the chosen sample's input as that grey image. A network whose input is feature
        maps (``input_shape=(C, H, W)``) draws them as C images without it (given, it
        must be (H, W)).
    history : History or RunHistory, optional
        The training record of a bare `Network` (what `nablanet.train` returns), drawn as
        training curves. An estimator's own curves (``loss_curve_``,
        ``validation_loss_curve_``, ``validation_scores_``, which its model file keeps)
        are drawn without it.

    Returns
    -------
    Explorer

    Raises
    ------
    ValueError
        For a layer the explorer cannot draw (not Dense, Conv2D, MeanPool2D or
        MaxPool2D), a network with a sparsity penalty (its cost depends on the whole
        batch, not on one sample), a ``rows`` that is not a positive integer or an ``image_shape``
        whose pixels are not the inputs (for input maps (C, H, W), one that is not (H, W)).
    """
    net, X, Y = _network_and_targets(model, X, Y)
    if not (isinstance(rows, int | np.integer) and rows >= 1):
        raise ValueError(f"rows must be a positive integer, got {rows!r}")
    reason = unsupported(net)
    if reason is not None:
        raise ValueError(reason)
    if image_shape is not None and len(net.input_shape) == 3:
        # Feature maps are drawn as images from the network's own shape.
        if tuple(int(v) for v in image_shape) != net.input_shape[1:]:
            raise ValueError(f"image_shape {tuple(image_shape)} is not the {net.input_shape[1]}"
                             f"x{net.input_shape[2]} of the network's input maps "
                             f"{net.input_shape}")
        image_shape = None
    if image_shape is not None:
        h, w = (int(v) for v in image_shape)
        if h < 1 or w < 1 or h * w != net.layer_sizes[0]:
            raise ValueError(f"image_shape {tuple(image_shape)} has {h * w} pixels, but the "
                             f"network takes {net.layer_sizes[0]} inputs")
        image_shape = (h, w)
    X, Y = X[:rows], Y[:rows]
    if hasattr(X, "toarray"):  # scipy.sparse: the page holds a few dense rows
        X = X.toarray()
    # One row per sample, feature maps flattened channel first (math.md §8), as the page's
    # engine reads them (an estimator may hand them back as (m, C, H, W)).
    X = np.asarray(X, np.float64).reshape(len(X), -1)
    payload = _payload(net, X, np.asarray(Y, np.float64))
    payload["image_shape"] = None if image_shape is None else list(image_shape)
    payload["curves"] = _curves(model, history)
    return Explorer(_page(payload, title or repr(net)), payload)


def unsupported(net: Network) -> str | None:
    """Why the explorer cannot show ``net``, or None when it can.

    Parameters
    ----------
    net : Network

    Returns
    -------
    str or None
    """
    for layer in net.layers:
        if type(layer).__name__ not in LAYER_KINDS:
            return (f"the explorer draws {', '.join(LAYER_KINDS)} layers; "
                    f"{type(layer).__name__} is not one of them")
    if any(p is not None for p in net.sparsity):
        return ("the explorer shows one sample's cost and gradient; a sparsity penalty "
                "depends on the mean activation of a whole batch, so a network with one is "
                "not supported")
    return None


def _network_and_targets(model: Any, X: Any, Y: Any) -> tuple[Network, Any, Array]:
    """The network and (X, Y) as it computes with them (targets coded for its output)."""
    if isinstance(model, Network):
        from nablanet._arrays import check_pair

        if np.ndim(X) > 2 and not hasattr(X, "toarray"):  # feature maps: one row each
            X = np.asarray(X).reshape(np.shape(X)[0], -1)

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
        "input_shape": list(net.input_shape),
        "layers": [_geometry(layer) for layer in net.layers],
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


def _geometry(layer: Any) -> dict[str, Any]:
    """A layer's kind and shapes, and a convolution's kernel, stride and padding."""
    out: dict[str, Any] = {"kind": type(layer).__name__,
                           "input_shape": list(layer.input_shape),
                           "output_shape": list(layer.output_shape)}
    if out["kind"] == "Conv2D":
        out.update(kernel_size=list(layer.kernel_size), stride=list(layer.stride),
                   padding=layer.padding, pad=[layer.pad_top, layer.pad_left])
    elif out["kind"] != "Dense":
        out["size"] = list(layer.size)
    return out


def _curves(model: Any, history: Any) -> dict[str, Any] | None:
    """The training curves the page draws: J per epoch, validation J and score if kept."""
    if history is not None:
        run = getattr(history, "best", history)  # a History's kept run, or a RunHistory
        loss, val_loss, scores = run.train_loss, run.val_loss, run.val_score
    else:
        loss = getattr(model, "loss_curve_", None)
        val_loss = getattr(model, "validation_loss_curve_", None)
        scores = getattr(model, "validation_scores_", None)
    if not loss:
        return None

    def finite(values: Any) -> list[float | None]:  # JSON has no NaN: a gap in the line
        return [float(v) if np.isfinite(v) else None for v in (values or [])]

    return {
        "loss": finite(loss),
        "validation_loss": finite(val_loss) if any(np.isfinite(v) for v in val_loss or []) else [],
        "validation_scores": finite(scores) if any(np.isfinite(v) for v in scores or []) else [],
        "score_name": ("validation score" if isinstance(model, Network)
                       else "validation accuracy" if hasattr(model, "classes_")
                       else "validation R²"),
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
