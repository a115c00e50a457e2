"""The kernel dispatcher (nablanet.kernels): one object per kernel, loop or twin per call.

How the choice is made for fits is in test_kernel_choice.py, and what each kernel computes
in test_fused.py; here: that a kernel runs the implementation the choice names, compiles
only when asked, stands beside its twin, and travels by name in pickles.
"""

import copy
import inspect
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nablanet import compiled_kernels, kernels
from nablanet.kernels import choice
from nablanet.losses import LOSSES

FIXTURES = Path(__file__).parent / "fixtures" / "estimators"


class Recorder:
    def __init__(self, label):
        self.label, self.calls = label, []

    def __call__(self, *args):
        self.calls.append(args)
        return self.label


@pytest.mark.parametrize("name", sorted(kernels.KERNELS))
def test_a_kernel_runs_its_loop_or_its_twin_as_the_choice_says(name, monkeypatch):
    kernel = kernels.KERNELS[name]
    loop, twin = Recorder("loop"), Recorder("twin")
    monkeypatch.setattr(kernel, "_compiled", loop)
    monkeypatch.setattr(kernel, "twin", twin)
    args = (np.zeros(2), 0.5)
    assert kernel(*args) == "twin"  # nothing chosen: the twin
    with compiled_kernels():
        assert kernel(*args) == "loop"
        with compiled_kernels(False):
            assert kernel(*args) == "twin"
        with choice.fit_kernels(False):
            assert kernel(*args) == "twin"
    with choice.fit_kernels(True):
        assert kernel(*args) == "loop"
    assert kernel(*args) == "twin"
    assert loop.calls == [args] * 2 and twin.calls == [args] * 4


def test_the_choice_is_one_record_that_fits_change_without_unforcing():
    assert choice.current() == choice.Choice(compiled=False, forced=None)
    with compiled_kernels(True):
        assert choice.current() == choice.Choice(compiled=True, forced=True)
        with choice.fit_kernels(False):  # a worker told to use the twins
            assert choice.current() == choice.Choice(compiled=False, forced=True)
            assert choice.use_compiled(0)  # a fit started here still follows the user
    with choice.fit_kernels(True):
        assert choice.current() == choice.Choice(compiled=True, forced=None)
        assert not choice.use_compiled(0)
    assert choice.current() is choice.UNSET


@pytest.mark.parametrize("name", sorted(kernels.KERNELS))
def test_each_twin_stands_right_under_its_loop(name):
    kernel = kernels.KERNELS[name]
    loop_lines, loop_start = inspect.getsourcelines(kernel.python_loop)
    _, twin_start = inspect.getsourcelines(kernel.twin)
    assert inspect.getsourcefile(kernel.twin) == inspect.getsourcefile(kernel.python_loop)
    assert twin_start == loop_start + len(loop_lines) + 2  # two blank lines apart
    assert kernel.__doc__ == kernel.python_loop.__doc__ and name in kernel.__doc__


def test_losses_hold_their_kernels_which_pickle_by_name():
    for loss, kernel in [("cross_entropy", kernels.softmax_cross_entropy),
                         ("binary_cross_entropy", kernels.sigmoid_cross_entropy)]:
        assert LOSSES[loss].fused is kernel
        assert pickle.loads(pickle.dumps(LOSSES[loss])).fused is kernel
        assert copy.deepcopy(kernel) is kernel
        data = pickle.dumps(kernel)  # a reference to a module's global, as for a function
        assert b"nablanet.kernels.losses" in data and kernel.__name__.encode() in data
    with compiled_kernels():  # a compiled loop is never pickled with it
        kernels.axpy(1.0, np.ones(2), np.ones(2))
        assert kernels.axpy._compiled is not None
        assert len(pickle.dumps(kernels.axpy)) < 100  # a name, not the compiled code


def test_a_network_pickled_before_the_dispatcher_holds_todays_kernel():
    # Written at commit 4cc33f0, when a loss held a getter of nablanet._fused: that name
    # now resolves to the kernel itself, which computes the same cost and delta.
    est = pickle.loads((FIXTURES / "classifier.pkl").read_bytes())
    loss = est.net_.loss
    assert loss.fused is kernels.softmax_cross_entropy
    z = np.array([[2.0, -1.0, 0.5]])
    a, delta = np.empty_like(z), np.empty_like(z)
    J = loss.cost_and_delta(est.net_.activations[-1], z, a, np.eye(3)[:1], np.ones(1), delta)
    assert J == pytest.approx(np.log(np.exp(z).sum()) - 2.0, rel=1e-15)
    np.testing.assert_allclose(delta, a - np.eye(3)[:1], rtol=0, atol=1e-16)


def test_kernels_load_numba_only_when_a_compiled_loop_runs():
    code = (
        "import sys, numpy as np; from nablanet import kernels, compiled_kernels; "
        "y = np.ones(3); kernels.axpy(2.0, np.ones(3), y); "
        "before = 'numba' in sys.modules; "
        "with_ = compiled_kernels(); with_.__enter__(); kernels.axpy(2.0, np.ones(3), y); "
        "print(before, 'numba' in sys.modules, y.tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "True", "[5.0,", "5.0,", "5.0]"]
