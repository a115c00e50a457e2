"""ONNX export: onnxruntime runs the exported graphs and agrees with nablanet."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import skl2onnx
import sklearn.neural_network
from export_helpers import fit, scaled
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nablanet
from nablanet import MLPClassifier, MLPRegressor, Network
from nablanet.activations import LEAKY_SLOPE
from nablanet.export import register_skl2onnx, to_onnx

F32_TOL = 1e-5


def run(model: onnx.ModelProto, X: np.ndarray) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})






DATA = {
    "digits": scaled(load_digits),
    "iris": scaled(load_iris),
    "breast_cancer": scaled(load_breast_cancer),
    "diabetes": scaled(load_diabetes),
}


def check_classifier(est, X, float64=True):
    """float32 graph: probabilities to 1e-5, identical labels; float64 graph: to 1e-12."""
    label, proba = run(to_onnx(est), X.astype(np.float32))
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, est.predict_proba(X), rtol=0, atol=F32_TOL)
    np.testing.assert_array_equal(label, est.predict(X))
    if float64:
        label, proba = run(to_onnx(est, X_sample=X[:1]), X)
        assert proba.dtype == np.float64
        np.testing.assert_allclose(proba, est.predict_proba(X), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(label, est.predict(X))


@pytest.mark.parametrize("name", ["digits", "iris", "breast_cancer"])
def test_classifier_on_real_data(name):
    X, y = DATA[name]
    est = fit(MLPClassifier((32,), solver="lbfgs", max_iter=100, random_state=0), X, y)
    assert est.score(X, y) > 0.9  # a trained model, not noise
    check_classifier(est, X)


def test_float32_model_labels_and_probabilities():
    X, y = DATA["digits"]
    est = fit(MLPClassifier((32,), max_iter=30, random_state=1, dtype="float32"), X, y)
    check_classifier(est, X.astype(np.float32), float64=False)


@pytest.mark.parametrize("output", [None, "sigmoid", "tanh"])
def test_regressor_on_diabetes(output):
    X, y = DATA["diabetes"]
    est = fit(MLPRegressor((16,), solver="lbfgs", max_iter=60, random_state=0,
                           output_activation=output), X, y)
    assert est.score(X, y) > 0.3
    (pred,) = run(to_onnx(est), X.astype(np.float32))
    assert pred.shape == (len(X), 1)
    # float32 carries ~7 digits: targets of a few hundred agree to 1e-5 relative.
    scale = np.abs(y).max()
    np.testing.assert_allclose(pred.ravel(), est.predict(X), rtol=0, atol=F32_TOL * scale)
    (pred,) = run(to_onnx(est, X[:1]), X)
    np.testing.assert_allclose(pred.ravel(), est.predict(X), rtol=0, atol=1e-12 * scale)


def test_poisson_regressor_exports_its_exp_output():
    X, y = DATA["diabetes"]
    counts = np.round(y / 50)
    est = fit(MLPRegressor((8,), loss="poisson", solver="lbfgs", max_iter=60, random_state=0),
              X, counts)
    model = to_onnx(est, X[:1])
    assert "Exp" in [n.op_type for n in model.graph.node]
    (pred,) = run(model, X)
    np.testing.assert_allclose(pred.ravel(), est.predict(X), rtol=1e-12)


def test_scaled_regressor_puts_the_scaling_in_the_graph():
    X, y = DATA["diabetes"]
    est = fit(MLPRegressor((8,), max_iter=5, random_state=0, output_activation="sigmoid"), X, y)
    ops = [n.op_type for n in to_onnx(est).graph.node]
    assert ops[-3:] == ["Mul", "Add", "Identity"]
    plain = fit(MLPRegressor((8,), max_iter=5, random_state=0), X, y)
    assert "Mul" not in [n.op_type for n in to_onnx(plain).graph.node]


def test_multi_output_regressor():
    X, y = DATA["diabetes"]
    Y = np.column_stack([y, X[:, 2] * 10])
    est = fit(MLPRegressor((8,), max_iter=30, random_state=0, output_activation="tanh"), X, Y)
    (pred,) = run(to_onnx(est, X[:1]), X)
    np.testing.assert_allclose(pred, est.predict(X), rtol=0, atol=1e-10)


HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output", [*HIDDEN, "softmax"])
def test_every_activation_in_a_network(hidden, output):
    rng = np.random.default_rng(0)
    net = Network([5, 6, 4, 3], activation=[hidden, "relu"], output_activation=output, seed=1)
    net.b[0][:] = rng.normal(size=6)
    X = rng.normal(size=(50, 5)) * 3
    (out,) = run(to_onnx(net), X.astype(np.float32))
    np.testing.assert_allclose(out, net.forward(X), rtol=1e-5, atol=F32_TOL)
    (out,) = run(to_onnx(net, X[:1]), X)
    np.testing.assert_allclose(out, net.forward(X), rtol=0, atol=1e-12)


def test_leaky_relu_is_onnx_leakyrelu_with_the_library_slope():
    net = Network([3, 4, 2], activation="leaky_relu", seed=0)
    nodes = [n for n in to_onnx(net).graph.node if n.op_type == "LeakyRelu"]
    assert len(nodes) == 1
    (alpha,) = nodes[0].attribute
    assert alpha.name == "alpha" and alpha.f == pytest.approx(LEAKY_SLOPE, rel=1e-7)
    # A float64 graph writes Max(z, slope z) with a float64 slope instead.
    ops = [n.op_type for n in to_onnx(net, np.zeros((1, 3))).graph.node]
    assert "LeakyRelu" not in ops and "Max" in ops


@pytest.mark.parametrize("name", ["iris", "breast_cancer"])
def test_tanh_classifier(name):
    X, y = DATA[name]
    est = fit(MLPClassifier((16,), solver="lbfgs", max_iter=100, random_state=0,
                            output_activation="tanh"), X, y)
    assert est.score(X, y) > 0.9
    check_classifier(est, X)


def test_one_sigmoid_unit_per_class_and_two_softmax_units():
    X, y = DATA["iris"]
    est = fit(MLPClassifier((16,), max_iter=40, random_state=0, output_activation="sigmoid"),
              X, y)
    assert est.net_.layer_sizes[-1] == 3
    check_classifier(est, X)
    X, y = DATA["breast_cancer"]
    est = fit(MLPClassifier((8,), max_iter=20, random_state=0, output_activation="softmax"),
              X, y)
    assert est.net_.layer_sizes[-1] == 2
    check_classifier(est, X)


def digits_multilabel():
    X, y = DATA["digits"]
    return X, np.column_stack([y % 2 == 0, y >= 5, np.isin(y, [0, 6, 8, 9])]).astype(int)


@pytest.mark.parametrize("output", [None, "tanh"])
def test_multilabel(output):
    X, Y = digits_multilabel()
    est = fit(MLPClassifier((32,), solver="lbfgs", max_iter=100, random_state=0,
                            output_activation=output), X, Y)
    assert est.score(X, Y) > 0.8
    label, proba = run(to_onnx(est), X.astype(np.float32))
    assert label.dtype == np.int64 and label.shape == Y.shape
    check_classifier(est, X)


def test_string_classes():
    X, y = DATA["iris"]
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = fit(MLPClassifier((16,), max_iter=40, random_state=0), X, names)
    label, _ = run(to_onnx(est), X.astype(np.float32))
    assert label.dtype == object and set(label) <= set(names)
    check_classifier(est, X)
    X, y = DATA["breast_cancer"]
    est = fit(MLPClassifier((8,), max_iter=20, random_state=0),
              X, np.array(["malignant", "benign"])[y])
    check_classifier(est, X)


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_a_one_class_classifier_exports_its_two_probability_columns_and_its_class(output):
    X, _ = DATA["iris"]
    est = fit(MLPClassifier((4,), max_iter=20, random_state=0, output_activation=output),
              X, np.full(len(X), "only"))
    # the output of "another class" above the others everywhere: predict still gives
    # the one class
    est.intercepts_[-1] = np.array([5.0]) if output == "sigmoid" else np.array([-5.0, 5.0])
    assert est.predict_proba(X).shape == (len(X), 2)
    assert (est.predict_proba(X)[:, 1] > 0.5).all()
    check_classifier(est, X)


def test_integral_float_classes_become_int64_labels_and_others_are_refused():
    X, y = DATA["iris"]
    est = fit(MLPClassifier((8,), max_iter=10, random_state=0), X, y.astype(float) + 1.0)
    label, _ = run(to_onnx(est), X.astype(np.float32))
    assert label.dtype == np.int64
    np.testing.assert_array_equal(label, est.predict(X))
    est.classes_ = est.classes_ / 2.0  # scikit-learn refuses such labels at fit; a guard
    with pytest.raises(ValueError, match="integers or strings"):
        to_onnx(est)


def test_documented_inputs_and_outputs():
    X, y = DATA["iris"]
    est = fit(MLPClassifier((8,), max_iter=10, random_state=0), X, y)
    graph = to_onnx(est).graph
    assert [i.name for i in graph.input] == ["X"]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [o.name for o in graph.output] == ["label", "probabilities"]
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    net_graph = to_onnx(est.net_, X[:1]).graph
    assert [o.name for o in net_graph.output] == ["output"]
    assert net_graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


@pytest.mark.parametrize("opset", [13, 15, 21])
def test_target_opset(opset):
    X, y = DATA["iris"]
    est = fit(MLPClassifier((8,), max_iter=10, random_state=0, output_activation="sigmoid"),
              X, y)
    model = to_onnx(est, target_opset=opset)
    assert model.opset_import[0].version == opset
    label, proba = run(model, X.astype(np.float32))
    np.testing.assert_allclose(proba, est.predict_proba(X), atol=F32_TOL)


def test_bad_arguments():
    X, y = DATA["iris"]
    with pytest.raises(NotFittedError, match="instance is not fitted yet"):
        to_onnx(MLPClassifier())
    est = fit(MLPClassifier((8,), max_iter=5, random_state=0), X, y)
    with pytest.raises(ValueError, match="target_opset"):
        to_onnx(est, target_opset=12)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 4\)"):
        to_onnx(est, X[:1, :3])
    with pytest.raises(ValueError, match="float32 or float64"):
        to_onnx(est, X[:1].astype(int))
    with pytest.raises(TypeError, match="nablanet Network or estimator"):
        to_onnx(StandardScaler().fit(X))
    sk = fit(sklearn.neural_network.MLPClassifier((4,), max_iter=5, random_state=0), X, y)
    with pytest.raises(TypeError, match="from_sklearn first"):
        to_onnx(sk)


def test_top_level_name():
    assert nablanet.to_onnx is to_onnx


# --- skl2onnx: the estimators alone and in pipelines ---------------------------------


def test_skl2onnx_converts_an_estimator():
    register_skl2onnx()
    X, y = DATA["breast_cancer"]
    est = fit(MLPClassifier((16,), max_iter=30, random_state=0), X, y)
    model = skl2onnx.to_onnx(est, X[:1].astype(np.float32), options={"zipmap": False})
    label, proba = run(model, X.astype(np.float32))
    np.testing.assert_array_equal(label, est.predict(X))
    np.testing.assert_allclose(proba, est.predict_proba(X), atol=F32_TOL)
    # float64 input: skl2onnx's convention is a float64 graph
    label, proba = run(skl2onnx.to_onnx(est, X[:1], options={"zipmap": False}), X)
    np.testing.assert_allclose(proba, est.predict_proba(X), rtol=0, atol=1e-12)


def test_skl2onnx_converts_pipelines():
    register_skl2onnx()
    X, y = load_digits(return_X_y=True)
    pipe = fit(make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=30, random_state=0)),
               X, y)
    X32 = X.astype(np.float32)
    label, dicts = run(skl2onnx.to_onnx(pipe, X32[:1]), X32)  # ZipMap by default
    np.testing.assert_array_equal(label, pipe.predict(X))
    assert dicts[0].keys() == set(range(10))
    label, proba = run(skl2onnx.to_onnx(pipe, X32[:1], options={MLPClassifier: {"zipmap": False}}),
                       X32)
    np.testing.assert_array_equal(label, pipe.predict(X))
    np.testing.assert_allclose(proba, pipe.predict_proba(X), atol=F32_TOL)

    X, y = load_diabetes(return_X_y=True)
    pipe = fit(make_pipeline(StandardScaler(),
                             MLPRegressor((8,), solver="lbfgs", max_iter=50, random_state=0,
                                          output_activation="tanh")), X, y)
    (pred,) = run(skl2onnx.to_onnx(pipe, X[:1]), X)
    np.testing.assert_allclose(pred.ravel(), pipe.predict(X), rtol=1e-10)


@pytest.mark.parametrize("zipmap", [True, False, "columns"])
def test_skl2onnx_multilabel_with_every_zipmap_option(zipmap):
    register_skl2onnx()
    X, Y = digits_multilabel()
    est = fit(MLPClassifier((16,), max_iter=10, random_state=0), X, Y)
    X32 = X[:50].astype(np.float32)
    outputs = run(skl2onnx.to_onnx(est, X32[:1], options={"zipmap": zipmap}), X32)
    np.testing.assert_array_equal(outputs[0], est.predict(X[:50]))
    if zipmap is False:
        np.testing.assert_allclose(outputs[1], est.predict_proba(X[:50]), atol=F32_TOL)
    elif zipmap == "columns":  # one output per class
        proba = np.column_stack(outputs[1:])
        np.testing.assert_allclose(proba, est.predict_proba(X[:50]), atol=F32_TOL)
    else:
        assert outputs[1][0].keys() == {0, 1, 2}


# --- the UFLDL estimators -------------------------------------------------------------


def unit_digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y  # the autoencoders' sigmoid outputs reconstruct inputs in [0, 1]


def test_sparse_autoencoder_exports_its_features():
    X, _ = unit_digits()
    ae = nablanet.SparseAutoencoder(16, max_iter=20, random_state=0).fit(X)
    (features,) = run(to_onnx(ae), X.astype(np.float32))
    assert features.shape == (len(X), 16)
    np.testing.assert_allclose(features, ae.transform(X), rtol=0, atol=F32_TOL)
    (features,) = run(to_onnx(ae, X[:1]), X)
    np.testing.assert_allclose(features, ae.transform(X), rtol=0, atol=1e-12)
    register_skl2onnx()
    pipe = make_pipeline(nablanet.SparseAutoencoder(16, max_iter=20, random_state=0),
                         MLPClassifier((8,), solver="lbfgs", max_iter=50, random_state=0))
    pipe = fit(pipe, X, unit_digits()[1])
    label, proba = run(skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False}), X)
    np.testing.assert_array_equal(label, pipe.predict(X))
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=1e-12)


def test_softmax_regression_and_stacked_autoencoder_classifier():
    X, y = unit_digits()
    softmax = fit(nablanet.SoftmaxRegression(max_iter=30, random_state=0), X, y)
    check_classifier(softmax, X)
    stacked = fit(nablanet.StackedAutoencoderClassifier((16,), pretrain_max_iter=10,
                                                        max_iter=20, random_state=0), X, y)
    assert stacked.score(X, y) > 0.8
    check_classifier(stacked, X)


def test_an_estimator_without_a_network_is_refused():
    X, _ = unit_digits()
    with pytest.raises(TypeError, match="ZCAWhitening holds no network"):
        to_onnx(nablanet.ZCAWhitening().fit(X))
