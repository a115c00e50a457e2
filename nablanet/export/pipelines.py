"""A whole scikit-learn pipeline as one ONNX graph: skl2onnx's steps, nablanet's network.

`pipeline_to_onnx` (reached through `nablanet.to_onnx`) converts a `Pipeline` or
`ColumnTransformer` of the steps `nablanet.save` keeps: skl2onnx's converters for the
scikit-learn preprocessors, `nablanet.export.register_skl2onnx`'s for nablanet's
estimators and whitening. The graph computes in float32 (onnxruntime's ``Imputer``
runs in float32 only). Its inputs follow ``X_sample``:

- a DataFrame: one input per column, in order, shape (N, 1): float32 for a number column,
  string for a text column (a missing text cell is the empty string ``""``, as ONNX
  strings have no NaN); `onnx_inputs` builds them from a DataFrame;
- an array: one input ``X`` (N, n_features), float32.

Outputs as `nablanet.to_onnx`'s: ``label`` and ``probabilities`` (no ZipMap) for a
classifier, ``variable`` otherwise.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import numpy as np

from nablanet._optional import requires_extra

with requires_extra("onnx"):
    import onnx

#: The text a missing text cell is in the graph's inputs.
MISSING_TEXT = ""
#: The graph's metadata entry naming ``X_sample``'s columns, in the order of its inputs.
COLUMNS_KEY = "nablanet_columns"


def is_pipeline(model: Any) -> bool:
    """Whether ``model`` is a Pipeline or ColumnTransformer (converted by skl2onnx)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    return isinstance(model, Pipeline | ColumnTransformer)


def _is_text(column: Any) -> bool:
    return column.dtype.kind not in "biuf"


def _input_types(X_sample: Any) -> list[tuple[str, Any]]:
    """skl2onnx's ``initial_types``: one per DataFrame column, or one ``X``."""
    with requires_extra("onnx"):
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if hasattr(X_sample, "columns"):
        return [
            (str(name), StringTensorType([None, 1]) if _is_text(X_sample[name])
             else FloatTensorType([None, 1]))
            for name in X_sample.columns
        ]
    X = np.asarray(X_sample)
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise ValueError(
            f"X_sample must be a DataFrame or a 2-D array of numbers, got {X.dtype} of "
            f"shape {X.shape}"
        )
    return [("X", FloatTensorType([None, X.shape[1]]))]


def _steps(model: Any) -> list[Any]:
    """Every step inside a Pipeline or ColumnTransformer, nested ones included."""
    found = [model]
    inner = getattr(model, "steps", None)
    if inner is None:
        inner = [(name, step) for name, step, _ in getattr(model, "transformers_", [])]
    for _, step in inner:
        if not isinstance(step, str) and step is not None:
            found.extend(_steps(step))
    return found


def _missing_text_category(categories: Any) -> Any:
    """Text categories with a missing one (NaN) named ``""``, as the graph's missing cells."""
    if categories.dtype.kind != "O":
        return categories
    missing = [isinstance(c, float) and math.isnan(c) for c in categories.tolist()]
    if not any(missing):
        return categories
    out = categories.copy()
    out[missing] = MISSING_TEXT
    return out


def _empty_text_is_missing(model: Any) -> Any:
    """A copy in which missing text is ``""``, skl2onnx's only missing text.

    Its text imputers take ``""`` as missing, and its one-hot encoders name a missing text
    category ``""`` (and ignore unknown categories where they warned, the same zeros).
    """
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    model = copy.deepcopy(model)
    for step in _steps(model):
        if isinstance(step, OneHotEncoder):
            step.categories_ = [_missing_text_category(c) for c in step.categories_]
            if step.handle_unknown == "warn" and not step._infrequent_enabled:
                step.handle_unknown = "ignore"  # the same zeros, which skl2onnx converts
        if not isinstance(step, SimpleImputer):
            continue
        text = np.dtype(getattr(step, "_fit_dtype", float)).kind == "O"
        nan = isinstance(step.missing_values, float) and math.isnan(step.missing_values)
        if text and nan:
            step.missing_values = MISSING_TEXT
    return model


def _drops_columns(imputer: Any) -> bool:
    """Whether a fitted SimpleImputer drops columns (all missing in fit, no value to fill)."""
    if imputer.strategy == "constant" or imputer.keep_empty_features:
        return False
    return any(isinstance(v, float) and math.isnan(v) for v in imputer.statistics_.tolist())


def _refuse_unconverted(model: Any) -> None:
    """Refuse the imputers skl2onnx converts to a graph of the wrong width.

    Its converter writes neither ``add_indicator``'s columns nor the dropping of a column
    that was all missing in fit: the graph checks, then fails on the rows it runs.
    """
    from sklearn.impute import SimpleImputer

    for step in _steps(model):
        if not isinstance(step, SimpleImputer):
            continue
        # an indicator of no column (no cell was missing in fit) adds nothing to convert
        if step.add_indicator and len(step.indicator_.features_):
            raise ValueError("skl2onnx cannot convert step SimpleImputer with "
                             "add_indicator=True: its graph lacks the indicator columns "
                             "(here of the columns that had missing cells in fit)")
        if _drops_columns(step):
            raise ValueError("skl2onnx cannot convert step SimpleImputer: it drops the "
                             "columns that were all missing in fit, which skl2onnx's graph "
                             "keeps; fit it with keep_empty_features=True")


def pipeline_to_onnx(model: Any, X_sample: Any, target_opset: int) -> onnx.ModelProto:
    """Convert a fitted Pipeline or ColumnTransformer, network included (see the notes).

    Parameters
    ----------
    model : Pipeline or ColumnTransformer
    X_sample : DataFrame or ndarray of shape (n_samples, n_features)
        Names and kinds of the inputs (see the module notes); required.
    target_opset : int

    Raises
    ------
    ValueError
        Without ``X_sample``, or for a step skl2onnx cannot convert (naming it), or
        converts wrongly (a SimpleImputer with ``add_indicator`` or dropping a column).
    """
    with requires_extra("onnx"):
        import skl2onnx

    from sklearn.base import is_classifier

    from nablanet.export._skl2onnx import register_skl2onnx

    if X_sample is None:
        raise ValueError(
            "to_onnx of a pipeline needs X_sample (a DataFrame or an array like the rows "
            "it predicts): it names the graph's inputs and tells numbers from text"
        )
    _refuse_unconverted(model)
    register_skl2onnx()
    converted = _empty_text_is_missing(model)
    final = _steps(converted)[-1]
    options = {id(final): {"zipmap": False}} if is_classifier(final) else None
    try:
        graph = skl2onnx.to_onnx(converted, initial_types=_input_types(X_sample),
                                 target_opset=target_opset, options=options)
    except (RuntimeError, NotImplementedError) as exc:
        raise ValueError(f"skl2onnx cannot convert this pipeline: {exc}") from exc
    if hasattr(X_sample, "columns"):
        # skl2onnx may rename a column (no valid ONNX name): keep the names to feed by
        entry = graph.metadata_props.add()
        entry.key, entry.value = COLUMNS_KEY, json.dumps([str(c) for c in X_sample.columns])
    onnx.checker.check_model(graph)
    return graph


def _in_graph_order(graph: onnx.ModelProto, X: Any) -> Any:
    """``X``'s columns in the order of ``X_sample``'s (`pipeline_to_onnx` keeps them)."""
    names = {p.key: p.value for p in graph.metadata_props}.get(COLUMNS_KEY)
    if names is None:  # a graph made elsewhere: by position
        return X
    by_name = {str(c): c for c in X.columns}
    columns = json.loads(names)
    for name in columns:
        if name not in by_name:
            raise ValueError(f"X lacks the graph's column {name!r}")
    return X[[by_name[name] for name in columns]]


def onnx_inputs(graph: onnx.ModelProto, X: Any) -> dict[str, Any]:
    """The inputs of a pipeline's graph for the rows ``X`` (a DataFrame or an array).

    A DataFrame's columns are taken by name, in the order of ``X_sample``'s (kept in the
    graph's metadata, since skl2onnx may rename a column whose name is no valid ONNX
    name; by position for a graph without them); numbers as float32, text as strings
    with ``""`` for a missing cell.

    Raises
    ------
    ValueError
        If ``X`` has another number of columns than the graph has inputs, or lacks one
        of ``X_sample``'s.
    """
    inputs = list(graph.graph.input)
    if not hasattr(X, "columns"):
        return {inputs[0].name: np.asarray(X, dtype=np.float32)}
    if len(inputs) != X.shape[1]:
        raise ValueError(f"the graph has {len(inputs)} inputs and X {X.shape[1]} columns")
    X = _in_graph_order(graph, X)
    feeds = {}
    for inp, name in zip(inputs, X.columns, strict=True):
        column = X[name]
        if inp.type.tensor_type.elem_type == onnx.TensorProto.STRING:
            values = column.astype(object).where(column.notna(), MISSING_TEXT).astype(str)
            feeds[inp.name] = values.to_numpy(dtype=object).reshape(-1, 1)
        else:
            feeds[inp.name] = column.to_numpy(dtype=np.float32).reshape(-1, 1)
    return feeds
