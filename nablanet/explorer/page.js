// The explorer's page: draws the network for the chosen sample from window.nablanet
// (engine.js) and explains, with the numbers, what BP1–BP4 say about each weight.
"use strict";

const MODEL = JSON.parse(document.getElementById("nablanet-model").textContent);
const net = makeEngine(MODEL);
window.nablanet = net;

const SVG = "http://www.w3.org/2000/svg";
const COLUMN_ROWS = 32;  // a layer with more units is drawn as a heat-map strip
const STARVED = 0.01;  // diagnostics.STARVED_INPUT: |a| below 1% of the layer's mean
const state = {k: 0, qty: "a", unit: null, weight: null, nudged: new Map()};
const fmt = (v) => (v === 0 ? "0" : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toFixed(4) : v.toExponential(3));
const el = (id) => document.getElementById(id);

function isSaturated(l, a, fp) {
  // diagnostics._saturated: f'(z) below 10% of its maximum, for units that can saturate.
  return MODEL.saturating[l] && fp < MODEL.saturation_threshold * MODEL.max_derivative[l];
}

function deadUnits() {
  // A unit that can die (relu) is dead when z <= 0 on every sample the page holds.
  const dead = MODEL.activations.map((name, l) => new Array(MODEL.layer_sizes[l + 1]).fill(MODEL.can_die[l]));
  if (!MODEL.can_die.some(Boolean)) return dead;
  for (let k = 0; k < net.samples.X.length; k++) {
    const {z} = net.forward(k);
    z.forEach((zl, l) => zl.forEach((v, i) => { if (v > 0) dead[l][i] = false; }));
  }
  return dead;
}

function colour(v, scale) {
  // Diverging: red for positive, blue for negative, white for 0.
  const t = scale > 0 ? Math.max(-1, Math.min(1, v / scale)) : 0;
  const c = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255,${c},${c})` : `rgb(${c},${c},255)`;
}

function node(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [key, v] of Object.entries(attrs)) e.setAttribute(key, v);
  if (parent) parent.appendChild(e);
  return e;
}

function layout() {
  // Each layer a column: circles up to COLUMN_ROWS units, else a strip of cells
  // (a square input, an image, as a square).
  const sizes = MODEL.layer_sizes, cols = [];
  let x = 20;
  sizes.forEach((n, l) => {
    const side = Math.round(Math.sqrt(n));
    let rows, cell;
    if (n <= COLUMN_ROWS) { rows = n; cell = Math.min(26, Math.floor(480 / n)); } else if (l === 0 && side * side === n) { rows = side; cell = Math.max(4, Math.min(18, Math.floor(400 / side))); } else { rows = Math.min(n, 40); cell = 10; }
    const ncol = Math.ceil(n / rows);
    cols.push({x, rows, cell, circles: n <= COLUMN_ROWS});
    x += Math.max(ncol * cell, 60) + 120;
  });
  return {cols, width: x, height: 40 + Math.max(...cols.map((c) => c.rows * c.cell))};
}

function position(col, i) {
  return {x: col.x + Math.floor(i / col.rows) * col.cell + col.cell / 2, y: 30 + (i % col.rows) * col.cell + col.cell / 2};
}

function render() {
  const tr = net.trace(state.k);
  // The input is always drawn as x (it has no z and no δ).
  const values = state.qty === "a" ? tr.a : state.qty === "z" ? [tr.a[0], ...tr.z] : [tr.a[0], ...tr.delta];
  const svg = el("net");
  svg.innerHTML = "";
  const {cols, width, height} = layout();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  // Edges between two small layers, thickness by |W|, clickable.
  for (let l = 0; l + 1 < cols.length; l++) {
    if (!(cols[l].circles && cols[l + 1].circles)) continue;
    const n = MODEL.layer_sizes[l], m = MODEL.layer_sizes[l + 1];
    let wmax = 0;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) wmax = Math.max(wmax, Math.abs(net.getWeight(l, i, j)));
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      const w = net.getWeight(l, i, j), p = position(cols[l], j), q = position(cols[l + 1], i);
      const chosen = state.weight && state.weight.l === l && state.weight.i === i && state.weight.j === j;
      const e = node("line", {x1: p.x, y1: p.y, x2: q.x, y2: q.y, class: "edge",
        stroke: chosen ? "#000" : w >= 0 ? "#d55" : "#55d", "stroke-opacity": chosen ? 1 : 0.35,
        "stroke-width": chosen ? 3 : 0.3 + 2.5 * Math.abs(w) / (wmax || 1)}, svg);
      e.addEventListener("click", () => { state.unit = {l: l + 1, i}; state.weight = {l, i, j}; render(); });
    }
  }
  cols.forEach((col, l) => {
    node("text", {x: col.x, y: 16, "font-size": 11}, svg).textContent =
      l === 0 ? `input (${MODEL.layer_sizes[0]})` : `${l === cols.length - 1 ? "output" : "hidden " + l}: ${MODEL.activations[l - 1]} (${MODEL.layer_sizes[l]})`;
    const v = values[l];
    const scale = Math.max(...v.map(Math.abs));
    const fp = l > 0 ? net.fprime(MODEL.activations[l - 1], tr.a[l]) : null;
    v.forEach((val, i) => {
      const p = position(col, i), r = col.cell / 2 - 1;
      const chosen = state.unit && state.unit.l === l && state.unit.i === i;
      const attrs = {fill: colour(val, scale), class: "unit" + (chosen ? " chosen" : ""), stroke: "#999", "stroke-width": 0.5};
      const shape = col.circles ? node("circle", {cx: p.x, cy: p.y, r, ...attrs}, svg)
        : node("rect", {x: p.x - col.cell / 2, y: p.y - col.cell / 2, width: col.cell, height: col.cell, ...attrs}, svg);
      node("title", {}, shape).textContent = `${l === 0 ? "x" : state.qty} = ${fmt(val)}`;
      // At the output of a canonical pair (softmax with cross-entropy ...) f' cancels in
      // BP1 (δ = a − y), so saturation there slows nothing and is not marked.
      const flat = l > 0 && !(l === cols.length - 1 && MODEL.canonical);
      if (flat && isSaturated(l - 1, tr.a[l][i], fp[i])) {
        shape.setAttribute("stroke", "#e67e00"); shape.setAttribute("stroke-width", col.circles ? 3 : 1.5);
      }
      if (l > 0 && state.dead[l - 1][i]) {
        node("path", {d: `M${p.x - r},${p.y - r}L${p.x + r},${p.y + r}M${p.x - r},${p.y + r}L${p.x + r},${p.y - r}`, stroke: "#777", "stroke-width": 1.5}, svg);
      }
      shape.addEventListener("click", () => { state.unit = {l, i}; state.weight = null; render(); });
    });
  });
  const out = tr.a[tr.a.length - 1], y = net.samples.Y[state.k];
  const argmax = (v) => v.indexOf(Math.max(...v));
  el("cost").textContent = `C = ${fmt(net.cost(state.k))}` + (out.length > 1
    ? `   predicted class ${argmax(out)}, target ${argmax(y)}` : `   output ${fmt(out[0])}, target ${fmt(y[0])}`);
  renderPanel(tr);
}

function unitWords(l, i, tr) {
  // The words of nablanet.diagnostics for a saturated or dead unit.
  const act = MODEL.activations[l - 1], output = l === MODEL.layer_sizes.length - 1;
  const fp = net.fprime(act, tr.a[l])[i], words = [];
  if (state.dead[l - 1][i]) {
    words.push("Dead (z <= 0 on every example): f'(z) = 0, so it passes no error back and never learns.");
  } else if (MODEL.can_die[l - 1] && fp === 0) {
    words.push("Off on this sample (z <= 0): f'(z) = 0, so no error passes back through it here and the weights into it do not move on this sample (BP2, BP4).");
  } else if (isSaturated(l - 1, tr.a[l][i], fp)) {
    if (!output) {
      words.push(`Saturated (f'(z) near 0: ${fmt(fp)}). Its δ = (Wᵀδ) ⊙ f'(z) is tiny (BP2), so the weights into it learn slowly (BP4: ∂C/∂w = a_in δ_out). A cross-entropy cost does not help here: it removes f'(z) at the output only.`);
    } else if (!MODEL.canonical) {
      words.push(`Saturated (f'(z) near 0: ${fmt(fp)}). Its δ = ∂C/∂a ⊙ f'(z) is tiny exactly where the error may be large (BP1), so a saturated and wrong output learns slowly; cross-entropy removes the f'(z) factor at the output.`);
    } else {
      words.push(`Saturated (f'(z) = ${fmt(fp)}), but with ${MODEL.loss} the f'(z) factor cancels at the output (BP1: δ = a − y), so it still learns.`);
    }
  }
  return words;
}

function renderPanel(tr) {
  const panel = el("panel");
  if (!state.unit) { panel.innerHTML = "<p>Pick a unit.</p>"; return; }
  const {l, i} = state.unit;
  let h = `<h3>${l === 0 ? "input" : "layer " + (l + 1) + " (math.md numbering)"}, unit ${i}</h3>`;
  if (l === 0) {
    h += `<p class="num">a = x = ${fmt(tr.a[0][i])}</p>`;
    panel.innerHTML = h;
    return;
  }
  const act = MODEL.activations[l - 1];
  const fp = net.fprime(act, tr.a[l])[i];
  h += `<p class="num">z = ${fmt(tr.z[l - 1][i])}<br>a = ${act}(z) = ${fmt(tr.a[l][i])}<br>` +
    `f′(z) = ${act === "softmax" ? "a(1 − a), the Jacobian's diagonal, " : ""}${fmt(fp)}<br>δ = ∂C/∂z = ${fmt(tr.delta[l - 1][i])} ` +
    `(${l === MODEL.layer_sizes.length - 1 ? "BP1" : "BP2: (Wᵀδ) ⊙ f′(z)"})</p>`;
  for (const w of unitWords(l, i, tr)) h += `<p class="why">${w}</p>`;
  // The weights into the unit, largest |∂C/∂w| first (BP4).
  const wl = l - 1, nIn = MODEL.layer_sizes[wl], d = tr.delta[wl][i];
  const rows = [];
  for (let j = 0; j < nIn; j++) rows.push({j, w: net.getWeight(wl, i, j), a: tr.a[wl][j], g: tr.a[wl][j] * d + MODEL.weight_decay * net.getWeight(wl, i, j)});
  rows.sort((p, q) => Math.abs(q.g) - Math.abs(p.g));
  if (state.weight) h += weightPanel(tr);  // first: the table below can be long
  const meanA = tr.a[wl].reduce((s, v) => s + Math.abs(v), 0) / nIn;
  h += `<p>Weights into this unit, W[${wl}][${i}, j] (largest |∂C/∂w| first; click one; ` +
    `<span class="slow">low a_j</span>: the input activation is near 0, so the weight learns slowly, BP4):</p>` +
    "<table><tr><th>j</th><th>W</th><th>a_j</th><th>a_j·δ</th></tr>";
  for (const r of rows.slice(0, 40)) {
    const chosen = state.weight && state.weight.j === r.j;
    const low = Math.abs(r.a) < STARVED * meanA ? ' class="slow"' : "";
    h += `<tr class="pick${chosen ? " chosen" : ""}" data-j="${r.j}"><td>${r.j}</td><td>${fmt(r.w)}</td><td${low}>${fmt(r.a)}</td><td>${fmt(r.a * d)}</td></tr>`;
  }
  if (rows.length > 40) h += `<tr><td colspan="4">… and ${rows.length - 40} more with smaller |∂C/∂w|</td></tr>`;
  h += "</table>";
  panel.innerHTML = h;
  panel.querySelectorAll("tr.pick").forEach((row) => row.addEventListener("click", () => {
    state.weight = {l: wl, i, j: Number(row.dataset.j)}; render();
  }));
  const nudge = el("nudge");
  if (nudge) nudge.addEventListener("click", doNudge);
  const undo = el("undo");
  if (undo) undo.addEventListener("click", undoNudges);
}

function weightPanel(tr) {
  const {l, i, j} = state.weight;
  const w = net.getWeight(l, i, j), ak = tr.a[l][j], dj = tr.delta[l][i];
  const lam = MODEL.weight_decay;
  let h = `<h3>W[${l}][${i}, ${j}] = ${fmt(w)}</h3><p class="num">BP4: ∂C/∂w = a_j δ_i${lam ? " + λw" : ""}<br>` +
    `= ${fmt(ak)} × ${fmt(dj)}${lam ? ` + ${lam} × ${fmt(w)}` : ""}<br>= ${fmt(ak * dj + lam * w)}</p>`;
  // The source's two reasons for slow learning, in diagnose's words.
  const meanA = tr.a[l].reduce((s, v) => s + Math.abs(v), 0) / tr.a[l].length;
  if (Math.abs(ak) < STARVED * meanA) {
    h += `<p class="why">Low input activation: a_j = ${fmt(ak)} is near 0 (below 1% of the layer's mean |a| ${fmt(meanA)}), so by BP4, ∂C/∂w = a_in δ_out, this weight learns slowly.</p>`;
  }
  for (const words of unitWords(l + 1, i, tr)) h += `<p class="why">The unit it feeds: ${words}</p>`;
  h += `<p>Nudge it: ε <input id="eps" value="${state.eps || "0.001"}" size="8"> <button id="nudge">w ← w + ε</button> <button id="undo">undo nudges</button></p>`;
  if (state.lastNudge) {
    const r = state.lastNudge;
    h += `<p class="num">ΔC = ${fmt(r.dC)}<br>ε·∂C/∂w = ${fmt(r.predicted)}<br>relative difference ${fmt(Math.abs(r.dC - r.predicted) / Math.max(Math.abs(r.dC), Math.abs(r.predicted), 1e-300))}</p>` +
      "<p>The gradient check made tangible (math.md §7): for a small ε the cost moves by ε times the gradient.</p>";
  }
  return h;
}

function doNudge() {
  const eps = Number(el("eps").value);
  if (!Number.isFinite(eps)) { alert("ε must be a number"); return; }
  state.eps = el("eps").value;
  const {l, i, j} = state.weight, key = `${l},${i},${j}`;
  // BP4 for this one weight (gradient(k) would build every layer's dW).
  const tr = net.trace(state.k), w = net.getWeight(l, i, j);
  const g = tr.a[l][j] * tr.delta[l][i] + MODEL.weight_decay * w, before = net.cost(state.k);
  if (!state.nudged.has(key)) state.nudged.set(key, w);
  net.setWeight(l, i, j, w + eps);
  state.lastNudge = {dC: net.cost(state.k) - before, predicted: eps * g};
  state.dead = deadUnits();
  render();
}

function undoNudges() {
  for (const [key, w] of state.nudged) { const [l, i, j] = key.split(",").map(Number); net.setWeight(l, i, j, w); }
  state.nudged.clear();
  state.lastNudge = null;
  state.dead = deadUnits();
  render();
}

function choose(k) {
  const n = net.samples.X.length;
  state.k = ((k % n) + n) % n;
  state.lastNudge = null;
  el("sample").value = String(state.k);
  render();
}

function start() {
  const select = el("sample");
  net.samples.X.forEach((_, k) => { const o = document.createElement("option"); o.value = String(k); o.textContent = String(k); select.appendChild(o); });
  select.addEventListener("change", () => choose(Number(select.value)));
  el("prev").addEventListener("click", () => choose(state.k - 1));
  el("next").addEventListener("click", () => choose(state.k + 1));
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT") return;
    if (e.key === "ArrowLeft") choose(state.k - 1);
    if (e.key === "ArrowRight") choose(state.k + 1);
  });
  document.querySelectorAll("input[name=qty]").forEach((r) => r.addEventListener("change", () => { state.qty = r.value; render(); }));
  state.dead = deadUnits();
  const L = MODEL.layer_sizes.length - 1;
  state.unit = {l: L, i: 0};
  render();
}

start();
