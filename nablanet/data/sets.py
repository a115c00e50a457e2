"""Ready-made data sets: scikit-learn's digits, Fashion-MNIST, any MNIST-style IDX folder.

Every loader returns a `Dataset` whose inputs are rows of a matrix (one flattened image
per row) scaled to [0, 1], and whose labels are int64 class indices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nablanet._arrays import check_dtype
from nablanet.data.download import default_cache_dir, download_fashion_mnist
from nablanet.data.idx import read_idx
from nablanet.data.preprocessing import stratified_split

# Where Debian's package dataset-fashion-mnist installs the four .gz files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

# The four MNIST-style files, without the optional ".gz".
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A data set split into a training part and a test part.

    Attributes
    ----------
    name : str
        A short name, e.g. ``"fashion-mnist"``.
    X_train : ndarray of shape (m_train, n_features)
        Training inputs, one sample per row (an image flattened in C order).
    y_train : ndarray of shape (m_train,)
        Training labels, int64 indices into ``class_names``.
    X_test : ndarray of shape (m_test, n_features)
        Test inputs.
    y_test : ndarray of shape (m_test,)
        Test labels.
    image_shape : tuple of (int, int) or None
        ``(height, width)`` of each image, so that ``X[i].reshape(image_shape)`` is
        the picture; None for data that are not images.
    class_names : tuple of str
        The name of each class, indexed by label.
    """

    name: str
    X_train: NDArray[Any]
    y_train: NDArray[Any]
    X_test: NDArray[Any]
    y_test: NDArray[Any]
    image_shape: tuple[int, int] | None
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            X, y = getattr(self, f"X_{part}"), getattr(self, f"y_{part}")
            if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
                raise ValueError(
                    f"{self.name}: X_{part} must be (m, n) and y_{part} (m,), "
                    f"got {X.shape} and {y.shape}"
                )
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError(
                f"{self.name}: X_train has {self.X_train.shape[1]} features, "
                f"X_test {self.X_test.shape[1]}"
            )
        if self.image_shape is not None and int(np.prod(self.image_shape)) != self.n_features:
            raise ValueError(
                f"{self.name}: image_shape {self.image_shape} does not hold "
                f"{self.n_features} features"
            )

    @property
    def n_features(self) -> int:
        """Number of input features (pixels for images)."""
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, X_train={self.X_train.shape} {self.X_train.dtype}, "
            f"X_test={self.X_test.shape}, image_shape={self.image_shape}, "
            f"n_classes={self.n_classes})"
        )


def load_digits(
    test_size: float = 0.25, seed: int | np.random.Generator = 0, *, dtype: Any = np.float64
) -> Dataset:
    """Load scikit-learn's bundled 8x8 handwritten digits (1797 images, no download).

    Parameters
    ----------
    test_size : float in (0, 1)
        Fraction of the samples in the test part (``ceil(test_size * 1797)``).
    seed : int or numpy.random.Generator
        Seed of the stratified split.
    dtype : float32 or float64
        The dtype of the inputs.

    Returns
    -------
    Dataset
        ``X_*`` of shape (m, 64) with pixels in [0, 1] (the raw 0..16 divided by 16),
        ``y_*`` int64 digits 0..9, ``image_shape`` (8, 8). With the default
        ``test_size`` the parts hold 1347 and 450 samples, every digit in both.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    dt = check_dtype(dtype)
    bunch = sk_load_digits()
    X = np.asarray(bunch.data, dtype=dt) / dt.type(16)
    y = np.asarray(bunch.target, dtype=np.int64)
    X_train, X_test, y_train, y_test = stratified_split(X, y, test_size=test_size, seed=seed)
    return Dataset(
        name="digits",
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        image_shape=(8, 8),
        class_names=tuple(str(d) for d in range(10)),
    )


def _find_idx_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Map each of the four base names to the file found in ``folder`` (plain or .gz)."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for base in IDX_FILES:
        for candidate in (folder / base, folder / f"{base}.gz"):
            if candidate.is_file():
                found[base] = candidate
                break
        else:
            missing.append(base)
    return found, missing


def _images_to_matrix(images: NDArray[Any], dtype: np.dtype[Any]) -> NDArray[Any]:
    """Flatten (m, h, w) images into (m, h*w) rows of ``dtype``; ubyte scaled to [0, 1].

    One array of ``dtype`` is made (``astype``) and divided in place, so 60000 x 784
    uint8 pixels become one float32 matrix without a float64 intermediate.
    """
    X = images.reshape(images.shape[0], -1).astype(dtype)
    if images.dtype == np.uint8:
        X /= dtype.type(255)
    return X


def _read_pair(images_path: Path, labels_path: Path) -> tuple[NDArray[Any], NDArray[Any]]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise ValueError(
            f"{images_path} must hold images of shape (m, height, width), got {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{labels_path} must hold integer labels of shape (m,), "
            f"got {labels.dtype} of shape {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{images_path.name} has {images.shape[0]} images but "
            f"{labels_path.name} has {labels.shape[0]} labels"
        )
    if labels.size and labels.min() < 0:
        raise ValueError(f"{labels_path} has negative labels (min {labels.min()})")
    return images, labels


def _classes(
    labels: tuple[NDArray[Any], ...], names: tuple[str, ...] | None, where: str
) -> tuple[NDArray[np.int64], tuple[str, ...], tuple[NDArray[np.int64], ...]]:
    """The distinct labels present, their names, and each labels array as indices into them.

    Only the labels present make classes: a file holding the one label 2**31 - 1 has one
    class, not 2**31. ``names`` (indexed by label), when given, bounds the labels.
    """
    classes = np.unique(np.concatenate(labels)).astype(np.int64)
    if names is not None and classes.size and classes[-1] >= len(names):
        raise ValueError(
            f"{where}: the labels are 0..{len(names) - 1}, found label {classes[-1]}"
        )
    class_names = tuple(names[c] if names is not None else str(c) for c in classes.tolist())
    indices = tuple(np.searchsorted(classes, y).astype(np.int64) for y in labels)
    return classes, class_names, indices


def _load_folder(
    folder: Path,
    files: dict[str, Path],
    name: str,
    dtype: Any,
    label_names: tuple[str, ...] | None = None,
) -> Dataset:
    dt = check_dtype(dtype)
    train_images, train_labels = _read_pair(files[TRAIN_IMAGES], files[TRAIN_LABELS])
    test_images, test_labels = _read_pair(files[TEST_IMAGES], files[TEST_LABELS])
    if train_images.shape[1:] != test_images.shape[1:]:
        raise ValueError(
            f"{folder}: training images are {train_images.shape[1:]}, "
            f"test images {test_images.shape[1:]}"
        )
    _, class_names, (y_train, y_test) = _classes(
        (train_labels, test_labels), label_names, str(folder)
    )
    h, w = train_images.shape[1:]
    return Dataset(
        name=name,
        X_train=_images_to_matrix(train_images, dt),
        y_train=y_train,
        X_test=_images_to_matrix(test_images, dt),
        y_test=y_test,
        image_shape=(int(h), int(w)),
        class_names=class_names,
    )


def load_idx_folder(folder: str | os.PathLike[str], dtype: Any = np.float32) -> Dataset:
    """Load any folder holding the four MNIST-style IDX files (MNIST, Fashion-MNIST, ...).

    Parameters
    ----------
    folder : str or path-like
        Holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally
        ending in ``.gz``.
    dtype : float32 or float64
        The dtype of the inputs.

    Returns
    -------
    Dataset
        ``X_*`` of shape (m, height * width); ubyte pixels are divided by 255 into
        [0, 1], other pixel types are converted unscaled. ``class_names`` are the
        distinct labels present in either part, in increasing order, as text
        (``"0"``, ``"1"``, ...); ``y_*`` are int64 indices into them (equal to the
        labels when the labels are 0..k-1, as in MNIST).

    Raises
    ------
    FileNotFoundError
        If a file is missing (the message lists which).
    ValueError
        If a file is not valid IDX, images are not 3-D, labels are not integers, or
        the numbers of images and labels differ.
    """
    path = Path(folder)
    files, missing = _find_idx_files(path)
    if missing:
        raise FileNotFoundError(
            f"{path} lacks {', '.join(f'{m}[.gz]' for m in missing)}; an IDX folder needs "
            f"the four files {', '.join(IDX_FILES)} (each optionally gzipped)"
        )
    return _load_folder(path, files, path.resolve().name or str(path), dtype)


def _describe(folder: Path, missing: list[str]) -> str:
    if not folder.is_dir():
        return f"{folder} (no such folder)"
    if len(missing) == len(IDX_FILES):
        return f"{folder} (none of the files)"
    return f"{folder} (missing {', '.join(missing)})"


def load_fashion_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    dtype: Any = np.float32,
) -> Dataset:
    """Load Fashion-MNIST (60000 training and 10000 test images of 28x28 pixels).

    The four IDX files (each plain or gzipped) are looked for, in this order, in:

    1. ``path``, if given, and nowhere else;
    2. otherwise Debian's package folder ``/usr/share/datasets/fashion-mnist``
       (``apt-get install dataset-fashion-mnist``),
    3. then the cache folder, ``cache_dir`` or ``$NABLANET_DATA/fashion-mnist`` or
       ``~/.cache/nablanet/fashion-mnist``.

    Parameters
    ----------
    path : str or path-like, optional
        A folder holding the four files.
    download : bool
        If the files are not found, download them (verified by SHA-256) into ``path``
        if given, else into the cache folder. Off by default: nothing is downloaded
        unless asked for.
    cache_dir : str or path-like, optional
        Overrides the cache folder.
    dtype : float32 or float64
        The dtype of the inputs. The pixels are converted straight to it.

    Returns
    -------
    Dataset
        ``X_train`` (60000, 784) and ``X_test`` (10000, 784) in [0, 1], ``y_*`` int64
        in 0..9, ``image_shape`` (28, 28), the ten Fashion-MNIST ``class_names``.

    Raises
    ------
    FileNotFoundError
        If no folder holds all four files and ``download`` is False. The message lists
        the folders searched and the ways to get the files.
    ValueError
        If a file is corrupt, or the images are not 28x28, or a label is outside 0..9.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folders = [Path(path)] if path is not None else [DEBIAN_FASHION_MNIST_DIR, cache]
    looked: list[str] = []
    for folder in folders:
        files, missing = _find_idx_files(folder)
        if not missing:
            return _check_fashion(_load_fashion(folder, files, dtype), folder)
        looked.append(_describe(folder, missing))
    if download:
        target = download_fashion_mnist(folders[0] if path is not None else cache)
        files, _ = _find_idx_files(target)
        return _check_fashion(_load_fashion(target, files, dtype), target)
    raise FileNotFoundError(
        "Fashion-MNIST not found. Looked for "
        f"{', '.join(f'{b}[.gz]' for b in IDX_FILES)} in: {'; '.join(looked)}. "
        "To get the files: `apt-get install dataset-fashion-mnist` (Debian/Ubuntu; "
        f"installs them in {DEBIAN_FASHION_MNIST_DIR}), or `make fashion-mnist` in a "
        "nablanet checkout, or load_fashion_mnist(download=True) to download them "
        f"(checked by SHA-256) into {folders[0] if path is not None else cache}."
    )


def _load_fashion(folder: Path, files: dict[str, Path], dtype: Any) -> Dataset:
    return _load_folder(folder, files, "fashion-mnist", dtype, FASHION_MNIST_CLASSES)


def _check_fashion(data: Dataset, folder: Path) -> Dataset:
    if data.image_shape != (28, 28):
        raise ValueError(f"{folder}: Fashion-MNIST images are 28x28, found {data.image_shape}")
    return data
