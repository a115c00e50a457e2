"""Data sets and data readers: the public face of ``nablanet.data``.

>>> from nablanet.datasets import load_digits
>>> data = load_digits()
>>> data.X_train.shape, data.X_test.shape
((1347, 64), (450, 64))
"""

from nablanet.data.csv import CsvLayout, inspect_csv, read_csv
from nablanet.data.download import ChecksumError, download_fashion_mnist
from nablanet.data.idx import read_idx, write_idx
from nablanet.data.patches import natural_image_patches
from nablanet.data.preprocessing import one_hot, stratified_split
from nablanet.data.sets import Dataset, load_digits, load_fashion_mnist, load_idx_folder
from nablanet.data.split import split, split_indices

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
