"""Pictures of a network and its training: loss curves, weight images, confusion matrix.

Every function draws on its own `matplotlib.figure.Figure` rendered by the Agg canvas,
so nothing needs a display and no global pyplot state is touched (safe in scripts,
servers and tests). Each returns the PNG's bytes and, given ``path``, also writes them.

matplotlib is imported inside the functions: importing this module is free, and the
command line stays quick to start.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from nablanet._optional import requires_extra
from nablanet.io.files import write_file

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Array = NDArray[Any]

#: At most this many hidden units are drawn by `plot_weight_images` (the first ones).
MAX_WEIGHT_IMAGES = 400


def _new_figure(width: float, height: float) -> Figure:
    with requires_extra("plots"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself: the figure renders without any display
    return fig


def _finish(fig: Figure, path: str | os.PathLike[str] | None) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = buffer.getvalue()
    if path is not None:
        write_file(path, data)
    return data


def plot_training_curves(
    history: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    score_name: str = "validation score",
) -> bytes:
    """Training loss per epoch, one line per restart, and the validation score.

    Parameters
    ----------
    history : nablanet.training.History
        Or any object with ``runs`` (each with ``train_loss`` and optionally
        ``val_loss``, ``val_score`` lists) and optionally ``best_run``.
    path : str or path-like, optional
        Also write the PNG there.
    score_name : str, default "validation score"
        The label of the score axis, e.g. "validation accuracy".

    Returns
    -------
    bytes
        The PNG image; see `training_curves_figure`.
    """
    return _finish(training_curves_figure(history, score_name=score_name), path)


def training_curves_figure(history: Any, *, score_name: str = "validation score") -> Figure:
    """The figure of `plot_training_curves`: one panel for the loss, one for the score.

    Parameters
    ----------
    history : nablanet.training.History
        Or any object with ``runs`` and optionally ``best_run``.
    score_name : str, default "validation score"

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The loss axis is logarithmic when every loss is positive and they span more than a
    factor of ten. The validation panel appears only when some run recorded a finite
    validation loss or score; the run whose weights were kept is drawn thicker.
    """
    with requires_extra("plots"):
        from matplotlib.ticker import MaxNLocator

    runs = list(getattr(history, "runs", []))
    if not runs:
        raise ValueError("the history holds no training runs to plot")
    best = int(getattr(history, "best_run", 0))

    def finite(values: Sequence[float]) -> bool:
        return any(math.isfinite(v) for v in values)

    has_val_loss = any(finite(getattr(r, "val_loss", [])) for r in runs)
    has_score = any(finite(getattr(r, "val_score", [])) for r in runs)
    panels = 1 + (has_val_loss or has_score)
    fig = _new_figure(5.0 * panels, 3.6)
    axes = fig.subplots(1, panels, squeeze=False)[0]

    ax = axes[0]
    losses: list[float] = []
    for k, run in enumerate(runs):
        epochs = np.arange(1, len(run.train_loss) + 1)
        label = f"run {k + 1}" + (" (kept)" if len(runs) > 1 and k == best else "")
        width = 2.0 if k == best else 1.2
        (line,) = ax.plot(epochs, run.train_loss, lw=width, label=f"{label} training")
        losses.extend(v for v in run.train_loss if math.isfinite(v))
        val_loss = list(getattr(run, "val_loss", []))
        if finite(val_loss):
            ax.plot(epochs[: len(val_loss)], val_loss, lw=width, ls="--",
                    color=line.get_color(), label=f"{label} validation")
            losses.extend(v for v in val_loss if math.isfinite(v))
    if losses and min(losses) > 0 and max(losses) / min(losses) > 10:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss J")
    ax.set_title("loss per epoch")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")

    if panels == 2:
        ax = axes[1]
        for k, run in enumerate(runs):
            scores = list(getattr(run, "val_score", []))
            if finite(scores):
                ax.plot(np.arange(1, len(scores) + 1), scores, lw=2.0 if k == best else 1.2,
                        label=f"run {k + 1}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(score_name)
        ax.set_title(f"{score_name} per epoch")
        ax.grid(True, alpha=0.3)
        if has_score:
            ax.legend(fontsize="small")
    return fig


def weight_image_grid(W: Any, image_shape: Sequence[int], max_units: int = MAX_WEIGHT_IMAGES,
                      ) -> Array:
    """Tile each unit's incoming weights, as an image, into one picture.

    Parameters
    ----------
    W : array-like of shape (n_units, height * width)
        The first layer's weights ``W[0]`` in the mathematics' (out, in) orientation:
        row i holds the weights from every pixel into hidden unit i.
    image_shape : (int, int)
        ``(height, width)`` of the input images.
    max_units : int, default 400
        Draw at most this many units (the first ones).

    Returns
    -------
    ndarray of shape (rows * (height + 1) + 1, cols * (width + 1) + 1)
        Values in [-1, 1]; NaN on the one-pixel borders between the tiles.

    Notes
    -----
    As UFLDL's ``display_network``: each unit's weights have their mean subtracted and
    are divided by their largest absolute value, so every tile uses the whole grey scale
    whatever the size of its weights. A tile shows the input that excites the unit most
    (for a fixed norm): bright pixels push it up, dark ones down.
    """
    W = np.asarray(W, dtype=np.float64)
    h, w = (int(s) for s in image_shape)
    if W.ndim != 2 or W.shape[1] != h * w:
        raise ValueError(
            f"W must have shape (n_units, {h * w}) for images of shape {(h, w)}, got {W.shape}"
        )
    n = min(W.shape[0], max_units)
    if n < 1:
        raise ValueError("W has no units to draw")
    tiles = W[:n] - W[:n].mean(axis=1, keepdims=True)
    scale = np.abs(tiles).max(axis=1, keepdims=True)
    tiles = np.divide(tiles, scale, out=np.zeros_like(tiles), where=scale > 0)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1), np.nan)
    for i in range(n):
        r, c = divmod(i, cols)
        top, left = 1 + r * (h + 1), 1 + c * (w + 1)
        grid[top : top + h, left : left + w] = tiles[i].reshape(h, w)
    return grid


def plot_weight_images(
    W: Any,
    image_shape: Sequence[int],
    path: str | os.PathLike[str] | None = None,
    *,
    max_units: int = MAX_WEIGHT_IMAGES,
    title: str | None = None,
) -> bytes:
    """The first layer's weights drawn as an image grid (UFLDL's ``display_network``).

    Parameters
    ----------
    W : array-like of shape (n_units, height * width)
        ``net.W[0]``: row i is hidden unit i's incoming weights.
    image_shape : (int, int)
        ``(height, width)`` of the input images.
    path : str or path-like, optional
        Also write the PNG there.
    max_units : int, default 400
    title : str, optional

    Returns
    -------
    bytes
        The PNG image; see `weight_image_grid` for what each tile shows.
    """
    return _finish(weight_images_figure(W, image_shape, max_units=max_units, title=title), path)


def weight_images_figure(
    W: Any, image_shape: Sequence[int], *, max_units: int = MAX_WEIGHT_IMAGES,
    title: str | None = None,
) -> Figure:
    """The figure of `plot_weight_images`.

    Parameters
    ----------
    W : array-like of shape (n_units, height * width)
    image_shape : (int, int)
    max_units : int, default 400
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    with requires_extra("plots"):
        from matplotlib import colormaps

    grid = weight_image_grid(W, image_shape, max_units)
    n = min(np.shape(W)[0], max_units)
    side = float(np.clip(grid.shape[1] / 60.0, 4.0, 9.0))
    fig = _new_figure(side, side * grid.shape[0] / grid.shape[1] + 0.5)
    ax = fig.add_subplot()
    cmap = colormaps["gray"].with_extremes(bad="black")
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-1.0, vmax=1.0,
              interpolation="nearest")
    ax.set_axis_off()
    shown = f"first {n} of {np.shape(W)[0]}" if n < np.shape(W)[0] else f"all {n}"
    ax.set_title(title or f"first-layer weights, {shown} hidden units")
    return fig


def filter_tiles(W: Any) -> tuple[Array, tuple[int, int]]:
    """A convolution's filters as rows of pixels for `weight_image_grid`, and the tile shape.

    Parameters
    ----------
    W : array-like of shape (filters, channels, height, width)
        A `Conv2D` layer's W (PyTorch's ``Conv2d.weight`` layout).

    Returns
    -------
    rows : ndarray of shape (filters, height * channels * width)
        Filter f's channels side by side, left to right, as one image per row.
    tile_shape : (int, int)
        ``(height, channels * width)``.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 4:
        raise ValueError(
            f"filters must have shape (filters, channels, height, width), got {W.shape}"
        )
    F, C, h, w = W.shape
    return W.transpose(0, 2, 1, 3).reshape(F, h * C * w), (h, C * w)


def plot_filters(
    W: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    max_filters: int = MAX_WEIGHT_IMAGES,
    title: str | None = None,
) -> bytes:
    """A convolution's filters drawn as images, one tile per filter (``display_network``).

    Parameters
    ----------
    W : array-like of shape (filters, channels, height, width)
        The first convolution's weights (``net.W[0]``, or a `ConvNetClassifier`'s
        ``filters_``).
    path : str or path-like, optional
        Also write the PNG there.
    max_filters : int, default 400
    title : str, optional

    Returns
    -------
    bytes
        The PNG image: each tile is one filter, its channels side by side, with its mean
        removed and scaled by its largest absolute weight (as `weight_image_grid`): the
        pattern in the input that excites the filter's feature map most.
    """
    return _finish(filters_figure(W, max_filters=max_filters, title=title), path)


def filters_figure(
    W: Any, *, max_filters: int = MAX_WEIGHT_IMAGES, title: str | None = None
) -> Figure:
    """The figure of `plot_filters`.

    Parameters
    ----------
    W : array-like of shape (filters, channels, height, width)
    max_filters : int, default 400
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows, tile = filter_tiles(W)
    n = min(rows.shape[0], max_filters)
    shown = f"first {n} of {rows.shape[0]}" if n < rows.shape[0] else f"all {n}"
    h, w = np.shape(W)[2:]
    return weight_images_figure(
        rows, tile, max_units=max_filters,
        title=title or f"first-layer filters ({h}x{w}), {shown}",
    )


def plot_confusion_matrix(
    cm: Any,
    class_names: Sequence[str],
    path: str | os.PathLike[str] | None = None,
    *,
    title: str = "confusion matrix",
) -> bytes:
    """The confusion matrix as a picture: true class down, predicted class across.

    Parameters
    ----------
    cm : array-like of shape (k, k)
        ``cm[i, j]`` counts samples of class i predicted as class j.
    class_names : sequence of str
        The k class names.
    path : str or path-like, optional
        Also write the PNG there.
    title : str, default "confusion matrix"

    Returns
    -------
    bytes
        The PNG image. Colours show each row's share (recall per class), so that rare
        classes are as visible as common ones; the counts are written in the cells
        when there are at most 20 classes.
    """
    return _finish(confusion_matrix_figure(cm, class_names, title=title), path)


def confusion_matrix_figure(
    cm: Any, class_names: Sequence[str], *, title: str = "confusion matrix"
) -> Figure:
    """The figure of `plot_confusion_matrix`.

    Parameters
    ----------
    cm : array-like of shape (k, k)
    class_names : sequence of str
    title : str, default "confusion matrix"

    Returns
    -------
    matplotlib.figure.Figure
    """
    cm = np.asarray(cm)
    k = len(class_names)
    if cm.shape != (k, k):
        raise ValueError(f"cm must have shape ({k}, {k}) for {k} class names, got {cm.shape}")
    totals = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)
    side = float(np.clip(0.45 * k + 2.5, 4.0, 12.0))
    fig = _new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    ticks = np.arange(k)
    ax.set_xticks(ticks, [str(c) for c in class_names], rotation=45, ha="right")
    ax.set_yticks(ticks, [str(c) for c in class_names])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize="small",
                        color="white" if share[i, j] > 0.5 else "black")
    return fig
