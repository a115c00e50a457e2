"""A write never destroys what stands at its path (issue 19, item 1).

On main, every save renamed its temporary file over whatever was at the target: a FIFO,
a character device (``--out /dev/full`` as root left a regular file there), or a symbolic
link (replaced by a file, its target left stale). Here each kind of target is tried with
each writer, and the whole folder is compared before and after: nothing but a regular
file, or the regular file a link points to, may ever change.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nablanet
from nablanet.data.idx import write_idx
from nablanet.io.files import UnsafeTarget, write_file, write_target
from nablanet.network import Network

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False

#: Every kind of target, and whether a write to it must succeed.
KINDS = {
    "missing": True,
    "regular": True,
    "symlink to file": True,
    "chain of symlinks to file": True,
    "file in read-only folder": ROOT,  # root writes anyway; anyone else gets an OSError
    "folder": False,
    "symlink to folder": False,
    "dangling symlink": False,
    "symlink loop": False,
    "FIFO": False,
    "symlink to FIFO": False,
    "socket": False,
    **({"character device": False, "symlink to character device": False} if ROOT else {}),
}


def make(folder: Path, kind: str) -> tuple[Path, Path | None]:
    """The target of ``kind`` in ``folder``; and the regular file a write may change."""
    target = folder / "out.bin"
    other = folder / "elsewhere"
    other.mkdir()
    real = other / "real.bin"
    if kind == "missing":
        return target, target
    if kind == "regular":
        target.write_bytes(b"old contents")
        return target, target
    if kind in ("symlink to file", "chain of symlinks to file"):
        real.write_bytes(b"old contents")
        if kind == "symlink to file":
            target.symlink_to(real)
        else:
            (folder / "middle").symlink_to(real)
            target.symlink_to(folder / "middle")
        return target, real
    if kind == "file in read-only folder":
        locked = folder / "locked"
        locked.mkdir()
        (locked / "out.bin").write_bytes(b"old contents")
        locked.chmod(0o555)
        return locked / "out.bin", locked / "out.bin"
    if kind == "folder":
        target.mkdir()
    elif kind == "symlink to folder":
        target.symlink_to(other)
    elif kind == "dangling symlink":
        target.symlink_to(folder / "nothing")
    elif kind == "symlink loop":
        target.symlink_to(folder / "loop")
        (folder / "loop").symlink_to(target)
    elif kind in ("FIFO", "symlink to FIFO"):
        os.mkfifo(real if kind != "FIFO" else target)
    elif kind == "socket":
        import socket

        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(str(target))
        finally:
            s.close()
    elif kind in ("character device", "symlink to character device"):
        # a copy of /dev/null's node, made here: /dev itself is never touched
        os.mknod(real if kind != "character device" else target, stat.S_IFCHR | 0o666,
                 os.stat("/dev/null").st_rdev)
    if kind.startswith("symlink to ") and kind != "symlink to folder":
        target.symlink_to(real)
    return target, None


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: its kind and mode, a link's target, a file's bytes."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            st_ = os.lstat(path)
            if stat.S_ISLNK(st_.st_mode):
                found[str(path)] = ("link", os.readlink(path))
            elif stat.S_ISREG(st_.st_mode):
                found[str(path)] = ("file", stat.S_IMODE(st_.st_mode), path.read_bytes())
            else:
                found[str(path)] = (stat.S_IFMT(st_.st_mode), stat.S_IMODE(st_.st_mode),
                                    st_.st_rdev)
    return found


def write_model(path: Path) -> None:
    nablanet.save(Network([2, 2, 1], seed=0), path)


def write_bytes(path: Path) -> None:
    write_file(path, b"new contents")


def write_idx_file(path: Path) -> None:
    write_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3), compress=False)


WRITERS = {"save": write_model, "write_file": write_bytes, "write_idx": write_idx_file}


def check_write(folder: Path, kind: str, writer: str) -> None:
    target, may_change = make(folder, kind)
    before = snapshot(folder)
    try:
        WRITERS[writer](target)
        written = True
    except UnsafeTarget as exc:
        written = False
        assert str(exc).startswith(f"{target}: "), exc  # names the path ...
        assert "not a regular file: refused" in str(exc)  # ... and what stands there
    except PermissionError:
        written = False
        assert kind == "file in read-only folder"
    assert written == KINDS[kind], (kind, writer)
    after = snapshot(folder)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    if written:
        assert changed == {str(may_change)}, changed  # the file, and nothing else
        assert after[str(may_change)][0] == "file"
        assert after[str(may_change)][2] != b"old contents"
    else:
        assert not changed, changed  # nothing at all, and no temporary file left


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(KINDS)), writer=st.sampled_from(sorted(WRITERS)))
def test_only_a_regular_file_or_a_links_regular_target_ever_changes(kind, writer):
    with tempfile.TemporaryDirectory() as d:
        try:
            check_write(Path(d), kind, writer)
        finally:
            for root, dirs, _ in os.walk(d):
                for name in dirs:
                    os.chmod(Path(root) / name, 0o755)  # so that the folder can go


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_is_decided_by_the_one_helper(tmp_path, kind):
    target, may_change = make(tmp_path, kind)
    if KINDS[kind] or kind == "file in read-only folder":
        assert Path(write_target(target)).resolve() == may_change.resolve()
    else:
        with pytest.raises(UnsafeTarget, match="not a regular file: refused"):
            write_target(target)
    for root, dirs, _ in os.walk(tmp_path):
        for name in dirs:
            os.chmod(Path(root) / name, 0o755)


def test_a_link_keeps_pointing_at_the_new_contents_with_its_permissions(tmp_path):
    real = tmp_path / "models" / "v3.npz"
    real.parent.mkdir()
    real.write_bytes(b"stale")
    real.chmod(0o640)
    link = tmp_path / "model.npz"
    link.symlink_to(real)
    net = Network([3, 2], seed=1)
    nablanet.save(net, link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    np.testing.assert_array_equal(nablanet.load(real).theta, net.theta)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "models"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["v3.npz"]  # no temporary left


@pytest.mark.parametrize("kind", ["FIFO", "socket", "folder", "dangling symlink",
                                  *(["character device"] if ROOT else [])])
def test_reports_and_plots_refuse_what_is_no_file(tmp_path, kind):
    from nablanet import plots

    target, _ = make(tmp_path, kind)
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeTarget, match=f"{target}: .*not a regular file"):
        plots.plot_confusion_matrix(np.eye(2, dtype=int), ["a", "b"], target)
    assert snapshot(tmp_path) == before
