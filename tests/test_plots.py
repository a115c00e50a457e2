import io
import os
import subprocess
import sys
from types import SimpleNamespace

import matplotlib.image as mpimg
import numpy as np
import pytest

from nablanet import plots
from nablanet.training import RunHistory

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png(data: bytes, min_bytes: int = 3000) -> np.ndarray:
    """A valid, non-blank PNG: the magic bytes, a real size, more than one colour."""
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes
    image = mpimg.imread(io.BytesIO(data), format="png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    rgb = image[..., :3].reshape(-1, 3)
    assert np.unique(rgb, axis=0).shape[0] > 10  # not one flat colour
    return image


def _history(with_validation: bool = True) -> SimpleNamespace:
    runs = []
    for k, scale in enumerate((1.0, 0.7)):
        epochs = np.arange(1, 16 + 5 * k)
        h = RunHistory(seed=k)
        h.train_loss = list(scale * 2.0 / epochs)
        if with_validation:
            h.val_loss = list(scale * 2.2 / epochs + 0.05)
            h.val_score = list(1.0 - 0.8 / epochs)
        else:
            h.val_loss = [float("nan")] * len(epochs)
            h.val_score = [float("nan")] * len(epochs)
        runs.append(h)
    return SimpleNamespace(runs=runs, best_run=1)


def test_training_curves_one_line_per_restart_and_a_score_panel(tmp_path):
    history = _history()
    fig = plots.training_curves_figure(history, score_name="validation accuracy")
    loss_ax, score_ax = fig.axes[:2]
    # per run: training and (dashed) validation loss; one score line per run
    assert len(loss_ax.get_lines()) == 4
    assert len(score_ax.get_lines()) == 2
    run2 = loss_ax.get_lines()[2]
    np.testing.assert_allclose(run2.get_ydata(), history.runs[1].train_loss)
    np.testing.assert_array_equal(run2.get_xdata(), np.arange(1, 21))
    assert score_ax.get_ylabel() == "validation accuracy"
    assert loss_ax.get_yscale() == "log"  # the losses span more than a factor of ten
    data = plots.plot_training_curves(history, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes() == data
    _check_png(data)


def test_training_curves_without_validation_has_one_panel():
    fig = plots.training_curves_figure(_history(with_validation=False))
    assert len(fig.axes) == 1
    assert len(fig.axes[0].get_lines()) == 2
    _check_png(plots.plot_training_curves(_history(with_validation=False)))


def test_training_curves_need_a_run():
    with pytest.raises(ValueError, match="no training runs"):
        plots.plot_training_curves(SimpleNamespace(runs=[]))


def test_weight_grid_normalises_each_unit_and_tiles_with_borders():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(10, 64)) * np.arange(1, 11)[:, None]  # units of different sizes
    grid = plots.weight_image_grid(W, (8, 8))
    # 10 units -> 4 columns, 3 rows of 8x8 tiles with 1-pixel borders
    assert grid.shape == (3 * 9 + 1, 4 * 9 + 1)
    assert np.isnan(grid[0]).all() and np.isnan(grid[:, 0]).all()
    for i in range(10):
        r, c = divmod(i, 4)
        tile = grid[1 + 9 * r : 9 + 9 * r, 1 + 9 * c : 9 + 9 * c]
        expected = (W[i] - W[i].mean()) / np.abs(W[i] - W[i].mean()).max()
        np.testing.assert_allclose(tile, expected.reshape(8, 8))
        assert np.abs(tile).max() == pytest.approx(1.0)
    # the two unused tiles stay empty
    assert np.isnan(grid[1 + 18 : 9 + 18, 1 + 18 :]).all()


def test_weight_grid_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\(n_units, 64\)"):
        plots.weight_image_grid(np.zeros((5, 63)), (8, 8))


def test_plot_weight_images_is_a_real_picture(tmp_path):
    rng = np.random.default_rng(1)
    # smooth "filters": each unit a blob at a different place, as training produces
    yy, xx = np.mgrid[0:8, 0:8]
    W = np.stack([np.exp(-((yy - i % 8) ** 2 + (xx - i // 3) ** 2) / 4.0).ravel()
                  for i in range(25)])
    W += 0.05 * rng.normal(size=W.shape)
    data = plots.plot_weight_images(W, (8, 8), tmp_path / "w.png")
    assert (tmp_path / "w.png").read_bytes() == data
    _check_png(data)
    fig = plots.weight_images_figure(W, (8, 8), max_units=9)
    assert "first 9 of 25" in fig.axes[0].get_title()


def test_confusion_matrix_picture_writes_every_count(tmp_path):
    cm = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    names = ["cat", "dog", "<bird>"]
    fig = plots.confusion_matrix_figure(cm, names)
    ax = fig.axes[0]
    assert sorted(int(t.get_text()) for t in ax.texts) == sorted(cm.ravel().tolist())
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    data = plots.plot_confusion_matrix(cm, names, tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes() == data
    _check_png(data)


def test_confusion_matrix_checks_its_shape():
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        plots.plot_confusion_matrix(np.zeros((3, 3)), ["a", "b"])


def test_plots_need_no_pyplot_and_no_display():
    # a fresh interpreter without a display: the figures render on their own Agg canvas
    code = (
        "import sys, numpy as np; from nablanet import plots; "
        "data = plots.plot_confusion_matrix(np.eye(2), ['a', 'b']); "
        "print(data[:4] == b'\\x89PNG', 'matplotlib.pyplot' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]
