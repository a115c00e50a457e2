"""The smoke test of an installed wheel, run by check.py inside the fresh environment.

Usage: ``python -I smoke.py VENV`` from an empty working folder. First the wheel's
requirements against the versions installed, then the core alone
(every extra blocked, as after a plain ``pip install nablanet``): imports, a fit saved
and loaded, and the commands ``demo``, ``train`` on a CSV file and ``explore`` (whose
page is built from the wheel's data files). Then the extras: ``demo --report`` (plots)
and ``export --onnx``.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

OPTIONAL = ("dask", "distributed", "onnx", "skl2onnx", "onnxruntime", "matplotlib")


class NotInstalled:
    """A meta path finder for which the packages in ``blocked`` are not installed."""

    def __init__(self, blocked: tuple[str, ...]) -> None:
        self.blocked = set(blocked)

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        """Refuse the blocked packages; leave every other module to the next finder."""
        if name.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def cli(*argv: str) -> str:
    """Run ``nablanet ARGV`` in this process; its standard output, or fail naming it."""
    from nablanet.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(list(argv))
    if status != 0:
        raise SystemExit(f"nablanet {' '.join(argv)} exited {status}:\n{out.getvalue()}")
    return out.getvalue()


def check_requirements() -> None:
    """The wheel's requirements (the core's and those of [all]) hold for what is installed.

    The development environment's pinned versions must lie in pyproject.toml's ranges, and
    the wheel must declare the extras that nablanet's messages name.
    """
    from importlib import metadata

    from packaging.requirements import Requirement

    meta = metadata.metadata("nablanet")
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"dask", "onnx", "plots", "all"} <= extras, f"the wheel's extras are {extras}"
    wrong = []
    for text in metadata.requires("nablanet") or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": "all"}):
            continue  # another extra's (dev, docs, torch, ...)
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{text}: not installed")
            continue
        if not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{text}: {version} installed")
    assert not wrong, "requirements the installed versions do not meet: " + "; ".join(wrong)
    print("wheel smoke: the core's and [all]'s requirements admit the pinned versions: ok")


def check_core(venv: Path) -> None:
    """Import, fit, save, load and three commands with no extra importable."""
    finder = NotInstalled(OPTIONAL)
    sys.meta_path.insert(0, finder)
    import numpy as np
    from sklearn.datasets import load_iris

    import nablanet

    where = Path(nablanet.__file__).resolve()
    assert venv.resolve() in where.parents, f"nablanet imported from {where}, not the wheel"
    X, y = load_iris(return_X_y=True)
    clf = nablanet.MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0)
    clf.fit(X, y)
    clf.save("iris.npz")
    assert np.array_equal(nablanet.load("iris.npz").predict(X), clf.predict(X))
    assert "test accuracy" in cli("demo", "--epochs", "2", "--out", "digits.npz", "-q")
    header = ",".join(f"x{j}" for j in range(4)) + ",species"
    np.savetxt("iris.csv", np.column_stack([X, y]), delimiter=",", header=header,
               comments="", fmt="%g")
    cli("train", "--data", "iris.csv", "--target", "species", "--epochs", "3",
        "--out", "table.npz", "-q")
    cli("explore", "digits.npz", "--data", "digits", "--rows", "2", "--out", "page.html")
    page = Path("page.html").read_text(encoding="utf-8")
    assert "window.nablanet" in page and "<style>" in page, "the page lacks its script or style"
    loaded = sorted({m.partition(".")[0] for m in sys.modules} & set(OPTIONAL))
    assert not loaded, f"the core imported {loaded}"
    sys.meta_path.remove(finder)
    print("wheel smoke: core without extras: import, fit, save/load, demo, train (CSV), "
          "explore: ok")


def check_extras() -> None:
    """The report's pictures (plots) and the ONNX export, with the extras installed."""
    cli("demo", "--epochs", "2", "--report", "report", "-q")
    assert Path("report/report.html").stat().st_size > 0
    cli("export", "digits.npz", "--onnx", "digits.onnx")
    assert Path("digits.onnx").stat().st_size > 0
    print("wheel smoke: extras: demo --report (plots), export --onnx (onnx): ok")


if __name__ == "__main__":
    check_requirements()
    check_core(Path(sys.argv[1]))
    check_extras()
