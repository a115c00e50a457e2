"""The ``nablanet`` command's entry point: the parser, and errors as exit statuses.

The parser is built from the command modules; `main` is the one place where errors
become exit statuses.

A command module has two functions: ``add_parser(subparsers) -> None`` adds its
subcommand(s) to the ``nablanet`` parser, and ``run(args) -> int`` runs one and returns its
exit status. Registering a command is one line in `COMMANDS`: the module, or a
``Command(add_parser, run)`` pair for functions named otherwise. A command module imports
nothing heavy at module level (numpy, scikit-learn...): every one is imported to build the
parser, and ``nablanet --help`` must answer at once.

Conventions: results go to standard output (so they pipe), progress and messages to
standard error; a user's mistake is one line ``nablanet: error: ...`` and exit status 2
(a usage error: a bad flag or value) or 1 (a failure: a missing file, bad data, a model
file that is not one, a failed gradient check), never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from nablanet._optional import MissingExtra
from nablanet.cli import (
    autoencoder,
    demo,
    diagnose,
    evaluate,
    explore,
    gradcheck,
    info,
    predict,
    strip_rows,
    train,
)
from nablanet.cli import export as export_commands
from nablanet.cli._common import PROG, CommandFailed, Parser, UsageError, err


class Command(NamedTuple):
    """A command given by its two functions (a command module has them as attributes)."""

    add_parser: Callable[[Any], None]
    run: Callable[[argparse.Namespace], int]


#: The commands (modules or `Command` pairs), in the order ``nablanet --help`` lists them.
COMMANDS: tuple[Any, ...] = (
    train, evaluate, predict, gradcheck, diagnose, explore, info, strip_rows, demo, autoencoder,
    Command(export_commands.add_export_parser, export_commands.run_export),
    Command(export_commands.add_convert_parser, export_commands.run_convert),
)

DESCRIPTION = (
    "Feedforward neural networks exactly as the mathematics of backpropagation says: "
    "train, evaluate, predict, check gradients and diagnose, from the command line.\n\n"
    "Run 'nablanet demo' to see it all on the bundled digits, or 'nablanet COMMAND --help' "
    "for a command's options."
)


def build_parser(commands: Sequence[Any] = COMMANDS) -> argparse.ArgumentParser:
    """The argument parser of the ``nablanet`` command (imports nothing heavy).

    Parameters
    ----------
    commands : sequence of modules or `Command`
        Each with ``add_parser(subparsers)`` and ``run(args)``; default `COMMANDS`.

    Returns
    -------
    argparse.ArgumentParser
        Each subcommand's parser has ``run`` as its default ``_run``.
    """
    from nablanet import __version__

    parser = Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=(
            "exit status: 0 success, 1 failure (bad data or model file, failed gradient "
            "check), 2 usage error"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in commands:
        before = set(sub.choices)
        module.add_parser(sub)
        for name in sub.choices.keys() - before:
            p = sub.choices[name]
            p.set_defaults(_run=module.run)
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help="show the full traceback of an error")
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of one subcommand."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found: argparse.ArgumentParser = sub.choices[command]
    return found


def _user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a mistake in the input rather than a bug in nablanet."""
    if isinstance(exc, ValueError | OSError | UsageError | CommandFailed | MissingExtra):
        return True
    training = sys.modules.get("nablanet.training")  # not imported: no training, no divergence
    return training is not None and isinstance(exc, training.TrainingDiverged)


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())  # one line, whatever the message held


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    err(f"{PROG}: warning: {' '.join(str(message).split())}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nablanet`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 success, 1 failure, 2 usage error.
    """
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # said by the command's parser, whose --help lists its flags
            _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help, --version, or a usage error (status 2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command; turn its exceptions into a message and an exit status."""
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        err(f"{PROG}: interrupted")
        return 130
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        if _user_error(exc):
            if isinstance(exc, UsageError):
                err(f"{PROG}: error: {_message(exc)}; see '{PROG} {args.command} --help'")
                return 2
            err(f"{PROG}: error: {_message(exc)}")
            return 1
        err(f"{PROG}: error: internal error ({type(exc).__name__}: {_message(exc)}); "
            "rerun with --debug for the traceback and please report it")
        return 1
