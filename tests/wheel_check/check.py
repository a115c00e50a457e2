"""Build nablanet's wheel, install it into a fresh virtual environment, and smoke-test it.

``make wheel-check`` (part of ``make test``) runs this with the development environment's
Python. It proves that the wheel, not the checkout, holds every module and data file and
that its entry point works:

1. the files that git lists (tracked, or new and not ignored) are copied into a temporary
   folder, as a fresh clone would have them, and ``python -m build --wheel
   --no-isolation`` builds the wheel there with the installed, pinned setuptools (no
   stale ``build/`` of the checkout, nothing downloaded);
2. every file of the checkout's ``nablanet/`` must be in the wheel (modules and the
   explorer's page, script and style), and the wheel's entry point must be ``nablanet``;
3. a fresh virtual environment gets the wheel (``pip install --no-index --no-deps``);
   nablanet's own dependencies are not downloaded but read from the development
   environment (a ``.pth`` file lists its site-packages), whose versions must satisfy the
   wheel's requirements;
4. ``nablanet --version`` and ``--help`` run from the environment's own script, and
   ``smoke.py`` runs there with no path to the checkout: the core with every extra
   blocked (import, train, save, load, the CLI's ``demo``, ``train`` on a CSV file and
   ``explore``), then ``demo --report`` and ``export --onnx`` with the extras present.

Exit status 0 when all of it holds; otherwise 1, with what failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMOKE = Path(__file__).with_name("smoke.py")


class CheckFailed(Exception):
    """One step of the check found the wheel wrong."""


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``command``; its standard output, or CheckFailed with everything it printed."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise CheckFailed(f"{' '.join(command)} exited {done.returncode}:\n"
                          f"{done.stdout}{done.stderr}")
    return done.stdout


def source_files(root: Path) -> list[str]:
    """The files a fresh clone of ``root`` has (tracked, or new and not ignored)."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], root)
    return sorted(name for name in listed.split("\0") if name and (root / name).is_file())


def copy_tree(root: Path, names: list[str], into: Path) -> None:
    """Copy the files ``names`` (relative to ``root``) into the folder ``into``."""
    for name in names:
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)


def missing_from_wheel(package_files: list[str], wheel_names: list[str]) -> list[str]:
    """The files of the package (paths from the checkout's root) that the wheel lacks.

    Everything under ``nablanet/`` ships except bytecode: modules, and the data files
    that `importlib.resources` reads (the explorer's page, script and style).
    """
    shipped = set(wheel_names)
    return [name for name in package_files
            if name.startswith("nablanet/") and not name.endswith(".pyc")
            and name not in shipped]


def build_wheel(src: Path, dist: Path) -> Path:
    """Build the wheel of the source tree ``src`` into ``dist``; its path."""
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist),
         str(src)], src)
    wheels = list(dist.glob("nablanet-*.whl"))
    if len(wheels) != 1:
        raise CheckFailed(f"expected one nablanet wheel in {dist}, found {wheels}")
    return wheels[0]


def check_contents(wheel: Path, package_files: list[str]) -> None:
    """Every package file is in the wheel, and the wheel declares the ``nablanet`` script."""
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        entry_points = next((z.read(n).decode() for n in names
                             if n.endswith(".dist-info/entry_points.txt")), "")
    missing = missing_from_wheel(package_files, names)
    if missing:
        raise CheckFailed(f"the wheel {wheel.name} lacks {len(missing)} file(s) of the "
                          f"package: {', '.join(missing)} (pyproject.toml's package data?)")
    if "nablanet = nablanet.cli:main" not in entry_points:
        raise CheckFailed(f"the wheel declares no 'nablanet' script:\n{entry_points}")


def make_venv(venv: Path, wheel: Path) -> Path:
    """A fresh virtual environment holding the wheel; its Python."""
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], venv.parent)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-index", "--no-deps", "--disable-pip-version-check", str(wheel)], venv.parent)
    # The dependencies come from the development environment, read only: nothing is
    # downloaded. A path in a .pth file is only appended to sys.path (its own .pth files,
    # the editable install's among them, are not run), so nablanet comes from the wheel.
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                     "['purelib'])"], venv.parent).strip())
    dev = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_nablanet_dev_dependencies.pth").write_text("\n".join(sorted(dev)) + "\n")
    return python


def smoke(venv: Path, python: Path, work: Path) -> None:
    """The entry point and the smoke test, run in the fresh environment away from the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONNOUSERSITE="1")
    script = str(venv / "bin" / "nablanet")
    version = run([script, "--version"], work, env)
    expected = run([str(python), "-I", "-c", "import nablanet; print(nablanet.__version__)"],
                   work, env).strip()
    if expected not in version:
        raise CheckFailed(f"nablanet --version printed {version!r}, not {expected}")
    if "demo" not in run([script, "--help"], work, env):
        raise CheckFailed("nablanet --help does not list the demo command")
    # -I: no script folder, working folder or PYTHONPATH on sys.path, only the environment
    print(run([str(python), "-I", str(SMOKE), str(venv)], work, env), end="")


def main() -> int:
    """Run the whole check; 0 when the wheel passes."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nablanet-wheel-") as tmp:
        tmp_path = Path(tmp)
        src, dist, work = tmp_path / "src", tmp_path / "dist", tmp_path / "work"
        work.mkdir()
        try:
            files = source_files(ROOT)
            copy_tree(ROOT, files, src)
            wheel = build_wheel(src, dist)
            check_contents(wheel, files)
            python = make_venv(tmp_path / "venv", wheel)
            smoke(tmp_path / "venv", python, work)
        except CheckFailed as exc:
            print(f"wheel check FAILED: {exc}", file=sys.stderr)
            return 1
        print(f"wheel check passed: {wheel.name} ({wheel.stat().st_size // 1024} KiB) "
              f"installed into a fresh environment, in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
