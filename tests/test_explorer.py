"""The backpropagation explorer: a self-contained page whose JavaScript engine agrees with
`Network.trace` (docs/math.md §6), driven in headless Chromium where it is installed."""

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from nablanet import Network
from nablanet.explorer import explore
from nablanet.training.history import RunHistory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs"))
from check_offline import remote_loads  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = ("headless Chromium is not installed: 'make chromium' (as root: apt-get install "
               "-y chromium) installs Debian's package; these browser tests are skipped, not "
               "passed, until then")

#: (hidden activation, output activation, loss): every activation and both kinds of BP1.
ARCHITECTURES = [
    ("sigmoid", "sigmoid", "squared_error"),
    ("tanh", "softmax", "cross_entropy"),
    ("relu", "softmax", "squared_error"),  # the full softmax Jacobian
    ("leaky_relu", "identity", "squared_error"),
    ("tanh", "tanh", "squared_error"),
    ("sigmoid", "sigmoid", "binary_cross_entropy"),
    ("relu", "exp", "poisson"),
]


def _iris(n=12):
    X, y = load_iris(return_X_y=True)
    rows = np.random.default_rng(0).choice(len(y), n, replace=False)
    X = (X[rows] - X.mean(axis=0)) / X.std(axis=0)
    Y = np.eye(3)[y[rows]]
    return X, Y


def _network(hidden, output, loss, weight_decay=0.01, sizes=(4, 5, 4, 3)):
    X, Y = _iris()
    net = Network(sizes, activation=hidden, output_activation=output, loss=loss,
                  weight_decay=weight_decay, seed=1)
    # Random biases as well (a generic point, math.md §7).
    net.theta = net.theta + np.random.default_rng(2).normal(0.0, 0.3, net.n_params)
    if output == "tanh":
        Y = 2 * Y - 1
    if output == "exp":
        Y = Y * 3.0
    return net, X, Y


def _model_json(page):
    data = re.search(r'<script id="nablanet-model" type="application/json">(.*?)</script>',
                     page, re.S).group(1)
    return json.loads(data)


# --- the page, from Python --------------------------------------------------------------


def test_the_page_embeds_the_network_and_samples_and_loads_nothing(tmp_path):
    net, X, Y = _network("sigmoid", "softmax", "cross_entropy")
    page = explore(net, X, Y, rows=5)
    page.save(tmp_path / "explorer.html")
    assert remote_loads(tmp_path) == []
    text = (tmp_path / "explorer.html").read_text(encoding="utf-8")
    assert re.search(r"<(script|link|img)[^>]*\b(src|href)=", text) is None  # all inline
    model = _model_json(text)
    assert model["layer_sizes"] == [4, 5, 4, 3]
    assert model["activations"] == ["sigmoid", "sigmoid", "softmax"]
    assert model["loss"] == "cross_entropy" and model["canonical"] is True
    for l in range(3):
        np.testing.assert_array_equal(np.array(model["W"][l]), net.W[l])
        np.testing.assert_array_equal(np.array(model["b"][l]), net.b[l])
    np.testing.assert_array_equal(np.array(model["samples"]["X"]), X[:5])
    np.testing.assert_array_equal(np.array(model["samples"]["Y"]), Y[:5])
    assert 'srcdoc="' in page._repr_html_()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_estimator_is_explored_with_its_own_target_encoding():
    from nablanet import MLPClassifier

    X, y = load_iris(return_X_y=True)
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    model = _model_json(explore(est, X[:4], y[:4]).html)
    assert model["layer_sizes"] == list(est.net_.layer_sizes)
    np.testing.assert_array_equal(np.array(model["samples"]["Y"]).argmax(axis=1), y[:4])


def test_a_sparsity_penalty_and_a_bad_row_count_are_refused():
    X, Y = _iris()
    net = Network([4, 3, 3], sparsity=(0.1, 1.0), seed=0)
    with pytest.raises(ValueError, match="sparsity penalty depends on the mean activation"):
        explore(net, X, Y)
    with pytest.raises(ValueError, match="rows must be a positive integer, got 0"):
        explore(Network([4, 3, 3], seed=0), X, Y, rows=0)
    from nablanet.layers import Dense

    class Scaled(Dense):  # a layer of the user's own, whose passes the page cannot know
        pass

    with pytest.raises(ValueError, match="the explorer draws Dense, Conv2D, MeanPool2D, "
                                         "MaxPool2D layers; Scaled is not one of them"):
        explore(Network([Scaled(3), Dense(3, "softmax")], input_shape=(4,), seed=0), X, Y)


def test_a_script_end_tag_in_the_data_cannot_end_the_script():
    net, X, Y = _network("tanh", "softmax", "cross_entropy")
    page = explore(net, X, Y, title="</script><script>alert(1)</script>").html
    assert "<script>alert(1)" not in page


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_estimator_brings_its_training_curves_and_a_network_its_history():
    from nablanet import MLPClassifier

    X, y = load_iris(return_X_y=True)
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=6, early_stopping=True,
                        n_iter_no_change=50, random_state=0).fit(X, y)
    curves = explore(est, X[:4], y[:4]).data["curves"]
    assert curves["loss"] == est.loss_curve_ and len(curves["loss"]) == 6
    assert curves["validation_loss"] == est.validation_loss_curve_
    assert curves["validation_scores"] == est.validation_scores_
    assert curves["score_name"] == "validation accuracy"
    net, Xn, Yn = _network("tanh", "softmax", "cross_entropy")
    assert explore(net, Xn, Yn).data["curves"] is None  # nothing to draw
    run = RunHistory(train_loss=[1.0, 0.5], val_loss=[np.nan, np.nan], val_score=[np.nan] * 2)
    curves = explore(net, Xn, Yn, history=run).data["curves"]
    # no validation data: no validation line, rather than a line of NaN (JSON has none)
    assert curves == {"loss": [1.0, 0.5], "validation_loss": [], "validation_scores": [],
                      "score_name": "validation score"}


def test_an_image_shape_must_hold_the_inputs_and_save_writes_through_write_file(tmp_path):
    from nablanet.io.files import UnsafeTarget

    net, X, Y = _network("tanh", "softmax", "cross_entropy")
    with pytest.raises(ValueError, match=r"image_shape \(3, 3\) has 9 pixels, but the "
                                         "network takes 4 inputs"):
        explore(net, X, Y, image_shape=(3, 3))
    page = explore(net, X, Y, rows=3, image_shape=(2, 2))
    assert page.data["image_shape"] == [2, 2]
    assert repr(page).startswith("<Explorer of a 4-5-4-3 network on 3 samples, ")
    with pytest.raises(UnsafeTarget, match="a folder, not a regular file"):
        page.save(tmp_path)


def test_the_network_and_the_estimators_do_not_import_the_explorer():
    # explore is a function of the model, not a method: the layers below it never import
    # it, not even inside a function (docs/guide.md, "The backpropagation explorer").
    import ast

    package = Path(__file__).resolve().parent.parent / "nablanet"
    below = [package / "network.py", *sorted((package / "estimators").glob("*.py"))]
    for path in below:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not any(n.startswith("nablanet.explorer") for n in names), path.name


# --- the page, in a browser -------------------------------------------------------------
#
# Every page below runs in one launch of the browser (launches cost seconds): each page is
# a frame of one harness page, and posts what its probe found to the harness, whose DOM
# Chromium dumps. Only the screenshot needs a second launch.

_CATCH = """<script>
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
// The page's Content-Security-Policy refuses every load; a refused one is an error here.
document.addEventListener("securitypolicyviolation", (e) => window.__errors.push(
  `refused ${e.blockedURI} (${e.violatedDirective})`));
const consoleError = console.error;
console.error = (...args) => { window.__errors.push(args.join(" ")); consoleError(...args); };
window.__report = (out) => {
  // Every resource the page fetched (none may be: it holds all it needs).
  out.resources = performance.getEntriesByType("resource").map((e) => e.name);
  parent.postMessage({name: window.name, out: JSON.stringify(out)}, "*");
};
</script>"""

#: Run in the page after its own scripts: the engine's numbers, or the errors.
_PROBE = """
<script>
(function () {
  const out = {errors: window.__errors};
  try {
    const n = window.nablanet, ks = n.samples.X.map((_, k) => k);
    out.traces = ks.map((k) => n.trace(k));
    out.costs = ks.map((k) => n.cost(k));
    out.gradients = ks.map((k) => n.gradient(k));
    const eps = 1e-5, l = Math.min(1, n.layer_sizes.length - 2), i = 2, j = 3;
    const w = n.getWeight(l, i, j);
    const before = n.cost(0), g = n.gradient(0).dW[l][i][j];
    n.setWeight(l, i, j, w + eps);
    out.nudge = {dC: n.cost(0) - before, predicted: eps * g, after: n.getWeight(l, i, j) - w};
    n.setWeight(l, i, j, w);
  } catch (e) { out.errors.push(String(e && e.stack || e)); }
  window.__report(out);
})();
</script>
"""

#: Clicks as a student would: a hidden unit, its first weight, a nudge, then δ colours.
_CLICKS = """
<script>
window.addEventListener("load", () => setTimeout(function () {
  const out = {errors: window.__errors};
  try {
    const click = (e) => e.dispatchEvent(new MouseEvent("click", {bubbles: true}));
    click(document.querySelectorAll("#net .unit")[5]);
    click(document.querySelector("tr.pick"));
    document.getElementById("eps").value = "1e-6";
    click(document.getElementById("nudge"));
    document.querySelector("input[value=delta]").click();
    document.dispatchEvent(new KeyboardEvent("keydown", {key: "ArrowRight"}));
    out.panel = document.getElementById("panel").textContent;
    out.sample = document.getElementById("sample").value;
    out.units = document.querySelectorAll("#net .unit").length;
    out.curves = !document.getElementById("curves").hidden;
  } catch (e) { out.errors.push(String(e && e.stack || e)); }
  window.__report(out);
}, 50));  // after the load and any refused request's report
</script>
"""

#: A large page: open a strip, time nudges (the engine's, and the page's whole answer to a
#: click on "w <- w + ε": the numbers, the redrawing and the layout), read the image.
_LARGE = """
<script>
(function () {  // while the page loads: timers run on virtual time, this on the clock
  const out = {errors: window.__errors};
  try {
    const n = window.nablanet;
    const click = (e) => e.dispatchEvent(new MouseEvent("click", {bubbles: true}));
    const median = (t) => t.sort((p, q) => p - q)[Math.floor(t.length / 2)];
    const q = (s) => document.querySelector(s), qa = (s) => document.querySelectorAll(s);
    click(q('#net rect.unit[data-l="1"][data-i="0"]'));  // a strip's cell opens the strip
    out.opened = Array.from(qa('#net circle.unit[data-l="1"]'), (c) => Number(c.dataset.i));
    out.edges = qa("#net .edge").length;
    out.rects = qa('#net rect.unit[data-l="0"]').length;
    out.fills = Array.from(qa('#net rect.unit[data-l="0"]'), (c) => c.getAttribute("fill"));
    out.curves = qa("#curves-svg path.curve").length;
    out.curvesShown = !q("#curves").hidden;
    const engine = [];
    for (let r = 0; r < 30; r++) {
      const t0 = performance.now(), w = n.getWeight(0, 3, 400);
      n.setWeight(0, 3, 400, w + 1e-3);
      n.cost(0);
      n.gradient(0);
      engine.push(performance.now() - t0);
      n.setWeight(0, 3, 400, w);
    }
    click(q('#net circle.unit[data-l="2"][data-i="1"]'));  // an output unit,
    click(q('#net .edge'));  // a weight into it from an opened hidden unit,
    const pixel = q('#net rect.unit[data-l="0"]'), page = [];
    for (let r = 0; r < 15; r++) {  // and its nudge, answered
      const t0 = performance.now();
      click(q("#nudge"));
      void document.body.offsetHeight;  // the layout of what it redrew
      page.push(performance.now() - t0);
    }
    out.panel = q("#panel").textContent;
    out.inputKept = pixel === q('#net rect.unit[data-l="0"]');  // x is not redrawn
    out.engineMs = median(engine);
    out.pageMs = median(page);
  } catch (e) { out.errors.push(String(e && e.stack || e)); }
  window.__report(out);
})();
</script>
"""


def _chromium(*args, timeout=180):
    # A profile of its own: two test workers may run the browser at once.
    with tempfile.TemporaryDirectory(prefix="nablanet-chromium-") as profile:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking",
             f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )


def _run_in_browser(pages, folder):
    """Run each ``name: (page, probe)`` in one browser; what each probe reported, by name."""
    frames = []
    for name, (page, probe) in pages.items():
        probed = page.replace("<head>", "<head>" + _CATCH, 1).replace("</body>", probe + "</body>")
        (folder / f"{name}.html").write_text(probed, encoding="utf-8")
        frames.append(f'<iframe name="{name}" src="{name}.html" width="1200" height="800">'
                      "</iframe>")
    harness = folder / "harness.html"
    harness.write_text(
        "<!DOCTYPE html><html><body><script>window.addEventListener('message', (e) => {"
        "const pre = document.createElement('pre'); pre.id = 'probe-' + e.data.name;"
        "pre.textContent = e.data.out; document.body.appendChild(pre); });</script>"
        + "".join(frames) + "</body></html>", encoding="utf-8")
    # virtual time lets the frames' timers and load events run before the DOM is dumped
    done = _chromium("--virtual-time-budget=10000", "--dump-dom", harness.as_uri())
    found = {name: json.loads(html.unescape(text)) for name, text in
             re.findall(r'<pre id="probe-([\w-]+)">(.*?)</pre>', done.stdout, re.S)}
    missing = set(pages) - set(found)
    assert not missing, f"no report from {sorted(missing)}; chromium said: {done.stderr[-2000:]}"
    return found


def _relative(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300))


#: The engine's cases: every activation and both kinds of BP1, and no hidden layer.
ENGINE_CASES = [*((*arch, (4, 5, 4, 3)) for arch in ARCHITECTURES),
                ("sigmoid", "softmax", "cross_entropy", (4, 3))]  # softmax regression


def _conv_network(case):
    """A small convolutional network on 8x8 digits (math.md §8), random biases too."""
    from sklearn.datasets import load_digits

    from nablanet.layers import Conv2D, Dense, MaxPool2D, MeanPool2D

    X, y = load_digits(return_X_y=True)
    X, Y = X[:6] / 16.0, np.eye(10)[y[:6]]
    layers = {
        "max": [Conv2D(3, 3, padding="same", activation="tanh"), MaxPool2D(2),
                Dense(10, "softmax")],
        # stride 2 with "same" (the odd zero below and right), a mean pool that leaves
        # a column out (5 // 2), sigmoid with squared error (BP1 through f')
        "mean": [Conv2D(2, 3, stride=2, padding="same", activation="relu"),
                 Conv2D(3, 2, padding="valid", activation="sigmoid"),
                 MeanPool2D((1, 2)), Dense(10, "sigmoid")],
    }[case]
    net = Network(layers, input_shape=(1, 8, 8), weight_decay=0.01, seed=3)
    net.theta = net.theta + np.random.default_rng(4).normal(0.0, 0.3, net.n_params)
    if case == "max":
        net.b[0][0] = 3.0  # map 0 saturates (tanh′(3) ≈ 0.01) where its inputs are blank
    return net, X, Y


def _saturated_maps(net, x):
    """How many maps of the network's conv layers have most positions with f′(z) < 10% of
    its maximum on one example (the page's orange frame)."""
    a = net.trace(x[None]).a
    count = 0
    for l, layer in enumerate(net.layers[:-1]):
        f = layer.activation
        if f.saturating:
            fp = np.empty_like(a[l + 1][0])
            f.derivative(a[l + 1][0], fp)
            share = (fp < 0.1 * f.max_derivative).mean(axis=(1, 2))
            count += int((share > 0.5).sum())
    return count


#: Conv networks, and the conv weight each one's probe nudges: (layer, f, c, u, v).
CONV_CASES = {"max": (0, 1, 0, 1, 2), "mean": (1, 2, 1, 0, 1)}

#: The engine on a conv network: its numbers, and a nudge of one filter entry.
_CONV_PROBE = """
<script>
(function () {
  const out = {errors: window.__errors};
  try {
    const n = window.nablanet, ks = n.samples.X.map((_, k) => k);
    out.traces = ks.map((k) => n.trace(k));
    out.costs = ks.map((k) => n.cost(k));
    out.gradients = ks.map((k) => n.gradient(k));
    const [l, f, c, u, v] = WEIGHT, eps = 1e-5, w = n.getWeight(l, f, c, u, v);
    const before = n.cost(1), g = n.gradient(1).dW[l][f][c][u][v];
    n.setWeight(l, f, c, u, v, w + eps);
    out.nudge = {dC: n.cost(1) - before, predicted: eps * g, after: n.getWeight(l, f, c, u, v) - w};
    n.setWeight(l, f, c, u, v, w);
    try { n.setWeight(l, f, c, u, 1.0); } catch (e) { out.refused = String(e.message); }
    // as a student: a unit of the first map layer, a filter entry, a nudge, δ colours
    const click = (e) => e.dispatchEvent(new MouseEvent("click", {bubbles: true}));
    click(document.querySelector('#net rect.unit[data-l="1"][data-i="9"]'));
    click(document.querySelectorAll("#panel .filt")[4]);
    document.getElementById("eps").value = "1e-6";
    click(document.getElementById("nudge"));
    out.panel = document.getElementById("panel").textContent;
    document.querySelector("input[value=delta]").click();
    out.frames = document.querySelectorAll("#net .map-frame").length;
    out.saturated = document.querySelectorAll("#net .map-frame.saturated").length;
    out.cells = document.querySelectorAll('#net rect.unit[data-l="1"]').length;
  } catch (e) { out.errors.push(String(e && e.stack || e)); }
  window.__report(out);
})();
</script>
"""


def _large_network():
    """784-100-10 with 50 samples: the issue's size, a sigmoid strip to open."""
    rng = np.random.default_rng(0)
    net = Network([784, 100, 10], output_activation="softmax", seed=0)
    X = rng.random((50, 784))
    Y = np.eye(10)[rng.integers(0, 10, 50)]
    return net, X, Y


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Every probe of this module, run in one launch of Chromium."""
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    pages = {}
    for n, (hidden, output, loss, sizes) in enumerate(ENGINE_CASES):
        net, X, Y = _network(hidden, output, loss, sizes=sizes)
        pages[f"engine-{n}"] = (explore(net, X, Y, rows=6).html, _PROBE)
    net, X, Y = _network("tanh", "sigmoid", "squared_error")
    page = explore(net, X, Y, rows=4).html
    pages["clicks"] = (page, _CLICKS)
    # a fake remote image: the page's policy must refuse it, and the probe must see that
    pages["refused"] = (page.replace("</body>", '<img src="https://example.invalid/x.png">'
                                     "</body>"), _CLICKS)
    for case, weight in CONV_CASES.items():
        net, X, Y = _conv_network(case)
        pages[f"conv-{case}"] = (explore(net, X, Y, rows=6).html,
                                 _CONV_PROBE.replace("WEIGHT", json.dumps(list(weight))))
    net, X, Y = _large_network()
    history = RunHistory(train_loss=[2.3, 1.2, 0.8], val_loss=[2.4, 1.4, 1.1],
                         val_score=[0.3, 0.6, 0.7])
    pages["large"] = (explore(net, X, Y, rows=50, image_shape=(28, 28), history=history).html,
                      _LARGE)
    return _run_in_browser(pages, tmp_path_factory.mktemp("browser"))


@pytest.mark.parametrize("case", range(len(ENGINE_CASES)),
                         ids=lambda n: "-".join(map(str, ENGINE_CASES[n][:3])))
def test_the_engine_in_the_browser_equals_network_trace(browser, case):
    hidden, output, loss, sizes = ENGINE_CASES[case]
    net, X, Y = _network(hidden, output, loss, sizes=sizes)
    got = browser[f"engine-{case}"]
    assert got["errors"] == [] and got["resources"] == []
    for k in range(6):
        tr = net.trace(X[k:k + 1], Y[k:k + 1])
        for l in range(len(net.W)):
            assert _relative(got["traces"][k]["z"][l], tr.z[l][0]) < 1e-6
            assert _relative(got["traces"][k]["delta"][l], tr.delta[l][0]) < 1e-6
            assert _relative(got["gradients"][k]["dW"][l], tr.dW[l]) < 1e-6
            assert _relative(got["gradients"][k]["db"][l], tr.db[l]) < 1e-6
        for l in range(len(net.W) + 1):
            assert _relative(got["traces"][k]["a"][l], tr.a[l][0]) < 1e-6
        assert got["costs"][k] == pytest.approx(tr.J, rel=1e-6)
    nudge = got["nudge"]
    assert nudge["after"] == pytest.approx(1e-5, rel=1e-6)
    assert nudge["dC"] == pytest.approx(nudge["predicted"], rel=1e-4)


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_the_engine_on_a_conv_network_equals_network_trace(browser, case):
    net, X, Y = _conv_network(case)
    got = browser[f"conv-{case}"]
    assert got["errors"] == [] and got["resources"] == []
    for k in range(6):
        tr = net.trace(X[k:k + 1], Y[k:k + 1])
        for l in range(len(net.layers)):  # every array flat, channel first (math.md §8)
            assert _relative(got["traces"][k]["z"][l], tr.z[l][0].ravel()) < 1e-6
            assert _relative(got["traces"][k]["a"][l + 1], tr.a[l + 1][0].ravel()) < 1e-6
            assert _relative(got["traces"][k]["delta"][l], tr.delta[l][0].ravel()) < 1e-6
            # dW shaped as net.W[l]: (F, C, kh, kw) for a convolution, [] for a pooling
            assert np.shape(got["gradients"][k]["dW"][l]) == np.shape(tr.dW[l])
            if tr.dW[l].size:
                assert _relative(got["gradients"][k]["dW"][l], tr.dW[l]) < 1e-6
                assert _relative(got["gradients"][k]["db"][l], tr.db[l]) < 1e-6
        assert got["costs"][k] == pytest.approx(tr.J, rel=1e-6)
    nudge = got["nudge"]
    assert nudge["after"] == pytest.approx(1e-5, rel=1e-6)
    assert nudge["dC"] == pytest.approx(nudge["predicted"], rel=1e-4)
    assert re.match(r"W\[\d\] has shape \(\d, \d, \d, \d\), got index \(", got["refused"])
    # the page: one frame per map of every map layer, the BP4 sum of a filter entry, a nudge
    shapes = [layer.output_shape for layer in net.layers[:-1]]
    assert got["frames"] == 1 + sum(shape[0] for shape in shapes)  # the input is one map
    assert got["cells"] == np.prod(shapes[0])
    assert "BP4 (math.md §8): ∂C/∂w = Σ_{r,c} a_in[0, " in got["panel"]
    assert "ΔC" in got["panel"]
    assert got["saturated"] == _saturated_maps(net, X[0])
    if case == "max":  # the clicked unit, map 0 (1, 1), under a 2x2 max pooling
        block = net.trace(X[:1]).a[1][0, 0, :2, :2].ravel()
        won = int(np.argmax(block)) == 3  # the first maximum in row-major order (§8)
        assert ("The maximum of its 2×2 block" if won else "Not the maximum of its 2×2 "
                "block (that is row ") in got["panel"]
    print(f"\n{case} conv page's maps: {got['frames']}, saturated {got['saturated']}")


def test_a_conv_page_says_its_layers_geometry_and_refuses_a_wrong_image_shape():
    net, X, Y = _conv_network("mean")
    page = explore(net, X.reshape(-1, 1, 8, 8), Y, rows=3)  # (m, C, H, W) taken as rows
    layers = page.data["layers"]
    assert [layer["kind"] for layer in layers] == ["Conv2D", "Conv2D", "MeanPool2D", "Dense"]
    assert layers[0] == {"kind": "Conv2D", "input_shape": [1, 8, 8], "output_shape": [2, 4, 4],
                         "kernel_size": [3, 3], "stride": [2, 2], "padding": "same",
                         "pad": [0, 0]}
    assert layers[2]["size"] == [1, 2] and layers[2]["output_shape"] == [3, 3, 1]
    assert page.data["input_shape"] == [1, 8, 8]
    np.testing.assert_array_equal(np.array(page.data["W"][0]), net.W[0])  # (F, C, kh, kw)
    assert page.data["W"][2] == [] and page.data["samples"]["X"] == X[:3].tolist()
    assert explore(net, X, Y, rows=1, image_shape=(8, 8)).data["image_shape"] is None
    with pytest.raises(ValueError, match=r"image_shape \(4, 16\) is not the 8x8 of the "
                                         r"network's input maps \(1, 8, 8\)"):
        explore(net, X, Y, image_shape=(4, 16))
    size = len(explore(*_conv_network("max"), rows=20).html.encode("utf-8"))
    print(f"\nconv 3x3 same (3 maps) - max pool 2 - dense 10, 8x8 digits, 20 samples: "
          f"the page is {size / 1e3:.0f} kB")
    assert size < 300_000


def test_a_student_can_pick_a_weight_and_nudge_it_without_errors(browser):
    assert any("example.invalid" in e for e in browser["refused"]["errors"])
    got = browser["clicks"]
    assert got["errors"] == [] and got["resources"] == []
    assert got["units"] == 4 + 5 + 4 + 3
    assert got["sample"] == "1"  # the → key chose the next sample
    assert "BP4: ∂C/∂w = a_j δ_i + λw" in got["panel"]
    assert "ΔC" not in got["panel"]  # a new sample clears the last nudge's numbers
    assert got["curves"] is False  # a bare network without its history has none


def test_a_large_layer_opens_on_its_units_that_matter_and_a_nudge_fits_in_a_frame(browser):
    net, X, Y = _large_network()
    got = browser["large"]
    assert got["errors"] == [] and got["resources"] == []
    # the strip of 100 hidden units opens on the 8 with the largest |δ| on sample 0
    delta = net.trace(X[:1], Y[:1]).delta[0][0]
    assert got["opened"] == np.argsort(-np.abs(delta), kind="stable")[:8].tolist()
    assert got["edges"] == 8 * 10  # the weights from those 8 into the 10 outputs
    # the input drawn as its 28x28 grey image: the darkest pixel is the largest
    assert got["rects"] == 784
    grey = np.array([[int(v) for v in re.findall(r"\d+", f)] for f in got["fills"]])
    assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all()
    assert grey[:, 0].argmin() == X[0].argmax()
    assert got["curvesShown"] and got["curves"] == 3  # J, validation J, validation score
    assert "ΔC" in got["panel"]
    print(f"\n784-100-10, 50 samples: engine nudge (setWeight, cost, gradient) "
          f"{got['engineMs']:.2f} ms, page nudge (numbers, redraw, layout) {got['pageMs']:.2f} ms "
          f"(medians; a frame is 16.7 ms; load average {os.getloadavg()[0]:.1f})")
    assert got["engineMs"] < 1000 / 60
    # The 784 pixels stay as they are (redrawing them took 175 ms); a bound that a busy
    # shared machine keeps, many times the figure printed above on a quiet one.
    assert got["inputKept"] and got["pageMs"] < 100


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_screenshot_of_the_page_is_not_blank(tmp_path):
    from matplotlib.image import imread
    from sklearn.datasets import load_digits

    from nablanet import MLPClassifier

    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    X, y = load_digits(return_X_y=True)
    est = MLPClassifier(hidden_layer_sizes=(12,), max_iter=4, random_state=0).fit(X, y)
    explore(est, X, y, image_shape=(8, 8)).save(tmp_path / "explorer.html")
    shot = tmp_path / "shot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1200,800",
              (tmp_path / "explorer.html").as_uri())
    pixels = imread(shot)[..., :3]
    colours = {tuple(p) for p in (pixels.reshape(-1, 3) * 255).astype(int)[::7]}
    assert len(colours) > 20  # a drawing, not one flat colour
    # the digit drawn in greys at the top left, left of the hidden layer
    image = pixels[120:300, 20:220]
    greys = image[(image.max(axis=-1) - image.min(axis=-1)) < 0.01]
    assert (greys.mean(axis=-1) < 0.3).sum() > 500  # dark ink, many pixels of it


# --- the command and the size of a large page ------------------------------------------


def test_the_explore_command_writes_an_offline_page(tmp_path, capsys):
    from nablanet import load
    from nablanet.cli import main

    model = str(tmp_path / "digits.nbn")
    assert main(["train", "--data", "digits", "--layers", "8", "--epochs", "2", "--quiet",
                 "--out", model]) == 0
    out = tmp_path / "explorer.html"
    assert main(["explore", model, "--data", "digits", "--rows", "7", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    assert remote_loads(tmp_path) == []
    page = _model_json(out.read_text(encoding="utf-8"))
    assert len(page["samples"]["X"]) == 7
    assert page["layer_sizes"] == [64, 8, 10]
    trained = load(tmp_path / "digits.nbn")
    np.testing.assert_array_equal(np.array(page["W"][0]), trained.net_.W[0])
    assert page["image_shape"] == [8, 8]
    assert page["curves"]["loss"] == trained.loss_curve_ and len(trained.loss_curve_) == 2


def test_the_explore_command_needs_out(capsys):
    from nablanet.cli import main

    assert main(["explore", "model.nbn", "--data", "iris"]) == 2
    assert "--out" in capsys.readouterr().err


def test_a_784_100_10_page_with_50_samples_stays_under_3_mb():
    size = len(explore(*_large_network(), rows=50).html.encode("utf-8"))
    print(f"\n784-100-10 with 50 samples: the page is {size / 1e6:.2f} MB")
    assert size < 3_000_000
