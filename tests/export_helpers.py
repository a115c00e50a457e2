"""What the export tests share: quiet fits and standardised data sets."""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler


def fit(est, X, y):
    """``est.fit(X, y)`` without the ConvergenceWarning of the short fits the tests use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def scaled(loader):
    """A scikit-learn data set, standardised."""
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y
