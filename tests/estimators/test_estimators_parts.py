"""A fitted estimator from its parts, and what it tells of its targets: the public seams.

`from_network`, `target_kind_`, `target_scaling_`, `stopping_state_` and `loss_for` give
other rooms (the scikit-learn conversion, the ONNX graph) what they used to read and write
as the estimators' private attributes.
"""

import numpy as np
import pytest

from nablanet import MLPClassifier, MLPRegressor, Network
from nablanet.estimators import StoppingState


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
