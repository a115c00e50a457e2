"""``nablanet info``: describe a saved model (architecture, settings, history)."""

from __future__ import annotations

import argparse
from typing import Any

from nablanet.cli import _common as c
from nablanet.cli._models import load_model, settings


def add_parser(subparsers: Any) -> None:
    """Add ``info`` and its flags."""
    p = c.add_command(
        subparsers, "info", "describe a saved model",
        "Architecture, parameter count, training settings and training history of a "
        "saved model.",
    )
    c.add_model(p, help="a model file")
    c.add_json(p)


def run(args: argparse.Namespace) -> int:
    """Print what the model file says about the model."""
    from nablanet.io import read_model

    model = load_model(args.model, estimator=False)
    header, _ = read_model(args.model)
    info = describe(args.model, header, model)
    if args.json:
        c.print_json(info)
    else:
        _print(info, model)
    return 0


def describe(path: str, header: dict[str, Any], model: Any) -> dict[str, Any]:
    """What ``info`` shows, as one JSON-ready dictionary."""
    net = getattr(model, "net_", model)
    info: dict[str, Any] = {
        "model": path,
        "kind": header.get("kind"),
        "created": header.get("created"),
        "library_version": header.get("library_version"),
        "layer_sizes": list(net.layer_sizes),
        "activations": [a.name for a in net.activations],
        "loss": net.loss.name,
        "n_params": net.n_params,
        "n_weights": net.n_weights,
        "dtype": net.dtype.name,
    }
    if hasattr(model, "net_"):
        info["settings"] = {k: v for k, v in model.get_params().items() if k != "callbacks"}
        if hasattr(model, "classes_"):
            info["classes"] = model.classes_.tolist()
            names = header.get("metadata", {}).get("class_names")
            if isinstance(names, list) and len(names) == len(info["classes"]):
                info["class_names"] = [str(n) for n in names]
        if "data" in header.get("metadata", {}):
            info["trained_on"] = str(header["metadata"]["data"])
        from nablanet.cli._tables import CONTRACT

        columns = header.get("metadata", {}).get(CONTRACT)
        if isinstance(columns, dict):  # a table's model: the columns it reads, by name
            info["features"] = [{"name": str(f.get("name")), "kind": str(f.get("kind"))}
                                for f in columns.get("features", [])]
            info["targets"] = list(columns.get("targets", []))
        info["history"] = _history(model)
    from nablanet.cli import _fingerprint

    metadata = header.get("metadata", {})
    info["training_rows"] = _fingerprint.remembered(metadata)
    info["training_rows_note"] = _fingerprint.describe(metadata, path)
    return info


def _history(model: Any) -> dict[str, Any]:
    import math

    curve = list(model.loss_curve_)
    scores = model.validation_scores_
    best = model.best_validation_score_
    return {
        "epochs": int(model.n_iter_),
        "first_loss": curve[0] if curve else None,
        "final_loss": curve[-1] if curve else None,
        "best_validation_score": best if best is not None and math.isfinite(best) else None,
        "validation_scores": len(scores) if scores else 0,
    }


def _print(info: dict[str, Any], model: Any) -> None:
    net = getattr(model, "net_", model)
    c.out(f"{info['model']}: {info['kind']}, written {info['created']} by nablanet "
          f"{info['library_version']}")
    c.out("")
    c.out(net.summary())
    c.out(f"parameters: {net.n_params} ({net.n_weights} weights, "
          f"{net.n_params - net.n_weights} biases)")
    c.out(info["training_rows_note"])
    if "settings" not in info:
        return
    if "trained_on" in info:
        c.out(f"trained on: {info['trained_on']}")
    if "features" in info:
        c.out("reads columns: " + ", ".join(f"{quoted(f['name'])} ({f['kind']})"
                                            for f in info["features"]))
        c.out(f"predicts: {', '.join(map(quoted, info['targets']))}")
    if "classes" in info:
        labels = [quoted(k) if str(k) == str(n) else f"{quoted(k)} ({quoted(n)})"
                  for k, n in zip(info["classes"], info.get("class_names", info["classes"]),
                                  strict=True)]
        c.out(f"classes: {', '.join(labels)}")
    c.out("")
    c.out("training settings:")
    shown = settings(model)  # None defaults as what they resolved to
    width = max(len(k) for k in shown)
    for key, value in shown.items():
        c.out(f"  {key:<{width}}  {value}")
    h = info["history"]
    c.out("")
    c.out("training history:")
    c.out(f"  epochs run       {h['epochs']}")
    if h["final_loss"] is not None:
        c.out(f"  loss             {h['first_loss']:.6g} (first epoch) -> "
              f"{h['final_loss']:.6g} (last)")
    if h["best_validation_score"] is not None:
        c.out(f"  best validation  {h['best_validation_score']:.4f}")


def quoted(label: Any) -> str:
    """A class label as a list shows it: quoted when it holds a comma, a space or a quote.

    "no, skip" and "yes, buy" in a list read as four classes unquoted.
    """
    text = str(label)
    if text and not any(ch in text for ch in ',"() ') and text == text.strip():
        return text
    return '"' + text.replace('"', '\\"') + '"'
