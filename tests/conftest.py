"""Fixtures shared by the test modules (the layer tests have their own beside them)."""

import pytest
from threadpoolctl import threadpool_limits

from nablanet._blas import blas_threads


@pytest.fixture
def two_blas_threads():
    """NumPy's BLAS on 2 threads, set from the main thread (as after its first prediction)."""
    with threadpool_limits(limits=2):
        if blas_threads() != 2:
            pytest.skip("cannot give numpy's BLAS two threads here")
        yield
