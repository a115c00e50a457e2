"""The core's imports point one way: network above diagnostics, io above network.

The network offers ``diagnose`` and ``save`` as methods; the modules behind them must
not import the network back, or the layers would form a loop.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nablanet"


def imports(relative):
    tree = ast.parse((PACKAGE / relative).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("nablanet")}


def test_diagnostics_does_not_import_the_network():
    assert "nablanet.network" not in imports("diagnostics.py")


def test_the_network_saves_through_the_file_header_only():
    assert not {m for m in imports("network.py") if m.startswith("nablanet.io")}
    io_imports = {m for m in imports("network_state.py") if m.startswith("nablanet.io")}
    assert io_imports == {"nablanet.io.header"}
    assert "nablanet.network" not in imports("io/header.py")
    assert not {m for m in imports("io/header.py") if m.startswith("nablanet.io.kinds")}


def test_the_network_does_not_import_its_checks_from_the_data_package():
    assert not {m for m in imports("network.py") if m.startswith("nablanet.data")}
    assert not {m for m in imports("training/loop.py") if m.startswith("nablanet.data")}


def test_the_cluster_loop_builds_on_the_run_not_on_the_loop_that_dispatches_to_it():
    assert "nablanet.training.loop" not in imports("distributed/training.py")
