"""Review finding (fixed): a fit's parted gradients (n_parts × n_params) stay alive in the
network after the fit.

What is wrong: `PartedPass` (nablanet/network_parts.py) hands each part its row
``self.grads[j]`` as the ``grad`` of `Network._backpropagate`, which calls
`_gradient_views(grad)`; that caches ``(grad, dW, db)`` in the network's per-thread state
(`PerThread.grad_views`, nablanet/workspace.py) of whichever thread ran the part - the
caller and the pool's threads. Those views keep the whole ``grads`` array (n_parts rows of
n_params) alive for as long as the network lives (or until that thread next backpropagates
this network with another vector): after the fit the network holds up to `PARTS` extra
copies of its gradient, the thing `PartBuffers` was written to avoid for predictions.
(Each call also rebuilds the views, since ``self.grads[j]`` is a new object each time.)

What is right: nothing of the run's `PartedPass` outlives the run: drop the cached views
after each part (e.g. ``net._local.grad_views = None`` in the worker) or pass the part's
dW, db views in directly.
"""

import gc
import weakref

import numpy as np
from sklearn.datasets import load_digits

from nablanet import Network, train
from nablanet.network_parts import PartedPass


def test_nothing_of_the_parted_pass_outlives_the_fit(monkeypatch):
    X, y = load_digits(return_X_y=True)
    X, Y = X / 16, np.eye(10)[y]
    made = []
    init = PartedPass.__init__

    def recording_init(self, net, parts):
        init(self, net, parts)
        made.append(weakref.ref(self.grads))

    monkeypatch.setattr(PartedPass, "__init__", recording_init)
    net = Network([64, 100, 10], activation="relu", output_activation="softmax", seed=0)
    train(net, X, Y, optimizer="lbfgs", epochs=3)
    gc.collect()
    assert len(made) == 1  # the fit's full-batch steps went in parts
    assert made[0]() is None, "the network still holds the fit's per-part gradients"
