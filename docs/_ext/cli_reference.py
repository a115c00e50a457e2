"""A Sphinx directive that prints the command line's own help, so the reference cannot drift.

``.. cli-reference::`` renders ``nablanet --help`` and ``nablanet COMMAND --help`` for
every command, taken from the parser that ``nablanet`` itself builds.
"""

from __future__ import annotations

import argparse
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


class CliReference(SphinxDirective):
    """Render the help of ``nablanet`` and of each of its commands."""

    def run(self) -> list[nodes.Node]:
        """The top-level help, then one section per command."""
        from nablanet.cli import build_parser

        parser = build_parser()
        parser.prog = "nablanet"
        out: list[nodes.Node] = [nodes.literal_block(text=parser.format_help())]
        for name, sub in _subcommands(parser).items():
            section = nodes.section(ids=[f"nablanet-{name}"])
            section += nodes.title(text=f"nablanet {name}")
            section += nodes.literal_block(text=sub.format_help())
            out.append(section)
        return out


def setup(app: Any) -> dict[str, Any]:
    """Register the directive (Sphinx's extension entry point)."""
    app.add_directive("cli-reference", CliReference)
    return {"parallel_read_safe": True}
