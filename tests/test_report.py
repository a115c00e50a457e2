import base64
import html
import io
import json
import re
from types import SimpleNamespace

import matplotlib.image as mpimg
import numpy as np
import pytest

from nablanet import Network
from nablanet.report import evaluate_model, format_evaluation, write_report
from nablanet.training import RunHistory


class FakeClassifier:
    """Predicts fixed labels: the metrics can then be worked out by hand."""

    def __init__(self, classes, predictions):
        self.classes_ = np.asarray(classes)
        self._pred = np.asarray(predictions)

    def predict(self, X):
        return self._pred[: len(X)]


class FakeRegressor:
    def __init__(self, predictions):
        self._pred = np.asarray(predictions, dtype=float)

    def predict(self, X):
        return self._pred


def test_classification_metrics_by_hand():
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 2, 0, 2])
    est = FakeClassifier([0, 1, 2], y_pred)
    r = evaluate_model(est, np.zeros((8, 3)), y_true, class_names=("zero", "one", "two"))
    assert r["task"] == "classification" and r["n_samples"] == 8
    assert r["accuracy"] == pytest.approx(6 / 8)
    assert r["classes"] == ["zero", "one", "two"]
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 2]]
    zero, one, two = r["per_class"]
    # class 0: predicted 3 times, right twice; 3 true, 2 found
    assert zero["precision"] == pytest.approx(2 / 3) and zero["recall"] == pytest.approx(2 / 3)
    assert one["precision"] == pytest.approx(2 / 3) and one["recall"] == pytest.approx(1.0)
    assert one["f1"] == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    assert two["precision"] == pytest.approx(1.0) and two["recall"] == pytest.approx(2 / 3)
    assert [c["support"] for c in r["per_class"]] == [3, 2, 3]
    assert r["macro_avg"]["recall"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)


def test_unseen_labels_and_text_classes():
    # the model knows "a" and "b"; the data also hold "c", which it can never predict
    est = FakeClassifier(["a", "b"], ["a", "b", "b", "a"])
    r = evaluate_model(est, np.zeros((4, 1)), np.array(["a", "b", "c", "c"]))
    assert r["classes"] == ["a", "b", "c"]
    assert r["per_class"][2]["recall"] == 0.0 and r["per_class"][2]["support"] == 2
    assert r["accuracy"] == pytest.approx(0.5)
    # labels read from a CSV as numbers compare with text classes as text
    est = FakeClassifier(["0", "1"], ["0", "1", "1"])
    r = evaluate_model(est, np.zeros((3, 1)), np.array([0, 1, 0]))
    assert r["accuracy"] == pytest.approx(2 / 3)


def test_text_labels_for_a_numeric_model_are_refused():
    est = FakeClassifier([0, 1], [0, 1])
    with pytest.raises(ValueError, match="text"):
        evaluate_model(est, np.zeros((2, 1)), np.array(["cat", "dog"]))


def test_regression_metrics_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.5, 2.0, 2.0, 4.5])
    r = evaluate_model(FakeRegressor(pred), np.zeros((4, 2)), y)
    assert r["task"] == "regression"
    assert r["mae"] == pytest.approx((0.5 + 0 + 1 + 0.5) / 4)
    assert r["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 1 + 0.25) / 4))
    assert r["r2"] == pytest.approx(1 - 1.5 / 5.0)
    text = format_evaluation(r)
    assert "R²    0.7000" in text and "on 4 samples" in text


def test_format_evaluation_table_and_matrix():
    est = FakeClassifier([0, 1], [0, 1, 1, 1])
    r = evaluate_model(est, np.zeros((4, 1)), np.array([0, 1, 0, 1]), ("cat", "dog"))
    text = format_evaluation(r)
    lines = text.splitlines()
    assert lines[0].startswith("accuracy 0.7500")
    assert any(re.match(r"cat\s+1\.0000\s+0\.5000\s+0\.6667\s+2$", line) for line in lines)
    # the matrix: true cat predicted cat once and dog once
    assert re.search(r"^cat\s+1\s+1$", text, re.M) and re.search(r"^dog\s+0\s+2$", text, re.M)


# --- the HTML report -------------------------------------------------------------------


def _fitted(classifier=True):
    """A stand-in for a fitted estimator: a real network and a real-looking history."""
    net = Network([64, 9, 3], activation="sigmoid", output_activation="softmax", seed=0)
    runs = []
    for k in range(2):
        h = RunHistory(seed=k)
        h.train_loss = [1.0 / (e + 1 + k) for e in range(12)]
        h.val_loss = [1.1 / (e + 1 + k) for e in range(12)]
        h.val_score = [1 - 0.5 / (e + 1) for e in range(12)]
        runs.append(h)
    est = SimpleNamespace(net_=net, history_=SimpleNamespace(runs=runs, best_run=0))
    if classifier:
        est.classes_ = np.array([0, 1, 2])
    return est


def _data_uris(page):
    return re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)


def test_report_is_self_contained_and_embeds_its_pictures(tmp_path):
    est = _fitted()
    rng = np.random.default_rng(0)
    X = rng.random((20, 64))
    Y = np.eye(3)[rng.integers(0, 3, 20)]
    check = est.net_.check_gradient(X, Y)
    diagnosis = est.net_.diagnose(X, Y)
    evaluation = evaluate_model(FakeClassifier([0, 1, 2], [0, 1, 2, 2]), np.zeros((4, 1)),
                                np.array([0, 1, 2, 1]), ("T-shirt/top", "<b>bold</b>", "Bag"))
    path = write_report(
        tmp_path / "out" / "nested", estimator=est, title="Report <&> test",
        data_description="data: digits & more", evaluation=evaluation,
        gradient_check=check, diagnosis=diagnosis,
        settings={"layers": [9], "note": "<script>alert(1)</script>"}, image_shape=(8, 8),
    )
    assert path == tmp_path / "out" / "nested" / "report.html"
    page = path.read_text(encoding="utf-8")
    # self-contained: no scripts, no links or resources outside the file
    assert "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page
    assert re.findall(r'src="(?!data:image/png;base64,)', page) == []
    # every text escaped
    assert "Report &lt;&amp;&gt; test" in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # the three pictures are the files written beside it, embedded byte for byte
    uris = _data_uris(page)
    assert len(uris) == 3
    files = ["training_curves.png", "weights.png", "confusion_matrix.png"]
    for uri, name in zip(uris, files, strict=True):
        data = (path.parent / name).read_bytes()
        assert base64.b64decode(uri) == data
        image = mpimg.imread(io.BytesIO(data), format="png")
        assert np.unique(image[..., :3].reshape(-1, 3), axis=0).shape[0] > 10
    # the numbers that matter are in the page
    assert "accuracy 0.7500" in page
    assert "PASSED" in page and f"{check.relative_difference:.3e}" in page
    assert html.escape(diagnosis.findings()[0]) in page
    assert "<th>layers</th><td>[9]</td>" in page  # the settings table
    assert html.escape(est.net_.summary()) in page


def test_report_without_images_or_classes(tmp_path):
    est = _fitted(classifier=False)
    evaluation = evaluate_model(FakeRegressor([1.0, 2.0]), np.zeros((2, 1)),
                                np.array([1.0, 3.0]))
    path = write_report(tmp_path, estimator=est, evaluation=evaluation)
    page = path.read_text(encoding="utf-8")
    assert len(_data_uris(page)) == 1  # only the training curves
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "training_curves.png"]
    assert "R² = " in page and "validation R²" not in page  # label lives in the picture
    assert "Gradient check" not in page and "Diagnostics" not in page


def test_the_diagnosis_is_written_from_its_data_not_from_its_text(tmp_path):
    est = _fitted()
    rng = np.random.default_rng(1)
    X, Y = rng.random((20, 64)), np.eye(3)[rng.integers(0, 3, 20)]
    diagnosis = est.net_.diagnose(X, Y)

    class DataOnly(type(diagnosis)):
        def __str__(self):
            raise AssertionError("the report parsed the diagnosis's text")

    data_only = DataOnly(layers=diagnosis.layers, loss=diagnosis.loss, J=diagnosis.J)
    page = write_report(tmp_path, estimator=est, diagnosis=data_only).read_text("utf-8")
    for d in diagnosis.layers:
        row = (f"<tr><td>{d.layer + 1}</td><td>{d.role}</td><td>{d.activation}</td>"
               f"<td>{d.units}</td><td>{d.saturated_fraction:.1%}</td>")
        assert row in page
        assert f"<td>{d.grad_weight_ratio:.3e}</td>" in page
    assert f"J = {diagnosis.J:.6g} ({diagnosis.loss})" in page


def test_the_diagnosis_section_shows_harmful_saturation_and_layer_speeds(tmp_path):
    est = _fitted()
    rng = np.random.default_rng(2)
    X, Y = rng.random((20, 64)), np.eye(3)[rng.integers(0, 3, 20)]
    X[:, [0, 5]] = 0.0  # two inputs that are 0 on every example
    diagnosis = est.net_.diagnose(X, Y, feature_names=[f"px{k}" for k in range(64)])
    page = write_report(tmp_path, estimator=est, diagnosis=diagnosis).read_text("utf-8")
    for header in ("sat+wrong", "collapsed", "‖∂J/∂b‖"):
        assert f"<th>{header}</th>" in page
    for d in diagnosis.layers:
        assert f"<td>{d.wrong_saturated_fraction:.2%}</td>" in page
        assert f"<td>{d.bias_gradient_norm:.3e}</td>" in page
    assert "2 inputs are 0 on every example (px0, px5)" in page


def test_the_report_links_the_explorer_of_the_trained_model_written_beside_it(tmp_path):
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning

    from nablanet import MLPClassifier

    X, y = load_digits(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    path = write_report(tmp_path, estimator=est, image_shape=(8, 8), explore=(X[:30], y[:30]))
    page = path.read_text(encoding="utf-8")
    assert '<a href="explorer.html">explorer.html</a>' in page
    assert "<script" not in page.lower()  # the report runs no script; the explorer does
    explorer = (tmp_path / "explorer.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="nablanet-model" type="application/json">'
                                r"(.*?)</script>", explorer, re.S).group(1))
    np.testing.assert_array_equal(np.array(data["W"][0]), est.net_.W[0])
    np.testing.assert_array_equal(np.array(data["samples"]["X"]), X[:20])  # the first 20
    assert data["image_shape"] == [8, 8] and data["curves"]["loss"] == est.loss_curve_


def test_a_network_the_explorer_cannot_draw_gets_a_sentence_instead(tmp_path):
    est = _fitted()
    est.net_ = Network([64, 9, 3], output_activation="softmax", sparsity=(0.1, 1.0), seed=0)
    page = write_report(tmp_path, estimator=est, explore=(np.zeros((2, 64)), np.eye(3)[:2]))
    assert "Not written: the explorer shows one sample&#x27;s cost" in page.read_text("utf-8")
    assert not (tmp_path / "explorer.html").exists()
