"""Jupyter shows Network, Diagnosis, GradientCheckReport and History as print does."""

import html

import numpy as np
import pytest

from nablanet import Network, train
from nablanet.data import load_digits, one_hot


@pytest.fixture(scope="module")
def trained():
    data = load_digits()
    Y, _ = one_hot(data.y_train)
    net = Network([64, 10, 10], activation="sigmoid", seed=0)
    history = train(net, data.X_train, Y, optimizer="gd", learning_rate=2.0, epochs=3,
                    restarts=2, seed=0)
    return net, history, data.X_train[:40], Y[:40]


def _shows(obj, text):
    page = obj._repr_html_()
    assert page.startswith('<div class="nablanet">') and page.endswith("</div>")
    assert html.escape(text) in page
    assert "<script" not in page
    return page


def test_network(trained):
    net = trained[0]
    _shows(net, net.summary())


def test_diagnosis_has_the_table_and_the_findings(trained):
    net, _, X, Y = trained
    big = net.copy()
    big.theta = big.theta * 30  # saturated: findings in words
    diagnosis = big.diagnose(X, Y)
    assert diagnosis.findings()
    page = _shows(diagnosis, str(diagnosis))
    assert html.escape(diagnosis.findings()[0]) in page
    assert len(page) < 2 * len(str(diagnosis)) + 200  # not the raw dataclass repr


def test_gradient_check_report(trained):
    net, _, X, Y = trained
    report = net.check_gradient(X[:5], Y[:5])
    _shows(report, str(report))


def test_history_prints_a_table_of_runs(trained):
    history = trained[1]
    text = str(history)
    lines = text.splitlines()
    assert len(lines) == 1 + len(history.runs)
    assert "<- kept" in lines[1 + history.best_run]
    for run, line in zip(history.runs, lines[1:], strict=True):
        assert f"{run.train_loss[-1]:.6g}" in line and run.stop_reason in line
    _shows(history, text)
    assert np.isfinite(history.best.final_loss)
