"""docs/check_pages.py, which `make docs` runs on the built site: its checks catch the
pages they are meant to catch (an API stub rendered as text, subscripts eaten by emphasis)."""

import importlib.util
from pathlib import Path

import pytest

import nablanet

DOCS = Path(__file__).resolve().parents[1] / "docs"
_spec = importlib.util.spec_from_file_location("check_pages", DOCS / "check_pages.py")
assert _spec is not None and _spec.loader is not None
check_pages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_pages)

# What the API page of MLPClassifier looked like when autosummary wrote its stub as
# Markdown: the directives as text, no docstring.
STUB_AS_TEXT = """<html><body><div class="body"><h1>nablanet.MLPClassifier</h1>
<p>.. currentmodule:: nablanet</p><p>.. autoclass:: MLPClassifier</p></div></body></html>"""


def test_an_api_page_showing_its_stub_fails():
    problems = check_pages.page_problems("nablanet.MLPClassifier", STUB_AS_TEXT,
                                         nablanet.MLPClassifier)
    assert any("'.. currentmodule::' as text" in p for p in problems)
    assert any("first paragraph is missing" in p for p in problems)


def test_an_api_page_with_its_docstring_passes():
    page = ('<html><body><dl><dt>class nablanet.MLPClassifier</dt><dd><p>Multi-layer '
            'perceptron classifier, a drop-in for scikit-learn&#8217;s.</p></dd></dl>'
            '</body></html>')
    assert check_pages.summary(nablanet.MLPClassifier).startswith("Multi-layer perceptron")
    assert check_pages.page_problems("nablanet.MLPClassifier", page,
                                     nablanet.MLPClassifier) == []


def test_pages_are_resolved_as_autosummary_resolves_them():
    # The package exports the function local_sgd from the module of the same name.
    from nablanet.distributed import local_sgd

    assert check_pages.resolve("nablanet.distributed.local_sgd") is local_sgd
    assert check_pages.resolve("nablanet.MLPClassifier") is nablanet.MLPClassifier


@pytest.mark.parametrize(("html", "ok"), [
    # Markdown read W⁽ˡ⁾_ij … s_{l+1}'s underscores as emphasis: both were eaten.
    ("<p>of shape (s_{l+1}, s_l) — W⁽ˡ⁾<em>ij connects unit j, s</em>{l+1}</p>", False),
    ("<p>of shape (s_{l+1}, s_l) — W⁽ˡ⁾_ij connects unit j, s_{l+1}</p>", True),
])
def test_subscripts_eaten_by_emphasis_are_found(tmp_path, html, ok):
    (tmp_path / "src").mkdir()
    (tmp_path / "site").mkdir()
    for page in check_pages.MATH_PAGES:
        source = "of shape (s\\_{l+1}, s\\_l) — W⁽ˡ⁾\\_ij connects unit j, s\\_{l+1}\n"
        (tmp_path / "src" / page).write_text(source, encoding="utf-8")
        (tmp_path / "site" / page).with_suffix(".html").write_text(html, encoding="utf-8")
    problems = check_pages.math_problems(tmp_path / "src", tmp_path / "site")
    assert (problems == []) == ok
    if not ok:
        assert any("'W⁽ˡ⁾_ij'" in p for p in problems)


def test_docstring_mathematics_is_escaped_for_restructuredtext():
    spec = importlib.util.spec_from_file_location("plain_docstrings",
                                                  DOCS / "_ext" / "plain_docstrings.py")
    assert spec is not None and spec.loader is not None
    plain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plain)
    line = "mean |δ| of n_features_in_, not ``n_features_in_`` or :attr:`coefs_`"
    assert plain.escape_markup(line) == (
        r"mean \|δ\| of n_features_in\_, not ``n_features_in_`` or :attr:`coefs_`"
    )
    assert plain.escape_markup(">>> a | b") == ">>> a | b"
