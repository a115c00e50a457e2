// nablanet's forward and backward passes for one sample, in JavaScript, written from
// docs/math.md (§1 activations, §3 forward, §4 cost, §6 BP1–BP4). It mirrors
// nablanet/activations.py and nablanet/losses.py exactly: every derivative is written
// from a = f(z), losses are computed from z, and softmax uses its full Jacobian.
//
// Indexing is nablanet's (Network.trace, math.md "Notation"): entry l of z, delta, W, b,
// dW, db belongs to weight layer l (0 = the first); a starts with the input, a[l+1] = f(z[l]).
// W[l] is stored row-major, shape (units out, units in): W[l][i*nIn + j] = net.W[l][i, j].
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
  const W = model.W.map((rows) => Float64Array.from(rows.flat()));
  const b = model.b.map((v) => Float64Array.from(v));
  const samples = model.samples;

  function checkSample(k) {
    if (!Number.isInteger(k) || k < 0 || k >= samples.X.length) {
      throw new RangeError(`sample k must be an integer from 0 to ${samples.X.length - 1}, got ${k}`);
    }
  }

  function forward(x) {
    // §3: z(l+1) = W(l) a(l) + b(l), a(l+1) = f(z(l+1)).
    const z = [], a = [Array.from(x)];
    for (let l = 0; l < W.length; l++) {
      const nIn = sizes[l], nOut = sizes[l + 1], aIn = a[l], Wl = W[l];
      const zl = new Array(nOut);
      for (let i = 0; i < nOut; i++) {
        let s = b[l][i];
        for (let j = 0; j < nIn; j++) s += Wl[i * nIn + j] * aIn[j];
        zl[i] = s;
      }
      z.push(zl);
      a.push(activate(acts[l], zl));
    }
    return {z, a};
  }

  function decay() {
    // §4: (λ/2) Σ W², the weights only, never the biases.
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
    checkSample(k);
    const {z, a} = forward(samples.X[k]);
    const L = W.length;
    const delta = new Array(L);
    delta[L - 1] = outputDelta(a[L], samples.Y[k]);
    for (let l = L - 1; l > 0; l--) {
      // BP2: δ(l) = (W(l)ᵀ δ(l+1)) ⊙ f'(z(l)).
      const nIn = sizes[l], nOut = sizes[l + 1], d = fprime(acts[l - 1], a[l]), Wl = W[l];
      const prev = new Array(nIn).fill(0);
      for (let i = 0; i < nOut; i++) {
        const di = delta[l][i];
        if (di === 0) continue;
        for (let j = 0; j < nIn; j++) prev[j] += Wl[i * nIn + j] * di;
      }
      delta[l - 1] = prev.map((v, j) => v * d[j]);
    }
    return {z, a, delta};
  }

  function cost(k) {
    // §4: J on the one sample, C(h(x_k), y_k) + (λ/2) Σ W², as Network.cost(X[k:k+1], Y[k:k+1]).
    checkSample(k);
    const {z, a} = forward(samples.X[k]);
    return loss.C(z[z.length - 1], a[a.length - 1], samples.Y[k]) + decay();
  }

  function gradient(k) {
    // BP3: ∂J/∂b(l) = δ(l+1); BP4: ∂J/∂W(l)_ij = δ(l+1)_i a(l)_j + λ W(l)_ij.
    const {a, delta} = trace(k);
    const dW = [], db = [];
    for (let l = 0; l < W.length; l++) {
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

  function checkWeight(l, i, j) {
    if (!(Number.isInteger(l) && l >= 0 && l < W.length)) {
      throw new RangeError(`weight layer l must be an integer from 0 to ${W.length - 1}, got ${l}`);
    }
    if (!(Number.isInteger(i) && i >= 0 && i < sizes[l + 1] && Number.isInteger(j) && j >= 0 && j < sizes[l])) {
      throw new RangeError(`W[${l}] has shape (${sizes[l + 1]}, ${sizes[l]}), got index (${i}, ${j})`);
    }
  }

  function getWeight(l, i, j) {
    checkWeight(l, i, j);
    return W[l][i * sizes[l] + j];
  }

  function setWeight(l, i, j, value) {
    checkWeight(l, i, j);
    if (!Number.isFinite(value)) throw new RangeError(`a weight must be a finite number, got ${value}`);
    W[l][i * sizes[l] + j] = value;
  }

  return {samples, layer_sizes: sizes, activations: acts, loss: model.loss,
          weight_decay: lambda, forward: forwardSample, trace, cost, gradient, getWeight, setWeight, fprime};
}
