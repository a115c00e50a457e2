"""Natural-image patches, the sparse autoencoder's data (UFLDL's ``sampleIMAGES``).

UFLDL samples 8×8 patches from ten photographs that Olshausen and Field had whitened
(their filter flattens the 1/f amplitude spectrum of natural images, so that edges, not
slow shading, carry the variance). Here the photographs are scikit-learn's two bundled
ones (`sklearn.datasets.load_sample_images`: nothing is downloaded), made grey, shrunk
to a third (3×3 means: JPEG's 8×8 block edges and sensor noise are high frequencies that
whitening would amplify into the patches) and whitened by the same filter; the patches
are then normalised exactly as ``sampleIMAGES`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._checks import integer

Array = NDArray[Any]

#: Olshausen and Field's cut-off f₀ of the whitening filter, in cycles per pixel
#: (0.4 N cycles per image of N pixels).
WHITENING_CUTOFF = 0.4
#: Each photograph is shrunk by this factor (means of blocks) before whitening.
DOWNSAMPLE = 3
#: ITU-R BT.601 luma weights for grey from RGB.
_LUMA = np.array([0.299, 0.587, 0.114])


def whiten_image(image: Array) -> Array:
    """Olshausen and Field's whitening of a grey image: the filter f·exp(−(f/f₀)⁴).

    Parameters
    ----------
    image : ndarray of shape (height, width)

    Returns
    -------
    ndarray of shape (height, width), float64
        Scaled to unit variance.

    Notes
    -----
    In the frequency domain each coefficient is multiplied by |f| exp(−(|f|/f₀)⁴), with
    |f| in cycles per pixel: the ramp |f| undoes the 1/f fall-off of natural images, the
    exponential removes the highest frequencies, where noise and aliasing live.
    """
    fy = np.fft.fftfreq(image.shape[0])[:, None]
    fx = np.fft.fftfreq(image.shape[1])[None, :]
    f = np.sqrt(fx**2 + fy**2)
    filt = f * np.exp(-((f / WHITENING_CUTOFF) ** 4))
    out = np.real(np.fft.ifft2(np.fft.fft2(image - image.mean()) * filt))
    return out / out.std()


def sample_images() -> list[Array]:
    """scikit-learn's bundled photographs in grey, shrunk and whitened (see `whiten_image`)."""
    from sklearn.datasets import load_sample_images

    k = DOWNSAMPLE
    out = []
    for img in load_sample_images().images:
        grey = img.astype(np.float64) @ _LUMA
        h, w = grey.shape[0] // k * k, grey.shape[1] // k * k
        small = grey[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))
        out.append(whiten_image(small))
    return out


def normalize_patches(patches: Array) -> Array:
    """UFLDL's ``normalizeData``: remove each patch's mean, truncate, rescale to [0.1, 0.9].

    Parameters
    ----------
    patches : ndarray of shape (n_patches, n_pixels)

    Returns
    -------
    ndarray of shape (n_patches, n_pixels)

    Notes
    -----
    Truncation is at ±3 standard deviations of all patches' pixels together (after the
    per-patch means are removed), then [−1, 1] is mapped to [0.1, 0.9]: the range a
    sigmoid output can reach without saturating.
    """
    X = patches - patches.mean(axis=1, keepdims=True)
    limit = 3.0 * X.std()
    X = np.clip(X, -limit, limit) / limit
    return (X + 1.0) * 0.4 + 0.1


def natural_image_patches(n_patches: int = 10000, patch_size: int = 8, seed: int = 0) -> Array:
    """Random square patches of natural images, normalised as UFLDL's ``sampleIMAGES``.

    Parameters
    ----------
    n_patches : int, default 10000
    patch_size : int, default 8
        Side of each patch in pixels.
    seed : int, default 0
        Chooses the images and positions.

    Returns
    -------
    ndarray of shape (n_patches, patch_size²), float64
        One patch per row (pixels in C order), values in [0.1, 0.9].
    """
    integer(n_patches, "n_patches")
    integer(patch_size, "patch_size")
    images = sample_images()
    height, width = images[0].shape
    if patch_size > min(height, width):
        raise ValueError(
            f"patch_size must be at most {min(height, width)} (the images are "
            f"{height}×{width}), got {patch_size}"
        )
    rng = np.random.default_rng(seed)
    which = rng.integers(len(images), size=n_patches)
    rows = rng.integers(height - patch_size + 1, size=n_patches)
    cols = rng.integers(width - patch_size + 1, size=n_patches)
    stack = np.stack(images)
    offsets = np.arange(patch_size)
    patches = stack[
        which[:, None, None],
        rows[:, None, None] + offsets[None, :, None],
        cols[:, None, None] + offsets[None, None, :],
    ]
    return normalize_patches(patches.reshape(n_patches, patch_size * patch_size))
