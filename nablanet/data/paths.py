"""The readers' first check: the path names a regular file.

Opening a FIFO for reading waits for a writer, and a device can be endless; a reader
that must give an answer or a precise error refuses both before opening anything.
"""

from __future__ import annotations

import os
import stat


def check_regular_file(path: str) -> None:
    """Refuse a path that exists but is not a regular file (a FIFO, a device, a socket).

    Raises
    ------
    FileNotFoundError, PermissionError, OSError
        If the path cannot be examined (left to the caller's ``open`` otherwise).
    ValueError
        ``"{path} is not a regular file (a FIFO)"``, and so on; folders raise
        ``IsADirectoryError`` as ``open`` would.
    """
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path} is a folder, not a file")
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    kind = next((name for test, name in kinds if test(mode)), "not a file")
    raise ValueError(f"{path} is not a regular file ({kind}); give a file to read")
