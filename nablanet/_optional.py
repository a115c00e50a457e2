"""The optional dependencies: which extra brings each, and the error when one is missing.

``pip install nablanet`` installs the core: NumPy, SciPy, scikit-learn, threadpoolctl,
numba (the compiled kernels), pandas and pyarrow (the CSV reader) and tqdm (the progress
bar). The rest comes with an extra of pyproject.toml, and is imported only where it is
used, inside `requires_extra`::

    with requires_extra("onnx"):
        import onnx

so that a missing package is an ImportError that names the extra to install ("ONNX export
(...) needs the onnx extra: pip install 'nablanet[onnx]'"), not a bare
ModuleNotFoundError from deep inside nablanet.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Extra:
    """One extra: the top-level modules it installs and what in nablanet uses them."""

    modules: tuple[str, ...]
    purpose: str


#: The extras of pyproject.toml (``all`` is every one of them); tests/test_optional.py
#: checks that the two agree.
EXTRAS: dict[str, Extra] = {
    "dask": Extra(modules=("dask", "distributed"),
                  purpose="Dask (nablanet.distributed, dask arrays, --workers, --cluster)"),
    "onnx": Extra(modules=("onnx", "skl2onnx", "onnxruntime"),
                  purpose="ONNX export (to_onnx, register_skl2onnx, nablanet export)"),
    "plots": Extra(modules=("matplotlib",),
                   purpose="Plots (nablanet.plots, the pictures of --report)"),
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def install_hint(extra: str, what: str | None = None) -> str:
    """The message for a missing extra: what needs it, and the pip command that installs it.

    Parameters
    ----------
    extra : {"dask", "onnx", "plots"}
        A key of `EXTRAS`.
    what : str, optional
        What needs it, as the subject of a sentence; default the extra's purpose.

    Raises
    ------
    ValueError
        If ``extra`` is not one of `EXTRAS`.
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; the extras are {', '.join(EXTRAS)}")
    return (f"{what or EXTRAS[extra].purpose} needs the {extra} extra: "
            f"pip install 'nablanet[{extra}]'")


@contextmanager
def requires_extra(extra: str, what: str | None = None) -> Iterator[None]:
    """Import inside this block the modules of ``extra``; if one is missing, name the extra.

    Parameters
    ----------
    extra : {"dask", "onnx", "plots"}
        The extra of pyproject.toml that installs the modules imported in the block.
    what : str, optional
        What needs them, as the subject of a sentence; default the extra's purpose.

    Raises
    ------
    MissingExtra
        An ImportError, when an import in the block fails: "<what> needs the <extra>
        extra: pip install 'nablanet[<extra>]'", then the import's own message (a module
        missing, or one installed that does not load), whose error is chained as the cause.
    """
    hint = install_hint(extra, what)  # an unknown extra is a bug here, found at once
    try:
        yield
    except ImportError as exc:
        raise MissingExtra(f"{hint} ({exc})", name=exc.name) from exc
