"""PCA and ZCA whitening as scikit-learn transformers (UFLDL's "PCA" and "Whitening").

With the features' means removed and Σ = (1/m) X_cᵀ X_c = U diag(λ) Uᵀ (eigenvectors in
the columns of U, eigenvalues λ in decreasing order)::

    x_rot       = Uᵀ x                       rotate onto the principal axes
    x_PCAwhite  = x_rot,k / sqrt(λ_k + ε)    keep k components, equalise their variances
    x_ZCAwhite  = U x_PCAwhite               rotate back (all components)

ε regularises: the whitened covariance is diag(λ / (λ + ε)) rather than the identity, so
the directions of tiny variance (noise) are not blown up. Of all whitening matrices
(any R·diag(1/sqrt(λ+ε))·Uᵀ with R orthogonal), ZCA's U diag(1/sqrt(λ+ε)) Uᵀ is the only
symmetric one and the one that keeps the data closest to the original (UFLDL).
scikit-learn's ``PCA(whiten=True)`` has no ZCA and no ε.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from nablanet._checks import integer, number
from nablanet._lent import lent
from nablanet.estimators._network_fit import all_or_nothing

Array = NDArray[Any]


def _eigen(X: Array) -> tuple[Array, Array, Array]:
    """Feature means, eigenvalues (decreasing, ≥ 0) and eigenvectors of the covariance.

    Eigenvalues within rounding error of 0 (as `numpy.linalg.matrix_rank` judges it:
    at most λ_max · n · machine ε) are set to 0: a dependent feature's variance comes out
    of ``eigh`` as ±1e-16 or so, which is no variance at all.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is named below
        mean = X.mean(axis=0)
        Xc = X - mean
        sigma = Xc.T @ Xc / X.shape[0]
    if not np.isfinite(sigma).all():
        raise _overflow(X, mean, sigma)
    lam, U = np.linalg.eigh(sigma)
    order = np.argsort(lam)[::-1]
    lam, U = lam[order], U[:, order]
    noise = lam[0] * lam.size * np.finfo(np.float64).eps
    return mean, np.where(lam > noise, lam, 0.0), U


def _overflow(X: Array, mean: Array, sigma: Array) -> ValueError:
    """The error for a covariance Σ that overflows float64, naming the first feature at fault.

    The feature whose mean or variance is not finite, else the first row of Σ holding an
    entry that is not (a covariance of two large features).
    """
    diagonal = np.diagonal(sigma)
    bad = ~np.isfinite(mean) | ~np.isfinite(diagonal)
    j = int(np.argmax(bad)) if bad.any() else int(np.argmax(~np.isfinite(sigma).all(axis=1)))
    largest = float(np.max(np.abs(X[:, j])))
    return ValueError(
        f"the covariance of X overflows float64: feature {j} holds values up to "
        f"{largest:.3g}, whose squares summed over the samples exceed the largest float64 "
        f"({np.finfo(np.float64).max:.2g}); scale the data (e.g. divide by its largest "
        "absolute value) before whitening"
    )


class _Whitening(TransformerMixin, BaseEstimator):
    """What PCA and ZCA whitening share: fitting Σ's eigendecomposition and ε."""

    def fit(self, X: Any, y: Any = None) -> Any:
        """Learn the means and the whitening of X (shape (n_samples, n_features))."""
        with all_or_nothing(self):
            self._fit(X)
        return self

    def _fit(self, X: Any) -> None:
        raise NotImplementedError

    def _fit_eigen(self, X: Any) -> Array:
        number(self.epsilon, "epsilon", low=0.0)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        self.mean_, self.explained_variance_, U = _eigen(X)
        return U

    def _scale(self, lam: Array, what: str) -> Array:
        """sqrt(λ + ε) of the components kept; a zero would divide by zero in transform."""
        scale = np.sqrt(lam + self.epsilon)
        if not (scale > 0).all():
            raise ValueError(
                f"epsilon = 0 needs {what} of nonzero variance; use epsilon > 0 for data "
                "with constant or dependent features"
            )
        return scale

    def save(self, path: Any) -> None:
        """Write the fitted whitening to a safe model file (``nablanet.save``).

        Its means, eigenvalues and matrices are arrays, ε and the sizes JSON; it is also
        saved as a step of a scikit-learn pipeline (see `nablanet.io.preprocessors`).
        """
        lent("save")(self, path)  # nablanet.save: lent (see nablanet._lent)

    def _prepare(self, X: Any) -> Array:
        check_is_fitted(self, "mean_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X - self.mean_


class PCAWhitening(_Whitening):
    """PCA whitening: project onto the top principal axes and divide by sqrt(λ + ε).

    Parameters
    ----------
    n_components : int or float, default 0.99
        An int keeps that many components; a float in (0, 1] keeps the fewest whose
        eigenvalues sum to at least that share of the variance (UFLDL: 99%).
    epsilon : float, default 0.1
        ε added to each eigenvalue (UFLDL's value for natural-image patches in [0, 1]).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    components_ : ndarray of shape (n_components_, n_features)
        The kept eigenvectors of Σ as rows (Uᵀ's first rows).
    explained_variance_ : ndarray of shape (n_features,)
        Every eigenvalue λ of Σ, in decreasing order.
    n_components_ : int
    """

    def __init__(self, n_components: int | float = 0.99, epsilon: float = 0.1) -> None:
        self.n_components = n_components
        self.epsilon = epsilon

    def _fit(self, X: Any) -> None:
        """Learn the means and the principal axes of X (shape (n_samples, n_features))."""
        U = self._fit_eigen(X)
        self.n_components_ = self._n_kept(self.explained_variance_)
        self._scale(self.explained_variance_[: self.n_components_], "every kept component")
        self.components_ = U[:, : self.n_components_].T.copy()

    def _n_kept(self, lam: Array) -> int:
        k = self.n_components
        if isinstance(k, float):
            share = number(k, "n_components", 0.0, 1.0, low_open=True)
            total = lam.sum()
            if total == 0:
                return 1
            cumulative = np.cumsum(lam) / total
            return min(int(np.searchsorted(cumulative, share - 1e-12)) + 1, lam.size)
        return integer(k, "n_components", low=1, high=lam.size)

    def transform(self, X: Any) -> Array:
        """x_PCAwhite = Uₖᵀ (x − mean) / sqrt(λₖ + ε), shape (n_samples, n_components_)."""
        Xc = self._prepare(X)
        lam = self.explained_variance_[: self.n_components_]
        return (Xc @ self.components_.T) / np.sqrt(lam + self.epsilon)

    def inverse_transform(self, X: Any) -> Array:
        """Back to the input space: Uₖ (x_white · sqrt(λₖ + ε)) + mean.

        Exact when every component is kept; otherwise the projection onto the kept axes.
        """
        check_is_fitted(self, "mean_")
        X = np.asarray(X, dtype=np.float64)
        lam = self.explained_variance_[: self.n_components_]
        return (X * np.sqrt(lam + self.epsilon)) @ self.components_ + self.mean_

    def get_feature_names_out(self, input_features: Any = None) -> Array:
        """``pcawhitening0``, ``pcawhitening1``, ..."""
        check_is_fitted(self, "n_components_")
        return np.asarray([f"pcawhitening{i}" for i in range(self.n_components_)], dtype=object)


class ZCAWhitening(OneToOneFeatureMixin, _Whitening):
    """ZCA whitening: x_ZCAwhite = U diag(1/sqrt(λ + ε)) Uᵀ (x − mean), every component kept.

    Parameters
    ----------
    epsilon : float, default 0.1
        ε added to each eigenvalue.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    explained_variance_ : ndarray of shape (n_features,)
        The eigenvalues λ of Σ, in decreasing order.
    components_ : ndarray of shape (n_features, n_features)
        Eigenvectors of Σ as rows (Uᵀ).
    whitening_ : ndarray of shape (n_features, n_features)
        The symmetric matrix U diag(1/sqrt(λ + ε)) Uᵀ.
    """

    def __init__(self, epsilon: float = 0.1) -> None:
        self.epsilon = epsilon

    def _fit(self, X: Any) -> None:
        """Learn the means and the whitening matrix of X (shape (n_samples, n_features))."""
        U = self._fit_eigen(X)
        self.components_ = U.T.copy()
        # every component is kept: the covariance must have full rank
        scale = self._scale(self.explained_variance_, "every component (a covariance of full rank)")
        self.whitening_ = (U / scale) @ U.T
        self._unwhitening = (U * scale) @ U.T

    def transform(self, X: Any) -> Array:
        """x_ZCAwhite for each row, shape (n_samples, n_features)."""
        return self._prepare(X) @ self.whitening_  # symmetric: its transpose is itself

    def inverse_transform(self, X: Any) -> Array:
        """U diag(sqrt(λ + ε)) Uᵀ x + mean: undoes `transform` exactly."""
        check_is_fitted(self, "mean_")
        return np.asarray(X, dtype=np.float64) @ self._unwhitening + self.mean_
