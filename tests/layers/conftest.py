"""The layer tests (tests/layers/): small images, float64 gradient checks, PyTorch as reference."""

import os
import sys

import pytest
from threadpoolctl import threadpool_limits

# tests/ itself, for its shared helpers (optional.py), as tests/fuzz does.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # Small matrices: BLAS threads only fight the other pytest worker for the cores.
    with threadpool_limits(limits=1):
        yield
