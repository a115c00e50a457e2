"""Fuzz the write side: whatever stands at the path, and wherever a write is cut short.

Two targets:

- target kinds: a writer (``save``, ``write_file``, ``write_idx``) against any kind of
  target (missing, regular, a link or chain of links to a file, a folder, a link to one,
  a dangling link, a loop of links, a FIFO, a link to one, a socket, a file in a
  read-only folder, and as root a character device and a link to one). Nothing but a
  regular file, or the regular file a link points to, may change (see
  ``tests/test_write_targets.py``, whose checks run here);
- interrupted writes: ``atomic_write`` whose writer writes some chunks and then fails
  (ValueError, a full disk, Ctrl-C) or not. A failed write leaves the folder exactly as it
  was (the old file, the link, no temporary file); a finished one leaves exactly the bytes
  written, through any link.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import IO

import pytest
from _fuzz import count, run_fuzz
from hypothesis import given
from hypothesis import strategies as st
from test_write_targets import KINDS, WRITERS, check_write, make, snapshot

from nablanet.io.files import atomic_write


def _unlock(folder: str) -> None:
    for root, dirs, _ in os.walk(folder):
        for name in dirs:
            os.chmod(Path(root) / name, 0o755)  # so that the folder can be removed


def test_fuzz_write_target_kinds() -> None:
    @given(kind=st.sampled_from(sorted(KINDS)), writer=st.sampled_from(sorted(WRITERS)))
    def run(kind: str, writer: str) -> None:
        count("writes: target kinds")
        with tempfile.TemporaryDirectory() as d:
            try:
                check_write(Path(d), kind, writer)
            finally:
                _unlock(d)

    run_fuzz(run)


FAILURES = {
    "ValueError": lambda: ValueError("the writer failed"),
    "disk full": lambda: OSError(errno.ENOSPC, "No space left on device"),
    "Ctrl-C": KeyboardInterrupt,
}


def test_fuzz_interrupted_writes() -> None:
    @given(
        kind=st.sampled_from(["missing", "regular", "symlink to file",
                              "chain of symlinks to file"]),
        chunks=st.lists(st.binary(max_size=4096), max_size=6),
        failure=st.none() | st.sampled_from(sorted(FAILURES)),
        seek_back=st.booleans(),
    )
    def run(kind: str, chunks: list[bytes], failure: str | None, seek_back: bool) -> None:
        count("writes: interrupted")
        with tempfile.TemporaryDirectory() as d:
            target, real = make(Path(d), kind)
            before = snapshot(Path(d))

            def write(f: IO[bytes]) -> None:
                for chunk in chunks:
                    f.write(chunk)
                if seek_back:  # a writer may read back what it wrote (the seal does)
                    f.seek(0)
                    assert f.read() == b"".join(chunks)
                if failure is not None:
                    raise FAILURES[failure]()

            if failure is None:
                atomic_write(target, write)
                assert real is not None and real.read_bytes() == b"".join(chunks)
                after = snapshot(Path(d))
                changed = {p for p in before.keys() | after.keys()
                           if before.get(p) != after.get(p)}
                assert changed <= {str(real)}
            else:
                with pytest.raises((ValueError, OSError, KeyboardInterrupt)) as raised:
                    atomic_write(target, write)
                assert type(raised.value) is type(FAILURES[failure]())
                assert snapshot(Path(d)) == before  # the old file, the links, no temporary

    run_fuzz(run)
