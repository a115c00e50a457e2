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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_twins_with_exp_and_log_agree_with_their_loops_to_rounding(dtype):
    # The twins without transcendental functions round exactly as their loops
    # (test_kernel_choice.py); NumPy's exp and log are not libm's, so these differ in
    # the last bits: a few units of the dtype's epsilon on values of order 1.
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3.0, size=(200, 10)).astype(dtype)
    z[0] = [1000, -1000, 0, 5, -5, 999, 1, 2, 3, 4]  # saturated: exact in both
    y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 200)]
    sample_weight = (rng.random(200) + 0.1).astype(dtype)
    close = {"rtol": 8 * np.finfo(dtype).eps, "atol": 8 * np.finfo(dtype).eps}
    a_loop, a_twin = np.empty_like(z), np.empty_like(z)
    kernels.softmax.compiled(z, a_loop)
    kernels.softmax.twin(z, a_twin)
    np.testing.assert_allclose(a_loop, a_twin, **close)
    for kernel in (kernels.softmax_cross_entropy, kernels.sigmoid_cross_entropy):
        out = []
        for run in (kernel.compiled, kernel.twin):
            a, delta = np.full_like(z, np.nan), np.full_like(z, np.nan)
            out.append((run(z, a, y, sample_weight, delta), a, delta))
        (J_loop, a_loop, d_loop), (J_twin, a_twin, d_twin) = out
        np.testing.assert_allclose(a_loop, a_twin, **close)
        np.testing.assert_allclose(d_loop, d_twin, **close)
        assert J_twin == pytest.approx(J_loop, rel=1e-9 if dtype == np.float32 else 1e-14)
