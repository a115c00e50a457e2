"""The ``nablanet`` command: the whole library for people who never write Python.

Subcommands: ``train``, ``evaluate``, ``predict``, ``gradcheck``, ``diagnose``, ``info``
and ``demo``, one module each (``export`` and ``convert`` share `nablanet.cli.export`);
`nablanet.cli.main` builds the parser from them and turns errors into exit statuses;
`nablanet.cli.sources` resolves ``--data SOURCE``: ``digits`` (bundled, the default),
``fashion-mnist``, a folder of MNIST-style IDX files, or a CSV file.

Nothing heavy is imported at module level: numpy, scikit-learn and matplotlib load inside
the commands, so ``nablanet --help`` answers at once. The commands hold no logic that
the library lacks: they parse flags, call nablanet, and print.
"""

from nablanet.cli._common import CommandFailed, UsageError
from nablanet.cli.main import COMMANDS, Command, build_parser, main

__all__ = ["COMMANDS", "Command", "CommandFailed", "UsageError", "build_parser", "main"]
