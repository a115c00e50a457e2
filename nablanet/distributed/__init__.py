"""Data-parallel training and prediction on a Dask cluster.

- `DaskObjective`: the exact cost J(θ) and gradient over dask arrays, one task per row
  block, summed in a fixed binary tree; every full-batch method (gd, L-BFGS, CG) runs on
  it unchanged, so ``nablanet.train`` and the estimators' ``lbfgs`` solver accept dask
  arrays.
- `local_sgd`: minibatch methods by periodic averaging (K local steps per block, then the
  row-weighted mean of θ and of the optimizer's moments).
- `predict_rows` / `score`: prediction block by block, returning dask arrays.
- `from_npy`: read a large .npy file on the workers, so lost blocks are recomputed.

``nablanet.train`` and the estimators reach this package through the hook of
`nablanet._remote`, which `nablanet` fills with `nablanet.distributed._handler.DASK` on
import: they do not import it, since it builds on them.

Importing this package starts nothing and imports dask only when a name is used. With a
``distributed.Client`` active, work goes to its cluster; otherwise dask's local
scheduler runs it. Data placed with ``client.scatter`` cannot be recovered after a worker
dies: a `ScatteredDataWarning` says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nablanet._lazy import lazy_names

_EXPORTS = {
    "DaskObjective": "nablanet.distributed.objective",
    "ScatteredDataWarning": "nablanet.distributed._blocks",
    "from_npy": "nablanet.distributed._blocks",
    "is_dask": "nablanet.distributed._handler",
    "local_sgd": "nablanet.distributed.local_sgd",
    "LocalSGDResult": "nablanet.distributed.local_sgd",
    "predict_rows": "nablanet.distributed.predict",
    "score": "nablanet.distributed.predict",
}

__all__ = [
    "DaskObjective",
    "LocalSGDResult",
    "ScatteredDataWarning",
    "from_npy",
    "is_dask",
    "local_sgd",
    "predict_rows",
    "score",
]

if TYPE_CHECKING:
    from nablanet.distributed._blocks import ScatteredDataWarning, from_npy
    from nablanet.distributed._handler import is_dask
    from nablanet.distributed.local_sgd import LocalSGDResult, local_sgd
    from nablanet.distributed.objective import DaskObjective
    from nablanet.distributed.predict import predict_rows, score


__getattr__, __dir__ = lazy_names(_EXPORTS, globals())
