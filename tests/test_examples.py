"""The example notebooks run from top to bottom, and the claims they make hold.

A notebook states numbers in its prose (a check passes or fails, an accuracy, a ratio) and
asserts each of them in a code cell next to it, so a sentence that stops being true fails
this test instead of teaching something false.
"""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.ipynb"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 7


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_notebook_runs_and_asserts_its_claims(path):
    nb = nbformat.read(path, as_version=4)
    # Committed notebooks carry no outputs: the docs build and this test produce them.
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any(line.lstrip().startswith("assert ") for src in code for line in src.splitlines())
    # Raises CellExecutionError, naming the cell, when a cell fails or a claim's assert does.
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
