"""Fail if a built page does not show what its source says.

Usage: ``python docs/check_pages.py docs/_build/html`` (run by ``make docs``).

- Each API page under ``_autosummary/`` documents one object (``nablanet.MLPClassifier.html``
  documents `nablanet.MLPClassifier`). It must contain the first paragraph of the object's
  docstring, word for word, and no reStructuredText directive left as plain text (a stub
  read by the wrong parser shows ``.. autoclass:: MLPClassifier`` instead of the class).
- The mathematics pages write subscripts with underscores (``s_{l+1}``, ``W⁽ˡ⁾_ij``). Two
  of them in one paragraph are emphasis to Markdown, which eats both underscores and sets
  the text between in italics; every such subscript of the source must reach the page.
"""

from __future__ import annotations

import html
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"\w+")
# A directive that Sphinx should have run, seen as text on the page.
_UNRUN_DIRECTIVE = re.compile(r"\.\. (?:currentmodule|auto\w+)::")


def page_text(page_html: str) -> str:
    """The visible text of a page: tags removed, entities decoded."""
    body = page_html.split("<body", 1)[-1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return html.unescape(_TAG.sub(" ", body))


def summary(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring ('' when it has none)."""
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n", 1)[0]


def _words(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def resolve(name: str) -> Any:
    """The object a page's name (a dotted path) refers to, found as autosummary finds it.

    Attributes first: ``nablanet.distributed.local_sgd`` is the function the package
    exports, not the module of the same name.
    """
    parts = name.split(".")
    obj: Any = importlib.import_module(parts[0])
    for i, attr in enumerate(parts[1:], start=2):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[:i]))
    return obj


def page_problems(name: str, page_html: str, obj: Any) -> list[str]:
    """What is wrong with the page of ``name`` (an empty list when nothing is)."""
    text = page_text(page_html)
    problems = []
    directive = _UNRUN_DIRECTIVE.search(text)
    if directive:
        problems.append(f"{name}: shows the directive {directive.group(0)!r} as text")
    wanted = summary(obj)
    if not wanted:
        problems.append(f"{name}: the object has no docstring")
    elif _words(wanted) not in _words(text):
        problems.append(f"{name}: the docstring's first paragraph is missing: {wanted!r}")
    return problems


def api_problems(site: Path) -> list[str]:
    """Problems of every page under ``site/_autosummary`` (an error when there are none)."""
    pages = sorted((site / "_autosummary").glob("nablanet*.html"))
    if not pages:
        return [f"no API pages under {site / '_autosummary'}"]
    problems = []
    for page in pages:
        obj = resolve(page.stem)
        problems += page_problems(page.stem, page.read_text(encoding="utf-8"), obj)
    return problems


#: Pages whose prose writes subscripts with underscores, by source file.
MATH_PAGES = ("math.md", "sparsity.md")
# A subscripted symbol in prose: s_{l+1}, W⁽ˡ⁾_ij, Σ\_l (escaped in the source).
_SUBSCRIPT = re.compile(r"[^\s`|*()]*?\\?_[\w{][^\s`|*,;:.()]*")


def subscripts(markdown: str) -> list[str]:
    """The subscripted symbols of ``markdown``'s prose, as a reader should see them."""
    found = []
    in_fence = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        if in_fence or line.startswith("    "):  # code: rendered verbatim anyway
            continue
        prose = re.sub(r"`[^`]*`", " ", line)
        found += [m.replace("\\_", "_") for m in _SUBSCRIPT.findall(prose)]
    return found


def math_problems(docs: Path, site: Path) -> list[str]:
    """Subscripts of the mathematics pages' sources that their built pages lack."""
    problems = []
    for source in MATH_PAGES:
        text = page_text((site / source).with_suffix(".html").read_text(encoding="utf-8"))
        markdown = (docs / source).read_text(encoding="utf-8")
        written = markdown.replace("\\_", "_")
        # Counted, not only found: the same symbol in a code block must not hide its loss
        # from a paragraph.
        for symbol in sorted(set(subscripts(markdown))):
            if text.count(symbol) < written.count(symbol):
                problems.append(f"{source}: {symbol!r} does not reach the page (emphasis?)")
    return problems


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent))
    site = Path(sys.argv[1])
    bad = [f"API reference: {p}" for p in api_problems(site)] + math_problems(here, site)
    for line in bad:
        print(line, file=sys.stderr)
    sys.exit(1 if bad else 0)
