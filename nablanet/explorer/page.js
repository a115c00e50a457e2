// The explorer's page: draws the network for the chosen sample from window.nablanet
// (engine.js) and explains, with the numbers, what BP1–BP4 say about each weight.
"use strict";

const MODEL = JSON.parse(document.getElementById("nablanet-model").textContent);
const net = makeEngine(MODEL);
window.nablanet = net;

const SVG = "http://www.w3.org/2000/svg";
const COLUMN_ROWS = 32;  // a layer with more units is drawn as a heat-map strip
const STARVED = 0.01;  // diagnostics.STARVED_INPUT: |a| below 1% of the layer's mean
const EXPAND_K = 8;  // units an expanded strip shows as circles
const state = {inputKey: undefined, k: 0, qty: "a", unit: null, weight: null, nudged: new Map(), expanded: new Set(), rankBy: "delta"};
const fmt = (v) => (v === 0 ? "0" : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toFixed(4) : v.toExponential(3));
const el = (id) => document.getElementById(id);
const SPECS = MODEL.layers;
const MAP_GAP = 14;  // room between two feature maps for a map's label

function mapShape(l) {
  // (C, H, W) when the values into layer l (l = 0 the input) are feature maps, else null.
  if (l === 0) return MODEL.input_shape.length === 3 ? MODEL.input_shape : null;
  return SPECS[l - 1].kind === "Dense" ? null : SPECS[l - 1].output_shape;
}

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

const SPECIAL = /[&<>"]/;
const escapeText = (t) => (typeof t === "string" && SPECIAL.test(t)
  ? t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;") : t);

function node(tag, attrs, inner = "") {
  // One SVG element as markup: a drawing is built as text and set once (innerHTML), which
  // keeps a redraw of a 784-pixel input within a frame; clicks reach it through `onClick`.
  let h = `<${tag}`;
  for (const [key, v] of Object.entries(attrs)) h += ` ${key}="${escapeText(v)}"`;
  return `${h}>${inner}</${tag}>`;
}

function layout() {
  // Each layer a column: circles up to COLUMN_ROWS units, else a strip of cells; an
  // image input as its picture (pixels row by row), any other square input as a square.
  // An expanded strip gets a column of circles beside it: its units that matter most.
  const sizes = MODEL.layer_sizes, cols = [];
  let x = 20;
  sizes.forEach((n, l) => {
    const maps = mapShape(l);
    if (maps) {
      // Feature maps (math.md §8): one small image per channel, in columns of perColumn.
      const [C, H, Wd] = maps, cell = Math.max(4, Math.min(14, Math.floor(120 / Math.max(H, Wd))));
      const perColumn = Math.max(1, Math.min(C, Math.floor(560 / (H * cell + MAP_GAP)))), step = Wd * cell + 12;
      const width = Math.ceil(C / perColumn) * step;
      cols.push({x, maps, cell, perColumn, step, rows: 0, circles: false, image: false, expanded: false, height: perColumn * (H * cell + MAP_GAP)});
      x += Math.max(width, 60) + 110;
      return;
    }
    const side = Math.round(Math.sqrt(n)), image = l === 0 && MODEL.image_shape;
    let rows, cell;
    if (image) { rows = image[0]; cell = Math.max(3, Math.min(18, Math.floor(280 / Math.max(...image)))); } else if (n <= COLUMN_ROWS) { rows = n; cell = Math.min(26, Math.floor(480 / n)); } else if (l === 0 && side * side === n) { rows = side; cell = Math.max(4, Math.min(18, Math.floor(400 / side))); } else { rows = Math.min(n, 40); cell = 10; }
    const ncol = image ? image[1] : Math.ceil(n / rows);
    const circles = n <= COLUMN_ROWS && !image, expanded = !circles && state.expanded.has(l);
    cols.push({x, rows, cell, circles, image: Boolean(image), expanded, extra: ncol * cell + 36});
    x += Math.max(ncol * cell, 60) + (expanded ? 90 : 0) + 120;
  });
  const expandedRows = state.expanded.size ? EXPAND_K * 26 : 0;
  return {cols, width: x, height: 40 + Math.max(expandedRows, ...cols.map((c) => c.height || c.rows * c.cell))};
}

function mapOrigin(col, k) {
  // The top left corner of map k: maps fill a column of perColumn, then the next.
  const H = col.maps[1];
  return {x: col.x + Math.floor(k / col.perColumn) * col.step, y: 30 + (k % col.perColumn) * (H * col.cell + MAP_GAP)};
}

function position(col, i) {
  if (col.maps) {  // map k, row r, column c: entry (k·H + r)·W + c, channel first (§8)
    const [, H, Wd] = col.maps, k = Math.floor(i / (H * Wd)), r = Math.floor((i % (H * Wd)) / Wd), c = i % Wd;
    const o = mapOrigin(col, k);
    return {x: o.x + c * col.cell + col.cell / 2, y: o.y + r * col.cell + col.cell / 2};
  }
  // Circles and strips fill column by column; an image row by row (pixel i = (i / w, i % w)).
  const [r, c] = col.image ? [Math.floor(i / MODEL.image_shape[1]), i % MODEL.image_shape[1]]
    : [i % col.rows, Math.floor(i / col.rows)];
  return {x: col.x + c * col.cell + col.cell / 2, y: 30 + r * col.cell + col.cell / 2};
}

function mattering(l, tr) {
  // The EXPAND_K units of layer l (a strip) that matter most on this sample: largest |δ|,
  // or the most saturated (smallest f′(z) against its maximum), the strip's "expansion".
  const n = MODEL.layer_sizes[l], idx = Array.from({length: n}, (_, i) => i);
  if (state.rankBy === "saturation") {
    const fp = net.fprime(MODEL.activations[l - 1], tr.a[l]), top = MODEL.max_derivative[l - 1] || 1;
    idx.sort((p, q) => fp[p] / top - fp[q] / top || p - q);
  } else {
    const d = tr.delta[l - 1];
    idx.sort((p, q) => Math.abs(d[q]) - Math.abs(d[p]) || p - q);
  }
  return idx.slice(0, EXPAND_K);
}

function visibleCircles(cols, tr) {
  // Per layer, the units drawn as circles (all of a small layer, the chosen few of an
  // expanded strip) with their positions: the weights between two of them are drawn.
  return cols.map((col, l) => {
    if (col.circles) return Array.from({length: MODEL.layer_sizes[l]}, (_, i) => ({i, p: position(col, i)}));
    if (!col.expanded) return [];
    return mattering(l, tr).map((i, r) => ({i, p: {x: col.x + col.extra + 13, y: 30 + r * 26 + 13}, r: 11}));
  });
}

function drawUnit(l, i, p, r, val, scale, shapeKind, ctx) {
  const {tr, fp, last, cell} = ctx;
  const chosen = state.unit && state.unit.l === l && state.unit.i === i;
  const attrs = {fill: ctx.grey ? ctx.grey(val) : colour(val, scale), class: "unit" + (chosen ? " chosen" : ""), stroke: "#999", "stroke-width": 0.5, "data-l": l, "data-i": i};
  // At the output of a canonical pair (softmax with cross-entropy ...) f' cancels in
  // BP1 (δ = a − y), so saturation there slows nothing and is not marked.
  const flat = l > 0 && !(l === last && MODEL.canonical);
  if (flat && isSaturated(l - 1, tr.a[l][i], fp[i])) { attrs.stroke = "#e67e00"; attrs["stroke-width"] = shapeKind === "circle" ? 3 : 1.5; }
  const title = node("title", {}, escapeText(`${l === 0 ? "x" : state.qty}[${i}] = ${fmt(val)}`));
  let h = shapeKind === "circle" ? node("circle", {cx: p.x, cy: p.y, r, ...attrs}, title)
    : node("rect", {x: p.x - cell / 2, y: p.y - cell / 2, width: cell, height: cell, ...attrs}, title);
  if (l > 0 && state.dead[l - 1][i]) {
    h += node("path", {d: `M${p.x - r},${p.y - r}L${p.x + r},${p.y + r}M${p.x - r},${p.y + r}L${p.x + r},${p.y - r}`, stroke: "#777", "stroke-width": 1.5, "pointer-events": "none"});
  }
  return h;
}

function drawEdges(visible) {
  // Edges between two sets of circles, thickness by |W|, clickable.
  let h = "";
  for (let l = 0; l + 1 < visible.length; l++) {
    const from = visible[l], to = visible[l + 1];
    if (!from.length || !to.length) continue;
    let wmax = 0;
    for (const u of to) for (const v of from) wmax = Math.max(wmax, Math.abs(net.getWeight(l, u.i, v.i)));
    for (const u of to) for (const v of from) {
      const i = u.i, j = v.i, w = net.getWeight(l, i, j);
      const chosen = state.weight && state.weight.l === l && state.weight.i === i && state.weight.j === j;
      h += node("line", {x1: v.p.x, y1: v.p.y, x2: u.p.x, y2: u.p.y, class: "edge", "data-wl": l, "data-wi": i, "data-wj": j,
        stroke: chosen ? "#000" : w >= 0 ? "#d55" : "#55d", "stroke-opacity": chosen ? 1 : 0.35,
        "stroke-width": chosen ? 3 : 0.3 + 2.5 * Math.abs(w) / (wmax || 1)});
    }
  }
  return h;
}

function mapsTitle(l) {
  const shape = mapShape(l).join("×");
  if (l === 0) return `input maps: (${shape})`;
  const s = SPECS[l - 1];
  if (s.kind === "Conv2D") {
    return `conv ${s.kernel_size.join("×")}, stride ${s.stride[0] === s.stride[1] ? s.stride[0] : s.stride.join("×")}, ${s.padding}: ${MODEL.activations[l - 1]} (${shape})`;
  }
  return `${s.kind === "MaxPool2D" ? "max" : "mean"} pool ${s.size.join("×")}: (${shape})`;
}

function heading(col, l, last) {
  const n = MODEL.layer_sizes[l];
  if (col.maps) {  // two short lines: what the layer does, then its activation and shape
    const [what, shape] = mapsTitle(l).split(": ");
    return node("text", {x: col.x, y: shape ? 11 : 16, "font-size": 10}, escapeText(what)) +
      (shape ? node("text", {x: col.x, y: 23, "font-size": 10}, escapeText(shape)) : "");
  }
  let text = l === 0 ? (col.image ? `input image (${MODEL.image_shape.join("×")})` : `input (${n})`)
    : `${l === last ? "output" : "hidden " + l}: ${MODEL.activations[l - 1]} (${n})`;
  const strip = !col.circles && l > 0;
  if (strip) text += col.expanded ? " ▾ hide the top units" : ` ▸ show the top ${EXPAND_K}`;
  const attrs = {x: col.x, y: 16, "font-size": 11};
  if (strip) Object.assign(attrs, {class: "toggle", "data-toggle": l});
  return node("text", attrs, escapeText(text));
}

function onClick(e) {
  // One listener for the whole drawing: a unit, a weight (an edge) or a strip's heading.
  const t = e.target.closest("[data-l], [data-wl], [data-toggle]");
  if (!t) return;
  const d = t.dataset;
  if (d.toggle !== undefined) {
    const l = Number(d.toggle);
    if (state.expanded.has(l)) state.expanded.delete(l); else state.expanded.add(l);
  } else if (d.wl !== undefined) {
    const l = Number(d.wl), i = Number(d.wi), j = Number(d.wj);
    state.unit = {l: l + 1, i}; state.weight = {l, i, j};
  } else {
    const l = Number(d.l);
    state.unit = {l, i: Number(d.i)}; state.weight = null;
    if (t.tagName === "rect" && l > 0 && !mapShape(l)) state.expanded.add(l);  // a strip's cell opens the strip
  }
  render();
}

function greyScale(x) {
  // An image input in grey: the sample's smallest pixel white, its largest black.
  let lo = Infinity, hi = -Infinity;
  for (const v of x) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return (v) => { const c = Math.round(255 * (hi > lo ? 1 - (v - lo) / (hi - lo) : 1)); return `rgb(${c},${c},${c})`; };
}

function saturatedShare(l, k, tr) {
  // The share of map k's positions whose f'(z) is near 0 (math.md §8: a shared filter
  // learns while some of its positions do not saturate, so saturation is read per map).
  if (l === 0 || !MODEL.saturating[l - 1]) return 0;
  const [, H, Wd] = mapShape(l), n = H * Wd, fp = net.fprime(MODEL.activations[l - 1], tr.a[l].slice(k * n, (k + 1) * n));
  return fp.filter((d, i) => isSaturated(l - 1, tr.a[l][k * n + i], d)).length / n;
}

function drawMaps(col, l, v, tr, scale, grey) {
  // Each feature map as a small image: its cells coloured as the dense units are (grey
  // for an input image), a frame around it, orange when most of its positions saturate,
  // a grey cross when it is dead on every sample of the page.
  const [C, H, Wd] = col.maps, cell = col.cell;
  let h = "";
  for (let k = 0; k < C; k++) {
    const {x: left, y: top} = mapOrigin(col, k), share = saturatedShare(l, k, tr);
    const dead = l > 0 && state.dead[l - 1].slice(k * H * Wd, (k + 1) * H * Wd).every(Boolean);
    for (let i = k * H * Wd; i < (k + 1) * H * Wd; i++) {
      const p = position(col, i), chosen = state.unit && state.unit.l === l && state.unit.i === i;
      h += node("rect", {x: p.x - cell / 2, y: p.y - cell / 2, width: cell, height: cell, fill: grey ? grey(v[i]) : colour(v[i], scale),
        class: "unit" + (chosen ? " chosen" : ""), "data-l": l, "data-i": i});
    }
    const marked = share > 0.5;
    h += node("rect", {x: left - 1, y: top - 1, width: Wd * cell + 2, height: H * cell + 2, fill: "none", class: "map-frame" + (marked ? " saturated" : ""),
      stroke: marked ? "#e67e00" : "#999", "stroke-width": marked ? 2.5 : 0.7, "pointer-events": "none"});
    if (dead) h += node("path", {d: `M${left},${top}l${Wd * cell},${H * cell}m0,${-H * cell}l${-Wd * cell},${H * cell}`, stroke: "#777", "stroke-width": 1.5, "pointer-events": "none"});
    // Its index, and the share of its positions saturated where there are any.
    const label = `${k}` + (share > 0 ? ` ${Math.round(100 * share)}%` : "") + (dead ? " dead" : "");
    h += node("text", {x: left, y: top + H * cell + 10, "font-size": 9, fill: marked ? "#b35c00" : "#555"}, escapeText(label));
  }
  return h;
}

function drawLayer(col, l, v, tr, last, circles) {
  // Layer l's units as markup: a strip's cells, then the units drawn as circles.
  let scale = 0, h = "";
  for (const x of v) scale = Math.max(scale, Math.abs(x));
  if (col.maps) return drawMaps(col, l, v, tr, scale, l === 0 ? greyScale(v) : null);
  const ctx = {tr, last, cell: col.cell, fp: l > 0 ? net.fprime(MODEL.activations[l - 1], tr.a[l]) : null,
    grey: col.image ? greyScale(v) : null};
  if (!col.circles) {
    v.forEach((val, i) => { h += drawUnit(l, i, position(col, i), col.cell / 2 - 1, val, scale, "rect", ctx); });
  }
  for (const u of circles) {
    if (!col.circles) {  // an opened strip: a line from the unit's cell to its circle, and its index
      const c = position(col, u.i);
      h += node("line", {x1: c.x, y1: c.y, x2: u.p.x - u.r, y2: u.p.y, stroke: "#888", "stroke-dasharray": "2 2", "pointer-events": "none"});
    }
    h += drawUnit(l, u.i, u.p, u.r || col.cell / 2 - 1, v[u.i], scale, "circle", {...ctx, grey: null});
    if (!col.circles) h += node("text", {x: u.p.x, y: u.p.y + 3.5, "font-size": 9, "text-anchor": "middle", "pointer-events": "none"}, String(u.i));
  }
  if (col.expanded) {
    h += node("text", {x: col.x + col.extra, y: 30 + EXPAND_K * 26 + 10, "font-size": 10, fill: "#555"},
      state.rankBy === "saturation" ? "most saturated" : "largest |δ|");
  }
  return h;
}

function render() {
  const tr = net.trace(state.k);
  // The input is always drawn as x (it has no z and no δ).
  const values = state.qty === "a" ? tr.a : state.qty === "z" ? [tr.a[0], ...tr.z] : [tr.a[0], ...tr.delta];
  const svg = el("net"), drawing = el("drawing");
  const {cols, width, height} = layout();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const visible = visibleCircles(cols, tr), last = cols.length - 1;
  let h = drawEdges(visible);
  cols.forEach((col, l) => {
    const v = values[l];
    if (l === 0 && !col.circles) {
      // The input as a strip or an image: x does not change with a nudge or with what is
      // coloured, so its hundreds of cells are redrawn only for a new sample or choice.
      const key = `${state.k}|${state.unit && state.unit.l === 0 ? state.unit.i : -1}`;
      if (key !== state.inputKey) { el("layer0").innerHTML = heading(col, l, last) + drawLayer(col, l, v, tr, last, []); state.inputKey = key; }
      return;
    }
    h += heading(col, l, last) + drawLayer(col, l, v, tr, last, visible[l]);
  });
  if (cols[0].circles && state.inputKey !== null) { el("layer0").innerHTML = ""; state.inputKey = null; }
  drawing.innerHTML = h;
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
  const maps = mapShape(l);
  let where = `unit ${i}`;
  if (maps) { const [, H, Wd] = maps; where = `map ${Math.floor(i / (H * Wd))}, row ${Math.floor((i % (H * Wd)) / Wd)}, column ${i % Wd} (unit ${i})`; }
  let h = `<h3>${l === 0 ? "input" : "layer " + (l + 1) + " (math.md numbering)"}, ${where}</h3>`;
  if (l === 0) {
    h += `<p class="num">a = x = ${fmt(tr.a[0][i])}</p>`;
    panel.innerHTML = h;
    return;
  }
  const act = MODEL.activations[l - 1];
  const fp = net.fprime(act, tr.a[l])[i];
  h += `<p class="num">z = ${fmt(tr.z[l - 1][i])}<br>a = ${act}(z) = ${fmt(tr.a[l][i])}<br>` +
    `f′(z) = ${act === "softmax" ? "a(1 − a), the Jacobian's diagonal, " : ""}${fmt(fp)}<br>δ = ∂C/∂z = ${fmt(tr.delta[l - 1][i])} ` +
    `(${l === MODEL.layer_sizes.length - 1 ? "BP1" : SPECS[l].kind === "Dense" ? "BP2: (Wᵀδ) ⊙ f′(z)" : "BP2 through the " + SPECS[l].kind + " above it, math.md §8"})</p>`;
  for (const w of unitWords(l, i, tr)) h += `<p class="why">${w}</p>`;
  if (SPECS[l - 1].kind !== "Dense") { panel.innerHTML = h + mapPanel(l, i, tr); bindPanel(panel); return; }
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
  bindPanel(panel);
}

function bindPanel(panel) {
  panel.querySelectorAll(".filt").forEach((c) => c.addEventListener("click", () => {
    const d = c.dataset;
    state.weight = {l: state.unit.l - 1, conv: [d.f, d.k, d.u, d.v].map(Number)}; render();
  }));
  const nudge = el("nudge");
  if (nudge) nudge.addEventListener("click", doNudge);
  const undo = el("undo");
  if (undo) undo.addEventListener("click", undoNudges);
}

function mapPanel(l, i, tr) {
  // A feature map's unit: for a convolution its filter, drawn as images, and for a chosen
  // filter entry BP4's sum over positions (§8); for a pooling, where its δ goes.
  const s = SPECS[l - 1], [, Ho, Wo] = s.output_shape, f = Math.floor(i / (Ho * Wo));
  const share = saturatedShare(l, f, tr);
  let h = belowMaxPool(l, i, tr);
  h += share > 0 ? `<p class="why">${Math.round(100 * share)}% of map ${f}'s positions are saturated (f′(z) near 0) on this sample. The filter is shared: it learns from the positions that are not (math.md §8), and stops only where the whole map saturates on every sample.</p>` : "";
  if (s.kind !== "Conv2D") {
    return h + (s.kind === "MaxPool2D"
      ? "<p>Max pooling learns nothing. Its δ goes back whole to the largest input of its block; the others of the block get 0 (math.md §8), so only the winners learn from this sample.</p>"
      : `<p>Mean pooling learns nothing. Its δ is spread evenly back over its ${s.size.join("×")} block, δ/${s.size[0] * s.size[1]} on each input (math.md §8).</p>`);
  }
  const [C, kh, kw] = [s.input_shape[0], ...s.kernel_size], wl = l - 1;
  let wmax = 0;
  for (let k = 0; k < C; k++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) wmax = Math.max(wmax, Math.abs(net.getWeight(wl, f, k, u, v)));
  h += `<p>Filter ${f}, W[${wl}][${f}] (${C}×${kh}×${kw}), one image per input map (red positive, blue negative; click an entry), and its bias b = ${fmt(MODEL.b[wl][f])}:</p><p>`;
  const cell = Math.max(10, Math.min(28, Math.floor(160 / Math.max(kh, kw))));
  for (let k = 0; k < C; k++) {
    let g = "";
    for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const w = net.getWeight(wl, f, k, u, v), cw = state.weight && state.weight.conv;
      const chosen = cw && cw[0] === f && cw[1] === k && cw[2] === u && cw[3] === v;
      g += node("rect", {x: v * cell, y: u * cell, width: cell, height: cell, fill: colour(w, wmax), stroke: chosen ? "#000" : "#999", "stroke-width": chosen ? 2.5 : 0.5,
        class: "filt", "data-f": f, "data-k": k, "data-u": u, "data-v": v}, node("title", {}, `W[${f}, ${k}, ${u}, ${v}] = ${fmt(w)}`));
    }
    h += `<svg class="filter" width="${kw * cell + 2}" height="${kh * cell + 2}" viewBox="-1 -1 ${kw * cell + 2} ${kh * cell + 2}">${g}</svg> `;
  }
  h += "</p>";
  if (state.weight && state.weight.conv && state.weight.l === wl) h += convWeightPanel(tr);
  return h;
}

function belowMaxPool(l, i, tr) {
  // A unit under a max pooling gets an error only where it is its block's maximum (§8).
  const above = SPECS[l];
  if (!above || above.kind !== "MaxPool2D") return "";
  const [, H, Wd] = above.input_shape, [, Ho, Wo] = above.output_shape, [p, q] = above.size;
  const k = Math.floor(i / (H * Wd)), r = Math.floor((i % (H * Wd)) / Wd), c = i % Wd;
  if (Math.floor(r / p) >= Ho || Math.floor(c / q) >= Wo) {
    return "<p class=\"why\">Left out by the max pooling above (its row or column does not fill a block): it never receives an error (§8).</p>";
  }
  let at = -1;  // the block's first maximum in row-major order, as the engine and pool.py
  for (let u = 0; u < p; u++) for (let v = 0; v < q; v++) {
    const j = (k * H + Math.floor(r / p) * p + u) * Wd + Math.floor(c / q) * q + v;
    if (at < 0 || tr.a[l][j] > tr.a[l][at] || tr.a[l][j] !== tr.a[l][j]) at = j;
  }
  if (at === i) return `<p>The maximum of its ${p}×${q} block: the max pooling above passes it the block's whole error (§8).</p>`;
  return `<p class="why">Not the maximum of its ${p}×${q} block (that is row ${Math.floor((at % (H * Wd)) / Wd)}, column ${at % Wd}): the max pooling above passes it no error on this sample, δ = 0, as if it were dead; the weights into it learn nothing from it here (§8).</p>`;
}

function convTerms(l, f, k, u, v, tr) {
  // BP4 for a filter entry (§8): one term a_in[k, r·s + u, c·s + v] · δ[f, r, c] for
  // each output position whose input lies inside the map (the padding adds nothing).
  const s = SPECS[l], [, H, Wd] = s.input_shape, [, Ho, Wo] = s.output_shape, terms = [];
  for (let r = 0; r < Ho; r++) for (let c = 0; c < Wo; c++) {
    const hh = r * s.stride[0] + u - s.pad[0], ww = c * s.stride[1] + v - s.pad[1];
    if (hh < 0 || hh >= H || ww < 0 || ww >= Wd) continue;
    const a = tr.a[l][(k * H + hh) * Wd + ww], d = tr.delta[l][(f * Ho + r) * Wo + c];
    terms.push({r, c, a, d, t: a * d});
  }
  return terms;
}

function gradientOf(weight, tr) {
  // ∂C/∂w of the chosen weight by BP4: a_j δ_i (dense) or its sum over positions (conv), + λw.
  const {l} = weight, lam = MODEL.weight_decay;
  if (weight.conv) {
    const w = net.getWeight(l, ...weight.conv);
    return convTerms(l, ...weight.conv, tr).reduce((p, q) => p + q.t, 0) + lam * w;
  }
  return tr.a[l][weight.j] * tr.delta[l][weight.i] + lam * net.getWeight(l, weight.i, weight.j);
}

function nudgeControls() {
  let h = `<p>Nudge it: ε <input id="eps" value="${state.eps || "0.001"}" size="8"> <button id="nudge">w ← w + ε</button> <button id="undo">undo nudges</button></p>`;
  if (state.lastNudge) {
    const r = state.lastNudge;
    h += `<p class="num">ΔC = ${fmt(r.dC)}<br>ε·∂C/∂w = ${fmt(r.predicted)}<br>relative difference ${fmt(Math.abs(r.dC - r.predicted) / Math.max(Math.abs(r.dC), Math.abs(r.predicted), 1e-300))}</p>` +
      "<p>The gradient check made tangible (math.md §7): for a small ε the cost moves by ε times the gradient.</p>";
  }
  return h;
}

function convWeightPanel(tr) {
  // BP4 for a shared weight (§8): ∂C/∂W[f, k, u, v] = Σ_{r,c} a_in[k, r·s + u, c·s + v] · δ[f, r, c] (+ λW).
  const {l, conv} = state.weight, [f, k, u, v] = conv, w = net.getWeight(l, ...conv), lam = MODEL.weight_decay;
  const terms = convTerms(l, f, k, u, v, tr), total = terms.reduce((p, q) => p + q.t, 0);
  // the input row and column a filter entry reads at output (r, c): r·s + u − pad
  const s = SPECS[l], at = (x, st, off) => `${st === 1 ? x : st + "·" + x}${off > 0 ? " + " + off : off < 0 ? " − " + -off : ""}`;
  let h = `<h3>W[${l}][${f}, ${k}, ${u}, ${v}] = ${fmt(w)}</h3><p class="num">BP4 (math.md §8): ∂C/∂w = Σ_{r,c} a_in[${k}, ${at("r", s.stride[0], u - s.pad[0])}, ${at("c", s.stride[1], v - s.pad[1])}] · δ[${f}, r, c]${lam ? " + λw" : ""}<br>` +
    `= (sum of the ${terms.length} terms below) ${fmt(total)}${lam ? ` + ${lam} × ${fmt(w)}` : ""}<br>= ${fmt(total + lam * w)}</p>`;
  terms.sort((p, q) => Math.abs(q.t) - Math.abs(p.t));
  h += "<table><tr><th>(r, c)</th><th>a_in</th><th>δ</th><th>a_in·δ</th></tr>";
  for (const t of terms.slice(0, 12)) h += `<tr><td>(${t.r}, ${t.c})</td><td>${fmt(t.a)}</td><td>${fmt(t.d)}</td><td>${fmt(t.t)}</td></tr>`;
  if (terms.length > 12) h += `<tr><td colspan="4">… and ${terms.length - 12} smaller terms</td></tr>`;
  h += "</table><p>The filter is shared: this one weight sums a_in · δ over every position it visits, so a blank input at one position starves it only there.</p>";
  return h + nudgeControls();
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
  return h + nudgeControls();
}

function doNudge() {
  const eps = Number(el("eps").value);
  if (!Number.isFinite(eps)) { alert("ε must be a number"); return; }
  state.eps = el("eps").value;
  const {l} = state.weight, index = state.weight.conv || [state.weight.i, state.weight.j];
  const key = [l, ...index].join(",");
  // BP4 for this one weight (gradient(k) would build every layer's dW).
  const tr = net.trace(state.k), w = net.getWeight(l, ...index);
  const g = gradientOf(state.weight, tr), before = net.cost(state.k);
  if (!state.nudged.has(key)) state.nudged.set(key, w);
  net.setWeight(l, ...index, w + eps);
  state.lastNudge = {dC: net.cost(state.k) - before, predicted: eps * g};
  state.dead = deadUnits();
  render();
}

function undoNudges() {
  for (const [key, w] of state.nudged) { const [l, ...index] = key.split(",").map(Number); net.setWeight(l, ...index, w); }
  state.nudged.clear();
  state.lastNudge = null;
  state.dead = deadUnits();
  render();
}

function chart(x0, title, series, note) {
  // One small line chart at x0, as markup: each series {values, dash}; null leaves a gap.
  const w = 300, ht = 130, left = 48, top = 22;
  const all = series.flatMap((s) => s.values).filter((v) => v !== null);
  let lo = Math.min(...all), hi = Math.max(...all);
  if (hi === lo) { lo -= 0.5; hi += 0.5; }
  const n = Math.max(...series.map((s) => s.values.length));
  const X = (e) => x0 + left + (n > 1 ? e / (n - 1) : 0.5) * w, Y = (v) => top + (1 - (v - lo) / (hi - lo)) * ht;
  let h = node("text", {x: x0 + left, y: 14, "font-size": 12}, escapeText(title));
  h += node("rect", {x: x0 + left, y: top, width: w, height: ht, fill: "none", stroke: "#ccc"});
  h += node("text", {x: x0 + left - 4, y: top + 4, "font-size": 10, "text-anchor": "end"}, fmt(hi));
  h += node("text", {x: x0 + left - 4, y: top + ht, "font-size": 10, "text-anchor": "end"}, fmt(lo));
  h += node("text", {x: x0 + left + w / 2, y: top + ht + 16, "font-size": 10, "text-anchor": "middle"}, escapeText(`${note} (${n})`));
  for (const s of series) {
    let d = "", pen = "M";
    s.values.forEach((v, e) => { if (v === null) { pen = "M"; return; } d += `${pen}${X(e).toFixed(1)},${Y(v).toFixed(1)}`; pen = "L"; });
    h += node("path", {d, fill: "none", stroke: s.colour, "stroke-width": 1.5, "stroke-dasharray": s.dash ? "4 3" : "none", class: "curve"});
  }
  return h;
}

function drawCurves() {
  // The training record the model holds (an estimator's loss_curve_, validation_loss_curve_,
  // validation_scores_; a network's History): J per epoch, and the validation score.
  const c = MODEL.curves;
  if (!c) return;
  el("curves").hidden = false;
  const svg = el("curves-svg"), width = c.validation_scores.length ? 820 : 410;
  svg.setAttribute("width", width); svg.setAttribute("height", 180);
  svg.setAttribute("viewBox", `0 0 ${width} 180`);
  const series = [{values: c.loss, colour: "#0550ae"}];
  if (c.validation_loss.length) series.push({values: c.validation_loss, colour: "#0550ae", dash: true});
  let h = chart(0, "cost J per epoch (math.md §5)", series, "epochs or iterations");
  if (c.validation_scores.length) h += chart(410, c.score_name, [{values: c.validation_scores, colour: "#1a7f37"}], "epochs");
  svg.innerHTML = h;
  el("curves-note").textContent = `Solid: J on the training data, ${fmt(c.loss[0])} at the start, ${fmt(c.loss[c.loss.length - 1])} at the end` +
    (c.validation_loss.length ? "; dashed: the same cost on the validation part." : ".");
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
  document.querySelectorAll("input[name=rank]").forEach((r) => r.addEventListener("change", () => { state.rankBy = r.value; render(); }));
  el("net").addEventListener("click", onClick);
  el("rank-by").hidden = MODEL.layer_sizes.slice(1).every((n) => n <= COLUMN_ROWS);
  drawCurves();
  state.dead = deadUnits();
  const L = MODEL.layer_sizes.length - 1;
  state.unit = {l: L, i: 0};
  render();
}

start();
