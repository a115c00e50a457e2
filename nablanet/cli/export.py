"""The ``nablanet export`` and ``nablanet convert`` commands.

Each command is a pair ``add_*_parser(subparsers) -> None`` and ``run_*(args) -> int``
(the exit status), for `nablanet.cli.main` to register as
``Command(add_export_parser, run_export)`` and ``Command(add_convert_parser, run_convert)``:

- ``nablanet export MODEL --onnx OUT.onnx [--opset N] [--float64]``: a saved model
  (``nablanet.save``'s file) as an ONNX graph (see `nablanet.to_onnx`);
- ``nablanet convert MODEL.pkl --out OUT.npz --trust-pickle``: a pickled (or joblib)
  scikit-learn MLP, a pickled nablanet model, or a pickled scikit-learn Pipeline of them
  and the preprocessors `nablanet.save` keeps, as a nablanet model file. Loading a
  pickle runs whatever code it holds, so the command refuses without ``--trust-pickle``;
  the file it writes loads without running code.

A user's mistake raises ValueError/OSError (the command line prints one line, status 1),
and a missing ``--trust-pickle`` a `nablanet.cli._common.UsageError` (status 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from nablanet._optional import requires_extra
from nablanet.cli._common import UsageError, add_command

PICKLE_WARNING = (
    "loading a pickle runs any code it contains, so a pickle from someone else can take "
    "over your account; pass --trust-pickle only for a file you trust (one you made "
    "yourself, say)"
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _writable(path: str, flag: str, source: str) -> None:
    """Refuse an output path that cannot be written, or is the input file, before any work."""
    from nablanet.cli._common import check_writable

    # writing over the model being read would replace it by another format
    if os.path.exists(path) and os.path.exists(source) and os.path.samefile(path, source):
        raise ValueError(f"{flag} {path} is the input file {source}; give another file name")
    check_writable(path, flag)


def _describe(model: Any) -> str:
    from nablanet.export._graph import network_of

    steps = getattr(model, "steps", None)
    if steps is not None:  # a pipeline: its steps, the network's layers with its estimator
        return "Pipeline of " + ", ".join(
            _describe(step) for _, step in steps if not isinstance(step, str) and step is not None
        )
    if not hasattr(model, "_to_state"):  # a ColumnTransformer or a preprocessor
        return type(model).__name__
    layers = "-".join(str(s) for s in network_of(model).layer_sizes)
    return f"{type(model).__name__} {layers}"


# --- nablanet export -------------------------------------------------------------------


def add_export_parser(subparsers: Any) -> None:
    """Add ``export`` to the command line's subparsers."""
    p = add_command(
        subparsers, "export", "export a saved model as ONNX",
        (
            "Write a model saved by 'nablanet train' (or nablanet.save) as an ONNX graph "
            "that onnxruntime and other ONNX runtimes run. Input 'X' (n_samples, "
            "n_features); outputs 'label' and 'probabilities' for a classifier, 'variable' "
            "for a regressor or an autoencoder's features, 'output' for a bare network. "
            "The graph computes in float32 unless --float64 is given."
        ),
    )
    p.add_argument("model", help="the model file (.npz) to export")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the ONNX file to write")
    p.add_argument("--opset", type=_positive_int, default=None, metavar="N",
                   help="ONNX opset to target, from 13 (default 17)")
    p.add_argument("--float64", action="store_true",
                   help="compute in float64 (input X float64): reproduces a float64 model "
                   "to ~1e-12 instead of ~1e-6")


def run_export(args: argparse.Namespace) -> int:
    """Run ``nablanet export``; returns the exit status."""
    import numpy as np
    with requires_extra("onnx"):
        import onnx

    import nablanet
    from nablanet.export._graph import network_of
    from nablanet.export.onnx import to_onnx
    from nablanet.export.pipelines import is_pipeline
    from nablanet.io.files import write_file  # the library's one atomic write

    _writable(args.onnx, "--onnx", args.model)
    model = nablanet.load(args.model)
    if is_pipeline(model):
        from nablanet.cli._tables import sample_rows

        # a table's model from 'nablanet train' keeps its columns' names and kinds
        sample = sample_rows(args.model)
        if sample is None:
            raise ValueError(
                f"{args.model} holds a pipeline, whose graph needs the kinds of its columns: "
                "export it from Python with nablanet.to_onnx(nablanet.load(MODEL), "
                "X_sample=rows_as_a_DataFrame)"
            )
        if args.float64:
            raise ValueError("--float64 is for a network; a pipeline's graph computes in "
                             "float32")
    else:
        sample = np.zeros((1, network_of(model).layer_sizes[0])) if args.float64 else None
    graph = to_onnx(model, X_sample=sample, target_opset=args.opset)
    write_file(args.onnx, graph.SerializeToString())
    outputs = ", ".join(o.name for o in graph.graph.output)
    inputs = [i.name for i in graph.graph.input]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(
        graph.graph.input[0].type.tensor_type.elem_type
    )
    sys.stdout.write(
        f"wrote {args.onnx}: {_describe(model)}, {dtype} graph, opset "
        f"{graph.opset_import[0].version}; input{'s' if len(inputs) > 1 else ''} "
        f"{', '.join(inputs)}, outputs {outputs}\n"
    )
    return 0


# --- nablanet convert ------------------------------------------------------------------


def add_convert_parser(subparsers: Any) -> None:
    """Add ``convert`` to the command line's subparsers."""
    p = add_command(
        subparsers, "convert", "turn a pickled MLP or pipeline into a safe model file",
        (
            "Load a pickled (or joblib-saved) scikit-learn MLPClassifier or MLPRegressor, "
            "a pickled nablanet model, or a pickled scikit-learn Pipeline of these and "
            "preprocessors (scalers, encoders, imputers, ColumnTransformer), and save it "
            "as a nablanet model file, which "
            "loads without running code and predicts the same. Loading the pickle runs "
            "any code it contains: the command refuses unless --trust-pickle is given."
        ),
    )
    p.add_argument("model", help="the pickle file to convert")
    p.add_argument("--out", required=True, metavar="FILE", help="the model file to write (.npz)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load the pickle, running any code it contains (only for a file "
                   "you trust)")


def _pipeline_from_pickle(pipe: Any) -> Any:
    """The same pipeline with each scikit-learn MLP step as a nablanet estimator."""
    from sklearn.pipeline import Pipeline

    from nablanet.export.sklearn import from_sklearn, is_sklearn_mlp

    steps = [(name, from_sklearn(step) if is_sklearn_mlp(step) else step)
             for name, step in pipe.steps]
    if all(a is b for (_, a), (_, b) in zip(steps, pipe.steps, strict=True)):
        return pipe
    return Pipeline(steps, **{k: v for k, v in pipe.get_params(deep=False).items()
                              if k != "steps"})


def _from_pickle(obj: Any, source: str) -> Any:
    """A nablanet model from an unpickled object (a scikit-learn MLP is converted).

    A scikit-learn Pipeline or ColumnTransformer is kept (its MLP steps converted): what
    `nablanet.save` cannot hold in it is refused when it is saved, naming the step.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from nablanet.export._graph import network_of
    from nablanet.export.sklearn import from_sklearn, is_sklearn_mlp

    if is_sklearn_mlp(obj):
        return from_sklearn(obj)
    if type(obj) is Pipeline:
        return _pipeline_from_pickle(obj)
    if type(obj) is ColumnTransformer:
        return obj
    try:
        network_of(obj)  # what nablanet.save writes: a model holding a network
    except TypeError:
        what = obj if isinstance(obj, type) else type(obj)
        held = f"{'the class' if what is obj else 'a'} {what.__module__}.{what.__qualname__}"
        raise ValueError(
            f"{source} holds {held}; convert takes "
            "a scikit-learn MLPClassifier or MLPRegressor, a nablanet model holding a "
            "network, or a scikit-learn Pipeline of such models and the preprocessors "
            "nablanet.save keeps"
        ) from None
    return obj


def _unpickle(joblib: Any, path: str) -> Any:
    """Load a pickle or joblib file (running its code: the user said it is trusted).

    A file that is not one (a CSV, a model file, random bytes) makes the unpickler fail in
    many ways (KeyError, EOFError, UnpicklingError, ...): all mean the same to the user.
    """
    try:
        return joblib.load(path)  # plain pickles too
    except (MemoryError, ImportError):
        raise
    except Exception as exc:
        raise ValueError(
            f"{path} is not a readable pickle or joblib file "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def run_convert(args: argparse.Namespace) -> int:
    """Run ``nablanet convert``; returns the exit status."""
    if not args.trust_pickle:
        raise UsageError(f"refusing to load {args.model}: {PICKLE_WARNING}")
    import joblib

    import nablanet

    _writable(args.out, "--out", args.model)
    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"No such file: {args.model}")
    obj = _unpickle(joblib, args.model)
    model = _from_pickle(obj, args.model)
    try:
        nablanet.save(model, args.out)
    except TypeError as exc:  # a step a model file cannot hold: the user's file, not a bug
        raise ValueError(f"{args.model}: {exc}") from exc
    origin = "" if model is obj else f" (from scikit-learn's {type(obj).__name__})"
    sys.stdout.write(
        f"wrote {args.out}: {_describe(model)}{origin}; it loads with nablanet.load without "
        "running code\n"
    )
    return 0
