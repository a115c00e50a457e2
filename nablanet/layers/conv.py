"""A two-dimensional convolution layer (docs/math.md §8).

For one example with input feature maps x of shape (C, H, W) the layer computes, for
each of its F filters W_f of shape (C, kh, kw) and each output position (r, c)::

    z[f, r, c] = Σ_{k, u, v} W[f, k, u, v] · x_pad[k, r·s + u, c·s + v] + b[f]
    a = f(z)

a cross-correlation (the filter is not flipped), as PyTorch's ``conv2d`` computes it and
as UFLDL's ``cnnConvolve`` does with MATLAB's ``conv2`` and a rotated filter.

The work is laid out so that every pass is contiguous: the input's patches are copied
once into a column array ("im2col") of shape (m, C·kh·kw + 1, Ho·Wo) whose last row is
ones, so that the forward pass is one matrix product per example, [W b] (F, C·kh·kw + 1)
times the columns, written straight into z's (F, Ho·Wo) block of the row; [∂J/∂W ∂J/∂b]
is the same product transposed, and ∂J/∂a_in scatters Wᵀ Δ back over the patches
("col2im"). The copies are compiled loops (`nablanet.kernels.conv`); the column arrays
are made once per batch size (`Conv2D.scratch`) and reused at every step. Both passes run
in fixed chunks of examples, on as many threads as BLAS may use (`nablanet.layers.chunks`:
the same bits whatever that number).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse

from nablanet import kernels
from nablanet._checks import integer, one_of
from nablanet.activations import Activation, get_activation
from nablanet.layers.base import Array, Buffers, Layer, Shape
from nablanet.layers.chunks import chunks, run_chunks
from nablanet.layout import get_initializer

PADDINGS = ("valid", "same")


def pair(value: Any, name: str) -> tuple[int, int]:
    """An int or a pair of ints (each at least 1) as a pair: ``3 -> (3, 3)``."""
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError(f"{name} must be an integer or a pair of integers, got {value!r}")
        return integer(value[0], name), integer(value[1], name)
    n = integer(value, name)
    return n, n


def feature_maps(a_in: Any, shape: Shape, layer: str) -> Array:
    """A batch of inputs seen as feature maps (m, C, H, W): a view where the rows allow.

    Raises
    ------
    TypeError
        For a scipy.sparse matrix: a convolution reads whole patches, so its input is dense.
    ValueError
        When a row does not hold C·H·W values.
    """
    if scipy.sparse.issparse(a_in):
        raise TypeError(
            f"{layer} needs a dense input, got a scipy.sparse matrix; convert it with "
            "X.toarray() (images are dense: a convolution reads whole patches)"
        )
    a_in = np.asarray(a_in)
    n = math.prod(shape)
    if not (a_in.ndim == 2 and a_in.shape[1] == n or a_in.shape[1:] == tuple(shape)):
        raise ValueError(
            f"{layer} expects rows of {n} values (feature maps of shape {shape}), "
            f"got an input of shape {a_in.shape}"
        )
    return np.ascontiguousarray(a_in).reshape(a_in.shape[0], *shape)


def output_size(size: int, k: int, s: int, padding: str) -> tuple[int, int, int]:
    """Output length and the (before, after) zero padding along one axis.

    "valid": no padding, ⌊(size − k)/s⌋ + 1 outputs. "same": ⌈size/s⌉ outputs, the
    input padded by (out − 1)·s + k − size zeros in all, the odd one after (PyTorch's
    ``padding="same"`` for stride 1, TensorFlow's for any stride).
    """
    if padding == "valid":
        return (size - k) // s + 1, 0, 0
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


@dataclass
class ConvScratch:
    """The work arrays of one batch size (`Conv2D.scratch`).

    Attributes
    ----------
    cols : ndarray of shape (m, C·kh·kw + 1, Ho·Wo)
        Each example's patches as columns, and a last row of ones: with b appended to W
        as a last column, the product adds the bias (and backward, that row's product
        with Δ is ∂J/∂b).
    Wb : ndarray of shape (F, C·kh·kw + 1)
        [W b], the filters unrolled with the biases beside them.
    gradT : ndarray of shape (C·kh·kw + 1, F)
        [∂J/∂W ∂J/∂b]ᵀ, summed over the examples.
    partials, terms : ndarray of shape (chunks, C·kh·kw + 1, F)
        Each chunk's part of gradT (`nablanet.layers.chunks`), and the term of the
        example it is adding.
    dcols : ndarray of shape (m, C·kh·kw, Ho·Wo) or None
        ∂J/∂cols, made at the first backward pass that needs ∂J/∂a_in.
    """

    cols: Array
    Wb: Array
    gradT: Array
    partials: Array
    terms: Array
    dcols: Array | None = None


class Conv2D(Layer):
    """A convolution of the input feature maps with ``filters`` learnt filters.

    Parameters
    ----------
    filters : int
        F, the number of filters (output feature maps).
    kernel_size : int or (int, int)
        (kh, kw), the size of each filter.
    stride : int or (int, int), default 1
        s, the step between two output positions.
    padding : {"valid", "same"}, default "valid"
        "valid": filters only where they fit, Ho = ⌊(H − kh)/s⌋ + 1; "same": zeros around
        the input so that Ho = ⌈H/s⌉ (the odd zero below and to the right).
    activation : str, default "sigmoid"
        f, applied to each entry of z (any elementwise activation; not softmax).
    init : str, default "auto"
        The initialiser of the filters; "auto" takes the network's choice, and where that
        is "auto" too, the activation's default. Each filter counts as a unit whose
        fan-in is its receptive field, C·kh·kw, and the layer's fan-out is F.

    Attributes
    ----------
    input_shape, output_shape : tuple of int
        (C, H, W) and (F, Ho, Wo), set by `build`.

    Notes
    -----
    W has shape (F, C, kh, kw) (PyTorch's ``Conv2d.weight``), b shape (F,): one bias per
    filter, shared by every position. The forward pass, ∂J/∂W, ∂J/∂b and ∂J/∂a_in are
    derived in docs/math.md §8; the backward pass reads Δ = ∂J/∂z from ``buf.delta``
    (rows already weighted, §6).
    """

    splits_batch = True  # its passes run in chunks of examples (`nablanet.layers.chunks`)

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str = "valid",
        activation: str = "sigmoid",
        init: str = "auto",
    ) -> None:
        self.filters = integer(filters, "filters")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.padding = one_of(padding, PADDINGS, "padding")
        self.activation = get_activation(activation)
        if not self.activation.elementwise:
            raise ValueError(
                f"Conv2D needs an elementwise activation, got {activation!r} (softmax couples "
                "a whole row; put it on a Dense output layer)"
            )
        if init != "auto":
            get_initializer(init)  # an unknown name fails here, not at the first fit
        self.init = init

    def __repr__(self) -> str:
        return (
            f"Conv2D({self.filters}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding!r}, activation={self.activation.name!r})"
        )

    # --- shapes and parameters ---------------------------------------------------

    def build(self, input_shape: Shape) -> Shape:
        """Size the layer for feature maps of shape (C, H, W); returns (F, Ho, Wo).

        Raises
        ------
        ValueError
            For an input that is not (C, H, W), or a kernel larger than the (padded) input.
        """
        if len(input_shape) != 3:
            raise ValueError(
                f"Conv2D needs inputs of shape (channels, height, width), got {input_shape}"
            )
        C, H, W = (int(n) for n in input_shape)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if self.padding == "valid" and (kh > H or kw > W):
            raise ValueError(
                f"Conv2D's kernel {kh}x{kw} is larger than its input {H}x{W} "
                '(use padding="same", or a smaller kernel)'
            )
        Ho, self.pad_top, _ = output_size(H, kh, sh, self.padding)
        Wo, self.pad_left, _ = output_size(W, kw, sw, self.padding)
        self.input_shape = (C, H, W)
        self.output_shape = (self.filters, Ho, Wo)
        return self.output_shape

    @property
    def n_weights(self) -> int:
        """F·C·kh·kw."""
        return self.filters * self.input_shape[0] * math.prod(self.kernel_size)

    @property
    def n_biases(self) -> int:
        """F: one bias per filter."""
        return self.filters

    def weight_view(self, block: Array) -> Array:
        """W of shape (F, C, kh, kw), C-ordered in θ as PyTorch's ``weight.flatten()``."""
        return block.reshape(self.filters, self.input_shape[0], *self.kernel_size)

    def bias_view(self, block: Array) -> Array:
        """The biases b, of shape (F,)."""
        return block.reshape(self.filters)

    def initialize(self, W: Array, init: str, rng: np.random.Generator) -> None:
        """Fill W from the layer's initialiser (else ``init``, else the activation's default)."""
        name = self.init if self.init != "auto" else init
        if name == "auto":
            name = self.activation.default_init
        fan_in = self.input_shape[0] * math.prod(self.kernel_size)
        W[...] = get_initializer(name)(fan_in, self.filters, rng, shape=W.shape)

    @property
    def scratch_values(self) -> int:
        """Values per example of the im2col columns (with the bias's row of ones)."""
        K, P = self._cols_shape
        return (K + 1) * P

    def scratch(self, m: int, dtype: np.dtype[Any]) -> ConvScratch:
        """The im2col columns of a batch of m rows, and the rest of `ConvScratch`."""
        K, P = self._cols_shape
        cols = np.empty((m, K + 1, P), dtype=dtype)
        cols[:, K, :] = 1.0  # the bias's row; im2col never writes it
        F, n = self.filters, len(chunks(m))
        return ConvScratch(cols, np.empty((F, K + 1), dtype), np.empty((K + 1, F), dtype),
                           np.empty((n, K + 1, F), dtype), np.empty((n, K + 1, F), dtype))

    @property
    def _unit_stride_unpadded(self) -> bool:
        # The common case (both of UFLDL's and Nielsen's networks) has loops of its own,
        # without a bounds test per entry: twice as fast.
        # (Not only pad_top = pad_left = 0: "same" pads a 2×2 kernel below and right only.)
        _, H, W = self.input_shape
        (kh, kw), (_, Ho, Wo) = self.kernel_size, self.output_shape
        return self.stride == (1, 1) and (Ho, Wo) == (H - kh + 1, W - kw + 1)

    def _im2col(self, x: Array, cols: Array) -> None:
        if self._unit_stride_unpadded:
            kernels.unit_stride_im2col(x, cols, *self.kernel_size, *self.output_shape[1:])
        else:
            kernels.im2col(x, cols, *self._geometry)

    def _col2im(self, dcols: Array, g: Array) -> None:
        if self._unit_stride_unpadded:
            kernels.unit_stride_col2im(dcols, g, *self.kernel_size, *self.output_shape[1:])
        else:
            kernels.col2im(dcols, g, *self._geometry)

    @property
    def _geometry(self) -> tuple[int, ...]:
        # What the compiled copies need: (kh, kw, sh, sw, pad_top, pad_left, Ho, Wo).
        return (*self.kernel_size, *self.stride, self.pad_top, self.pad_left,
                *self.output_shape[1:])

    @property
    def _cols_shape(self) -> tuple[int, int]:
        _, Ho, Wo = self.output_shape
        return self.input_shape[0] * math.prod(self.kernel_size), Ho * Wo

    # --- forward and backward ----------------------------------------------------

    def forward(
        self, a_in: Any, W: Array, b: Array, buf: Buffers, derivative: bool, activate: bool
    ) -> None:
        """Forward (§8): z = W ⋆ a_in + b into ``buf.Z``; a = f(z), f'(z) as asked."""
        x = feature_maps(a_in, self.input_shape, "Conv2D")
        m = x.shape[0]
        scratch = self._scratch(buf, m, x.dtype)
        F = self.filters
        scratch.Wb[:, :-1] = W.reshape(F, -1)
        scratch.Wb[:, -1] = b
        cols, Z = scratch.cols, buf.Z.reshape(m, F, -1)
        f = self.activation if activate else None
        D = buf.D if derivative else None

        def chunk(j: int, s: slice) -> None:
            self._im2col(x[s], cols[s])
            # One product per example, [W b] (F, C·kh·kw + 1) @ [cols; 1] (…, Ho·Wo),
            # written straight into z's channel-first block: no pass ever transposes, and
            # faster here than one large product whose output would need one.
            np.matmul(scratch.Wb, cols[s], out=Z[s])
            if f is not None:
                apply_activation(f, buf.Z[s], buf.A[s], None if D is None else D[s])

        run_chunks(chunk, m)

    def backward(
        self, a_in: Any, W: Array, buf: Buffers, dW: Array, db: Array, grad_in: Array | None
    ) -> None:
        """BP3/BP4 for a convolution (§8): ∂J/∂b, ∂J/∂W and, unless None, ∂J/∂a_in."""
        scratch: ConvScratch = buf.scratch
        cols, gradT, partials, terms = scratch.cols, scratch.gradT, scratch.partials, scratch.terms
        m, F = cols.shape[0], self.filters
        Delta = buf.delta.reshape(m, F, -1)
        Wt = W.reshape(F, -1).T
        dcols, g = None, None
        if grad_in is not None:
            dcols = scratch.dcols
            if dcols is None or dcols.shape[0] != m:
                dcols = scratch.dcols = np.empty((m, *self._cols_shape), dtype=cols.dtype)
            g = grad_in.reshape(m, *self.input_shape)

        def chunk(j: int, s: slice) -> None:
            # [∂J/∂W ∂J/∂b]ᵀ = Σ_i [cols_i; 1] Δ_iᵀ (§8): one product per example, its
            # last row the sum of the map's Δ (every position of map f shares b_f), summed
            # here over the chunk's examples in order. This order of the factors is the
            # fastest of those measured (the other, or one large product after
            # transposing Δ, are 10-20% slower).
            np.matmul(cols[s.start], Delta[s.start].T, out=partials[j])
            for i in range(s.start + 1, s.stop):
                np.matmul(cols[i], Delta[i].T, out=terms[j])
                partials[j] += terms[j]
            if dcols is not None and g is not None:
                # ∂J/∂cols = Wᵀ Δ, then each column's entries are added back where they
                # came from: the full correlation of Δ with the flipped filters (§8).
                np.matmul(Wt, Delta[s], out=dcols[s])
                self._col2im(dcols[s], g[s])

        run_chunks(chunk, m)
        # The chunks' parts in chunk order: the same sum whatever the thread count.
        np.copyto(gradT, partials[0])
        for part in partials[1:]:
            gradT += part
        dW[...] = gradT[:-1].T.reshape(dW.shape)
        db[...] = gradT[-1].reshape(db.shape)

    def _scratch(self, buf: Buffers, m: int, dtype: np.dtype[Any]) -> ConvScratch:
        # The network's scratch where it fits; a fresh one for a one-off call.
        scratch = buf.scratch
        if (
            not isinstance(scratch, ConvScratch)
            or scratch.cols.shape[0] != m
            or scratch.cols.dtype != dtype
        ):
            scratch = buf.scratch = self.scratch(m, dtype)
        return scratch

    def to_spec(self) -> dict[str, Any]:
        """``{"kind": "Conv2D"}`` and the constructor's arguments, plain JSON values."""
        return {
            "kind": "Conv2D",
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self.padding,
            "activation": self.activation.name,
            "init": self.init,
        }


def apply_activation(f: Activation, Z: Array, A: Array, D: Array | None) -> None:
    """Apply f: a = f(z) into A (which may be Z), and f'(z) into D unless None."""
    f.f(Z, A)
    if D is not None and f.derivative is not None:
        f.derivative(A, D)
