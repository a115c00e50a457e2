"""Input checks: kept importable here; they live in `nablanet._arrays` (the core's own room)."""

from nablanet._arrays import (
    FLOAT_DTYPES,
    SPARSE_FORMATS,
    check_dtype,
    check_matrix,
    check_pair,
    check_sample_weight,
    is_sparse,
)

__all__ = [
    "FLOAT_DTYPES",
    "SPARSE_FORMATS",
    "check_dtype",
    "check_matrix",
    "check_pair",
    "check_sample_weight",
    "is_sparse",
]
