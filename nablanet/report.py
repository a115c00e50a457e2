"""Evaluation figures and one self-contained HTML report of a trained model.

`evaluate_model` measures a fitted estimator on labelled data (accuracy, per-class
precision/recall/F1 and the confusion matrix for a classifier; R², MAE and RMSE for a
regressor) as plain JSON-ready numbers; `format_evaluation` writes them as text;
`write_report` draws the pictures (`nablanet.plots`) and writes ``report.html``, which
embeds them as data URIs and carries its own CSS: it opens offline, from anywhere, and
can be mailed as one file. Every piece of text is HTML-escaped. Given a few samples, it
also writes the backpropagation explorer of the model (`nablanet.explorer`) beside the
report as ``explorer.html``, a page of its own (the report itself runs no script), and
links to it.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nablanet.io.files import write_file

#: The file names `write_report` writes into its directory.
REPORT_FILE = "report.html"
CURVES_FILE = "training_curves.png"
WEIGHTS_FILE = "weights.png"
FILTERS_FILE = "filters.png"
CONFUSION_FILE = "confusion_matrix.png"
EXPLORER_FILE = "explorer.html"
#: Every file `write_report` may write into its folder.
REPORT_FILES = (REPORT_FILE, CURVES_FILE, WEIGHTS_FILE, FILTERS_FILE, CONFUSION_FILE,
                EXPLORER_FILE)


def label_names(classes: Sequence[Any], class_names: Sequence[str] | None) -> list[str]:
    """Display names of labels: ``class_names[c]`` for integer labels, else ``str(c)``.

    Parameters
    ----------
    classes : sequence
        Labels, e.g. a model's ``classes_`` or its predictions.
    class_names : sequence of str, optional
        Names of the integer labels 0, 1, ... (a `Dataset`'s ``class_names``).

    Returns
    -------
    list of str
    """
    names = []
    for c in classes:
        if (
            class_names is not None
            and isinstance(c, int | np.integer)
            and 0 <= int(c) < len(class_names)
        ):
            names.append(str(class_names[int(c)]))
        else:
            names.append(str(c))
    return names


def evaluate_model(
    estimator: Any, X: Any, y: Any, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Measure a fitted estimator on labelled data.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        Fitted.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        The true labels (classifier) or targets (regressor).
    class_names : sequence of str, optional
        Names of integer labels 0, 1, ... (e.g. a `Dataset`'s ``class_names``).

    Returns
    -------
    dict
        Plain JSON values. A classifier gives ``task="classification"``,
        ``accuracy``, ``classes`` (names), ``per_class`` (one dict per class with
        ``class``, ``precision``, ``recall``, ``f1``, ``support``), ``macro_avg`` and
        ``confusion_matrix`` (rows: true class, columns: predicted class). A regressor
        gives ``task="regression"``, ``r2``, ``mae`` and ``rmse``. Both give
        ``n_samples``.

    Notes
    -----
    The classes are those the model knows plus any label of ``y`` it never saw (which
    it can never predict: their recall is 0).
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        mean_absolute_error,
        precision_recall_fscore_support,
        r2_score,
        root_mean_squared_error,
    )

    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"evaluation needs one target per sample, got shape {y.shape}")
    if not hasattr(estimator, "classes_"):
        y_pred = np.asarray(estimator.predict(X), dtype=np.float64)
        y_true = y.astype(np.float64)
        return {
            "task": "regression",
            "n_samples": int(y.size),
            "r2": float(r2_score(y_true, y_pred)) if y.size > 1 else math.nan,
            "mae": float(mean_absolute_error(y_true, y_pred)),
            "rmse": float(root_mean_squared_error(y_true, y_pred)),
        }
    y = _as_classes_dtype(y, estimator.classes_)
    y_pred = estimator.predict(X)
    labels = np.union1d(estimator.classes_, y)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, y_pred, labels=labels, zero_division=0
    )
    names = label_names(labels.tolist(), class_names)
    per_class = [
        {"class": name, "precision": float(p), "recall": float(r), "f1": float(f),
         "support": int(s)}
        for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
    ]
    return {
        "task": "classification",
        "n_samples": int(y.size),
        "accuracy": float(accuracy_score(y, y_pred)),
        "classes": names,
        "per_class": per_class,
        "macro_avg": {
            "precision": float(np.mean(precision)),
            "recall": float(np.mean(recall)),
            "f1": float(np.mean(f1)),
        },
        "confusion_matrix": confusion_matrix(y, y_pred, labels=labels).tolist(),
    }


def _as_classes_dtype(y: Any, classes: Any) -> Any:
    """Labels read as numbers compare with a model's text classes as text ("3" == 3)."""
    y = np.asarray(y)
    if classes.dtype.kind in "UO" and y.dtype.kind in "iub":
        return y.astype(str)
    if classes.dtype.kind in "iu" and y.dtype.kind in "UO":
        try:
            return y.astype(np.int64)
        except ValueError:
            raise ValueError(
                f"the data's labels (e.g. {y[0]!r}) are text, but the model's classes are "
                f"numbers ({', '.join(map(str, classes[:5].tolist()))}, ...)"
            ) from None
    return y


def format_evaluation(result: Mapping[str, Any]) -> str:
    """`evaluate_model`'s result as text: the scores, a per-class table, the matrix.

    Parameters
    ----------
    result : mapping
        As returned by `evaluate_model`.

    Returns
    -------
    str
    """
    n = result["n_samples"]
    if result["task"] == "regression":
        return "\n".join([
            f"R²    {result['r2']:.4f}   (1 is perfect, 0 is no better than the mean)",
            f"MAE   {result['mae']:.6g}   (mean absolute error)",
            f"RMSE  {result['rmse']:.6g}   (root mean squared error)",
            f"on {n} samples",
        ])
    names = [str(c) for c in result["classes"]]
    width = max(8, *(len(s) for s in names))
    lines = [f"accuracy {result['accuracy']:.4f} ({result['accuracy']:.2%} of {n} samples)", ""]
    lines.append(f"{'class':<{width}}  {'precision':>9}  {'recall':>9}  {'F1':>9}  {'support':>8}")
    for row in result["per_class"]:
        lines.append(
            f"{row['class']:<{width}}  {row['precision']:>9.4f}  {row['recall']:>9.4f}  "
            f"{row['f1']:>9.4f}  {row['support']:>8d}"
        )
    avg = result["macro_avg"]
    lines.append(
        f"{'mean':<{width}}  {avg['precision']:>9.4f}  {avg['recall']:>9.4f}  "
        f"{avg['f1']:>9.4f}  {n:>8d}"
    )
    lines += ["", "confusion matrix (rows: true class, columns: predicted class)"]
    cm = result["confusion_matrix"]
    cell = max(5, *(len(str(v)) + 1 for row in cm for v in row))
    short = [s[: cell - 1] for s in names]
    lines.append(f"{'':<{width}}" + "".join(f"{s:>{cell}}" for s in short))
    for name, row in zip(names, cm, strict=True):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{cell}d}" for v in row))
    return "\n".join(lines)


# --- the HTML report ---------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 64em; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #ddd; padding: .25em .6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: .9em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.score { font-size: 1.3em; }
.pass { color: #1a7f37; font-weight: bold; }
.fail { color: #cf222e; font-weight: bold; }
.note { color: #555; font-size: .92em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _settings_table(settings: Mapping[str, Any]) -> str:
    rows = []
    for key, value in settings.items():
        # None is a parameter left to its default: say so, not JSON's "null"
        if value is None:
            text = "(default)"
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append(f"<tr><th>{_e(key)}</th><td>{_e(text)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _evaluation_html(result: Mapping[str, Any]) -> str:
    n = result["n_samples"]
    if result["task"] == "regression":
        return (
            f'<p class="score">R² = {result["r2"]:.4f} on {n} samples</p>'
            f"<table><tr><th>MAE</th><td class=num>{result['mae']:.6g}</td></tr>"
            f"<tr><th>RMSE</th><td class=num>{result['rmse']:.6g}</td></tr></table>"
        )
    rows = "".join(
        f"<tr><td>{_e(r['class'])}</td><td class=num>{r['precision']:.4f}</td>"
        f"<td class=num>{r['recall']:.4f}</td><td class=num>{r['f1']:.4f}</td>"
        f"<td class=num>{r['support']}</td></tr>"
        for r in result["per_class"]
    )
    return (
        f'<p class="score">accuracy {result["accuracy"]:.4f} '
        f"({result['accuracy']:.2%} of {n} samples)</p>"
        "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
        f"<th>support</th></tr>{rows}</table>"
    )


def write_report(
    directory: str | os.PathLike[str],
    *,
    estimator: Any,
    title: str = "nablanet report",
    data_description: str | None = None,
    evaluation: Mapping[str, Any] | None = None,
    gradient_check: Any = None,
    diagnosis: Any = None,
    settings: Mapping[str, Any] | None = None,
    image_shape: Sequence[int] | None = None,
    explore: tuple[Any, Any] | None = None,
) -> Path:
    """Write the pictures and one self-contained ``report.html`` into ``directory``.

    Parameters
    ----------
    directory : str or path-like
        Created if missing. Receives ``report.html`` and the PNG files it embeds:
        ``training_curves.png`` (when the estimator has a ``history_``), ``filters.png``
        (the first convolution's filters, for a convolutional network), else
        ``weights.png`` (when ``image_shape`` is given), and ``confusion_matrix.png``
        (for a classifier's ``evaluation``).
    estimator : MLPClassifier or MLPRegressor
        Fitted; its ``net_`` gives the architecture and the first layer's weights.
    title : str
    data_description : str, optional
        One line saying which data were used.
    evaluation : mapping, optional
        `evaluate_model`'s result on the test data.
    gradient_check : GradientCheckReport, optional
    diagnosis : Diagnosis, optional
    settings : mapping, optional
        Training settings shown as a table (values are written as JSON).
    image_shape : (int, int), optional
        ``(height, width)`` when the inputs are images.
    explore : (X, y), optional
        Samples (as ``fit`` takes them) for the backpropagation explorer: its page, on
        the first `nablanet.explorer.DEFAULT_ROWS` of them, is written beside the report
        as ``explorer.html`` and linked from it. A network whose explorer cannot be
        drawn (a sparsity penalty) gets a sentence saying why instead.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    net = estimator.net_
    parts = [f"<h1>{_e(title)}</h1>", _header_html(data_description)]
    if evaluation is not None:
        parts += ["<h2>Test results</h2>", _evaluation_html(evaluation)]
    parts += _curves_section(estimator, out)
    filters = next((W for W in net.W if W.ndim == 4), None)  # the first convolution's
    if filters is not None:
        parts += _filters_section(filters, out)
    elif image_shape is not None:
        parts += _weights_section(net.W[0], image_shape, out)
    if evaluation is not None and evaluation.get("task") == "classification":
        parts += _confusion_section(evaluation, out)
    if gradient_check is not None:
        parts += _gradient_check_section(gradient_check, net.layer_sizes)
    if diagnosis is not None:
        parts += _diagnosis_section(diagnosis)
    if explore is not None:
        parts += _explorer_section(estimator, explore, image_shape, title, out)
    parts += ["<h2>Network</h2>", f"<pre>{_e(net.summary())}</pre>"]
    if settings:
        parts += ["<h2>Settings</h2>", _settings_table(settings)]

    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )
    path = out / REPORT_FILE
    write_file(path, page.encode("utf-8"))
    return path


def _header_html(data_description: str | None) -> str:
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"written {created}"]
    if data_description:
        lines.insert(0, data_description)
    return "".join(f'<p class="note">{_e(s)}</p>' for s in lines)


def _curves_section(estimator: Any, out: Path) -> list[str]:
    """The cost per epoch of every run, when the estimator kept its history."""
    from nablanet import plots

    history = getattr(estimator, "history_", None)
    if history is None or not getattr(history, "runs", None):
        return []
    score = "validation accuracy" if hasattr(estimator, "classes_") else "validation R²"
    png = plots.plot_training_curves(history, out / CURVES_FILE, score_name=score)
    runs = len(history.runs)
    each = (f"for each of the {runs} random initialisations, the kept run drawn thicker"
            if runs > 1 else "of the one random initialisation")
    return [
        "<h2>Training curves</h2>",
        f'<p class="note">The cost J per epoch {each} (docs/math.md §5); dashed: the '
        "same cost on the validation part.</p>",
        _img(png, "training curves"),
    ]


def _explorer_section(estimator: Any, samples: tuple[Any, Any],
                      image_shape: Sequence[int] | None, title: str, out: Path) -> list[str]:
    """The explorer written beside the report, and the report's link to it."""
    from nablanet.explorer import explore, unsupported

    reason = unsupported(estimator.net_)
    if reason is not None:
        return ["<h2>Backpropagation explorer</h2>",
                f'<p class="note">Not written: {_e(reason)}.</p>']
    X, y = samples
    shape = None if image_shape is None else (int(image_shape[0]), int(image_shape[1]))
    page = explore(estimator, X, y, title=f"{title}: the trained network", image_shape=shape)
    page.save(out / EXPLORER_FILE)
    n = len(page.data["samples"]["X"])
    return [
        "<h2>Backpropagation explorer</h2>",
        f'<p><a href="{EXPLORER_FILE}">{EXPLORER_FILE}</a>, beside this report: the trained '
        f"network on {n} test samples, drawn unit by unit with z, a and δ (BP1, BP2), the "
        "terms a_in δ_out of any weight's gradient (BP4), the saturated and dead units, and "
        "a nudge of one weight beside ε·∂C/∂w (docs/math.md §6, §7). It computes all of it "
        "itself and opens offline, like this report.</p>",
    ]


def _weights_section(W: Any, image_shape: Sequence[int], out: Path) -> list[str]:
    from nablanet import plots

    png = plots.plot_weight_images(W, image_shape, out / WEIGHTS_FILE)
    return [
        "<h2>First-layer weights</h2>",
        '<p class="note">Each tile is one hidden unit\'s incoming weights drawn as an '
        "image (mean removed, scaled to its largest weight, as UFLDL's display_network): "
        "bright pixels excite the unit, dark ones inhibit it.</p>",
        _img(png, "first-layer weights"),
    ]


def _filters_section(W: Any, out: Path) -> list[str]:
    from nablanet import plots

    png = plots.plot_filters(W, out / FILTERS_FILE)
    return [
        "<h2>First-layer filters</h2>",
        '<p class="note">Each tile is one filter of the first convolution drawn as an '
        "image (mean removed, scaled to its largest weight): the pattern it looks for at "
        "every position of the input; its feature map is high where the input resembles "
        "it (docs/math.md §8).</p>",
        _img(png, "first-layer filters"),
    ]


def _confusion_section(evaluation: Mapping[str, Any], out: Path) -> list[str]:
    from nablanet import plots

    png = plots.plot_confusion_matrix(
        evaluation["confusion_matrix"], evaluation["classes"], out / CONFUSION_FILE
    )
    return ["<h2>Confusion matrix</h2>", _img(png, "confusion matrix")]


def _gradient_check_section(gradient_check: Any, layer_sizes: Sequence[int]) -> list[str]:
    verdict = "pass" if gradient_check.passed else "fail"
    return [
        "<h2>Gradient check</h2>",
        "<p>Backpropagation against central differences (docs/math.md §7) on the "
        f"trained network ({'-'.join(map(str, layer_sizes))}): "
        f'<span class="{verdict}">{"PASSED" if gradient_check.passed else "FAILED"}'
        f"</span>, relative difference {gradient_check.relative_difference:.3e}.</p>",
        f"<pre>{_e(gradient_check)}</pre>",
    ]


#: The diagnosis table's columns: (heading, field of `LayerDiagnosis`, format), headed as
#: in the diagnosis's own text.
_DIAGNOSIS_COLUMNS = (
    ("layer", "layer", None),
    ("role", "role", "{}"),
    ("activation", "activation", "{}"),
    ("units", "units", "{}"),
    ("saturated", "saturated_fraction", "{:.1%}"),
    ("sat+wrong", "wrong_saturated_fraction", "{:.2%}"),
    ("dead", "dead_fraction", "{:.1%}"),
    ("collapsed", "collapsed_fraction", "{:.1%}"),
    ("mean|δ|", "mean_abs_delta", "{:.3e}"),
    ("‖∂J/∂b‖", "bias_gradient_norm", "{:.3e}"),
    ("mean|a_in|", "mean_abs_input", "{:.3e}"),
    ("‖dW‖/‖W‖", "grad_weight_ratio", "{:.3e}"),
)


def _diagnosis_section(diagnosis: Any) -> list[str]:
    """The diagnosis (`nablanet.diagnostics.Diagnosis`) as a table and its findings."""
    head = "".join(f"<th>{_e(name)}</th>" for name, _, _ in _DIAGNOSIS_COLUMNS)
    rows = []
    for d in diagnosis.as_dicts():
        cells = [
            str(d[key] + 1) if spec is None else spec.format(d[key])
            for _, key, spec in _DIAGNOSIS_COLUMNS
        ]
        rows.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return [
        "<h2>Diagnostics</h2>",
        '<p class="note">Per weight layer: saturated units (f\'(z) near 0) and, at the '
        "output, those saturated and wrong (only these slow learning), dead ReLUs, units "
        "that do not vary across examples, the size of the errors δ per example, ‖∂J/∂b‖ "
        "(how fast the layer learns) and how fast the weights move (docs/math.md §6). The "
        "findings below say which of these slow learning.</p>",
        f"<p>J = {diagnosis.J:.6g} ({_e(diagnosis.loss)})</p>",
        f"<table><tr>{head}</tr>{''.join(rows)}</table>",
        "<ul>" + "".join(f"<li>{_e(s)}</li>" for s in diagnosis.findings()) + "</ul>",
    ]
