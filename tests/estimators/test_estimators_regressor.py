"""MLPRegressor's own behaviour (nablanet/estimators/regressor.py): several outputs, and
targets scaled into a bounded output's range and back."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from nablanet import MLPRegressor

no_convergence_warning = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)



@no_convergence_warning
def test_regressor_attributes_and_multi_output(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, -2.0 * y + 5.0])
    est = MLPRegressor(hidden_layer_sizes=(10,), max_iter=10, random_state=0).fit(X, Y)
    assert est.out_activation_ == "identity" and est.n_outputs_ == 2
    assert est.predict(X).shape == (442, 2)
    single = MLPRegressor(hidden_layer_sizes=(10,), max_iter=10, random_state=0).fit(X, y)
    assert single.predict(X).shape == (442,) and single.n_outputs_ == 1
    assert not hasattr(single, "classes_")



@no_convergence_warning
def test_sigmoid_regressor_scales_targets_into_zero_one(diabetes):
    X, y = diabetes
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    est = MLPRegressor(output_activation="sigmoid", solver="lbfgs", alpha=1.0,
                       hidden_layer_sizes=(10,), max_iter=500, random_state=0)
    est.fit(X_train, y_train)
    out = est.net_.forward(X_train)
    assert 0.0 < out.min() and out.max() < 1.0
    # predictions come back on the original scale: min + (max − min) · a
    lo, hi = y_train.min(), y_train.max()
    np.testing.assert_allclose(est.predict(X_train), lo + (hi - lo) * out[:, 0], rtol=1e-12)
    assert est.predict(X_test).mean() == pytest.approx(y_test.mean(), rel=0.1)
    assert est.score(X_test, y_test) > 0.35




def test_regressor_partial_fit(diabetes):
    X, y = diabetes
    est = MLPRegressor(hidden_layer_sizes=(10,), random_state=0, learning_rate_init=0.05)
    losses = []
    for _ in range(5):
        est.partial_fit(X, y)
        losses.append(est.loss_)
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 5 and losses[-1] < losses[0]



@pytest.mark.parametrize("continue_by", ["partial_fit", "warm_start"])
def test_bounded_regressor_refuses_to_continue_on_targets_beyond_its_scaling(diabetes,
                                                                             continue_by):
    # The first fit's targets set the sigmoid's scaling: [25, 346] for diabetes. Later
    # targets beyond it cannot be reached by the output; training on them would predict
    # a clipped range without a word, so it is refused, naming the range and the remedies.
    X, y = diabetes
    est = MLPRegressor(hidden_layer_sizes=(4,), output_activation="sigmoid", max_iter=2,
                       warm_start=continue_by == "warm_start", random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        est.fit(X, y)
    again = est.partial_fit if continue_by == "partial_fit" else est.fit
    theta = est.net_.theta.copy()
    with pytest.raises(ValueError, match=r"spans \[50, 692\], but the sigmoid output reaches "
                       r"only \[25, 346\].*scale the targets yourself.*'identity'"):
        again(X, 2.0 * y)
    np.testing.assert_array_equal(est.net_.theta, theta)  # refused before any step
    # targets within the range, and beyond it only in rows of weight 0, are accepted
    s = (y <= 300).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again(X, y)
        again(X, np.where(s > 0, y, 1e3), sample_weight=s)
    assert not np.array_equal(est.net_.theta, theta)
