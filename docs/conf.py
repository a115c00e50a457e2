"""Sphinx configuration for nablanet's documentation (``make docs``).

Sphinx with numpydoc, because the library's docstrings are numpy-style already and
autodoc renders them without a second source of truth; MyST-NB, so that the pages are
Markdown and the example notebooks in ``examples/`` are executed and rendered in the same
build. The site is static HTML that opens offline: equations are written in Unicode, so no
page needs MathJax (which would load from the network).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE / "_ext"))

project = "nablanet"
author = "nablanet developers"
copyright = "2026, nablanet developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",
    "cli_reference",
    "plain_docstrings",
]

# The notebooks live in examples/ (where users find them); Sphinx reads sources only below
# docs/, so each build copies them into docs/examples/ (ignored by git).
_EXAMPLES = HERE / "examples"
shutil.rmtree(_EXAMPLES, ignore_errors=True)
_EXAMPLES.mkdir()
for nb in sorted((ROOT / "examples").glob("*.ipynb")):
    shutil.copy2(nb, _EXAMPLES / nb.name)

# .rst first: autosummary writes its API stubs (reStructuredText directives) with the first
# suffix it believes parses reStructuredText, and it cannot tell that MyST-NB's .md does not:
# with .md first, every API page showed `.. autoclass::` as plain text. Stubs of an earlier
# build with the wrong suffix would be read again, so each build starts without them.
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
shutil.rmtree(HERE / "_autosummary", ignore_errors=True)
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# Notebooks run at every build and a failing cell fails it.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 120

autosummary_generate = True
autodoc_typehints = "none"  # numpydoc renders the types written in the docstrings
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()

html_theme = "alabaster"
html_title = "nablanet"
html_static_path = ["_static"]
# The page grows with the window and long code lines and notebook outputs wrap, instead of
# being cut off at the right edge of the theme's fixed-width page.
html_css_files = ["nablanet.css"]
# Equations are Unicode text, so no page contains LaTeX math and Sphinx adds no MathJax
# script; docs/check_offline.py fails the build if any page loads something from the network,
# and docs/check_pages.py if an API page lacks its docstring or a formula lost a subscript.
