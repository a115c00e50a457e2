"""scikit-learn estimators: `MLPClassifier` and `MLPRegressor`.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``
(1.9): the same constructor parameters with the same meaning and the same fitted
attributes, trained by nablanet's network and loop. Extra parameters, whose defaults
reproduce scikit-learn's behaviour, give what scikit-learn's MLP lacks: an activation
per layer, any output activation and loss (the source's conventions included),
dropout, restarts, callbacks and float32 training.

The package: `_base` (the all-or-nothing fit, fitted views), `_params` (the declared
parameters and their checks), `classifier`, `regressor`, `_training` (scikit-learn's
settings as one call of `nablanet.train`), `_optimizer` (the optimizer ``partial_fit``
goes on with), `_stopping` (scikit-learn's stopping rule as a callback), `_checkpoint`
(Ctrl-C keeps the completed epochs), `_transaction` (a fit is all or nothing),
`_layer_arrays` (assignable ``coefs_`` and ``intercepts_``), `_inputs` (input checks,
fast for the common case; sparse input), `_state` (model files), `_warnings` (warnings
that name the caller's line).

Where a meaning differs from scikit-learn
-----------------------------------------
- ``alpha``: scikit-learn adds ``(alpha / 2) ΣW² / n_batch`` to each batch's loss, so
  the network's weight decay λ is ``alpha / batch_size`` (``alpha / n_samples``
  for L-BFGS, which uses the full batch). The last, smaller batch of an epoch uses the
  same λ here, where scikit-learn divides by its actual size.
- ``loss_`` / ``loss_curve_`` for regression: scikit-learn's squared loss averages over
  outputs as well as samples; nablanet's is ``½‖h − y‖²`` summed over outputs. They
  agree for a single output.
- Initial weights: Glorot's uniform range ±√(6 / (fan_in + fan_out)) as in scikit-learn
  (which narrows it for logistic layers), and zero biases where scikit-learn draws them
  from the same range.
- ``coefs_[l]`` has scikit-learn's shape ``(n_in, n_out)``: it is the transposed view
  ``W[l].T`` of the network's weight matrix, sharing its memory.
- ``loss_curve_`` is also recorded for the "lbfgs" solver (one entry per iteration), and
  Ctrl-C keeps the completed iterations for "lbfgs" too (scikit-learn lets it propagate).
- Numeric parameters refuse ``True`` and ``False``, which scikit-learn's declarations
  admit as numbers; ``validation_fraction`` is in (0, 1), where scikit-learn admits 0.
- Divergence raises `TrainingDiverged` (a ``ValueError`` and a ``RuntimeError``) naming
  the epoch, the cause and the remedy, where scikit-learn raises "Solver produced
  non-finite parameter weights"; with early stopping the best validated weights are kept
  with a warning, as in scikit-learn.
- Early stopping's validation split is stratified by the labels of every single-label
  target; scikit-learn stratifies binary targets only.
- ``partial_fit`` refuses only classes it has not seen; scikit-learn also applies the
  warm-start rule (the same classes as before) to it when ``warm_start=True``.
"""

from nablanet.estimators._base import _BaseMLP
from nablanet.estimators._stopping import ScikitLearnStopping, StoppingState
from nablanet.estimators.classifier import MLPClassifier
from nablanet.estimators.regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "ScikitLearnStopping", "StoppingState", "_BaseMLP"]
