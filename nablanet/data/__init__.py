"""Data sets and data readers.

>>> from nablanet.data import load_digits
>>> data = load_digits()
>>> data.X_train.shape, data.X_test.shape
((1347, 64), (450, 64))

The names are imported on first use (PEP 562): ``import nablanet.data.csv`` loads the
reader alone, and the command line parses its arguments without NumPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nablanet._lazy import lazy_names

# public name -> module that defines it
_EXPORTS = {
    "ChecksumError": "nablanet.data.download",
    "CsvLayout": "nablanet.data.csv",
    "Dataset": "nablanet.data.sets",
    "download_fashion_mnist": "nablanet.data.download",
    "inspect_csv": "nablanet.data.csv",
    "load_digits": "nablanet.data.sets",
    "load_fashion_mnist": "nablanet.data.sets",
    "load_idx_folder": "nablanet.data.sets",
    "natural_image_patches": "nablanet.data.patches",
    "one_hot": "nablanet.data.preprocessing",
    "read_csv": "nablanet.data.csv",
    "read_idx": "nablanet.data.idx",
    "split": "nablanet.data.splitting",
    "split_indices": "nablanet.data.splitting",
    "stratified_split": "nablanet.data.preprocessing",
    "write_idx": "nablanet.data.idx",
}

__all__ = [
    "ChecksumError",
    "CsvLayout",
    "Dataset",
    "download_fashion_mnist",
    "inspect_csv",
    "load_digits",
    "load_fashion_mnist",
    "load_idx_folder",
    "natural_image_patches",
    "one_hot",
    "read_csv",
    "read_idx",
    "split",
    "split_indices",
    "stratified_split",
    "write_idx",
]

if TYPE_CHECKING:
    from nablanet.data.csv import CsvLayout, inspect_csv, read_csv
    from nablanet.data.download import ChecksumError, download_fashion_mnist
    from nablanet.data.idx import read_idx, write_idx
    from nablanet.data.patches import natural_image_patches
    from nablanet.data.preprocessing import one_hot, stratified_split
    from nablanet.data.sets import Dataset, load_digits, load_fashion_mnist, load_idx_folder
    from nablanet.data.splitting import split, split_indices


__getattr__, __dir__ = lazy_names(_EXPORTS, globals())
