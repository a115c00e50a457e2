"""`ConvNetClassifier` (nablanet/estimators/convnet.py): MLPClassifier's interface over
convolution and pooling layers, on the real digits (8×8 images)."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

import nablanet
from nablanet import ConvNetClassifier, MLPClassifier
from nablanet.layers import Conv2D, Dense, MaxPool2D, MeanPool2D

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

#: A small convolutional network for 8×8 digits: 8 filters of 3×3, 2×2 max pooling,
#: 64 dense units (5402 parameters).
SMALL = ("conv8x3", "maxpool2", "64")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(digits):
    Xtr, _, ytr, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ConvNetClassifier(SMALL, max_iter=3, random_state=0).fit(Xtr[:300], ytr[:300])


# --- scikit-learn's estimator checks (two-dimensional data of any width) ----------------

# A 1×1 convolution and a dense layer read any input: n features are taken for a row of
# n pixels (1, 1, n), or a square image when n is a square number.
@parametrize_with_checks(
    [ConvNetClassifier(("conv4x1", "16"), max_iter=100, learning_rate_init=0.01)]
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# --- learning: real data --------------------------------------------------------------


def test_a_small_conv_net_learns_the_digits(digits):
    Xtr, Xte, ytr, yte = digits
    est = ConvNetClassifier(SMALL, learning_rate_init=0.01, max_iter=20, random_state=0)
    est.fit(Xtr, ytr)
    # measured: 0.960, 0.971, 0.976 for random_state 0, 1, 2 (about a second each)
    assert est.score(Xte, yte) >= 0.95
    assert est.input_shape_ == (1, 8, 8) and est.n_features_in_ == 64
    assert [type(layer) for layer in est.net_.layers] == [Conv2D, MaxPool2D, Dense, Dense]
    assert est.net_.activations[-1].name == "softmax" and est.n_outputs_ == 10


def test_images_as_maps_and_as_rows_give_the_same_model(digits):
    Xtr, Xte, ytr, _ = digits
    rows = ConvNetClassifier(SMALL, max_iter=2, random_state=0).fit(Xtr[:200], ytr[:200])
    maps = ConvNetClassifier(SMALL, max_iter=2, random_state=0)
    maps.fit(Xtr[:200].reshape(-1, 1, 8, 8), ytr[:200])
    assert np.array_equal(rows.net_.theta, maps.net_.theta)
    assert maps.input_shape_ == (1, 8, 8)
    P = rows.predict_proba(Xte)
    assert np.array_equal(maps.predict_proba(Xte.reshape(-1, 1, 8, 8)), P)
    with pytest.raises(ValueError, match=r"examples of shape \(1, 4, 16\).*reads \(1, 8, 8\)"):
        rows.predict(Xte.reshape(-1, 1, 4, 16))
    with pytest.raises(ValueError, match=r"rows \(m, C·H·W\) or feature maps \(m, C, H, W\)"):
        rows.predict(Xte.reshape(-1, 8, 8))


def test_input_shape_given_checked_and_inferred(digits):
    Xtr, _, ytr, _ = digits
    est = ConvNetClassifier(("conv2x3", "meanpool2"), input_shape=(1, 4, 16), max_iter=1,
                            random_state=0)
    est.fit(Xtr[:50], ytr[:50])
    assert est.input_shape_ == (1, 4, 16) and est.net_.layers[0].output_shape == (2, 2, 14)
    with pytest.raises(ValueError, match=r"input_shape=\(1, 8, 9\) holds 72 values .* 64"):
        ConvNetClassifier(SMALL, input_shape=(1, 8, 9)).fit(Xtr[:50], ytr[:50])
    with pytest.raises(ValueError, match="input_shape must be .channels, height, width."):
        ConvNetClassifier(SMALL, input_shape=(8, 8)).fit(Xtr[:50], ytr[:50])
    # 10 features, not a square number: a row of 10 pixels
    row = ConvNetClassifier(("conv2x1x3", "4"), max_iter=1, random_state=0)
    row.fit(Xtr[:50, :10], ytr[:50])
    assert row.input_shape_ == (1, 1, 10)


def test_layer_objects_are_copied_never_built(digits):
    Xtr, _, ytr, _ = digits
    conv = Conv2D(4, 3, activation="tanh")
    layers = [conv, MeanPool2D(2), "16:tanh"]
    est = ConvNetClassifier(layers, max_iter=1, random_state=0).fit(Xtr[:50], ytr[:50])
    assert not hasattr(conv, "input_shape")  # the given layer was never built
    assert est.layers is layers and est.layers[0] is conv
    assert est.net_.layers[0] is not conv and est.net_.layers[0].activation.name == "tanh"
    twin = clone(est)
    assert twin.get_params()["layers"][2] == "16:tanh"
    assert twin.get_params()["layers"][0].to_spec() == conv.to_spec()


def test_refusals_name_the_layer_and_the_problem(digits):
    Xtr, _, ytr, _ = digits
    with pytest.raises(ValueError, match=r"layer 2 \('maxpool'\) is not a layer"):
        ConvNetClassifier(("conv4x3", "maxpool", "10")).fit(Xtr[:20], ytr[:20])
    with pytest.raises(ValueError, match="kernel 9x9 is larger than its input 8x8"):
        ConvNetClassifier(("conv4x9",)).fit(Xtr[:20], ytr[:20])
    with pytest.raises(TypeError, match="needs dense input"):
        import scipy.sparse

        ConvNetClassifier(SMALL).fit(scipy.sparse.csr_matrix(Xtr[:20]), ytr[:20])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        ConvNetClassifier(SMALL).predict(Xtr[:2])
    with pytest.raises(ValueError, match="scikit-learn's MLPClassifier has no convolution"):
        ConvNetClassifier(SMALL).to_sklearn()


# --- the fitted model: views, transform, files ---------------------------------------------


def test_coefs_are_views_of_each_weighted_layer(fitted):
    net = fitted.net_
    coefs, intercepts = fitted.coefs_, fitted.intercepts_
    assert [c.shape for c in coefs] == [(8, 1, 3, 3), (72, 64), (64, 10)]
    assert [b.shape for b in intercepts] == [(8,), (64,), (10,)]
    assert all(np.shares_memory(c, net.theta) for c in coefs)
    np.testing.assert_array_equal(fitted.filters_, net.W[0])
    est = clone(fitted).fit(np.zeros((4, 64)), [0, 1, 0, 1])
    filters = np.full((8, 1, 3, 3), 0.5)
    est.coefs_[0] = filters
    np.testing.assert_array_equal(est.net_.W[0], filters)


def test_transform_is_the_last_hidden_layer_flattened(fitted, digits):
    _, Xte, _, _ = digits
    pooled = ConvNetClassifier(("conv8x3", "maxpool2"), max_iter=1, random_state=0)
    pooled.fit(Xte[:30], np.arange(30) % 3)
    H = pooled.transform(Xte[:5])
    assert H.shape == (5, 8 * 3 * 3)
    trace = pooled.net_.trace(Xte[:5])
    np.testing.assert_array_equal(H, trace.a[2].reshape(5, -1))  # (channel, row, column)
    assert fitted.transform(Xte[:5]).shape == (5, 64)
    assert fitted.get_feature_names_out()[0] == "convnetclassifier0"


def test_save_and_load_round_trip_exactly(fitted, digits, tmp_path):
    _, Xte, _, _ = digits
    path = tmp_path / "conv.nbn"
    fitted.save(path)
    back = nablanet.load(path)
    assert type(back) is ConvNetClassifier
    np.testing.assert_array_equal(back.predict_proba(Xte), fitted.predict_proba(Xte))
    np.testing.assert_array_equal(back.net_.theta, fitted.net_.theta)
    assert back.get_params()["layers"] == list(SMALL)
    assert [layer.to_spec() for layer in back.net_.layers] == [
        layer.to_spec() for layer in fitted.net_.layers
    ]
    assert back.loss_curve_ == fitted.loss_curve_ and back.n_iter_ == fitted.n_iter_


def test_layer_objects_are_saved_as_specs(digits, tmp_path):
    Xtr, Xte, ytr, _ = digits
    est = ConvNetClassifier([Conv2D(3, 3, padding="same", activation="sigmoid"), MaxPool2D(2)],
                            max_iter=1, random_state=0, dtype="float32")
    est.fit(Xtr[:60], ytr[:60])
    est.save(tmp_path / "m.nbn")
    back = nablanet.load(tmp_path / "m.nbn")
    assert back.get_params()["layers"][0] == est.layers[0].to_spec()
    assert back.net_.dtype == np.float32
    np.testing.assert_array_equal(back.predict_proba(Xte), est.predict_proba(Xte))


# --- training options from MLPClassifier ------------------------------------------------------


def test_warm_start_and_partial_fit_continue_the_network(digits):
    Xtr, _, ytr, _ = digits
    est = ConvNetClassifier(SMALL, max_iter=2, warm_start=True, random_state=0)
    est.fit(Xtr[:200], ytr[:200])
    theta = est.net_.theta.copy()
    net = est.net_
    est.fit(Xtr[:200], ytr[:200])
    assert est.net_ is net and not np.array_equal(net.theta, theta)
    assert len(est.loss_curve_) == 4
    inc = ConvNetClassifier(SMALL, random_state=0)
    inc.partial_fit(Xtr[:100].reshape(-1, 1, 8, 8), ytr[:100], classes=np.arange(10))
    inc.partial_fit(Xtr[100:200], ytr[100:200])
    assert inc.t_ == 200 and len(inc.loss_curve_) == 2
    assert not hasattr(ConvNetClassifier(SMALL, solver="lbfgs"), "partial_fit")


def test_early_stopping_and_lbfgs(digits):
    Xtr, _, ytr, _ = digits
    est = ConvNetClassifier(SMALL, early_stopping=True, n_iter_no_change=2, max_iter=50,
                            random_state=0).fit(Xtr[:400], ytr[:400])
    assert est.validation_scores_ and est.best_validation_score_ == max(est.validation_scores_)
    lbfgs = ConvNetClassifier(("conv2x3", "maxpool2"), solver="lbfgs", max_iter=5,
                              random_state=0).fit(Xtr[:100], ytr[:100])
    assert lbfgs.n_iter_ <= 5 and lbfgs.loss_ < lbfgs.loss_curve_[0]


def test_sample_weight_zero_is_a_row_left_out(digits):
    Xtr, Xte, ytr, _ = digits
    w = np.ones(120)
    w[100:] = 0.0
    params = dict(layers=SMALL, solver="lbfgs", max_iter=3, random_state=0)
    weighted = ConvNetClassifier(**params).fit(Xtr[:120], ytr[:120], sample_weight=w)
    # the same classes in both fits (rows 100-119 add none), so the same network
    assert set(ytr[100:120]) <= set(ytr[:100])
    left_out = ConvNetClassifier(**params).fit(Xtr[:100], ytr[:100])
    np.testing.assert_allclose(weighted.predict_proba(Xte), left_out.predict_proba(Xte),
                               rtol=1e-7, atol=1e-9)


def test_float32_trains_in_float32(digits):
    Xtr, Xte, ytr, _ = digits
    est = ConvNetClassifier(SMALL, max_iter=1, random_state=0, dtype="float32")
    est.fit(Xtr[:100], ytr[:100])
    assert est.net_.dtype == np.float32 and est.predict_proba(Xte).dtype == np.float32


def test_dropout_drops_dense_units_only(digits):
    Xtr, _, ytr, _ = digits

    def theta(layers, dropout):
        est = ConvNetClassifier(layers, dropout=dropout, max_iter=2, random_state=0)
        return est.fit(Xtr[:100], ytr[:100]).net_.theta

    # no dense hidden layer: nothing to drop (tests/test_dropout_layers.py says why)
    conv_pool = ("conv8x3", "maxpool2")
    np.testing.assert_array_equal(theta(conv_pool, 0.5), theta(conv_pool, 0.0))
    assert not np.allclose(theta(SMALL, 0.5), theta(SMALL, 0.0))


def test_from_network_checks_the_layers(fitted):
    net = fitted.net_.copy()
    est = ConvNetClassifier.from_network(net, np.arange(10), layers=SMALL)
    np.testing.assert_array_equal(est.net_.theta, fitted.net_.theta)
    with pytest.raises(ValueError, match="do not match layers=.*first difference at layer 1"):
        ConvNetClassifier.from_network(net, np.arange(10), layers=("conv4x3", "maxpool2", "64"))


def test_diagnose_reads_feature_maps(fitted, digits):
    _, Xte, _, yte = digits
    d = fitted.diagnose(Xte[:60], yte[:60])
    conv, pool, dense, out = d.layers
    assert conv.units == 8 and conv.maps and pool.maps and not dense.maps
    assert np.isnan(pool.grad_weight_ratio) and np.isnan(pool.bias_gradient_norm)
    assert pool.zero_inputs == pool.starved_inputs == ()
    # digits' corner pixels are 0 in every image, but the shared filters still learn:
    # the convolution's inputs are whole maps, and its one map is not 0
    assert conv.zero_inputs == ()
    assert all(not name.startswith("map") for name in dense.zero_inputs + dense.starved_inputs)
    rows = d.as_dicts()
    assert rows[0]["maps"] is True and "maps" not in rows[2]
    assert MLPClassifier  # the dense classifier's rows keep their fields (test_diagnostics)
