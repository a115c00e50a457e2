"""Warnings that point at the user's line, however deep in nablanet they are raised.

A fixed ``stacklevel`` counts frames, and the frames between a user's ``fit`` and the
warning differ by path (the classifier's ``fit`` calls its base's, the dask dispatcher
wraps it, ``partial_fit`` skips both): a fixed count names a line inside nablanet on
some of them. `warn` counts instead up to the first frame outside the package, so the
warning names the user's call (or the library that called nablanet, such as a
scikit-learn ``Pipeline``), as ``warnings.warn(..., skip_file_prefixes=...)`` does on
Python 3.12.
"""

from __future__ import annotations

import os
import sys
import warnings

#: The package's folder as its modules' code objects name it, and resolved.
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIRS = tuple({os.path.join(_HERE, ""), os.path.join(os.path.realpath(_HERE), "")})


def _inside(filename: str) -> bool:
    """Whether a code object's file lies in nablanet's own folder."""
    return filename.startswith(PACKAGE_DIRS)


def caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside nablanet, seen from `warn`'s caller."""
    frame = sys._getframe(1)  # the caller of this function (warn)
    level = 1
    while frame is not None and _inside(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside nablanet."""
    warnings.warn(message, category, stacklevel=caller_stacklevel())
