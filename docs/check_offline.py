"""Fail if a built page loads anything from the network (the site must open offline).

Usage: ``python docs/check_offline.py docs/_build/html``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# A script, stylesheet, image or frame whose address is absolute: http(s)://, or //host.
_REMOTE = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["'](?:https?:)?//"""
)


def remote_loads(site: Path) -> list[str]:
    """Every page, with the tag, that loads a resource from another host."""
    found = []
    for page in sorted(site.rglob("*.html")):
        for match in _REMOTE.finditer(page.read_text(encoding="utf-8")):
            found.append(f"{page.relative_to(site)}: {match.group(0)}")
    return found


if __name__ == "__main__":
    site = Path(sys.argv[1])
    bad = remote_loads(site)
    for line in bad:
        print(f"loads from the network: {line}", file=sys.stderr)
    n = len(list(site.rglob("*.html")))
    if n == 0:
        sys.exit(f"no pages under {site}")
    sys.exit(1 if bad else 0)
