"""Files: atomic writes, and reads that refuse what is not a regular file.

`atomic_write(path, write)` calls ``write`` on a temporary file beside ``path``
(``.NAME.XXXXXXXX.tmp``), flushes and fsyncs it, renames it onto ``path`` and fsyncs the
folder, so that the rename survives a crash too. On any error the temporary file is removed
and an existing file at ``path`` is left as it was: a reader sees the old file or the new
one, never half of one. Every file the project writes for a user (model files, downloads,
ONNX graphs, predictions, reports, benchmark figures) goes through here. `open_regular`
opens a file for reading, refusing FIFOs, devices and sockets without blocking. This
module imports nothing of nablanet.

What a write may replace
------------------------
`write_target(path)` is the one place that decides, before any work, what a write to
``path`` will replace:

- nothing there: ``path`` is created;
- a regular file: it is replaced;
- a symbolic link to a regular file (through any chain of links): the file it points to
  is replaced, atomically, by a temporary file in *that* file's folder; the link stays
  and shows the new contents;
- anything else is refused with `UnsafeTarget`, naming the path and what it is: a
  folder, a FIFO, a socket, a character or block device (``/dev/null``, ``/dev/full``:
  renaming onto one, as root, would replace the system's node), a dangling link, a link
  to one of those, or a loop of links.

`atomic_write` asks it again just before its rename, so that a target swapped for a
device during the write is not replaced either.

Stale temporaries
-----------------
A process killed during a save (``kill -9``, power loss) cannot remove its temporary file.
The next save to the same path removes the ones it can prove dead: files of its own name
pattern (``.NAME.`` + 8 characters + ``.tmp``, regular files, not links) that

- no process holds: each writer holds an exclusive `fcntl.flock` on its temporary file
  until the rename, and the kernel drops that lock when the writer dies; and
- were last modified at least `STALE_AFTER_S` seconds before this save's own temporary
  file was created: this covers the instant between another writer's ``mkstemp`` and its
  ``flock``, and writers on file systems where the lock is not shared (a writer streams
  data, so its file's time keeps moving).

Where there are no such locks (Windows, a file system without flock) only age can tell a
dead writer from a slow one: the file must then be `STALE_AFTER_NO_LOCK_S` old.
Files of other names (another target's temporaries, a user's files) are never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

if sys.platform != "win32":
    import fcntl

#: A temporary file unlocked and this much older than a new save's own is removed (seconds).
STALE_AFTER_S = 2.0
#: The same without file locks (Windows): only age can tell a dead writer from a slow one.
STALE_AFTER_NO_LOCK_S = 3600.0
_SUFFIX = ".tmp"


def new_file_mode() -> int:
    """0o666 less the process umask, read without changing it (Linux); else 0o600.

    ``os.umask`` can only be read by setting it, which races with other threads, and a
    file made by `tempfile.mkstemp` is 0o600 whatever the umask.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o600


def fsync_directory(directory: str) -> None:
    """Make a rename durable; not every OS can open a directory (Windows cannot)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def temporary_pattern(path: str) -> re.Pattern[str]:
    """The names `atomic_write` gives temporary files for ``path`` (``tempfile``'s 8 letters)."""
    name = re.escape(os.path.basename(path))
    return re.compile(rf"\.{name}\.[a-z0-9_]{{8}}{re.escape(_SUFFIX)}\Z")


def _lock(fd: int) -> bool | None:
    """Take an exclusive lock without waiting.

    Returns True when taken, False when another process holds one, None where this system
    or file system has no such locks (then only age can tell a dead writer).
    """
    if sys.platform == "win32":
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def _remove_if_dead(path: str, own_ns: int) -> None:
    """Remove one candidate temporary file if no writer holds it and it is old enough."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    try:
        st = os.fstat(fd)
        held = _lock(fd) if stat.S_ISREG(st.st_mode) else False
        if held is not False:
            wait = STALE_AFTER_S if held else STALE_AFTER_NO_LOCK_S
            if st.st_mtime_ns <= own_ns - int(wait * 1e9):
                os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(path: str, own: str) -> None:
    """Remove dead temporary files of earlier saves to ``path`` (see the module docstring).

    Parameters
    ----------
    path : str
        The target of the save.
    own : str
        This save's own temporary file: never removed, and its time is "now".
    """
    directory = os.path.dirname(os.path.abspath(path))
    pattern = temporary_pattern(path)
    try:
        own_ns = os.stat(own).st_mtime_ns
        entries = [e.path for e in os.scandir(directory) if pattern.match(e.name)]
    except OSError:
        return
    for candidate in entries:
        if os.path.basename(candidate) != os.path.basename(own):
            _remove_if_dead(candidate, own_ns)


class UnsafeTarget(ValueError):
    """An existing path that a write must not replace (a folder, FIFO, device, bad link).

    The message starts with the path and says what stands there.
    """

    def __init__(self, path: str, what: str) -> None:
        super().__init__(
            f"{path}: {what}, not a regular file: refused (a write replaces only a regular "
            "file, or the regular file a symbolic link points to)"
        )
        self.path = path
        self.what = what


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str:
    """What a file of this mode is, in words (for a non-regular file)."""
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def write_target(path: str | os.PathLike[str]) -> str:
    """The file a write to ``path`` replaces, or an error before any work is done.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    str
        ``path`` itself when nothing or a regular file stands there; for a symbolic link
        to a regular file, the real path of that file (links resolved).

    Raises
    ------
    UnsafeTarget
        For a folder, FIFO, socket or device, a dangling link, a link to anything but a
        regular file, or a loop of links (see the module notes).
    """
    target = os.fspath(path)
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return target  # nothing there: created (a missing folder fails at the write)
    except NotADirectoryError:
        return target  # a file where a folder should be: the write fails, naming it
    if stat.S_ISREG(mode):
        return target
    if not stat.S_ISLNK(mode):
        raise UnsafeTarget(target, _kind(mode))
    try:
        points_to = os.stat(target).st_mode
    except FileNotFoundError:
        raise UnsafeTarget(target, "a dangling symbolic link (what it points to does "
                                   "not exist)") from None
    except OSError as exc:  # ELOOP: a loop of links
        raise UnsafeTarget(target, f"a symbolic link that cannot be followed "
                                   f"({exc.strerror})") from None
    if not stat.S_ISREG(points_to):
        raise UnsafeTarget(target, f"a symbolic link to {_kind(points_to)}")
    return os.path.realpath(target)


def _naming_target(exc: OSError, target: str) -> OSError:
    """The same error (same type and errno) naming the target rather than a temporary file."""
    return type(exc)(exc.errno, exc.strerror or str(exc), target)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it onto ``path``.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace; an existing file keeps its permission bits, a new
        one gets 0o666 less the umask. A symbolic link to a regular file is written
        through: the file it points to is replaced and the link kept (`write_target`).
    write : callable
        ``write(f)`` with ``f`` open for reading and writing (``"w+b"``) at offset 0. It
        may seek and read back what it wrote. Whatever it raises is re-raised after the
        temporary file is removed.

    Raises
    ------
    UnsafeTarget
        Before ``write`` is called, if ``path`` is a folder, FIFO, socket, device or a
        link to none of the regular files (see `write_target`); also if such a thing
        took its place while ``write`` ran (then nothing is replaced).
    OSError
        If the folder or the file cannot be written; the error names ``path``, not the
        temporary file.
    """
    given = os.fspath(path)
    target = write_target(given)
    directory = os.path.dirname(os.path.abspath(target))
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)  # keep an existing file's permissions
    except OSError:
        mode = new_file_mode()
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{os.path.basename(target)}.", suffix=_SUFFIX, dir=directory
        )
    except OSError as exc:
        raise _naming_target(exc, given) from exc
    try:
        with os.fdopen(fd, "w+b") as f:
            _lock(f.fileno())  # held until closed: tells later saves this writer is alive
            remove_stale_temporaries(target, tmp)
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, mode)
            if write_target(target) != target:  # swapped for a link while we wrote
                raise UnsafeTarget(given, "replaced by a symbolic link during the write")
            os.replace(tmp, target)  # still locked: a cleaner never sees it unlocked
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and (
            exc.filename == tmp or (exc.filename is None and exc.errno is not None)
        ):
            raise _naming_target(exc, given) from exc
        raise
    fsync_directory(directory)


def write_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through `atomic_write`: all of it or nothing."""

    def write(f: IO[bytes]) -> None:
        f.write(data)

    atomic_write(path, write)


class NotRegularFile(ValueError):
    """A path that names a FIFO, device or socket where a file was expected."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: not a regular file (a FIFO, device or socket): refused")
        self.path = path


@contextmanager
def open_regular(source: str) -> Iterator[IO[bytes]]:
    """Open a regular file for reading; refuse FIFOs, devices and sockets without blocking.

    Raises
    ------
    NotRegularFile
        If ``source`` is not a regular file (a ValueError: the path can be opened, but
        what it names is no file to read).
    OSError
        If it cannot be opened (missing, no permission, a folder).
    """
    if stat.S_ISDIR(os.stat(source).st_mode):
        raise IsADirectoryError(21, "Is a directory", source)
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer before fstat could look.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(source, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(source)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as fh:
        yield fh
