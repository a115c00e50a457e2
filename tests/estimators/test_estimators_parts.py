"""A fitted estimator from its parts, and what it tells of its targets: the public seams.

`from_network`, `target_kind_`, `target_scaling_`, `stopping_state_` and `loss_for` give
other rooms (the scikit-learn conversion, the ONNX graph) what they used to read and write
as the estimators' private attributes.
"""

import numpy as np
import pytest

from nablanet import MLPClassifier, MLPRegressor, Network
from nablanet.estimators import StoppingState
from nablanet.io import load
from nablanet.layers import Conv2D, Dense


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_classifier_from_its_network_predicts_as_the_fitted_one(iris):
    X, y = iris
    fitted = MLPClassifier((5,), max_iter=30, random_state=0).fit(X, y)
    rebuilt = MLPClassifier.from_network(fitted.net_.copy(), fitted.classes_,
                                         **fitted.get_params())
    np.testing.assert_array_equal(rebuilt.predict_proba(X), fitted.predict_proba(X))
    assert rebuilt.target_kind_ == fitted.target_kind_ == "multiclass"
    assert (rebuilt.n_features_in_, rebuilt.n_layers_, rebuilt.out_activation_) == (4, 3, "softmax")
    assert rebuilt.n_iter_ == 0 and rebuilt.loss_curve_ == []
    # fitted, it continues from the given weights
    rebuilt.set_params(warm_start=True, max_iter=2).fit(X, y)
    assert rebuilt.n_iter_ == 2


def test_two_classes_and_multi_label_targets_tell_their_kind(cancer):
    X, y = cancer
    net = Network([X.shape[1], 4, 1], output_activation="sigmoid", seed=0)
    binary = MLPClassifier.from_network(net, [0, 1], hidden_layer_sizes=(4,))
    assert binary.target_kind_ == "binary"
    assert set(binary.predict(X)) <= {0, 1}
    multi = MLPClassifier.from_network(
        Network([X.shape[1], 4, 3], output_activation="sigmoid", seed=0), ["a", "b", "c"],
        multilabel=True, hidden_layer_sizes=(4,),
    )
    assert multi.target_kind_ == "multilabel-indicator"
    assert multi.predict(X).shape == (X.shape[0], 3)


def test_from_network_refuses_a_network_the_parameters_do_not_describe():
    net = Network([4, 6, 3], output_activation="softmax", seed=0)
    with pytest.raises(ValueError, match=r"hidden layers \[6\] do not match"):
        MLPClassifier.from_network(net, [0, 1, 2], hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match="output activation 'softmax' is not the one"):
        MLPClassifier.from_network(net, [0, 1, 2], hidden_layer_sizes=(6,),
                                   output_activation="sigmoid")
    with pytest.raises(ValueError, match="learning_rate_init"):
        MLPClassifier.from_network(net, [0, 1, 2], hidden_layer_sizes=(6,),
                                   learning_rate_init=-1.0)


def test_a_regressor_from_its_network_scales_its_outputs_back(diabetes):
    X, _ = diabetes
    net = Network([X.shape[1], 3, 2], output_activation="sigmoid", seed=1)
    offset, scale = np.array([10.0, -1.0]), np.array([2.0, 0.5])
    est = MLPRegressor.from_network(net, target_offset=offset, target_scale=scale,
                                    hidden_layer_sizes=(3,), output_activation="sigmoid")
    np.testing.assert_allclose(est.predict(X), offset + scale * net.forward(X), rtol=1e-15)
    got_offset, got_scale = est.target_scaling_
    np.testing.assert_array_equal(got_offset, offset)
    got_scale[:] = 7.0  # a copy: the fitted scaling is not changed through it
    np.testing.assert_array_equal(est.target_scaling_[1], scale)
    assert est.targets_scaled_
    plain = MLPRegressor.from_network(Network([X.shape[1], 3, 1], output_activation="identity",
                                              seed=1),
                                      hidden_layer_sizes=(3,))
    assert not plain.targets_scaled_
    with pytest.raises(ValueError, match="the scales positive"):
        MLPRegressor.from_network(net, target_scale=[1.0, 0.0], hidden_layer_sizes=(3,),
                                  output_activation="sigmoid")


def test_the_stopping_counters_and_the_loss_are_asked_not_read(iris):
    X, y = iris
    state = StoppingState(0.01, 3, 0.5)
    est = MLPClassifier.from_network(
        Network([4, 5, 3], output_activation="softmax", seed=0), [0, 1, 2],
        stopping=state, hidden_layer_sizes=(5,), solver="sgd",
    )
    seen = est.stopping_state_
    assert (seen.learning_rate, seen.no_improvement_count, seen.best_loss) == (0.01, 3, 0.5)
    assert MLPClassifier().loss_for("softmax") == "cross_entropy"
    assert MLPClassifier().loss_for("logistic") == "binary_cross_entropy"
    assert MLPRegressor().loss_for("identity") == "squared_error"
    assert MLPRegressor(loss="poisson").loss_for("exp") == "poisson"


@pytest.mark.parametrize("sizes, output, classes, multilabel, match", [
    ([4, 5, 2], "softmax", [0, 1, 2], False, r"output layer has 2 units; .* on 3 softmax"),
    ([4, 5, 4], "softmax", [0, 1, 2], False, r"output layer has 4 units; .* on 3 softmax"),
    ([4, 5, 3], "sigmoid", [0, 1], False, r"output layer has 3 units; .* on 1 sigmoid"),
    ([4, 5, 1], "softmax", [0, 1], False, r"output layer has 1 units; .* on 2 softmax"),
    ([4, 5, 2], "sigmoid", ["a", "b", "c"], True,
     r"has 2 units; .* on 3 sigmoid output\(s\) \(one per label of 3\)"),
])
def test_the_output_layer_must_have_a_unit_per_class(sizes, output, classes, multilabel, match):
    # before: accepted, and predict never told the third class (or failed with an IndexError)
    net = Network(sizes, activation="relu", output_activation=output, seed=0)
    with pytest.raises(ValueError, match=match):
        MLPClassifier.from_network(net, classes=classes, multilabel=multilabel,
                                   hidden_layer_sizes=(5,), output_activation=output)


def test_the_hidden_activation_and_the_loss_must_be_the_parameters():
    # get_params() would describe another model than the one that predicts: a clone, a
    # refit or a cold fit() would build that other model
    tanh = Network([4, 5, 3], activation="tanh", output_activation="softmax", seed=0)
    with pytest.raises(ValueError, match=r"activations \['tanh'\] are not activation='relu'"):
        MLPClassifier.from_network(tanh, [0, 1, 2], hidden_layer_sizes=(5,), activation="relu")
    with pytest.raises(ValueError, match="loss 'cross_entropy' is not MLPClassifier's"):
        MLPClassifier.from_network(tanh, [0, 1, 2], hidden_layer_sizes=(5,),
                                   activation="tanh", loss="squared_error")
    two = Network([4, 5, 5, 1], activation=["tanh", "relu"], output_activation="identity",
                  seed=0)
    with pytest.raises(ValueError, match=r"\['tanh', 'relu'\] are not activation='tanh'"):
        MLPRegressor.from_network(two, hidden_layer_sizes=(5, 5), activation="tanh")


def test_what_is_not_given_is_read_from_the_network(iris):
    X, y = iris
    net = Network([4, 5, 3], activation="tanh", output_activation="sigmoid",
                  loss="squared_error", seed=0)
    est = MLPClassifier.from_network(net, [0, 1, 2], hidden_layer_sizes=(5,))
    params = est.get_params()
    assert (params["activation"], params["output_activation"], params["loss"]) == (
        "tanh", "sigmoid", "squared_error")
    # a cold fit from the parameters builds the same kind of network
    cold = MLPClassifier(**params).set_params(max_iter=1, random_state=0)
    with pytest.warns(Warning, match="Maximum iterations"):
        cold.fit(X, y)
    assert [a.name for a in cold.net_.activations] == ["tanh", "sigmoid"]
    assert cold.net_.loss.name == "squared_error"
    # the natural choices stay None, as scikit-learn's parameters say
    plain = MLPClassifier.from_network(
        Network([4, 5, 3], activation="relu", output_activation="softmax", seed=0), [0, 1, 2],
        hidden_layer_sizes=(5,),
    )
    assert (plain.output_activation, plain.loss) == (None, None)


def test_a_network_of_other_layers_than_dense_is_refused():
    net = Network([Conv2D(2, 3, activation="relu"), Dense(3, "softmax")], input_shape=(1, 4, 4),
                  seed=0)
    with pytest.raises(ValueError, match="network's layer 0 is a Conv2D"):
        MLPClassifier.from_network(net, [0, 1, 2], hidden_layer_sizes=(8,))


def test_an_estimator_from_its_parts_saves_and_loads_before_any_fit(iris, tmp_path):
    # a file needed loss_, which an estimator that was never fitted has not
    X, y = iris
    est = MLPClassifier.from_network(
        Network([4, 5, 3], activation="relu", output_activation="softmax", seed=0), [0, 1, 2],
        hidden_layer_sizes=(5,),
    )
    est.save(tmp_path / "parts.npz")
    back = load(tmp_path / "parts.npz")
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    assert not hasattr(back, "loss_") and back.n_iter_ == 0
    back.set_params(warm_start=True, max_iter=1)
    with pytest.warns(Warning, match="Maximum iterations"):
        back.fit(X, y)
    assert np.isfinite(back.loss_)
