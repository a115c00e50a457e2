"""What the CLI tests share: running the command in-process or in a real process, and
checking what it printed."""

import io
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np

from nablanet.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli(capsys, *args):
    """Run ``nablanet ARGS`` in-process; return (exit status, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def run(*args, cwd=None, timeout=300):
    """Run ``python -m nablanet.cli ARGS`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "nablanet.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=timeout,
    )


def assert_one_line_error(stderr, *fragments):
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("nablanet: error: ")
    assert "internal error" not in lines[0]  # a mistake the command knows, not a bug
    for fragment in fragments:
        assert fragment in lines[0]


def check_png(path):
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 3000
    image = mpimg.imread(io.BytesIO(data), format="png")
    assert np.unique(image[..., :3].reshape(-1, 3), axis=0).shape[0] > 10  # not blank
    return image


def printed_float(pattern, text):
    match = re.search(pattern, text)
    assert match, text
    return float(match.group(1))


def _line(text, start):
    for line in text.splitlines():
        if line.startswith(start):
            return line
    raise AssertionError(f"no line starting {start!r} in:\n{text}")
