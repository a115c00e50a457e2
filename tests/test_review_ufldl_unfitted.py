"""Review finding: SparseAutoencoder.transform unfitted (or after a failed fit)."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError

from nablanet import SparseAutoencoder
from nablanet.training import TrainingDiverged


def test_transform_unfitted_raises_not_fitted_error():
    """transform read ``self.net_`` before checking the fit: AttributeError."""
    with pytest.raises(NotFittedError):
        SparseAutoencoder(hidden_layer_size=3).transform(np.ones((2, 4)))


def test_transform_after_a_failed_fit_raises_not_fitted_error():
    X = load_iris().data / 8
    X[0, 0] = 1e308
    est = SparseAutoencoder(hidden_layer_size=3, max_iter=10, random_state=0)
    with pytest.raises(TrainingDiverged):
        est.fit(X)
    with pytest.raises(NotFittedError):
        est.transform(X[1:])
