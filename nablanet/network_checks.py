"""A network's own checks: `check_gradient` (docs/math.md §7) and `diagnose` (§6).

Both are facades: `nablanet.gradcheck` needs only a function θ ↦ (J, ∂J/∂θ), and
`nablanet.diagnostics` only a network's public trace (its `Traceable`); neither imports
the network, so the network may offer them as methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from nablanet.diagnostics import Diagnosis
    from nablanet.gradcheck import GradientCheckReport

Array = NDArray[Any]


class NetworkChecks:
    """`check_gradient` and `diagnose` for `nablanet.network.Network`."""

    if TYPE_CHECKING:  # what the network gives this mixin (typed loosely: the network
        # imports this module, so naming its class here would point the imports both ways)

        def astype(self, dtype: Any) -> Any: ...  # noqa: D102

    def check_gradient(
        self,
        X: Any,
        Y: Any,
        *,
        eps: float = 1e-4,
        tol: float = 1e-7,
        n_coords: int | None = None,
        seed: int | None = 0,
        sample_weight: Any = None,
    ) -> GradientCheckReport:
        """Compare backpropagation with central differences, in float64 (docs/math.md §7).

        Parameters
        ----------
        X, Y : array-like
            A small batch: the check costs 2 cost evaluations per checked coordinate.
        eps, tol : float
            Step of the central difference; largest relative difference that passes
            (1e-7, the one default: see `nablanet.gradcheck.check_gradient` for what a
            correct network gives and why).
        n_coords : int, optional
            Check only this many coordinates, drawn at random (for large networks).
        seed : int, optional
            Chooses those coordinates.
        sample_weight : array-like of shape (m,), optional
            Weights of the examples, as in `Network.loss_and_grad`.

        Returns
        -------
        GradientCheckReport
        """
        from nablanet.gradcheck import check_gradient  # imports nothing of the package

        net = self.astype(np.float64)
        X, Y = net.check_inputs(X, Y)

        def fun(theta: Array) -> tuple[float, Array]:
            return net.loss_and_grad(X, Y, theta, sample_weight=sample_weight)

        return check_gradient(fun, net.theta.copy(), eps=eps, tol=tol, n_coords=n_coords, seed=seed)

    def diagnose(
        self,
        X: Any,
        Y: Any,
        *,
        feature_names: Sequence[str] | None = None,
        targets_scaled: bool = False,
    ) -> Diagnosis:
        """Per-layer saturation, dead and starved units, δ sizes and learning speeds (§6).

        See `nablanet.diagnostics.diagnose`, whose keywords these are.
        """
        from nablanet.diagnostics import diagnose  # here: a fit or prediction never needs it

        net = cast(Any, self)
        return diagnose(net, X, Y, feature_names=feature_names, targets_scaled=targets_scaled)
