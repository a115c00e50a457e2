"""The house's layering: imports point one way, private state stays home, one home per name.

`ORDER` states the package order, lowest first. Every import of every module is read
from the source (those inside functions and under ``TYPE_CHECKING`` too): a module may
import its own unit and the units of lower tiers, never a unit of its own tier or a
higher one. Where a lower package needs something higher at run time, it is inverted
(``nablanet._remote``: the cluster code registers itself; ``nablanet.estimators._rows``:
the fit takes its data steps; ``nablanet._lent``: ``save`` and the conversions are lent).
The exceptions of modules being rewritten are listed, each with its reason, and a listed
exception that is gone fails too, so that the lists only shrink.
"""

from __future__ import annotations

import ast
import functools
import importlib
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nablanet"

#: Units made of several modules; any other module belongs to the unit of its top-level
#: package or module (``nablanet.training.loop`` -> "training"), the package's own
#: ``__init__`` to "face".
UNITS = {
    # io's file format: the container, its fields and codecs, which know no network
    "io.format": tuple(
        f"nablanet.io.{name}"
        for name in ("files", "npy", "container", "fields", "header", "steps", "codecs",
                     "columns")
    ),
    # a network as a model file's header and arrays
    "io.network": ("nablanet.io.network",),
}

#: The package order, lowest first: a unit imports only units of lower tiers.
ORDER = [
    ["_version", "_html", "_checks", "_arrays", "_blas", "_optional", "_remote", "_lent", "_lazy",
     "layout", "gradcheck", "kernels"],
    ["_fused", "activations", "optim", "io.format"],
    ["losses", "sparsity", "data", "plots"],
    ["layers", "diagnostics"],
    # the network's rooms: its buffers, its trace, its state, display and checks
    ["workspace"],
    ["trace", "network_config", "network_state", "network_display", "network_checks"],
    ["network"],
    ["network_parts"],  # a large batch's pass in parts of rows, over the network's pass
    ["training", "io.network"],
    ["estimators", "explorer"],
    # io: save and load by kind, which knows every estimator; report: the explorer beside it
    ["distributed", "io", "report"],
    ["export"],
    ["face"],  # nablanet/__init__.py: the public names, and the wiring of nablanet._remote
    ["cli", "callbacks", "datasets"],  # the command line; two deprecated aliases
]

#: Imports up the order in modules being rewritten; each goes with that rewrite.
PENDING: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    """One import statement's target, as found in a module."""

    module: str  # the importing module
    target: str  # the imported module
    line: int
    lazy: bool  # inside a function


@functools.cache
def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text())


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _face_exports() -> dict[str, str]:
    """The public names of ``nablanet`` and the module each comes from (its ``_EXPORTS``)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_EXPORTS":
            exports: dict[str, str] = ast.literal_eval(node.value)
            return {**exports, "__version__": "nablanet._version"}
    raise AssertionError("nablanet/__init__.py has no _EXPORTS table")


FACE = _face_exports()


def _targets(node: ast.AST) -> list[str]:
    """The nablanet modules an import statement loads (a face's name: its defining module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "nablanet"]
    if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
        return []
    if node.module.split(".")[0] != "nablanet":
        return []
    found = []
    for alias in node.names:
        submodule = f"{node.module}.{alias.name}"
        if submodule in MODULES:
            found.append(submodule)
        elif node.module == "nablanet" and alias.name in FACE:
            found.append(FACE[alias.name])
        else:
            found.append(node.module)
    return found


def _imports(module: str) -> Iterator[Import]:
    tree = _tree(module)
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for node in ast.walk(tree):
        for target in _targets(node):
            lazy = any(f.lineno <= node.lineno <= (f.end_lineno or 0) for f in functions)
            yield Import(module, target, node.lineno, lazy)


ALL_IMPORTS = [imp for module in MODULES for imp in _imports(module)]


def unit(module: str) -> str:
    """The unit of the order a module belongs to."""
    for name, prefixes in UNITS.items():
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "face"


TIER = {name: tier for tier, names in enumerate(ORDER) for name in names}


def _upward() -> dict[tuple[str, str], list[Import]]:
    """Every import from a unit to one of its own tier or a higher one, by unit pair."""
    found: dict[tuple[str, str], list[Import]] = {}
    for imp in ALL_IMPORTS:
        a, b = unit(imp.module), unit(imp.target)
        if a != b and TIER[b] >= TIER[a]:
            found.setdefault((a, b), []).append(imp)
    return found


def test_every_module_has_a_place_in_the_order():
    unplaced = sorted({unit(m) for m in MODULES} - set(TIER))
    assert not unplaced, f"units missing from ORDER in tests/test_layering.py: {unplaced}"


def test_imports_point_down_the_order():
    offenders = {
        pair: [f"{i.module}:{i.line} imports {i.target}{' (in a function)' if i.lazy else ''}"
               for i in imps]
        for pair, imps in _upward().items()
        if pair not in PENDING
    }
    assert not offenders, "imports against the order (invert them, see the module notes):\n" + (
        "\n".join(line for lines in offenders.values() for line in lines)
    )


def test_the_pending_exceptions_are_still_there():
    upward = _upward()
    for pair in PENDING:
        assert pair in upward, f"{pair} no longer imports up: remove it from PENDING"


def test_what_the_estimators_need_from_above_is_lent_by_the_package():
    from nablanet import MLPClassifier, _lent
    from nablanet.export.sklearn import to_sklearn
    from nablanet.io.kinds import save

    assert _lent.lent("save") is save and _lent.lent("to_sklearn") is to_sklearn
    with pytest.raises(LookupError, match="no function is lent as 'fly'"):
        _lent.lent("fly")
    with pytest.raises(ValueError, match="'module:function'"):
        _lent.lend(fly="nablanet.io.kinds")
    assert "to_torch" in _lent._LENT and callable(MLPClassifier.to_torch)


def test_rows_on_a_cluster_reach_the_core_through_the_registered_handler():
    import numpy as np

    from nablanet import _remote
    from nablanet.distributed._handler import DASK

    da = pytest.importorskip("dask.array")
    assert _remote.handler_for(da.zeros(3)) is DASK
    assert _remote.handler_for(np.zeros(3)) is None
    _remote.register(DASK)  # once per handler, however often it is registered
    assert _remote._HANDLERS.count(DASK) == 1


def test_the_core_and_training_do_not_reach_the_cluster_code():
    # `distributed` wraps `train`; the estimators reach it only through nablanet._remote
    for imp in ALL_IMPORTS:
        if unit(imp.module) in ("training", "estimators", "network"):
            assert unit(imp.target) != "distributed", imp


def test_the_cluster_loop_builds_on_the_run_not_on_the_loop_that_wraps_it():
    targets = {i.target for i in ALL_IMPORTS if i.module == "nablanet.distributed.training"}
    assert "nablanet.training.loop" not in targets


# --- private reach ----------------------------------------------------------------------

#: Reach into another package's private state allowed in all (each with ``# private:``).
MAX_PRIVATE = 5

#: Modules being rewritten to use public methods instead; they go with the rewrite.
PENDING_PRIVATE = {
    "nablanet.explorer": "the estimators' encoded pair, asked through a public method",
}


def _private_names() -> dict[str, set[str]]:
    """``_name`` -> the units whose classes define it (methods, class and self attributes)."""
    defined: dict[str, set[str]] = {}
    for module in MODULES:
        for cls in ast.walk(_tree(module)):
            if not isinstance(cls, ast.ClassDef):
                continue
            names = [n.name for n in cls.body if isinstance(n, ast.FunctionDef)]
            names += [t.id for n in cls.body if isinstance(n, ast.Assign | ast.AnnAssign)
                      for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                      if isinstance(t, ast.Name)]
            names += [n.attr for n in ast.walk(cls) if isinstance(n, ast.Attribute)
                      and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)
                      and n.value.id in ("self", "cls")]
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    defined.setdefault(name, set()).add(unit(module))
    return defined


@functools.cache
def private_reach() -> list[tuple[str, int, str, str]]:
    """Every ``obj._name`` where ``_name`` belongs to a class of another unit.

    (module, line, name, source line); ``self`` and ``cls`` are the class's own.
    """
    defined = _private_names()
    found = []
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        for node in ast.walk(_tree(module)):
            if not isinstance(node, ast.Attribute) or node.attr not in defined:
                continue
            if unit(module) in defined[node.attr]:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            found.append((module, node.lineno, node.attr, lines[node.lineno - 1]))
    return sorted(found)


def test_private_reach_across_packages_is_rare_and_says_why():
    reach = [r for r in private_reach() if r[0] not in PENDING_PRIVATE]
    listing = "\n".join(f"{m}:{n}: .{name}" for m, n, name, _ in reach)
    assert len(reach) <= MAX_PRIVATE, f"{len(reach)} reaches (at most {MAX_PRIVATE}):\n{listing}"
    unexplained = [f"{m}:{n}: .{name}" for m, n, name, line in reach if "# private:" not in line]
    assert not unexplained, "each private reach needs a `# private: why` comment:\n" + (
        "\n".join(unexplained)
    )


def test_pending_private_reach_is_still_there():
    modules = {r[0] for r in private_reach()}
    gone = sorted(set(PENDING_PRIVATE) - modules)
    assert not gone, f"no private reach left in {gone}: remove them from PENDING_PRIVATE"


def test_the_estimators_offer_what_export_needed_as_public_seams():
    # export/sklearn.py used to set est._target_kind, _binarizer, _y_scale itself
    sklearn_export = [r for r in private_reach() if r[0] == "nablanet.export.sklearn"]
    assert sklearn_export == []


# --- one home per name --------------------------------------------------------------------


def _fresh_import(name: str) -> object:
    """Import ``name`` anew (the module warns once, when it runs)."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.mark.parametrize(
    ("alias", "home", "name"),
    [("nablanet.datasets", "nablanet.data", "load_digits"),
     ("nablanet.callbacks", "nablanet.training", "EarlyStopping")],
)
def test_a_deprecated_alias_warns_and_names_the_one_home(alias, home, name, monkeypatch):
    monkeypatch.delitem(sys.modules, alias, raising=False)
    message = rf"{alias} is deprecated: import its names from {home}"
    with pytest.warns(DeprecationWarning, match=message):
        module = _fresh_import(alias)
    assert getattr(module, name) is getattr(importlib.import_module(home), name)


def test_the_data_face_names_each_reader_once_and_loads_lazily():
    import nablanet.data as data
    from nablanet.data.csv import read_csv
    from nablanet.data.splitting import split

    assert data.read_csv is read_csv and data.split is split
    with pytest.raises(AttributeError, match="it has: ChecksumError"):
        data.no_such_reader  # noqa: B018
    code = "import sys, nablanet.data; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.strip() == "False"


def test_a_module_offers_only_what_it_defines():
    # a package's face (__init__.py) gathers its names; any other module that offered an
    # imported name would give it a second home (io.fields once offered ModelFileError)
    # (nablanet._fused keeps two names that pickles written before nablanet.kernels name)
    aliases = {"nablanet.datasets", "nablanet.callbacks", "nablanet._fused"}
    second_homes = []
    for module, path in MODULES.items():
        if path.name == "__init__.py" or module in aliases:
            continue
        tree = _tree(module)
        imported = {a.asname or a.name.split(".")[0] for n in tree.body
                    if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
        for node in tree.body:
            if not isinstance(node, ast.Assign):
                continue
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if names == ["__all__"]:
                offered = ast.literal_eval(node.value)
                second_homes += [f"{module}.{n}" for n in offered if n in imported]
            elif isinstance(node.value, ast.Name) and node.value.id in imported:
                second_homes += [f"{module}.{n} = {node.value.id}" for n in names]
    # type aliases of other libraries' types are not names of nablanet
    assert [h for h in second_homes if not h.endswith("= Any")] == []


def test_the_library_itself_imports_no_deprecated_alias():
    # (nablanet._fused keeps two names that pickles written before nablanet.kernels name)
    aliases = {"nablanet.datasets", "nablanet.callbacks", "nablanet._fused"}
    users = [f"{i.module}:{i.line}" for i in ALL_IMPORTS
             if i.target in aliases and i.module not in aliases]
    assert users == []


def test_an_old_pickle_of_a_history_still_loads():
    # pickles written before the move name nablanet.callbacks.RunHistory
    import pickle

    from nablanet.training import RunHistory

    blob = pickle.dumps(RunHistory(seed=3), protocol=0).replace(
        b"nablanet.training.history", b"nablanet.callbacks"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert pickle.loads(blob).seed == 3
