// nablanet's forward and backward passes for one sample, in JavaScript, written from
// docs/math.md (§1 activations, §3 forward, §4 cost, §6 BP1–BP4, §8 convolution and
// pooling). It mirrors
// nablanet/activations.py and nablanet/losses.py exactly: every derivative is written
// from a = f(z), losses are computed from z, and softmax uses its full Jacobian.
//
// Indexing is nablanet's (Network.trace, math.md "Notation"): entry l of z, delta, W, b,
// dW, db belongs to weight layer l (0 = the first); a starts with the input, a[l+1] = f(z[l]).
// W[l] is stored flat in C order: a dense layer's shape (units out, units in), W[l][i*nIn + j]
// = net.W[l][i, j]; a convolution's (F, C, kh, kw), as net.W[l]; a pooling's is empty.
"use strict";

function makeEngine(model) {
  const LEAKY = model.leaky_slope;

  // §1: each f beside its f' written from the output a (activations.py).
  const ACTIVATIONS = {
    sigmoid: {f: (z) => 1 / (1 + Math.exp(-z)), d: (a) => a * (1 - a)},  // exp(710) = inf -> exact 0
    tanh: {f: Math.tanh, d: (a) => 1 - a * a},
    relu: {f: (z) => Math.max(z, 0), d: (a) => (a > 0 ? 1 : 0)},
    leaky_relu: {f: (z) => Math.max(z, LEAKY * z), d: (a) => (a > 0 ? 1 : LEAKY)},
    identity: {f: (z) => z, d: () => 1},
    exp: {f: Math.exp, d: (a) => a},
    softmax: null,  // a layer, not a unit: see softmax() and jacobianVector()
  };

  function softmax(z) {
    // §1 numerics: subtract the maximum before exponentiating.
    let max = -Infinity;
    for (const v of z) max = Math.max(max, v);
    const a = z.map((v) => Math.exp(v - max));
    const s = a.reduce((x, y) => x + y, 0);
    return a.map((v) => v / s);
  }

  function activate(name, z) {
    return name === "softmax" ? softmax(z) : z.map(ACTIVATIONS[name].f);
  }

  function fprime(name, a) {
    // f'(z) from a; for softmax the diagonal a(1 − a) of its Jacobian, which says how
    // flat each unit is (diagnostics._saturated) but is never used to backpropagate.
    return name === "softmax" ? a.map((v) => v * (1 - v)) : a.map(ACTIVATIONS[name].d);
  }

  function jacobianVector(name, a, g) {
    // δ = ∂C/∂z from g = ∂C/∂a (activations.jacobian_vector). §1, "the softmax trap":
    // softmax needs the whole Jacobian, δ = a ⊙ (g − gᵀa).
    if (name === "softmax") {
      let ga = 0;
      for (let k = 0; k < a.length; k++) ga += g[k] * a[k];
      return a.map((v, k) => v * (g[k] - ga));
    }
    const d = ACTIVATIONS[name].d;
    return a.map((v, k) => g[k] * d(v));
  }

  function logSumExp(z) {
    let max = -Infinity;
    for (const v of z) max = Math.max(max, v);
    let s = 0;
    for (const v of z) s += Math.exp(v - max);
    return Math.log(s) + max;
  }

  const logAddExp0 = (z) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
  const xlogy = (x, y) => (x === 0 ? 0 : x * Math.log(y));
  const sum = (v) => v.reduce((x, y) => x + y, 0);

  // §4: C per example, computed from z where that avoids log(0) (losses.py).
  const LOSSES = {
    squared_error: {
      C: (z, a, y) => 0.5 * sum(a.map((v, k) => (v - y[k]) ** 2)),
      gradient: (a, y) => a.map((v, k) => v - y[k]),  // ∂C/∂a
      canonicalDelta: (a, y) => a.map((v, k) => v - y[k]),  // after identity
    },
    cross_entropy: {
      C: (z, a, y) => logSumExp(z) * sum(y) - sum(z.map((v, k) => y[k] * v)),
      gradient: null,
      // a_k Σ_j y_j − y_k: a − y when y sums to 1, exact when it does not.
      canonicalDelta: (a, y) => { const s = sum(y); return a.map((v, k) => v * s - y[k]); },
    },
    binary_cross_entropy: {
      C: (z, a, y) => sum(z.map((v, k) => logAddExp0(v) - y[k] * v)),
      gradient: null,
      canonicalDelta: (a, y) => a.map((v, k) => v - y[k]),
    },
    poisson: {
      C: (z, a, y) => sum(z.map((v, k) => xlogy(y[k], y[k]) - y[k] * v - y[k] + a[k])),
      gradient: null,
      canonicalDelta: (a, y) => a.map((v, k) => v - y[k]),
    },
  };

  const sizes = model.layer_sizes;
  const acts = model.activations;
  const loss = LOSSES[model.loss];
  const lambda = model.weight_decay;
  const specs = model.layers;
  // W[l] flat in C order, as net.W[l].ravel(): a dense layer's (units out, units in), a
  // convolution's (F, C, kh, kw), a pooling's empty; shapes[l] is that shape.
  const W = model.W.map((w) => Float64Array.from(w.flat(Infinity)));
  const b = model.b.map((v) => Float64Array.from(v));
  const shapes = specs.map((s, l) => (s.kind === "Dense" ? [sizes[l + 1], sizes[l]]
    : s.kind === "Conv2D" ? [s.output_shape[0], s.input_shape[0], ...s.kernel_size] : [0]));
  const samples = model.samples;

  function checkSample(k) {
    if (!Number.isInteger(k) || k < 0 || k >= samples.X.length) {
      throw new RangeError(`sample k must be an integer from 0 to ${samples.X.length - 1}, got ${k}`);
    }
  }

  // --- one layer's z from its input, and ∂J/∂a_in from its δ: §3 dense, §8 conv and pool.
  // Feature maps are flat arrays in nablanet's order, channel first, then row, then column
  // (math.md §8): entry (k, h, w) of a (C, H, W) map is at (k·H + h)·W + w.

  function denseZ(l, aIn) {
    // §3: z = W a_in + b.
    const nIn = aIn.length, nOut = sizes[l + 1], Wl = W[l], z = new Array(nOut);
    for (let i = 0; i < nOut; i++) {
      let s = b[l][i];
      for (let j = 0; j < nIn; j++) s += Wl[i * nIn + j] * aIn[j];
      z[i] = s;
    }
    return z;
  }

  function denseBack(l, delta) {
    // BP2's first factor: Wᵀ δ.
    const nIn = sizes[l], nOut = sizes[l + 1], Wl = W[l], g = new Array(nIn).fill(0);
    for (let i = 0; i < nOut; i++) {
      const di = delta[i];
      if (di === 0) continue;
      for (let j = 0; j < nIn; j++) g[j] += Wl[i * nIn + j] * di;
    }
    return g;
  }

  function convGeometry(l) {
    const s = specs[l], [C, H, Wd] = s.input_shape, [F, Ho, Wo] = s.output_shape;
    const [kh, kw] = s.kernel_size, [sh, sw] = s.stride, [pt, pl] = s.pad;
    return {C, H, Wd, F, Ho, Wo, kh, kw, sh, sw, pt, pl};
  }

  function convEach(l, visit) {
    // Every (output position, filter entry) pair whose input lies inside the map, the
    // zero padding left out (it adds nothing forward and receives nothing backward):
    // visit(output index, weight index, input index).
    const {C, H, Wd, F, Ho, Wo, kh, kw, sh, sw, pt, pl} = convGeometry(l);
    for (let f = 0; f < F; f++) for (let r = 0; r < Ho; r++) for (let c = 0; c < Wo; c++) {
      const o = (f * Ho + r) * Wo + c;
      for (let k = 0; k < C; k++) for (let u = 0; u < kh; u++) {
        const h = r * sh + u - pt;
        if (h < 0 || h >= H) continue;
        for (let v = 0; v < kw; v++) {
          const w = c * sw + v - pl;
          if (w >= 0 && w < Wd) visit(o, ((f * C + k) * kh + u) * kw + v, (k * H + h) * Wd + w);
        }
      }
    }
  }

  function convZ(l, aIn) {
    // §8 forward: z[f, r, c] = Σ_{k,u,v} W[f, k, u, v] · x[k, r·s + u, c·s + v] + b_f, a
    // cross-correlation (the filter is not flipped), x zero-padded for "same".
    const {Ho, Wo} = convGeometry(l), Wl = W[l], z = new Array(sizes[l + 1]);
    for (let o = 0; o < z.length; o++) z[o] = b[l][Math.floor(o / (Ho * Wo))];
    convEach(l, (o, wi, xi) => { z[o] += Wl[wi] * aIn[xi]; });
    return z;
  }

  function convBack(l, delta) {
    // §8, δ through a convolution: ∂J/∂x[k, h, w] = Σ Δ[f, r, c] · W[f, k, u, v] over the
    // positions whose patch covers (h, w), through the filter entry lying over it.
    const Wl = W[l], g = new Array(sizes[l]).fill(0);
    convEach(l, (o, wi, xi) => { g[xi] += delta[o] * Wl[wi]; });
    return g;
  }

  function convGradient(l, aIn, delta) {
    // §8, BP3: ∂J/∂b_f = Σ_{r,c} Δ[f, r, c]; BP4: ∂J/∂W[f, k, u, v] = Σ_{r,c} Δ[f, r, c] ·
    // x[k, r·s + u, c·s + v] + λ W, the sum over every position the filter entry visits.
    const {F, Ho, Wo} = convGeometry(l), Wl = W[l];
    const dW = Array.from(Wl, (w) => lambda * w), db = new Array(F).fill(0);
    convEach(l, (o, wi, xi) => { dW[wi] += delta[o] * aIn[xi]; });
    for (let o = 0; o < delta.length; o++) db[Math.floor(o / (Ho * Wo))] += delta[o];
    return {dW, db};
  }

  function poolEach(l, aIn, visit) {
    // Each output (k, r, c) with its p×q block (stride p×q; rows or columns that do not
    // fill a block are left out, §8): visit(output index, the block's input indices in
    // row-major order).
    const s = specs[l], [C, H, Wd] = s.input_shape, [, Ho, Wo] = s.output_shape, [p, q] = s.size;
    for (let k = 0; k < C; k++) for (let r = 0; r < Ho; r++) for (let c = 0; c < Wo; c++) {
      const block = [];
      for (let u = 0; u < p; u++) for (let v = 0; v < q; v++) block.push((k * H + r * p + u) * Wd + c * q + v);
      visit((k * Ho + r) * Wo + c, block);
    }
  }

  function maxAt(aIn, block) {
    // The block's maximum: the first in row-major order wins a tie (strictly greater),
    // and a NaN always wins, as pool.py's max_pool (§8).
    let at = block[0];
    for (const i of block) if (aIn[i] > aIn[at] || aIn[i] !== aIn[i]) at = i;
    return at;
  }

  function poolZ(l, aIn) {
    // §8: the mean of each block (MeanPool2D) or its maximum (MaxPool2D); a = z.
    const z = new Array(sizes[l + 1]), mean = specs[l].kind === "MeanPool2D";
    poolEach(l, aIn, (o, block) => {
      if (!mean) { z[o] = aIn[maxAt(aIn, block)]; return; }
      let s = 0;
      for (const i of block) s += aIn[i];
      z[o] = s / block.length;
    });
    return z;
  }

  function poolBack(l, delta, aIn) {
    // §8: mean pooling spreads Δ evenly, Δ/(pq) on each input of the block; max pooling
    // routes it whole to the block's maximum, 0 to the others.
    const g = new Array(sizes[l]).fill(0), mean = specs[l].kind === "MeanPool2D";
    poolEach(l, aIn, (o, block) => {
      if (mean) for (const i of block) g[i] = delta[o] / block.length;
      else g[maxAt(aIn, block)] = delta[o];
    });
    return g;
  }

  function layerZ(l, aIn) {
    const kind = specs[l].kind;
    return kind === "Dense" ? denseZ(l, aIn) : kind === "Conv2D" ? convZ(l, aIn) : poolZ(l, aIn);
  }

  function layerBack(l, delta, aIn) {
    // ∂J/∂a_in of layer l from its δ.
    const kind = specs[l].kind;
    return kind === "Dense" ? denseBack(l, delta) : kind === "Conv2D" ? convBack(l, delta) : poolBack(l, delta, aIn);
  }

  function forward(x) {
    // §3: z(l+1) = W(l) a(l) + b(l), a(l+1) = f(z(l+1)); §8 for feature maps.
    const z = [], a = [Array.from(x)];
    for (let l = 0; l < W.length; l++) {
      const zl = layerZ(l, a[l]);
      z.push(zl);
      a.push(activate(acts[l], zl));
    }
    return {z, a};
  }

  function decay() {
    // §4: (λ/2) Σ W², the weights only (dense and filters, §8), never the biases.
    if (!lambda) return 0;
    let s = 0;
    for (const Wl of W) for (const v of Wl) s += v * v;
    return 0.5 * lambda * s;
  }

  function outputDelta(aOut, y) {
    // BP1 (§6): δ = a − y for the pairs whose Jacobian cancels (losses.py), else
    // ∂C/∂a backpropagated through the output activation.
    const out = acts[acts.length - 1];
    if (model.canonical) return loss.canonicalDelta(aOut, y);
    return jacobianVector(out, aOut, loss.gradient(aOut, y));
  }

  function forwardSample(k) {
    checkSample(k);
    return forward(samples.X[k]);
  }

  function trace(k) {
    // One sample's z, a and δ: with m = 1, w_i = 1 and δ = Δ (§6, "One convention").
    // Every array flat, in nablanet's order (feature maps channel first, §8).
    checkSample(k);
    const {z, a} = forward(samples.X[k]);
    const L = W.length;
    const delta = new Array(L);
    delta[L - 1] = outputDelta(a[L], samples.Y[k]);
    for (let l = L - 1; l > 0; l--) {
      // BP2: δ(l) = (∂J/∂a(l)) ⊙ f'(z(l)), ∂J/∂a(l) = W(l)ᵀ δ(l+1) for a dense layer and
      // its §8 counterparts for a convolution or a pooling (whose f' is 1, the identity).
      const g = layerBack(l, delta[l], a[l]), d = fprime(acts[l - 1], a[l]);
      delta[l - 1] = g.map((v, j) => v * d[j]);
    }
    return {z, a, delta};
  }

  function cost(k) {
    // §4: J on the one sample, C(h(x_k), y_k) + (λ/2) Σ W², as Network.cost(X[k:k+1], Y[k:k+1]).
    checkSample(k);
    const {z, a} = forward(samples.X[k]);
    return loss.C(z[z.length - 1], a[a.length - 1], samples.Y[k]) + decay();
  }

  function nest(flat, shape) {
    // A flat C-ordered array as nested arrays of `shape` (as numpy's tolist()).
    if (shape.length === 1) return Array.from(flat);
    const step = flat.length / shape[0], out = [];
    for (let i = 0; i < shape[0]; i++) out.push(nest(flat.slice(i * step, (i + 1) * step), shape.slice(1)));
    return out;
  }

  function gradient(k) {
    // BP3: ∂J/∂b(l) = δ(l+1); BP4: ∂J/∂W(l)_ij = δ(l+1)_i a(l)_j + λ W(l)_ij; a
    // convolution's are sums over positions (§8), a pooling's are empty.
    const {a, delta} = trace(k);
    const dW = [], db = [];
    for (let l = 0; l < W.length; l++) {
      const kind = specs[l].kind;
      if (kind === "Conv2D") {
        const g = convGradient(l, a[l], delta[l]);
        dW.push(nest(g.dW, shapes[l]));
        db.push(g.db);
        continue;
      }
      if (kind !== "Dense") { dW.push([]); db.push([]); continue; }
      const nIn = sizes[l], nOut = sizes[l + 1], aIn = a[l], Wl = W[l], rows = new Array(nOut);
      for (let i = 0; i < nOut; i++) {
        const di = delta[l][i], row = new Array(nIn);
        for (let j = 0; j < nIn; j++) row[j] = di * aIn[j] + lambda * Wl[i * nIn + j];
        rows[i] = row;
      }
      dW.push(rows);
      db.push(Array.from(delta[l]));
    }
    return {dW, db};
  }

  function weightIndex(l, index) {
    // The flat position of W[l][index...]: (i, j) for a dense layer, (f, c, u, v) for a
    // convolution; a pooling has no weights.
    if (!(Number.isInteger(l) && l >= 0 && l < W.length)) {
      throw new RangeError(`weight layer l must be an integer from 0 to ${W.length - 1}, got ${l}`);
    }
    const shape = shapes[l];
    if (W[l].length === 0) throw new RangeError(`layer ${l} (${specs[l].kind}) has no weights`);
    if (index.length !== shape.length || !index.every((v, d) => Number.isInteger(v) && v >= 0 && v < shape[d])) {
      throw new RangeError(`W[${l}] has shape (${shape.join(", ")}), got index (${index.join(", ")})`);
    }
    return index.reduce((flat, v, d) => flat * shape[d] + v, 0);
  }

  function getWeight(l, ...index) {
    // getWeight(l, i, j) = net.W[l][i, j]; getWeight(l, f, c, u, v) = net.W[l][f, c, u, v].
    const flat = weightIndex(l, index);
    return W[l][flat];
  }

  function setWeight(l, ...rest) {
    // setWeight(l, i, j, value) sets net.W[l][i, j] (a dense layer); setWeight(l, f, c, u,
    // v, value) sets filter entry net.W[l][f, c, u, v] (a convolution).
    const value = rest.pop(), flat = weightIndex(l, rest);
    if (!Number.isFinite(value)) throw new RangeError(`a weight must be a finite number, got ${value}`);
    W[l][flat] = value;
  }

  return {samples, layer_sizes: sizes, layers: specs, weight_shapes: shapes, activations: acts, loss: model.loss,
          weight_decay: lambda, forward: forwardSample, trace, cost, gradient, getWeight, setWeight, fprime};
}
