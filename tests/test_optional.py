"""The extras: the core works without them, and a missing one is named with its pip command.

Each subprocess test runs a fresh interpreter in which a meta path finder makes the
optional packages unimportable, as on a machine where ``pip install nablanet`` installed
the core alone.
"""

import ast
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from nablanet._optional import EXTRAS, MissingExtra, install_hint, requires_extra

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = {module: extra for extra, e in EXTRAS.items() for module in e.modules}

#: Prepended to a subprocess's code: the packages named in BLOCKED cannot be imported.
BLOCKER = """
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def _python(code, blocked=(), cwd=None):
    """Run ``code`` in a fresh interpreter in which the ``blocked`` packages are missing."""
    source = f"BLOCKED = {set(blocked)!r}\n{BLOCKER}\n{textwrap.dedent(code)}"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _names(requirements):
    """The distribution names of requirement strings ("dask[array]>=2024.8" -> "dask")."""
    return {r.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
            for r in requirements}


# --- the helper --------------------------------------------------------------------


def test_a_missing_module_is_named_with_its_extra_and_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now fails
    with pytest.raises(MissingExtra, match=r"^ONNX export \(.*\) needs the onnx extra: "
                       r"pip install 'nablanet\[onnx\]' \(.*onnx.*\)$") as info:
        with requires_extra("onnx"):
            import onnx  # noqa: F401
    assert isinstance(info.value, ImportError)  # `except ImportError` still catches it
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert info.value.name == "onnx"


def test_what_needs_the_extra_can_be_said_in_the_call(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtra, match=r"^--report \(its pictures\) needs the plots "
                       r"extra: pip install 'nablanet\[plots\]'"):
        with requires_extra("plots", "--report (its pictures)"):
            import matplotlib  # noqa: F401


def test_an_unknown_extra_is_refused_before_any_import():
    with pytest.raises(ValueError, match=r"unknown extra 'onx'; the extras are dask, onnx, "
                       "plots"):
        with requires_extra("onx"):
            pass
    with pytest.raises(ValueError, match="unknown extra 'torch'"):
        install_hint("torch", "to_torch")


def test_other_errors_in_the_block_pass_through_unchanged():
    with pytest.raises(KeyError, match="x"), requires_extra("dask"):
        raise KeyError("x")


# --- pyproject.toml and the code agree ----------------------------------------------


def test_the_extras_of_pyproject_install_the_modules_the_code_imports_under_them():
    project = _pyproject()
    extras = project["optional-dependencies"]
    core = _names(project["dependencies"])
    for extra, e in EXTRAS.items():
        assert set(e.modules) <= _names(extras[extra]), extra
        assert not core & set(e.modules), f"{extra}'s modules must not be in the core"
    assert sorted(extras["all"]) == sorted(r for x in EXTRAS for r in extras[x])
    assert core == {"numpy", "numba", "scipy", "scikit-learn", "threadpoolctl", "pandas",
                    "pyarrow", "tqdm"}


def _requires_extra_of(with_node):
    """The extra named by ``with requires_extra("x", ...)``, or None for another block."""
    for item in with_node.items:
        call = item.context_expr
        if (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "requires_extra"
                and call.args and isinstance(call.args[0], ast.Constant)):
            return call.args[0].value
    return None


def _optional_imports(tree):
    """(line, module, extra of the enclosing requires_extra block or None, type-only)."""
    found = []

    def visit(node, extra, typing_only):
        if isinstance(node, ast.With):
            extra = _requires_extra_of(node) or extra
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            typing_only = True
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""])
            for module in modules:
                if module.partition(".")[0] in OPTIONAL:
                    found.append((node.lineno, module, extra, typing_only))
        for child in ast.iter_child_nodes(node):
            visit(child, extra, typing_only)

    visit(tree, None, False)
    return found


def test_every_import_of_an_optional_package_names_its_extra():
    wrong = []
    seen = 0
    for path in sorted((ROOT / "nablanet").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, module, extra, typing_only in _optional_imports(tree):
            seen += 1
            if not typing_only and extra != OPTIONAL[module.partition(".")[0]]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: import {module} "
                             f"(inside requires_extra({extra!r}))")
    assert seen > 20  # the walk finds the imports (dask, onnx and matplotlib ones)
    assert not wrong, "imports outside `with requires_extra(<its extra>)`:\n" + "\n".join(wrong)


# --- the core without any extra -----------------------------------------------------


def test_importing_nablanet_and_its_core_imports_no_optional_package():
    result = _python(f"""
        import nablanet
        from nablanet import (MLPClassifier, MLPRegressor, Network, load, save, train,
                              check_gradient, diagnose)
        import nablanet.cli, nablanet.cli.main, nablanet.distributed, nablanet.export
        loaded = sorted({{m.partition(".")[0] for m in sys.modules}} & {set(OPTIONAL)!r})
        print("loaded:", loaded)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded: []"


def test_the_core_trains_saves_and_loads_with_every_extra_missing(tmp_path):
    result = _python("""
        from sklearn.datasets import load_iris
        import numpy as np
        import nablanet
        from nablanet.cli import main

        X, y = load_iris(return_X_y=True)
        clf = nablanet.MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0)
        clf.fit(X, y)
        clf.save("model.npz")
        assert np.array_equal(nablanet.load("model.npz").predict(X), clf.predict(X))
        header = ",".join(f"x{j}" for j in range(4)) + ",species"
        np.savetxt("iris.csv", np.column_stack([X, y]), delimiter=",", header=header,
                   comments="", fmt="%g")
        status = main(["train", "--data", "iris.csv", "--target", "species", "--epochs", "3",
                       "--out", "table.npz", "-q"])
        print("status", status)
    """, blocked=OPTIONAL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["status", "0"], result.stdout + result.stderr
    assert (tmp_path / "table.npz").stat().st_size > 0


# --- each extra missing: the error names it ------------------------------------------


def test_onnx_export_without_the_onnx_extra_says_which_extra():
    result = _python("""
        from sklearn.datasets import load_iris
        import nablanet

        X, y = load_iris(return_X_y=True)
        clf = nablanet.MLPClassifier(hidden_layer_sizes=(3,), max_iter=5).fit(X, y)
        try:
            nablanet.to_onnx(clf)
        except ImportError as exc:
            print(type(exc).__name__, exc)
    """, blocked={"onnx"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MissingExtra ONNX export")
    assert "needs the onnx extra: pip install 'nablanet[onnx]'" in result.stdout


def test_cli_export_without_the_onnx_extra_is_a_user_error_naming_it(tmp_path):
    result = _python("""
        from sklearn.datasets import load_iris
        import nablanet
        from nablanet.cli import main

        X, y = load_iris(return_X_y=True)
        nablanet.MLPClassifier(hidden_layer_sizes=(3,), max_iter=5).fit(X, y).save("m.npz")
        sys.exit(main(["export", "m.npz", "--onnx", "m.onnx"]))
    """, blocked={"onnx"}, cwd=tmp_path)
    assert result.returncode == 1
    assert "needs the onnx extra: pip install 'nablanet[onnx]'" in result.stderr
    assert "internal error" not in result.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_report_without_the_plots_extra_is_refused_before_training(tmp_path):
    result = _python("""
        from nablanet.cli import main
        sys.exit(main(["demo", "--report", "report", "--epochs", "2", "-q"]))
    """, blocked={"matplotlib"}, cwd=tmp_path)
    assert result.returncode == 1
    assert ("error: --report (its pictures) needs the plots extra: "
            "pip install 'nablanet[plots]'") in result.stderr
    assert "Training" not in result.stdout  # said before any work
    assert not (tmp_path / "report").exists()


def test_plots_without_the_plots_extra_say_which_extra():
    result = _python("""
        import numpy as np
        from nablanet import plots
        try:
            plots.plot_weight_images(np.zeros((4, 64)), (8, 8))
        except ImportError as exc:
            print(exc)
    """, blocked={"matplotlib"})
    assert result.returncode == 0, result.stderr
    assert "needs the plots extra: pip install 'nablanet[plots]'" in result.stdout


def test_dask_without_the_dask_extra_says_which_extra(tmp_path):
    result = _python("""
        import numpy as np
        from nablanet import distributed
        from nablanet.cli import main

        np.save("x.npy", np.zeros((4, 2)))
        try:
            distributed.from_npy("x.npy", rows_per_block=2)
        except ImportError as exc:
            print(exc)
        sys.exit(main(["train", "--data", "digits", "--optimizer", "lbfgs", "--workers", "1",
                       "-q"]))
    """, blocked={"dask", "distributed"}, cwd=tmp_path)
    assert result.stdout.startswith("Dask (")
    assert "needs the dask extra: pip install 'nablanet[dask]'" in result.stdout
    assert result.returncode == 1
    assert "needs the dask extra: pip install 'nablanet[dask]'" in result.stderr
    assert "internal error" not in result.stderr
