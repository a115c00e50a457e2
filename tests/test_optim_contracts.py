"""What the optimizers promise beyond their update rules (nablanet.optim).

Mutation testing (`make mutate`) found these promises unchecked: each argument is named in
the message that refuses it; the documented boundary values are accepted; a step's
learning-rate override and step counter; the whole-run minimizers are scipy's own methods
run with the options they document (compared with scipy called directly); and a run that
meets a non-finite value says so in every field of its result.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.optimize

from nablanet.optim import LBFGS, SGD, Adam, AdamW, ConjugateGradient, GradientDescent, Status
from nablanet.optim.schedules import Constant, Cosine, InverseScaling, ReduceOnPlateau, StepDecay

POSITIVE = r"must be a number in \(0, inf\), got"
NON_NEGATIVE = r"must be a number in \[0, inf\), got"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: GradientDescent(learning_rate=0.0), f"^learning_rate {POSITIVE} 0.0"),
        (lambda: SGD(learning_rate=-1.0), f"^learning_rate {POSITIVE} -1.0"),
        (lambda: Adam(beta_2=1.0), r"^beta_2 must be a number in \[0, 1\), got 1.0"),
        (lambda: Adam(epsilon=0.0), f"^epsilon {POSITIVE} 0.0"),
        (lambda: AdamW(weight_decay=-0.1), f"^weight_decay {NON_NEGATIVE} -0.1"),
        (lambda: AdamW(decay_mask=[True, False]),
         "^decay_mask must be a slice, a 1-D boolean ndarray or None, got list$"),
        (lambda: AdamW(decay_mask=np.zeros(3)),
         "^decay_mask must be a slice, a 1-D boolean ndarray or None, got ndarray of dtype "
         "float64$"),
        (lambda: Constant(0.0), f"^learning_rate {POSITIVE} 0.0"),
        (lambda: InverseScaling(0.0), f"^learning_rate {POSITIVE} 0.0"),
        (lambda: InverseScaling(0.1, power_t=-0.5), f"^power_t {NON_NEGATIVE} -0.5"),
        (lambda: InverseScaling(0.1, steps_per_epoch=0),
         "^steps_per_epoch must be an integer >= 1, got 0"),
        (lambda: StepDecay(0.0, step_size=2), f"^learning_rate {POSITIVE} 0.0"),
        (lambda: StepDecay(0.1, step_size=0), "^step_size must be an integer >= 1, got 0"),
        (lambda: StepDecay(0.1, step_size=2, gamma=0.0), f"^gamma {POSITIVE} 0.0"),
        (lambda: StepDecay(0.1, step_size=2, gamma=1.5), r"^gamma must be in \(0, 1\], got 1.5"),
        (lambda: Cosine(0.0, total_epochs=5), f"^learning_rate {POSITIVE} 0.0"),
        (lambda: Cosine(0.1, total_epochs=0), "^total_epochs must be an integer >= 1, got 0"),
        (lambda: Cosine(0.1, total_epochs=5, min_learning_rate=-1.0),
         f"^min_learning_rate {NON_NEGATIVE} -1.0"),
        (lambda: ReduceOnPlateau(0.0), f"^learning_rate {POSITIVE} 0.0"),
        (lambda: ReduceOnPlateau(0.1, factor=0.0), f"^factor {POSITIVE} 0.0"),
        (lambda: ReduceOnPlateau(0.1, patience=0), "^patience must be an integer >= 1, got 0"),
        (lambda: ReduceOnPlateau(0.1, min_delta=-1.0), f"^min_delta {NON_NEGATIVE} -1.0"),
        (lambda: ReduceOnPlateau(0.1, min_learning_rate=-1.0),
         f"^min_learning_rate {NON_NEGATIVE} -1.0"),
        (lambda: Constant(0.1)(-1, None), "^epoch must be an integer >= 0, got -1"),
        (lambda: LBFGS(max_fun=0), "^max_fun must be an integer >= 1, got 0"),
        (lambda: LBFGS(memory=0), "^memory must be an integer >= 1, got 0"),
        (lambda: LBFGS(ftol=-1e-9), f"^ftol {NON_NEGATIVE} -1e-09"),
        (lambda: ConjugateGradient(max_iter=0), "^max_iter must be an integer >= 1, got 0"),
    ],
)
def test_each_refused_argument_is_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_boundary_values_the_docs_allow_are_accepted():
    # min_learning_rate in [0, learning_rate], gamma in (0, 1]: the closed ends included
    assert [Cosine(0.1, total_epochs=4, min_learning_rate=0.1)(e, None) for e in range(4)] == [
        0.1] * 4
    assert [StepDecay(0.1, step_size=1, gamma=1.0)(e, None) for e in range(3)] == [0.1] * 3
    plateau = ReduceOnPlateau(0.1, patience=1, min_learning_rate=0.1)
    assert [plateau(e, 1.0) for e in range(3)] == [0.1] * 3  # cannot go below its floor
    LBFGS(ftol=0.0)  # ftol >= 0


# --- steps -----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda r: SGD(r, momentum=0.9), lambda r: Adam(r)])
def test_a_steps_learning_rate_overrides_the_optimizers_own(make):
    g = np.array([0.3, -1.2, 2.0])
    overridden, own = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])
    a, b = make(0.01), make(0.5)
    state_a, state_b = a.init(overridden), b.init(own)
    for _ in range(3):
        a.step(overridden, g, state_a, learning_rate=0.5)
        b.step(own, g, state_b)
    np.testing.assert_array_equal(overridden, own)


@pytest.mark.parametrize("make", [GradientDescent, SGD, Adam])
def test_a_zero_rate_from_a_schedule_is_a_step_that_moves_nothing(make):
    theta = np.array([1.0, -2.0])
    opt = make()
    state = opt.init(theta)
    opt.step(theta, np.array([0.5, 0.5]), state, learning_rate=0.0)
    np.testing.assert_array_equal(theta, [1.0, -2.0])


@pytest.mark.parametrize("make", [GradientDescent, SGD, Adam])
def test_state_counts_the_steps(make):
    theta = np.zeros(4)
    opt = make()
    state = opt.init(theta)
    for _ in range(3):
        opt.step(theta, np.ones(4), state)
    assert state.t == 3


def test_a_one_parameter_theta_is_a_vector_like_any_other():
    theta = np.array([2.0])
    opt = GradientDescent(0.5)
    opt.step(theta, np.array([1.0]), opt.init(theta))
    assert theta.tolist() == [1.5]
    with pytest.raises(ValueError, match=r"non-empty 1-D vector, got shape \(0,\)"):
        opt.init(np.zeros(0))
    frozen = np.zeros(2)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="^theta must be writable: the optimizers update it"):
        opt.init(frozen)


def test_adam_refuses_a_second_moment_of_another_vector():
    theta = np.zeros(3)
    opt = Adam()
    state = opt.init(theta)
    state.v = np.zeros(4)
    with pytest.raises(ValueError, match=r"^optimizer state 'v' is float64\[4\]"):
        opt.step(theta, np.ones(3), state)


# --- whole-run minimizers: scipy's methods with the documented options -----------------------


def rosenbrock(x):
    J = float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return J, g


START = np.array([-1.2, 1.0, -0.5, 0.8])


@pytest.mark.parametrize(
    "opt, method, options",
    [
        (LBFGS(max_iter=500, max_fun=40, tol=1e-7, memory=3, ftol=1e-12), "L-BFGS-B",
         {"maxiter": 500, "maxfun": 40, "gtol": 1e-7, "maxcor": 3, "ftol": 1e-12}),
        (LBFGS(max_iter=500, max_fun=15000, tol=1e-9, memory=2, ftol=0.0), "L-BFGS-B",
         {"maxiter": 500, "maxfun": 15000, "gtol": 1e-9, "maxcor": 2, "ftol": 0.0}),
        (ConjugateGradient(max_iter=300, tol=1e-4), "CG",
         {"maxiter": 300, "gtol": 1e-4, "norm": math.inf}),
    ],
    ids=["lbfgs-maxfun", "lbfgs-memory", "cg"],
)
def test_minimizer_is_scipys_method_with_the_documented_options(opt, method, options):
    theta = START.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy warns of an option it does not know
        result = opt.minimize(rosenbrock, theta)
        ref = scipy.optimize.minimize(rosenbrock, START.copy(), jac=True, method=method,
                                      options=options)
    np.testing.assert_array_equal(theta, ref.x)
    assert result.J == ref.fun and result.n_iter == ref.nit and result.n_fun == ref.nfev
    assert result.message == str(ref.message)
    assert result.grad_norm == np.max(np.abs(ref.jac))


def test_a_gradient_of_the_wrong_shape_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^fun returned a gradient of shape \(2,\) for x of "
                                         r"\(3,\)$"):
        LBFGS().minimize(lambda x: (0.0, np.zeros(2)), np.zeros(3))


def test_non_finite_after_progress_fills_every_field_of_the_result():
    calls = []

    def fun(x):
        calls.append(1)
        J, g = rosenbrock(x)
        return (math.inf, g) if len(calls) == 6 else (J, g)

    theta = START.copy()
    result = LBFGS().minimize(fun, theta)
    assert result.status == Status.DIVERGED and result.success is False
    assert result.n_fun == 6 and isinstance(result.n_iter, int) and 1 <= result.n_iter < 6
    assert result.message == ("stopped: non-finite J or gradient at evaluation 6 (J=inf); "
                              "theta holds the best finite point evaluated")
    J_best, g_best = rosenbrock(theta)
    assert result.J == J_best and result.grad_norm == np.max(np.abs(g_best))


def test_non_finite_at_the_start_fills_every_field_of_the_result():
    theta = START.copy()
    result = ConjugateGradient().minimize(lambda x: (math.nan, np.zeros_like(x)), theta)
    assert result.status == Status.DIVERGED and result.success is False
    assert result.n_iter == 0 and result.n_fun == 1
    assert math.isnan(result.J) and math.isnan(result.grad_norm)
    assert result.message == "stopped: non-finite J or gradient at the initial point (J=nan)"
    np.testing.assert_array_equal(theta, START)
