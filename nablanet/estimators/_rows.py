"""The data steps of a fit, apart from the fit: rows in memory here, or rows held elsewhere.

An estimator's ``fit`` is one path (``_BaseMLP._fit``): check the parameters, start or
continue the network, train, commit. Only the steps that touch the rows differ with where
they live, and a `FitRows` object does them: checking X, y and the sample weights, casting
X to the training dtype, coding the targets. `InMemoryRows` does them for arrays (and
scipy's sparse matrices) in this process; for a collection held elsewhere the handler that
owns it (`nablanet._remote`) gives its own, so a cluster fit runs the same path.

The estimator hands the target coding over as a `TargetCoding` of its own methods: the
rows' steps call them without knowing the estimator's insides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from numpy.typing import NDArray
from sklearn.utils.validation import validate_data

from nablanet._arrays import check_sample_weight
from nablanet._remote import handler_for
from nablanet.estimators._inputs import FLOAT_DTYPES, SPARSE_FORMATS, as_network_matrix

Array = NDArray[Any]


@dataclass(frozen=True)
class TargetCoding:
    """An estimator's coding of targets, as the rows' steps need it.

    Attributes
    ----------
    encode : callable ``(y, fit, dtype, sample_weight=None) -> Y``
        Targets coded for the output layer; ``fit`` learns the coding first (the classes,
        a bounded output's scaling).
    check_warm_start : callable ``(y) -> None``
        Refuses targets a warm start cannot continue with (the classifier's classes).
    check_continued : callable ``(Y, sample_weight) -> None``
        Refuses coded targets the fitted output cannot reach (the regressor's range).
    is_classifier : bool
    """

    encode: Callable[..., Array]
    check_warm_start: Callable[[Any], None]
    check_continued: Callable[[Array, Array | None], None]
    is_classifier: bool


class FitRows(Protocol):
    """The steps of a fit that depend on where the rows live."""

    def check_solver(self, solver: str) -> None:
        """Refuse a solver these rows cannot train with (before anything changes)."""

    def validate(
        self, est: Any, X: Any, y: Any, sample_weight: Any, reset: bool
    ) -> tuple[Any, Any, Any]:
        """X, y and the sample weights as given, checked; ``reset`` records the features."""

    def matrix(self, X: Any, dtype: Any) -> Any:
        """X in the training dtype."""

    def targets(
        self, coding: TargetCoding, y: Any, sample_weight: Any, m: int, dtype: Any,
        continuing: bool, incremental: bool,
    ) -> tuple[Any, Any]:
        """The coded targets Y and the checked sample weights."""


class InMemoryRows:
    """Arrays and sparse matrices in this process: scikit-learn's checks, then the coding."""

    def check_solver(self, solver: str) -> None:
        """Every solver trains on rows in memory."""

    def validate(
        self, est: Any, X: Any, y: Any, sample_weight: Any, reset: bool
    ) -> tuple[Any, Any, Any]:
        """scikit-learn's `validate_data` (it records ``n_features_in_`` on a reset)."""
        X, y = validate_data(
            est, X, y, reset=reset, multi_output=True, y_numeric=not est._is_classifier,
            accept_sparse=SPARSE_FORMATS, dtype=FLOAT_DTYPES,
        )
        return X, y, sample_weight

    def matrix(self, X: Any, dtype: Any) -> Any:
        """C-contiguous (CSR for sparse) in ``dtype``: see `as_network_matrix`."""
        return as_network_matrix(X, dtype)

    def targets(
        self, coding: TargetCoding, y: Any, sample_weight: Any, m: int, dtype: Any,
        continuing: bool, incremental: bool,
    ) -> tuple[Any, Any]:
        """Check a warm start's targets and the weights; code y; check a continued range."""
        if continuing and not incremental:
            coding.check_warm_start(y)
        s = None if sample_weight is None else check_sample_weight(sample_weight, m)
        Y = coding.encode(y, fit=not continuing, dtype=dtype, sample_weight=s)
        if continuing:
            coding.check_continued(Y, s)
        return Y, s


def fit_rows(X: Any) -> FitRows:
    """The data steps for X: those of the handler that holds its rows, else in memory."""
    handler = handler_for(X)
    return InMemoryRows() if handler is None else handler.fit_rows()
