"""A minimal stack of layers for testing them apart from `Network`.

It does what the network does with the layer protocol, and no more: θ holds every
layer's weights, then every layer's biases; forward runs each layer on the previous
one's a; backward multiplies each layer's ∂J/∂a_in by the layer below's f'(z) (BP2).
On top sits a dense output layer written out in NumPy (z = a Wᵀ + b), with softmax and
cross-entropy or the identity and squared error.
"""

from __future__ import annotations

import math

import numpy as np

from nablanet.layers.base import Buffers


class Chain:
    """Layers, then a dense output of ``n_out`` units; J averaged over the rows."""

    def __init__(self, layers, input_shape, n_out, output="softmax", weight_decay=0.0):
        self.layers = list(layers)
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.build(shape)
        self.n_top_in = math.prod(shape)
        self.n_out = n_out
        self.output = output
        self.weight_decay = weight_decay
        n_w = [layer.n_weights for layer in self.layers] + [n_out * self.n_top_in]
        n_b = [layer.n_biases for layer in self.layers] + [n_out]
        self.w_edges = np.concatenate([[0], np.cumsum(n_w)])
        self.b_edges = self.w_edges[-1] + np.concatenate([[0], np.cumsum(n_b)])
        self.n_weights = int(self.w_edges[-1])
        self.n_params = int(self.b_edges[-1])

    def views(self, theta):
        """[(W, b)] per layer, the top's last: views into theta."""
        out = []
        for k in range(len(self.layers) + 1):
            Wb = theta[self.w_edges[k] : self.w_edges[k + 1]]
            bb = theta[self.b_edges[k] : self.b_edges[k + 1]]
            if k < len(self.layers):
                out.append((self.layers[k].weight_view(Wb), self.layers[k].bias_view(bb)))
            else:
                out.append((Wb.reshape(self.n_out, self.n_top_in), bb))
        return out

    def init_theta(self, rng, dtype=np.float64, bias_scale=0.1):
        theta = np.zeros(self.n_params, dtype=dtype)
        for layer, (W, b) in zip(self.layers, self.views(theta)[:-1], strict=True):
            layer.initialize(W, "auto", rng)
            b[...] = rng.normal(0, bias_scale, size=b.shape)
        W, b = self.views(theta)[-1]
        W[...] = rng.normal(0, 0.1, size=W.shape)
        b[...] = rng.normal(0, bias_scale, size=b.shape)
        return theta

    def buffers(self, m, dtype, z_is_a=False):
        bufs = []
        for layer in self.layers:
            shape = (m, layer.n_out)
            A = np.empty(shape, dtype)
            Z = A if z_is_a else np.empty(shape, dtype)
            D = None if layer.activation.name == "identity" else np.empty(shape, dtype)
            bufs.append(Buffers(Z, A, D, np.empty(shape, dtype), layer.scratch(m, np.dtype(dtype))))
        return bufs

    def forward(self, theta, X, bufs, derivative=True):
        a = X
        for layer, (W, b), buf in zip(self.layers, self.views(theta)[:-1], bufs, strict=True):
            layer.forward(a, W, b, buf, derivative, True)
            a = buf.A
        W, b = self.views(theta)[-1]
        return a @ W.T + b

    def loss_and_grad(self, theta, X, Y, sample_weight=None, z_is_a=False):
        """J and ∂J/∂θ (the output's δ is a − y for both pairs of output and loss)."""
        m = X.shape[0]
        dtype = theta.dtype
        bufs = self.buffers(m, dtype, z_is_a)
        z = self.forward(theta, X, bufs)
        w = np.full(m, 1.0 / m) if sample_weight is None else sample_weight / sample_weight.sum()
        if self.output == "softmax":
            z = z - z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            J = -(w[:, None] * Y * logp).sum()
            delta = (np.exp(logp) - Y) * w[:, None]
        else:
            J = 0.5 * (w[:, None] * (z - Y) ** 2).sum()
            delta = (z - Y) * w[:, None]
        J += 0.5 * self.weight_decay * float(theta[: self.n_weights] @ theta[: self.n_weights])
        grad = np.zeros_like(theta)
        views = self.views(grad)
        W_top, _ = self.views(theta)[-1]
        a_top = bufs[-1].A if self.layers else X
        dW, db = views[-1]
        dW[...] = delta.T @ a_top
        db[...] = delta.sum(axis=0)
        g = delta @ W_top
        params = self.views(theta)
        for k in range(len(self.layers) - 1, -1, -1):
            layer, buf = self.layers[k], bufs[k]
            buf.delta[...] = g if buf.D is None else g * buf.D  # BP2: times f'(z)
            a_in = X if k == 0 else bufs[k - 1].A
            g = None if k == 0 else np.empty_like(bufs[k - 1].A)
            layer.backward(a_in, params[k][0], buf, views[k][0], views[k][1], g)
        grad[: self.n_weights] += self.weight_decay * theta[: self.n_weights]
        return float(J), grad
