"""Natural-image patches normalised as UFLDL's sampleIMAGES."""

import numpy as np
import pytest

from nablanet.data import natural_image_patches
from nablanet.data.patches import normalize_patches, whiten_image


def test_shape_range_and_seed():
    X = natural_image_patches(500, patch_size=6, seed=1)
    assert X.shape == (500, 36)
    assert X.min() >= 0.1 - 1e-12 and X.max() <= 0.9 + 1e-12
    np.testing.assert_array_equal(X, natural_image_patches(500, patch_size=6, seed=1))
    assert not np.array_equal(X, natural_image_patches(500, patch_size=6, seed=2))


def test_normalize_patches_by_hand():
    patches = np.array([[0.0, 2.0, 4.0, 6.0], [1.0, 1.0, 1.0, 1.0]])
    # means removed: [-3, -1, 1, 3] and zeros; std of all 8 values = sqrt(20/8)
    limit = 3.0 * np.sqrt(20 / 8)
    expected = (np.array([[-3, -1, 1, 3], [0, 0, 0, 0]]) / limit + 1) * 0.4 + 0.1
    np.testing.assert_allclose(normalize_patches(patches), expected)


def test_truncation_at_three_standard_deviations():
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(200, 16))
    patches[0, 0] = 100.0  # an outlier is clipped to the edge, 0.1 or 0.9
    out = normalize_patches(patches)
    assert out[0, 0] == pytest.approx(0.9)
    assert out.min() >= 0.1 and out.max() <= 0.9


def test_whitening_flattens_the_spectrum():
    """A 1/f image (amplitude ∝ 1/f) comes out with a flat amplitude at low frequencies."""
    rng = np.random.default_rng(1)
    n = 128
    f = np.sqrt(np.fft.fftfreq(n)[:, None] ** 2 + np.fft.fftfreq(n)[None, :] ** 2)
    phase = np.exp(2j * np.pi * rng.random((n, n)))
    spectrum = np.where(f > 0, 1 / np.maximum(f, 1e-12), 0) * phase
    image = np.real(np.fft.ifft2(spectrum))
    amp = np.abs(np.fft.fft2(whiten_image(image)))
    low = (f > 0.02) & (f < 0.1)
    high = (f > 0.1) & (f < 0.2)
    assert amp[low].mean() == pytest.approx(amp[high].mean(), rel=0.2)


def test_refusals():
    with pytest.raises(ValueError, match="n_patches must be an integer >= 1"):
        natural_image_patches(0)
    with pytest.raises(ValueError, match="patch_size must be at most"):
        natural_image_patches(5, patch_size=1000)
