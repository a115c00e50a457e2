"""Jupyter's rich display: an object shown as the same text that ``print`` gives.

A notebook cell whose last line is ``net.diagnose(X, Y)`` would otherwise show the
object's raw ``repr``. `as_html` wraps the printed text (tables in fixed-width columns,
findings in sentences) in a ``<pre>`` block under a title, so the notebook and the
terminal show the same thing.
"""

from __future__ import annotations

import html


def as_html(title: str, text: str) -> str:
    """``text`` as preformatted HTML under a bold ``title``; both escaped."""
    return (
        f'<div class="nablanet"><strong>{html.escape(title)}</strong>'
        f'<pre style="white-space: pre-wrap">{html.escape(text)}</pre></div>'
    )
