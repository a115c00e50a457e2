"""`nablanet.train` on dask arrays: the training loop, its data replaced by a `DaskObjective`.

The loop (restarts, callbacks, early stopping, the divergence guard) is the one in
`nablanet.training`; only the three places that touch the data change: the full-batch
cost and gradient, the validation cost and score, and the final loss. Each is one
evaluation round on the cluster. Full-batch methods run unchanged on it: "gd" with
``batch_size=None``, "lbfgs" and "cg". Minibatch methods need `local_sgd`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nablanet.distributed.objective import DaskObjective
from nablanet.distributed.predict import mean_block_score
from nablanet.network import Network
from nablanet.training.blas_threads import ThreadChoice
from nablanet.training.history import History
from nablanet.training.run import MakeLoop, RunLoop, Score, TrainingData

Array = Any

#: `train`'s optimizers that are minibatch methods: on dask arrays, `local_sgd` runs them.
MINIBATCH_METHODS = ("sgd", "adam")


class ClusterLoop(RunLoop):
    """One run's loop whose every pass over the data is a round on the cluster."""

    def __init__(
        self,
        net: Network,
        objective: DaskObjective,
        validation: DaskObjective | None,
        score: Score | None,
        rng: np.random.Generator,
        history: History,
    ) -> None:
        data = TrainingData(
            objective.X, objective.Y, objective.sample_weight,
            None if validation is None else validation.X,
            None if validation is None else validation.Y,
        )
        super().__init__(net, data, score, 0.0, rng, history)
        self.objective, self.validation = objective, validation

    def _threads(self, rows: int) -> ThreadChoice:
        # The steps' products run on the workers (each task on one BLAS thread): the
        # driver has none whose threads a measurement could choose.
        return ThreadChoice(self.net.layer_sizes, rows=0)

    def _full_batch(self, theta: Array, grad: Array) -> float:
        J, _ = self.objective.loss_and_grad(theta, grad)
        return J

    def _validation(self) -> tuple[float, float]:
        if self.validation is None:
            return math.nan, math.nan
        theta = self.net.theta
        score = math.nan
        if self.score is not None:
            v = self.validation
            score = mean_block_score(self.net, self.score, v.X, v.Y)
        return self.validation.cost(theta), score

    def _cost_at(self, theta: Array) -> float:
        return self.objective.cost(theta)

    def final_loss(self) -> float:
        """The validation cost at the final θ, else the full training cost."""
        source = self.validation if self.validation is not None else self.objective
        return source.cost(self.net.theta)


def cluster_loop(
    net: Network,
    X: Any,
    Y: Any,
    sample_weight: Any,
    validation_data: tuple[Any, Any] | None,
    validation_fraction: float | None,
    score: Score | None,
    dropout: float,
    rng: np.random.Generator,
    batch_size: int | None,
    optimizer: Any = None,
) -> tuple[MakeLoop, bool]:
    """Check what a cluster run supports and return `nablanet.training`'s loop factory.

    ``optimizer`` is `train`'s argument as given: the names of minibatch methods
    (`MINIBATCH_METHODS`) are refused, pointing to `local_sgd`.

    Raises
    ------
    ValueError
        For minibatches (a batch size, or ``optimizer`` "sgd" or "adam", the default of
        `train`), dropout or ``validation_fraction`` (give ``validation_data``, dask
        arrays too, instead: a random split would shuffle rows across workers).
    """
    if isinstance(optimizer, str) and optimizer in MINIBATCH_METHODS:
        raise ValueError(
            f"optimizer={optimizer!r} on dask arrays: train() runs full-batch methods only "
            "(optimizer='lbfgs', 'cg', or 'gd' with batch_size=None), where each step is "
            f"one round over every row on the cluster; for {optimizer} on minibatches use "
            f"nablanet.distributed.local_sgd(net, X, Y, optimizer={optimizer!r}, "
            "sync_every=...)"
        )
    if dropout:
        raise ValueError("dropout needs minibatches; dask arrays train full-batch only")
    objective = DaskObjective(net, X, Y, sample_weight)
    if batch_size is not None and batch_size < objective.n_samples:
        raise ValueError(
            f"batch_size={batch_size}: on dask arrays train() runs full-batch methods only "
            "(gd with batch_size=None, lbfgs, cg); for minibatches use "
            "nablanet.distributed.local_sgd"
        )
    if validation_fraction is not None:
        raise ValueError(
            "validation_fraction is not supported on dask arrays: pass validation_data "
            "(dask arrays) instead"
        )
    validation = None
    if validation_data is not None:
        validation = DaskObjective(net, *validation_data)

    def make_loop(history: History) -> RunLoop:
        return ClusterLoop(net, objective, validation, score, rng, history)

    return make_loop, validation is not None
