"""Optional packages the tests use when they are installed, with the reason they skip if not."""

import pytest

TORCH_MISSING = (
    "torch is not installed: `make unit` installs its CPU build (2.13.0+cpu) from the wheel "
    "file named by TORCH_WHEEL in the Makefile, where that file exists"
)


def import_torch():
    """Return the torch module, or skip the calling test (or module) saying why."""
    return pytest.importorskip("torch", reason=TORCH_MISSING)
