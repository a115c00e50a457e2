"""A network of layers: `Network([Dense, ...])` is today's `Network(sizes)`, bit for bit."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from nablanet import Network, load, save
from nablanet.layers import LAYERS, Dense, Layer, layer_from_spec


def _pair(activations=("tanh", "relu"), output="softmax", init="auto", dtype=np.float64, **kw):
    sizes = [6, 5, 4, 3]
    by_sizes = Network(sizes, activation=list(activations), output_activation=output,
                       init=init, seed=3, dtype=dtype, **kw)
    inits = [init] * 3 if isinstance(init, str) else list(init)
    names = [*activations, output]
    layers = [
        Dense(n, activation=a, init=i) for n, a, i in zip(sizes[1:], names, inits, strict=True)
    ]
    by_layers = Network(layers, input_shape=(6,), seed=3, dtype=dtype, **kw)
    return by_sizes, by_layers


def _data(m=9, n_in=6, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n_in))
    Y = np.eye(n_out)[rng.integers(0, n_out, m)]
    return X, Y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("init", ["auto", ["glorot", "he", "normal"]])
def test_layers_and_sizes_build_the_same_network_bit_for_bit(dtype, init):
    a, b = _pair(init=init, dtype=dtype, weight_decay=1e-3)
    X, Y = _data()
    s = np.linspace(0.5, 2.0, X.shape[0])
    assert a.theta.tobytes() == b.theta.tobytes()
    Ja, ga = a.loss_and_grad(X, Y, sample_weight=s)
    Jb, gb = b.loss_and_grad(X, Y, sample_weight=s)
    assert Ja == Jb and ga.tobytes() == gb.tobytes()
    assert a.forward(X).tobytes() == b.forward(X).tobytes()
    assert a.layer_sizes == b.layer_sizes == (6, 5, 4, 3)
    assert a.init_names == b.init_names
    assert a.to_state()[0]["layer_sizes"] == b.to_state()[0]["layer_sizes"]


def test_each_layer_sees_its_block_of_theta():
    net = Network([Dense(5, "tanh"), Dense(3, "sigmoid")], input_shape=(4,), seed=0)
    assert [type(layer) for layer in net.layers] == [Dense, Dense]
    assert net.W[0].shape == (5, 4) and net.W[1].shape == (3, 5)
    assert net.b[0].shape == (5,) and net.b[1].shape == (3,)
    for view in [*net.W, *net.b]:
        assert np.shares_memory(view, net.theta)
    assert net.n_weights == 5 * 4 + 3 * 5 and net.n_params == net.n_weights + 8
    np.testing.assert_array_equal(net.layout.views(net.theta)[0][1], net.W[1])


def test_the_generic_path_passes_a_float64_gradient_check():
    """The loop over layers with dropout masks, sample weights and a sparsity penalty."""
    net = Network([Dense(5, "sigmoid"), Dense(4, "tanh"), Dense(3, "softmax")],
                  input_shape=(6,), seed=1, weight_decay=1e-2, sparsity=[(0.1, 3.0), None])
    X, Y = _data()
    rng = np.random.default_rng(2)
    masks = [(rng.random((9, 5)) < 0.7) / 0.7, None]
    s = np.linspace(0.2, 1.5, 9)

    def fun(theta):
        return net.loss_and_grad(X, Y, theta, sample_weight=s, dropout_masks=masks)

    from nablanet.gradcheck import check_gradient

    report = check_gradient(fun, net.theta.copy(), eps=1e-5, tol=1e-8)
    assert report.passed, report


def test_sparse_inputs_go_through_the_dense_first_layer():
    a, b = _pair()
    X, Y = _data()
    X[X < 0.3] = 0.0
    Ja, ga = b.loss_and_grad(X, Y)
    Jb, gb = b.loss_and_grad(sp.csr_matrix(X), Y)
    assert Ja == pytest.approx(Jb, rel=1e-14)
    np.testing.assert_allclose(ga, gb, rtol=1e-12, atol=1e-15)


def test_layers_network_refuses_per_network_activation_and_needs_input_shape():
    with pytest.raises(ValueError, match="belong to each layer"):
        Network([Dense(3)], input_shape=(2,), activation="relu")
    with pytest.raises(ValueError, match="needs input_shape"):
        Network([Dense(3)])
    with pytest.raises(ValueError, match="input_shape goes with layers"):
        Network([2, 3], input_shape=(2,))
    with pytest.raises(ValueError, match="softmax can only be the output"):
        Network([Dense(3, "softmax"), Dense(2)], input_shape=(2,))


def test_dense_refuses_bad_units_and_names():
    with pytest.raises(ValueError, match="units must be an integer >= 1"):
        Dense(0)
    with pytest.raises(ValueError, match="unknown activation 'sigmoida'"):
        Dense(3, activation="sigmoida")
    with pytest.raises(ValueError, match="unknown init 'uniform'"):
        Dense(3, init="uniform")


def test_layer_specs_round_trip_and_unknown_kinds_are_refused():
    layer = Dense(7, activation="relu", init="he")
    spec = layer.to_spec()
    assert spec == {"kind": "Dense", "units": 7, "activation": "relu", "init": "he"}
    again = layer_from_spec(spec)
    assert isinstance(again, Dense) and again.to_spec() == spec
    assert set(LAYERS) >= {"Dense"} and all(issubclass(c, Layer) for c in LAYERS.values())
    with pytest.raises(ValueError, match="unknown layer kind 'os.system'"):
        layer_from_spec({"kind": "os.system", "units": 3})
    with pytest.raises(ValueError, match="invalid Dense spec"):
        layer_from_spec({"kind": "Dense", "units": 3, "bias": False})
    with pytest.raises(ValueError, match="must be a dictionary"):
        layer_from_spec(["Dense", 3])


def test_one_list_of_layers_builds_two_independent_networks():
    layers = [Dense(3, "tanh"), Dense(2)]
    small = Network(layers, input_shape=(2,), seed=0)
    big = Network(layers, input_shape=(5,), seed=0)
    assert small.W[0].shape == (3, 2) and big.W[0].shape == (3, 5)
    assert small.forward(np.ones((1, 2))).shape == (1, 2)


def test_copies_pickles_and_files_of_a_layers_network_predict_the_same(tmp_path):
    _, net = _pair()
    X, _ = _data()
    out = net.forward(X)
    for other in (net.copy(), pickle.loads(pickle.dumps(net))):
        assert other.forward(X).tobytes() == out.tobytes()
        assert np.shares_memory(other.W[0], other.theta)
    save(net, tmp_path / "net.npz")
    assert load(tmp_path / "net.npz").forward(X).tobytes() == out.tobytes()


def test_trace_keeps_each_layers_quantities_in_its_shape():
    _, net = _pair()
    X, Y = _data()
    t = net.trace(X, Y)
    assert [z.shape for z in t.z] == [(9, 5), (9, 4), (9, 3)]
    assert [d.shape for d in t.dW] == [W.shape for W in net.W]
    J, g = net.loss_and_grad(X, Y)
    assert t.J == J
    np.testing.assert_array_equal(np.concatenate([d.T.ravel() for d in t.dW]),
                                  g[: net.n_weights])


def test_a_network_of_layers_on_shaped_inputs_reads_rows_or_examples_and_saves_its_layers(
    tmp_path,
):
    net = Network([Dense(4, "tanh"), Dense(2, "softmax")], input_shape=(2, 3), seed=0)
    X4 = np.random.default_rng(0).normal(size=(5, 2, 3))
    out = net.forward(X4)
    assert out.tobytes() == net.forward(X4.reshape(5, 6)).tobytes()
    assert net.trace(X4).a[0].shape == (5, 2, 3)
    spec, _ = net.to_state()
    assert spec["layers"] == [layer.to_spec() for layer in net.layers]
    assert spec["input_shape"] == [2, 3] and "layer_sizes" not in spec
    save(net, tmp_path / "net.npz")
    back = load(tmp_path / "net.npz")
    assert back.input_shape == (2, 3) and back.forward(X4).tobytes() == out.tobytes()


def test_a_model_file_naming_an_unknown_layer_kind_is_refused(tmp_path):
    from nablanet.io import ModelFileError
    from nablanet.io.header import save_state

    net = Network([Dense(4, "tanh"), Dense(2, "softmax")], input_shape=(2, 3), seed=0)
    spec, arrays = net.to_state()
    spec["layers"][0] = {"kind": "builtins.eval", "units": 4}
    save_state(tmp_path / "evil.npz", {"kind": "Network", "network": spec}, arrays)
    with pytest.raises(ModelFileError, match=r"layers\[0\]': unknown layer kind 'builtins.eval'"):
        load(tmp_path / "evil.npz")


def test_a_pickle_from_before_the_layers_migrates():
    """Pickles of the first Network held its Layout and its activations, not layers."""
    from nablanet.activations import ACTIVATIONS
    from nablanet.layout import Layout

    net = Network([4, 3, 2], activation="relu", output_activation="softmax", seed=1,
                  weight_decay=0.01)
    X = np.random.default_rng(0).normal(size=(5, 4))
    legacy = {
        "layout": Layout((4, 3, 2)), "activations": [ACTIVATIONS["relu"], ACTIVATIONS["softmax"]],
        "loss": net.loss, "weight_decay": 0.01, "init": "auto", "dtype": net.dtype,
        "_theta": net.theta.copy(), "theta_layout": 2,
    }  # and no _sparsity: pickled before the penalty existed
    old = Network.__new__(Network)
    old.__setstate__(legacy)
    assert [layer.to_spec() for layer in old.layers] == [l.to_spec() for l in net.layers]
    assert old.forward(X).tobytes() == net.forward(X).tobytes()
    assert old.sparsity == [None] and np.shares_memory(old.W[1], old.theta)
    assert old.to_state()[0] == net.to_state()[0]


class Scale(Layer):
    """A toy layer with weights of its own shape: z = a_in ⊙ w + b (one weight per unit)."""

    def __init__(self, activation="tanh"):
        from nablanet.activations import get_activation

        self.activation = get_activation(activation)

    def build(self, input_shape):
        self.input_shape = self.output_shape = tuple(input_shape)
        return self.output_shape

    n_weights = property(lambda self: self.n_in)
    n_biases = property(lambda self: self.n_in)

    def weight_view(self, block):
        return block

    def bias_view(self, block):
        return block

    def initialize(self, W, init, rng):
        W[...] = rng.uniform(0.5, 1.5, size=W.shape)

    def forward(self, a_in, W, b, buf, derivative, activate):
        np.multiply(a_in, W, out=buf.Z)
        buf.Z += b
        if activate:
            self.activation.f(buf.Z, buf.A)
            if derivative:
                self.activation.derivative(buf.A, buf.D)

    def backward(self, a_in, W, buf, dW, db, grad_in):
        np.sum(buf.delta * a_in, axis=0, out=dW)
        np.sum(buf.delta, axis=0, out=db)
        if grad_in is not None:
            np.multiply(buf.delta, W, out=grad_in)

    def to_spec(self):
        return {"kind": "Scale", "activation": self.activation.name}


class Reverse(Layer):
    """A toy layer without parameters or activation: the units in reverse order."""

    has_derivative = False

    def __init__(self):
        from nablanet.activations import get_activation

        self.activation = get_activation("identity")

    def build(self, input_shape):
        self.input_shape = self.output_shape = tuple(input_shape)
        return self.output_shape

    n_weights = n_biases = 0

    def weight_view(self, block):
        return block

    def bias_view(self, block):
        return block

    def initialize(self, W, init, rng):
        raise AssertionError("a layer without weights is never initialised")

    def forward(self, a_in, W, b, buf, derivative, activate):
        buf.Z[...] = a_in[:, ::-1]
        if buf.A is not buf.Z:
            buf.A[...] = buf.Z

    def backward(self, a_in, W, buf, dW, db, grad_in):
        if grad_in is not None:
            grad_in[...] = buf.delta[:, ::-1]

    def to_spec(self):
        return {"kind": "Reverse"}


def _toy_network(**kw):
    layers = [Dense(5, "sigmoid"), Scale("tanh"), Reverse(), Dense(3, "softmax")]
    return Network(layers, input_shape=(4,), seed=0, **kw)


def test_a_new_kind_of_layer_drops_in_without_touching_the_network():
    net = _toy_network(weight_decay=1e-2)
    assert net.n_weights == 5 * 4 + 5 + 0 + 3 * 5 and net.n_params == net.n_weights + 5 + 5 + 3
    assert net.W[2].size == 0 and net.layer_sizes == (4, 5, 5, 5, 3)
    X, Y = _data(n_in=4)
    report = net.check_gradient(X, Y, eps=1e-5, tol=1e-8, sample_weight=np.linspace(1, 2, 9))
    assert report.passed, report
    t = net.trace(X, Y)
    assert [d.shape for d in t.Delta] == [(9, 5), (9, 5), (9, 5), (9, 3)]
    np.testing.assert_array_equal(t.a[3], t.a[2][:, ::-1])


def test_training_gives_dropout_masks_only_to_layers_that_take_them():
    from nablanet import train

    net = _toy_network()
    seen = []
    inner = net.loss_and_grad_into

    def spy(X, Y, theta, grad, *, sample_weight=None, dropout_masks=None):
        seen.append([None if m is None else m.shape for m in dropout_masks])
        return inner(X, Y, theta, grad, sample_weight=sample_weight, dropout_masks=dropout_masks)

    net.loss_and_grad_into = spy
    X, Y = _data(m=20, n_in=4)
    train(net, X, Y, optimizer="sgd", epochs=1, batch_size=10, dropout=0.5, seed=0)
    assert seen and all(shapes == [(10, 5), None, None] for shapes in seen)
