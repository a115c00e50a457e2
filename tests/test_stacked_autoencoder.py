"""StackedAutoencoderClassifier: pretraining, fine-tuning, scikit-learn's checks, model files."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from nablanet import MLPClassifier, StackedAutoencoderClassifier, load


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def before_after(digits):
    X_train, X_test, y_train, y_test = digits
    kw = dict(hidden_layer_sizes=(40, 30), weight_decay=1e-3, pretrain_max_iter=60, max_iter=60,
              random_state=0)
    before = StackedAutoencoderClassifier(fine_tune=False, **kw).fit(X_train, y_train)
    after = StackedAutoencoderClassifier(fine_tune=True, **kw).fit(X_train, y_train)
    return before, after


def test_pretrained_layers_are_the_autoencoders(before_after, digits):
    before, _ = before_after
    X_train = digits[0]
    net = before.net_
    assert net.layer_sizes == (64, 40, 30, 10)
    for l, ae in enumerate(before.autoencoders_):
        np.testing.assert_array_equal(net.W[l], ae.components_)
    # the first hidden layer's activations are the first autoencoder's features
    np.testing.assert_allclose(net.hidden(X_train, 0), before.autoencoders_[0].transform(X_train))
    assert isinstance(before.mlp_, MLPClassifier) and before.mlp_.n_iter_ == 0


def test_fine_tuning_improves_accuracy(before_after, digits):
    before, after = before_after
    _, X_test, _, y_test = digits
    acc_before, acc_after = before.score(X_test, y_test), after.score(X_test, y_test)
    assert acc_after >= 0.9
    assert acc_after > acc_before + 0.03
    assert after.mlp_.n_iter_ > 0


def test_model_file_round_trip(before_after, digits, tmp_path):
    _, after = before_after
    after.save(tmp_path / "sae.npz")
    back = load(tmp_path / "sae.npz")
    assert isinstance(back, StackedAutoencoderClassifier)
    np.testing.assert_array_equal(back.predict_proba(digits[1]), after.predict_proba(digits[1]))


def test_refusals(digits):
    with pytest.raises(ValueError, match="hidden_layer_sizes must be an integer"):
        StackedAutoencoderClassifier((0,)).fit(digits[0][:20], digits[2][:20])
    with pytest.raises(ValueError, match="fine_tune must be True or False"):
        StackedAutoencoderClassifier((3,), fine_tune="yes").fit(digits[0][:20], digits[2][:20])


@parametrize_with_checks(
    [StackedAutoencoderClassifier((6, 5), pretrain_max_iter=10, max_iter=50, random_state=0)]
)
def test_scikit_learn_checks(estimator, check):
    check(estimator)
