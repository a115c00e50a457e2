"""Docstrings as the project writes them: Unicode mathematics inside numpydoc's sections.

nablanet's docstrings say ``mean |δ|``, ``max(|J_k|, 1)`` and ``n_features_in_`` in prose, as
the mathematics and scikit-learn write them. To reStructuredText, which autodoc feeds them to,
``|δ|`` is a substitution and a trailing underscore a hyperlink reference: the API pages
would show errors where the text should be. This extension escapes the two characters in
every docstring outside literal and interpreted text (````...```` and ```...```), after
numpydoc has turned the sections into reStructuredText.

It also settles the labels of scikit-learn's own documentation that inherited docstrings
refer to (``score``'s ``:ref:`accuracy <accuracy_score>```): they render as their plain
text instead of a broken link.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes

# Literal (``x``) and interpreted (`x`, :role:`x`) text, kept as written.
_LITERAL = re.compile(r"(``.+?``|:[\w:.-]+:`[^`]+`|`[^`]+`_{0,2})")
# An identifier's trailing underscore: the end of a word, then no further word character.
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?!\w)")

#: Labels of scikit-learn's user guide used by the docstrings nablanet's estimators inherit.
SKLEARN_LABELS = frozenset({"accuracy_score", "r2_score"})


def escape_markup(line: str) -> str:
    """``line`` with ``|`` and trailing ``_`` escaped outside literal text."""
    if line.lstrip().startswith(">>>"):
        return line
    parts = _LITERAL.split(line)
    for i in range(0, len(parts), 2):  # the even parts lie outside literal text
        text = parts[i].replace("|", r"\|")
        parts[i] = _TRAILING_UNDERSCORE.sub(r"\\_", text)
    return "".join(parts)


def _escape_docstring(app: Any, what: str, name: str, obj: Any, options: Any,
                      lines: list[str]) -> None:
    in_literal_block = False
    block_indent = 0
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if in_literal_block and line.strip() and indent <= block_indent:
            in_literal_block = False
        if not in_literal_block:
            lines[i] = escape_markup(line)
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            in_literal_block, block_indent = True, indent


def _sklearn_label(app: Any, env: Any, node: Any, contnode: nodes.Node) -> nodes.Node | None:
    if node.get("reftype") == "ref" and node.get("reftarget") in SKLEARN_LABELS:
        return nodes.Text(contnode.astext())
    return None


def setup(app: Any) -> dict[str, Any]:
    """Register the escaping after numpydoc's own docstring processing (priority 500)."""
    app.connect("autodoc-process-docstring", _escape_docstring, priority=600)
    app.connect("missing-reference", _sklearn_label)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
