"""A convolution's filters as pictures (nablanet/plots.py `plot_filters`) and in the
report (nablanet/report.py: filters.png in place of the first-layer weights)."""

import io

import matplotlib.image as mpimg
import numpy as np
import pytest
from sklearn.datasets import load_digits

from nablanet import ConvNetClassifier, plots
from nablanet.report import FILTERS_FILE, WEIGHTS_FILE, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_filter_tiles_put_each_filter_s_channels_side_by_side():
    W = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)  # 2 filters, 3 channels
    rows, tile = plots.filter_tiles(W)
    assert tile == (2, 6) and rows.shape == (2, 12)
    image = rows[1].reshape(tile)
    np.testing.assert_array_equal(image[:, 0:2], W[1, 0])
    np.testing.assert_array_equal(image[:, 4:6], W[1, 2])
    with pytest.raises(ValueError, match=r"filters must have shape \(filters, channels, "
                                         r"height, width\), got \(4, 9\)"):
        plots.filter_tiles(np.zeros((4, 9)))


def test_plot_filters_draws_every_filter(tmp_path):
    W = np.random.default_rng(0).normal(size=(6, 1, 5, 5))
    data = plots.plot_filters(W, tmp_path / "f.png")
    assert data[:8] == PNG_MAGIC and (tmp_path / "f.png").read_bytes() == data
    image = mpimg.imread(io.BytesIO(data), format="png")
    assert np.unique(image[..., :3].reshape(-1, 3), axis=0).shape[0] > 10
    # the grid behind the picture: 6 filters in 2 rows of 3 tiles of 5×5, each scaled
    grid = plots.weight_image_grid(*plots.filter_tiles(W))
    assert grid.shape == (2 * 6 + 1, 3 * 6 + 1)
    assert np.nanmax(np.abs(grid)) == 1.0


def test_the_report_of_a_conv_net_shows_its_filters(tmp_path):
    X, y = load_digits(return_X_y=True)
    est = ConvNetClassifier(("conv6x3", "maxpool2", "16"), max_iter=2, random_state=0)
    with pytest.warns(Warning, match="Maximum iterations"):
        est.fit(X[:200] / 16, y[:200])
    page = write_report(tmp_path, estimator=est, image_shape=(8, 8)).read_text("utf-8")
    assert "<h2>First-layer filters</h2>" in page and "First-layer weights" not in page
    assert (tmp_path / FILTERS_FILE).read_bytes()[:8] == PNG_MAGIC
    assert not (tmp_path / WEIGHTS_FILE).exists()
    assert page.count('<img src="data:image/png;base64,') == 2  # curves and filters
