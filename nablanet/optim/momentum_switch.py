"""SGD whose momentum rises after a number of steps: UFLDL's ``minFuncSGD``.

UFLDL's CNN exercise trains with momentum 0.5 for its first iterations, then 0.95
("momIncrease = 20"), because a large momentum on the random initial weights' large
gradients overshoots. The training loop's schedules act per epoch; this switch acts per
step, so it lives in the optimizer, counted by the state's step counter.
"""

from __future__ import annotations

from dataclasses import dataclass

from nablanet._checks import integer
from nablanet.optim._inplace import in_unit_interval
from nablanet.optim.momentum import SGD


@dataclass
class MomentumSwitchSGD(SGD):
    """Classical momentum, μ₀ for the first steps and μ from step ``switch_at`` on.

    Parameters
    ----------
    learning_rate : float, default 0.01
        α (> 0).
    momentum : float, default 0.95
        μ, in [0, 1), from step ``switch_at`` (counted from 1) on.
    nesterov : bool, default False
        As in `SGD`.
    initial_momentum : float, default 0.5
        μ₀, in [0, 1), for steps 1 … ``switch_at`` − 1.
    switch_at : int, default 20
        The first step (from 1) that uses ``momentum``.

    Notes
    -----
    UFLDL's ``minFuncSGD.m``, per minibatch::

        it = it + 1;
        if it == momIncrease, mom = options.momentum; end
        velocity = mom*velocity + alpha*grad;
        theta = theta - velocity;

    which is `SGD`'s v ← μ v − α g, θ ← θ + v with v of the opposite sign; the old
    velocity keeps the old α when a schedule changes it, as UFLDL's does when it halves α
    after each epoch. With the defaults, steps 1–19 use 0.5 and step 20 on uses 0.95.
    """

    momentum: float = 0.95
    initial_momentum: float = 0.5
    switch_at: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        self.initial_momentum = in_unit_interval(self.initial_momentum, "initial_momentum")
        self.switch_at = integer(self.switch_at, "switch_at")

    def momentum_at(self, step: int) -> float:
        """μ of step ``step`` (counted from 1)."""
        return self.momentum if step >= self.switch_at else self.initial_momentum
