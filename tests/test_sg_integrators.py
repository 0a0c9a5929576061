"""Order of accuracy of the stochastic-gradient integrators on a Gaussian target, full batch.

With a linear gradient ``g(z) = -lam z`` one step is a linear map of (state, noise):
its stationary covariance solves a discrete Lyapunov equation exactly, so the
variance error of each scheme is known without Monte Carlo error.  A simulation
through the backend's own chain runner then checks the sampled variance against
that exact value within Monte Carlo error.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import solve_discrete_lyapunov

from probdsl.backends.sg.integrators import INTEGRATORS, State
from probdsl.backends.sg.sampler import _runner

LAM, GAMMA = 1.0, 1.0
STEPS = np.array([0.025, 0.05, 0.1, 0.2])


def gaussian_grad(z, key, arrays=None):
    return -LAM * z


def stationary_variance(name: str, h: float) -> float:
    """The exact stationary variance of the position under ``name`` with step ``h``."""
    integrator = INTEGRATORS[name]

    def step(vector, xi):
        state = State(*vector.reshape(4, 1))
        new = integrator.step(state, gaussian_grad, None, xi, h, GAMMA)
        return jnp.concatenate(new)

    with jax.enable_x64(True):  # exact linear algebra
        zero = jnp.zeros(4)
        a = np.asarray(jax.jacfwd(step, 0)(zero, jnp.zeros(1)))
        b = np.asarray(jax.jacfwd(step, 1)(zero, jnp.zeros(1)))
    # position, momentum (Hamiltonian schemes only), gradient; pSGLD's squared gradient is not linear
    keep = [0, 1, 2] if integrator.hamiltonian else [0, 2]
    cov = solve_discrete_lyapunov(a[np.ix_(keep, keep)], b[keep] @ b[keep].T)
    return float(cov[0, 0])


def variance_errors(name: str) -> np.ndarray:
    return np.array([stationary_variance(name, h) * LAM - 1.0 for h in STEPS])


def log_log_slope(errors: np.ndarray) -> float:
    return float(np.polyfit(np.log(STEPS), np.log(np.abs(errors)), 1)[0])


def test_splitting_scheme_is_second_order():
    errors = variance_errors("splitting")
    assert np.all(errors > 0)
    np.testing.assert_allclose(errors, 1.0 / (1.0 - STEPS**2 * LAM / 4.0) - 1.0, rtol=1e-8)  # the leapfrog's
    assert log_log_slope(errors) == pytest.approx(2.0, abs=0.1)
    assert np.all(np.exp(np.diff(np.log(errors))) > 3.5)  # ~4x per doubling of the step


def test_euler_sghmc_is_first_order():
    errors = variance_errors("euler")
    assert log_log_slope(errors) == pytest.approx(1.0, abs=0.15)


def test_baoab_is_exact_on_a_gaussian():
    np.testing.assert_allclose(variance_errors("baoab"), 0.0, atol=1e-10)


def test_sgld_is_first_order():
    assert log_log_slope(variance_errors("sgld")) == pytest.approx(2.0, abs=0.15)  # in h, i.e. 1st order in eps = h^2


@pytest.mark.parametrize("name", ["splitting", "baoab", "euler", "sgld"])
def test_sampled_variance_matches_the_exact_stationary_variance(name):
    """The backend's chain runner (vectorized chains, scan, thinning) samples what the algebra says."""
    integrator, h, chains = INTEGRATORS[name], 0.4, 40_000
    run = _runner(integrator, gaussian_grad, h, GAMMA)
    key = jax.random.PRNGKey(7)
    z = jax.random.normal(key, (chains, 1)) / np.sqrt(LAM)
    states = jax.vmap(integrator.initial_state)(z, jax.random.normal(jax.random.fold_in(key, 1), (chains, 1)),
                                                gaussian_grad(z, None))
    keys = jax.random.split(jax.random.fold_in(key, 2), chains * 3).reshape(chains, 3, -1)
    _, (positions, noise) = run(states, keys, {}, thin=40, diagnose=True)
    final = np.asarray(positions[:, -1, 0])  # one draw per independent chain, 120 steps from the start
    expected = stationary_variance(name, h)
    assert np.var(final) == pytest.approx(expected, rel=4 * np.sqrt(2 / chains))
    np.testing.assert_array_equal(noise, 0.0)  # full-batch gradients have no noise
