"""The wheel check's own logic (``make wheel-check`` runs it whole; see tests/wheel_check)."""

from pathlib import Path

from wheel_check.check import ROOT, missing_from_wheel, source_files


def test_a_data_file_left_out_of_the_wheel_is_named():
    package = ["nablanet/__init__.py", "nablanet/explorer/page.css", "nablanet/explorer/page.js",
               "README.md", "tests/test_io.py"]
    wheel = ["nablanet/__init__.py", "nablanet/explorer/page.js",
             "nablanet-0.1.0.dist-info/RECORD"]
    assert missing_from_wheel(package, wheel) == ["nablanet/explorer/page.css"]
    assert missing_from_wheel(package, [*wheel, "nablanet/explorer/page.css"]) == []


def test_the_source_listing_holds_the_package_and_its_data_files_only_once():
    files = source_files(ROOT)
    assert Path(__file__).resolve().parent.parent == ROOT
    assert {"pyproject.toml", "README.md", "nablanet/__init__.py",
            "nablanet/explorer/page.html"} <= set(files)
    assert len(files) == len(set(files))
    assert not any(f.startswith(".venv/") or "__pycache__" in f for f in files)
