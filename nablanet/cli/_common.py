"""What every command shares: its two errors, the flag types, and how it writes.

Nothing heavy is imported here (nor in any command module at import time): the parser is
built from every command module, and ``nablanet --help`` must answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from typing import IO, Any, NoReturn

from nablanet._optional import requires_extra

PROG = "nablanet"
DATA_HELP = (
    "where the data come from: 'digits' (scikit-learn's bundled 8x8 digits, the default), "
    "'fashion-mnist' (Debian's dataset-fashion-mnist package or nablanet's cache), a "
    "folder holding the four MNIST-style IDX files, or a CSV file (see --target)"
)
TARGET_HELP = (
    "the target column of a CSV file: a header name or a 0-based index (negative counts "
    "from the end; default -1, the last column); several, comma-separated or as repeated "
    "flags, for multi-output regression or multi-label classification"
)


class UsageError(Exception):
    """A mistake in the command line found after parsing: exit status 2."""


class CommandFailed(Exception):
    """A command that ran but did not succeed (e.g. a failed gradient check): status 1."""


# --- flag types (checked while parsing: a bad value is a usage error) ----------------------
#
# Numbers are checked by nablanet._checks, so a flag and the library argument behind it
# refuse a value in the same words: "must be a number in (0, inf), got -0.1".


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> Callable[[str], float]:
    """A flag type: a finite number in an interval (see `nablanet._checks.number`)."""

    def parse(text: str) -> float:
        from nablanet import _checks  # imports numpy: not before a flag is read

        try:
            return _checks.number(_real(text), "value", low, high, low_open=low_open,
                                  high_open=high_open)
        except ValueError:
            where = _checks.interval(low, high, low_open, high_open)
            raise argparse.ArgumentTypeError(f"must be a number in {where}, got {text}"
                                             ) from None

    return parse


def integer(low: int = 1) -> Callable[[str], int]:
    """A flag type: an integer of at least ``low`` (see `nablanet._checks.integer`)."""

    def parse(text: str) -> int:
        from nablanet import _checks

        try:
            return _checks.integer(_int(text), "value", low)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text}"
                                             ) from None

    return parse


def _real(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # refused by the check, which names the text


def _int(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


positive_int = integer(1)
non_negative_float = number(0.0)
positive_float = number(0.0, low_open=True)
fraction = number(0.0, 1.0, high_open=True)


def positive_int_list(text: str) -> tuple[int, ...]:
    """``"256,128"`` -> ``(256, 128)``; every entry at least 1."""
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"must be a comma-separated list of integers >= 1, e.g. 256,128, got {text}"
        )
    return sizes


def hidden_layers(text: str) -> tuple[int, ...]:
    """Hidden layer sizes; ``""`` or ``"none"`` for no hidden layer."""
    return () if text.strip() in ("", "none") else positive_int_list(text)


def names(text: str) -> str | list[str]:
    """One name, or a comma-separated list of names."""
    parts = [s.strip() for s in text.split(",")]
    if any(not s for s in parts):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty name")
    return parts[0] if len(parts) == 1 else parts


def names_list(text: str) -> list[str]:
    """A comma-separated list of column names."""
    parts = [s.strip() for s in text.split(",")]
    if any(not s for s in parts):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty name")
    return parts


def target(text: str) -> list[int | str]:
    """Column indices or names, comma-separated: ``"3"``, ``"species"``, ``"Weight,Waist"``."""
    refs: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise argparse.ArgumentTypeError(f"{text!r} has an empty column name")
        try:
            refs.append(int(part))
        except ValueError:
            refs.append(part)
    return refs


def batch_size(text: str) -> int | str:
    """A batch size, or ``"auto"``."""
    return "auto" if text == "auto" else positive_int(text)


# --- shared flags ----------------------------------------------------------------------------


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the descriptions' line breaks.

    A default of None or False is not shown, nor one the help already gives in words
    ("default: 0.001 for adam, 0.01 for sgd"): "(default: None)" would contradict it.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, pointing to ``--help``."""

    def error(self, message: str) -> NoReturn:
        """Write ``nablanet: error: MESSAGE; see 'PROG --help'`` and exit with status 2."""
        self.exit(2, f"{PROG}: error: {' '.join(message.split())}; see '{self.prog} --help'\n")


def add_command(
    subparsers: Any, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    """A subcommand's parser, with the formatter every nablanet command uses."""
    return subparsers.add_parser(name, help=summary, description=description,
                                 formatter_class=Formatter)


def add_data(p: argparse.ArgumentParser) -> None:
    """``--data SOURCE`` and ``--target COLUMN``."""
    p.add_argument("--data", default="digits", metavar="SOURCE", help=DATA_HELP)
    p.add_argument("--target", type=target, action="extend", default=None,
                   metavar="COLUMN[,COLUMN...]", help=TARGET_HELP)
    p.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help="whether a CSV file's first row is a header (default: detected from "
                   "every column, the target's included)")


def add_model(p: argparse.ArgumentParser, help: str = "a model file written by 'nablanet train'"
              ) -> None:
    """The positional ``MODEL``."""
    p.add_argument("model", metavar="MODEL", help=help)


def add_json(p: argparse.ArgumentParser) -> None:
    """``--json``."""
    p.add_argument("--json", action="store_true", help="print one JSON object instead")


# --- output ----------------------------------------------------------------------------------


def out(text: str = "") -> None:
    """A result line, on standard output."""
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    """A message or progress line, on standard error."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def indent(text: str, prefix: str = "   ") -> str:
    """``text`` with each non-empty line indented."""
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def print_json(obj: Any) -> None:
    """One JSON object on standard output (NaN and infinity as null; other objects as text)."""
    import json

    from nablanet.io.container import jsonable  # the project's one JSON sanitiser

    out(json.dumps(jsonable(obj, other=str), indent=2, allow_nan=False))


def check_outputs(outputs: dict[str, str | None], inputs: tuple[str | None, ...] = ()) -> None:
    """Check a command's output paths before it computes anything.

    ``outputs`` maps each output flag to its path (None: not given). No two outputs may
    name one path (the second write would fail, or destroy the first, only after the
    work is done), and each must pass `check_writable`.
    """
    given = [(flag, path) for flag, path in outputs.items() if path is not None]
    for i, (flag, path) in enumerate(given):
        for other, other_path in given[:i]:
            if _same_file(path, other_path):
                raise UsageError(f"{other} {other_path} and {flag} {path} name one path: "
                                 "give each output its own")
    for flag, path in given:
        check_writable(path, flag, inputs)
    if outputs.get("--report") is not None:  # its pictures: a missing extra is said now
        with requires_extra("plots", "--report (its pictures)"):
            import matplotlib  # noqa: F401


def check_writable(path: str | None, flag: str, inputs: tuple[str | None, ...] = ()) -> None:
    """Refuse an output path that cannot be written before a long computation, not after.

    The folder must exist and take a new file (tried, not guessed from permission bits:
    a read-only file system or an administrator's rules say no as well), what stands at
    the path must be nothing, a regular file or a link to one (never a folder, FIFO,
    socket or device: `nablanet.io.files.write_target` decides, as the write itself
    will), and it must not be one of the command's ``inputs``: writing the result would
    destroy them. ``--report`` names a folder: nothing, or a folder (or a link to one).
    """
    if path is None:
        return
    for source in inputs:
        if source is not None and _same_file(path, source):
            raise UsageError(f"{flag} {path} is also an input of this command; writing it "
                             "would destroy the input: give another file name")
    if flag == "--report":  # a folder, created with its parents
        if os.path.islink(path) and not os.path.exists(path):  # the folder cannot be made
            raise FileExistsError(f"--report {path}: a dangling symbolic link (what it "
                                  "points to does not exist); give a folder")
        if os.path.exists(path) and not os.path.isdir(path):
            raise FileExistsError(f"--report {path}: something other than a folder stands "
                                  "there; give a folder")
        from nablanet.report import REPORT_FILES

        for name in REPORT_FILES:  # what the report will replace in it, checked now
            _write_target(os.path.join(path, name), flag)
        return
    target = _write_target(path, flag)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{flag} {path}: the folder {folder} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=".nablanet-probe.", dir=folder)
    except OSError as exc:
        raise PermissionError(
            f"{flag} {path}: cannot write into the folder {folder} ({exc.strerror})"
        ) from None
    os.close(fd)
    os.unlink(probe)


def _write_target(path: str, flag: str) -> str:
    """`nablanet.io.files.write_target`, its refusal naming the flag too."""
    from nablanet.io.files import UnsafeTarget, write_target

    try:
        return write_target(path)  # where a link to a file points: written there
    except UnsafeTarget as exc:
        raise UnsafeTarget(f"{flag} {path}", exc.what) from None


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (through links too), existing or not."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def write_atomically(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file as models are written: a temporary file beside it, then a rename."""
    from nablanet.io import atomic_write

    atomic_write(path, write)
