"""Every reference the project gives its users resolves inside the repository.

Users have a clone of this repository and nothing beside it: README, docs, help texts,
messages, the report and the code's own comments may cite files of the repository (and
sections of docs/math.md), never files outside it.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [
    ROOT / "README.md",
    *sorted((ROOT / "nablanet").rglob("*.py")),
    *sorted(p for p in (ROOT / "docs").rglob("*") if p.suffix in {".md", ".py"}
            and "_build" not in p.parts and "_autosummary" not in p.parts
            and "examples" not in p.parts),
    *sorted((ROOT / "examples").glob("*.ipynb")),
    *sorted((ROOT / "benchmarks").glob("*.md")),
]
# A path into the repository as the project writes them: docs/math.md, nablanet/io/..., ...
_PATH = re.compile(
    r"(?<![\w./-])((?:docs|nablanet|benchmarks|examples|tests)/[\w./-]*\w)(?:\s*§(\d+))?"
)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_points_outside_the_repository(path):
    text = _text(path)
    assert "../shared" not in text
    assert "MATH.md" not in text


def _math_sections() -> set[str]:
    return set(re.findall(r"^## §(\d+)", _text(ROOT / "docs" / "math.md"), re.MULTILINE))


def test_every_cited_path_and_section_exists():
    sections = _math_sections()
    missing = []
    for path in SHIPPED:
        for match in _PATH.finditer(_text(path)):
            target, section = match.group(1).rstrip("."), match.group(2)
            generated = ("docs/_build", "docs/_autosummary", "docs/examples")
            if any(ch in target for ch in "*{<") or target.startswith(generated):
                continue  # a pattern, or what `make docs` builds
            if not (ROOT / target).exists():
                missing.append(f"{path.relative_to(ROOT)}: {target}")
            elif section and target == "docs/math.md" and section not in sections:
                missing.append(f"{path.relative_to(ROOT)}: {target} §{section}")
    assert not missing, "\n".join(missing)


def test_section_citations_name_the_math_page():
    # "§6" alone must come with the page it belongs to somewhere in the same file.
    for path in SHIPPED:
        text = _text(path)
        if re.search(r"§\d", text) and path.name != "math.md":
            assert "math.md" in text or "mathematics" in text, path
