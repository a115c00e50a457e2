"""Whitening data whose covariance overflows names the feature (issue 19, item 5).

On main, ``ZCAWhitening``/``PCAWhitening`` on X × 1e300 raised NumPy's "Eigenvalues did
not converge".
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine

from nablanet.estimators.whitening import PCAWhitening, ZCAWhitening


@pytest.mark.parametrize("whitening", [PCAWhitening, ZCAWhitening])
def test_an_overflowing_covariance_names_its_feature(whitening):
    X = load_wine().data.copy()
    X[:, 6] *= 1e300
    with pytest.raises(ValueError, match=r"the covariance of X overflows float64: feature 6 "
                                         r"holds values up to 5\.08e\+300"):
        whitening().fit(X)


@pytest.mark.parametrize("whitening", [PCAWhitening, ZCAWhitening])
def test_all_features_overflowing_names_the_first(whitening):
    X = load_iris().data * 1e300
    with pytest.raises(ValueError, match=r"overflows float64: feature 0 .*scale the data"):
        whitening().fit(X)
    est = whitening()
    with pytest.raises(ValueError, match=r"overflows float64"):
        est.fit(X)
    assert not hasattr(est, "mean_")  # a failed fit leaves the estimator unfitted


@pytest.mark.parametrize("whitening", [PCAWhitening, ZCAWhitening])
def test_large_but_representable_data_still_whiten(whitening):
    X = load_iris().data * 1e150  # squares 1e300 summed over 150 rows: finite
    Z = whitening(epsilon=0.0).fit_transform(X)
    assert np.isfinite(Z).all()
