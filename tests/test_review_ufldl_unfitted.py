"""Review finding: SparseAutoencoder.transform unfitted (or after a failed fit)."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError

from nablanet import SparseAutoencoder
from nablanet.training import TrainingDiverged


def test_transform_unfitted_raises_not_fitted_error():
    """transform read ``self.net_`` before checking the fit: AttributeError."""
    with pytest.raises(NotFittedError, match="instance is not fitted yet"):
        SparseAutoencoder(hidden_layer_size=3).transform(np.ones((2, 4)))


def test_transform_after_a_failed_fit_raises_not_fitted_error():
    X = load_iris().data / 8
    X[0, 0] = 1e308
    est = SparseAutoencoder(hidden_layer_size=3, max_iter=10, random_state=0)
    with pytest.raises(TrainingDiverged, match=r"X holds a value of 1e\+308 \(row 0, column 0\)"):
        est.fit(X)
    with pytest.raises(NotFittedError, match="instance is not fitted yet"):
        est.transform(X[1:])
