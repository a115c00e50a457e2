"""The one atomic write: stale temporaries of killed saves, errors that name the target."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nablanet import save
from nablanet.io import files
from nablanet.io.files import STALE_AFTER_S, atomic_write, temporary_pattern
from nablanet.network import Network

fcntl = pytest.importorskip("fcntl")


def leftover(folder: Path, target: str, *, age_s: float, letters: str = "abcd1234") -> Path:
    """A temporary file as a killed save of ``target`` leaves it, last written ``age_s`` ago."""
    path = folder / f".{target}.{letters}.tmp"
    path.write_bytes(b"PK\x03\x04 half a model")
    past = time.time() - age_s
    os.utime(path, (past, past))
    return path


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_the_pattern_is_tempfiles_own(tmp_path: Path) -> None:
    with tempfile.NamedTemporaryFile(prefix=".m.npz.", suffix=".tmp", dir=tmp_path) as f:
        assert temporary_pattern("m.npz").match(os.path.basename(f.name))
    assert not temporary_pattern("m.npz").match(".m.npz.abcd1234.tmp.bak")
    assert not temporary_pattern("m.npz").match(".xm.npz.abcd1234.tmp")


def test_a_save_removes_temporaries_killed_saves_left(tmp_path: Path) -> None:
    dead = [leftover(tmp_path, "model.npz", age_s=60, letters=f"dead{i:04d}") for i in range(3)]
    save(Network([2, 2], seed=0), tmp_path / "model.npz")
    assert not any(p.exists() for p in dead)
    assert hidden(tmp_path) == []


def test_other_files_are_never_touched(tmp_path: Path) -> None:
    keep = [
        leftover(tmp_path, "other.npz", age_s=60),  # another target's temporary
        tmp_path / ".model.npz.abcd1234.tmp.bak",
        tmp_path / "model.npz.abcd1234.tmp",
        tmp_path / ".model.npz.ABCD1234.tmp",  # not tempfile's alphabet
    ]
    for p in keep[1:]:
        p.write_bytes(b"mine")
        os.utime(p, (0, 0))
    target = tmp_path / "elsewhere.npz"
    target.write_bytes(b"x")
    link = tmp_path / ".model.npz.link1234.tmp"
    link.symlink_to(target)
    os.utime(link, (0, 0), follow_symlinks=False)
    save(Network([2, 2], seed=0), tmp_path / "model.npz")
    assert all(p.exists() for p in keep) and link.is_symlink() and target.exists()


def test_a_live_writers_temporary_is_kept(tmp_path: Path) -> None:
    # Another writer holds its temporary (flock) however old it looks, and a file
    # written just now may be a writer between mkstemp and flock: both are kept.
    locked = leftover(tmp_path, "model.npz", age_s=60, letters="live0000")
    fresh = leftover(tmp_path, "model.npz", age_s=0, letters="new00000")
    fd = os.open(locked, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        save(Network([2, 2], seed=0), tmp_path / "model.npz")
        assert locked.exists() and fresh.exists()
    finally:
        os.close(fd)
    os.utime(fresh, (time.time() - 10 * STALE_AFTER_S,) * 2)
    save(Network([2, 2], seed=0), tmp_path / "model.npz")
    assert hidden(tmp_path) == []


KILLED_SAVE = """
import os, signal, sys
from nablanet.io.files import atomic_write

def write(f):
    f.write(b"PK\\x03\\x04 half a model")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

atomic_write(sys.argv[1], write)
"""


def test_a_save_killed_by_sigkill_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    save(Network([2, 2], seed=0), target)
    before = target.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(Path(files.__file__).parents[2])}
    for _ in range(3):
        run = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(target)], env=env)
        assert run.returncode == -9
    assert target.read_bytes() == before  # the file itself is intact
    stale = hidden(tmp_path)
    # Each killed save removed the dead ones over 2 s old: on a slow machine, fewer are left.
    assert 1 <= len(stale) <= 3
    for name in stale:  # as if the kills were a while ago
        os.utime(tmp_path / name, (time.time() - 10 * STALE_AFTER_S,) * 2)
    save(Network([2, 2], seed=1), target)
    assert hidden(tmp_path) == []


def test_a_folder_that_refuses_the_temporary_names_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ro" / "model.npz"

    def refuse(prefix: str, suffix: str, dir: str) -> tuple[int, str]:  # noqa: A002
        name = os.path.join(dir, f"{prefix}zzzzzzzz{suffix}")
        raise PermissionError(errno.EACCES, "Permission denied", name)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match="Permission denied") as info:
        save(Network([2, 2], seed=0), target)
    assert info.value.filename == str(target)
    assert ".tmp" not in str(info.value) and str(target) in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_names_the_target(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="Permission denied") as info:
            save(Network([2, 2], seed=0), folder / "model.npz")
    finally:
        folder.chmod(0o755)
    assert info.value.filename == str(folder / "model.npz")


def test_a_failed_fsync_names_the_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device") as info:
        atomic_write(tmp_path / "out.bin", lambda f: f.write(b"data"))
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "out.bin")
    assert list(tmp_path.iterdir()) == []


def test_without_file_locks_only_old_temporaries_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where flock is missing, a writer paused for a minute must not lose its file.
    monkeypatch.setattr(files, "_lock", lambda fd: None)
    recent = leftover(tmp_path, "model.npz", age_s=60, letters="recent00")
    old = leftover(tmp_path, "model.npz", age_s=2 * files.STALE_AFTER_NO_LOCK_S, letters="old00000")
    save(Network([2, 2], seed=0), tmp_path / "model.npz")
    assert recent.exists() and not old.exists()
