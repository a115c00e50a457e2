"""Dask collections handed to the core: the `nablanet._remote.RemoteRows` of this package.

`nablanet` registers `DASK` when it is imported, so that ``train``, ``fit``, ``predict`` and
``score`` given a dask collection run here without importing this package. Importing
this module imports neither dask nor NumPy: each method imports what it runs.
"""

from __future__ import annotations

import sys
from typing import Any


def is_dask(obj: Any) -> bool:
    """Whether ``obj`` is a dask collection; never imports dask itself.

    A dask collection can only exist once dask has been imported, so checking
    ``sys.modules`` first keeps ``import nablanet`` and NumPy-only calls free of dask.
    """
    dask = sys.modules.get("dask")
    return dask is not None and bool(dask.is_dask_collection(obj))


class DaskRows:
    """Rows in dask collections: the cluster loop, fit steps, block-wise prediction, scores."""

    owns = staticmethod(is_dask)  # on every predict: one call, no more

    def train_loop(self, net: Any, X: Any, Y: Any, **options: Any) -> tuple[Any, bool]:
        """`nablanet.train`'s loop over the objective summed per block (`cluster_loop`)."""
        from nablanet.distributed.training import cluster_loop

        return cluster_loop(net, X, Y, **options)

    def fit_rows(self) -> Any:
        """An estimator's data steps on dask arrays (`ClusterRows`)."""
        from nablanet.distributed.estimators import ClusterRows

        return ClusterRows()

    def map_rows(self, model: Any, method: str, X: Any) -> Any:
        """``model.method`` on each row block, a dask array back (`predict_rows`)."""
        from nablanet.distributed.predict import predict_rows

        return predict_rows(model, method, X)

    def score(self, model: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy or R², reduced on the cluster (`nablanet.distributed.score`)."""
        from nablanet.distributed.predict import score

        return score(model, X, y, sample_weight)


#: The one handler of dask collections.
DASK = DaskRows()
