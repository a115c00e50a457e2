"""Pipelines in model files: scikit-learn's `Pipeline` and `ColumnTransformer` as a tree of steps.

Each step is a node of the header: a preprocessor (`nablanet.io.preprocessors`), a
nablanet estimator (the header its own ``_to_state`` writes, see `nablanet.io.estimators`),
or a nested Pipeline or ColumnTransformer. Every node's arrays sit in the one file, named
by the node's place: ``s1_theta`` is step 1's ``theta``, ``s0_t1_s0_mean_`` the ``mean_``
of step 0 of transformer 1 of step 0. The place is derived while the tree is walked, never
read from the file, and an array no node reads is refused. A pipeline::

    {"kind": "Pipeline", "params": {"memory": null, "transform_input": null, "verbose": false},
     "steps": [{"name": "columntransformer", "step": {"kind": "ColumnTransformer", ...}},
               {"name": "mlpclassifier", "step": {"kind": "MLPClassifier", ...}}]}

A step may also be ``"passthrough"`` (or null); a column transformer's node is described
in `nablanet.io.columns`. Column names and categories are JSON, never object arrays.
"""

from __future__ import annotations

from typing import Any

from numpy.typing import NDArray

from nablanet.io import columns, estimators, preprocessors
from nablanet.io.container import FORMAT_NAME, MANIFEST, ModelFileError, short
from nablanet.io.fields import check_field, check_keys
from nablanet.io.steps import (
    SKOPS_HINT,
    Claims,
    Place,
    build,
    load_output_config,
    params_state,
    save_output_config,
)

Array = NDArray[Any]

#: The composite kinds this module writes.
COMPOSITES = ("Pipeline", "ColumnTransformer")


def _classes() -> tuple[type, type]:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    return Pipeline, ColumnTransformer


def kinds() -> list[str]:
    """Every kind of step or file this module reads: the composites and the preprocessors."""
    return [*COMPOSITES, *preprocessors.PREPROCESSORS]  # MissingIndicator saves alone too


def handles(obj: Any) -> bool:
    """Whether ``obj`` is saved here: a Pipeline, a ColumnTransformer or a preprocessor."""
    pipeline, column_transformer = _classes()
    return type(obj) in (pipeline, column_transformer) or preprocessors.kind_of(obj) is not None


def _supported() -> str:
    return ("Pipeline, ColumnTransformer, nablanet's estimators and "
            f"{', '.join(preprocessors.SAVED_PREPROCESSORS)}")


# --- saving ---------------------------------------------------------------------------------


def state(obj: Any, known: list[str]) -> tuple[dict[str, Any], dict[str, Array]]:
    """The header fields and arrays of a Pipeline, ColumnTransformer or preprocessor.

    Parameters
    ----------
    obj : Pipeline, ColumnTransformer or preprocessor
        Fitted (a preprocessor may be saved unfitted).
    known : list of str
        Every kind `load` reads, passed on to the estimators' own states.

    Raises
    ------
    TypeError
        For a step that is not one of the saved kinds, naming it (by its place in the
        pipeline) and pointing to skops.
    """
    arrays: dict[str, Array] = {}
    root = "the pipeline" if type(obj) is _classes()[0] else f"the {type(obj).__name__}"

    def save_step(step: Any, at: Place) -> Any:
        pipeline, column_transformer = _classes()
        if type(step) is pipeline:
            return _pipeline_state(step, at, save_step)
        if type(step) is column_transformer:
            return columns.state(step, at, save_step)
        if preprocessors.kind_of(step) is not None:
            return preprocessors.node_state(step, at, arrays)
        if type(step).__name__ in estimators.ESTIMATOR_KINDS and hasattr(step, "_to_state"):
            node, own = estimators.estimator_state(step, known)
            arrays.update({at.prefix + name: arr for name, arr in own.items()})
            return node
        what = short(step) if isinstance(step, str) else (
            f"{type(step).__module__}.{type(step).__qualname__}"
        )
        raise TypeError(
            f"cannot save {at.path}: {what} is not a step nablanet's model files "
            f"hold (they hold {_supported()}); {SKOPS_HINT}"
        )

    node = save_step(obj, Place("", root, ""))
    return node, arrays


def _step_place(at: Place, name: str, i: int) -> Place:
    return Place(at.source, f"{at.path} > step {name!r}", f"{at.prefix}s{i}_")


def _pipeline_state(pipe: Any, at: Place, save_step: columns.SaveStep) -> dict[str, Any]:
    steps = [
        {"name": name, "step": step if step is None or step == "passthrough"
         else save_step(step, _step_place(at, name, i))}
        for i, (name, step) in enumerate(pipe.steps)
    ]
    node = {"kind": "Pipeline", "params": params_state(pipe, at.path, ("steps",)),
            "steps": steps}
    save_output_config(pipe, node, at)
    return node


# --- loading --------------------------------------------------------------------------------


class _Loader:
    """What every step's loading shares: the file's header, its arrays, the known kinds."""

    def __init__(self, header: dict[str, Any], arrays: Claims, known: list[str]) -> None:
        self.header = header
        self.arrays = arrays
        self.known = known

    def step(self, node: Any, at: Place) -> Any:
        """Any step, by its kind."""
        if not isinstance(node, dict):
            raise at.fail(f"a step must be an object, got {short(node)}")
        kind = node.get("kind")
        if kind == "Pipeline":
            return self.pipeline(node, at)
        if kind == "ColumnTransformer":
            return columns.from_state(node, at, self.step)
        if kind in preprocessors.PREPROCESSORS:
            return preprocessors.node_from_state(node, at, self.arrays)
        if kind in estimators.ESTIMATOR_KINDS:
            return self.estimator(node, at)
        raise at.fail(f"unknown step kind {short(kind)}; known kinds: {', '.join(self.known)}")

    def estimator(self, node: dict[str, Any], at: Place) -> Any:
        """A nablanet estimator from its own header, with the arrays under its prefix."""
        own = self.arrays.with_prefix(at.prefix)
        manifest = self.header[MANIFEST]
        sub = {**node, "format": FORMAT_NAME,
               "format_version": self.header["format_version"],
               "library_version": self.header["library_version"],
               MANIFEST: {name: manifest[at.prefix + name] for name in own}}
        where = f"{self.arrays.source}: {at.path}"
        est = estimators.load_estimator(node["kind"], sub, own, where, self.known)
        _, again = est._to_state()  # private: the estimators' model-file protocol
        if set(again) != set(own):
            extra = sorted(set(own) ^ set(again))[0]
            raise at.fail(f"array {at.prefix + extra!r} does not belong to a {node['kind']}")
        return est

    def pipeline(self, node: dict[str, Any], at: Place) -> Any:
        """A Pipeline: each step in order, then scikit-learn's own checks of the steps."""
        check_keys(node, ("kind", "params", "steps"), ("output_config",), source=at.source,
                   where=at.path)
        entries = check_field(node, "steps", list, source=at.source, where=at.path)
        if not entries:
            raise at.fail("a pipeline needs at least one step")
        steps = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise at.fail(f"steps[{i}] must be an object")
            check_keys(entry, ("name", "step"), source=at.source, where=f"{at.path}: steps[{i}]")
            name = check_field(entry, "name", str, source=at.source, where=at.path)
            step = entry["step"]
            if step is not None and step != "passthrough":
                step = self.step(step, _step_place(at, name, i))
            steps.append((name, step))
        pipe = build(_classes()[0], node["params"], at, {"steps": steps})
        try:
            pipe._validate_steps()
        except (ValueError, TypeError) as exc:
            raise at.fail(f"invalid steps ({exc})") from None
        load_output_config(pipe, node, at)
        return pipe


def load(header: dict[str, Any], arrays: dict[str, Array], source: str,
         known: list[str]) -> Any:
    """Rebuild the Pipeline, ColumnTransformer or preprocessor of a checked file.

    Raises
    ------
    ModelFileError
        Naming the file, the step (by its place) and the fault; an array no step reads
        is refused too.
    """
    claims = Claims(arrays, source)
    kind = header["kind"]
    root = "the pipeline" if kind == "Pipeline" else f"the {kind}"
    node = {k: v for k, v in header.items()
            if k not in ("format", "format_version", "library_version", "created", MANIFEST)}
    try:
        obj = _Loader(header, claims, known).step(node, Place(source, root, ""))
    except ModelFileError:
        raise
    except estimators.STATE_ERRORS as exc:
        raise ModelFileError(f"{source}: invalid {kind} ({type(exc).__name__}: {exc})") from exc
    claims.check_all_taken()
    return obj
