"""A Gaussian at the mode (Laplace's approximation): where every variational fit starts.

Adam moves each parameter by about the learning rate per step, so a guide started
far from the posterior, or at the wrong scale (a regression on raw predictors, a
parameter in the tens of thousands), needs more steps than any budget allows.
L-BFGS (optax) finds the mode of the unconstrained log density in tens of
gradients, Newton steps finish it; the Hessian there gives the scales (up to ``HESSIAN_MAX_DIM`` parameters;
beyond, the guide's default scales are kept).  For a Gaussian posterior this start
is already the optimum of the full-rank guide, and of the mean-field guide
(variances ``1 / precision_ii``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ITERATIONS = 1000
MAX_EVALUATIONS = 2000  # no mode within this many: the density probably grows without bound (a funnel's neck)
GRADIENT_TOLERANCE = 1e-3
HESSIAN_MAX_DIM = 1000
NEWTON_STEPS = 5
NEWTON_DECREMENT = 1e-6  # g' H^-1 g: twice the log density still to gain by the quadratic model


@dataclass
class Laplace:
    mode: np.ndarray | None         # None: no mode found (see ``laplace``)
    covariance: np.ndarray | None   # None: not computed (too many parameters) or not positive definite
    gradients: int                  # gradient evaluations spent (the Hessian counts as d)

    @property
    def conditional_sd(self) -> np.ndarray | None:
        """``1 / sqrt(precision_ii)``: the mean-field optimum's sds for a Gaussian posterior."""
        if self.covariance is None:
            return None
        return 1.0 / np.sqrt(np.diag(np.linalg.inv(self.covariance)))


def laplace(log_density, start) -> Laplace:
    """Mode and covariance of ``log_density`` (a function of a flat vector) from ``start``;
    no mode (``mode`` None) when L-BFGS ends at a non-finite point, or its gradient is still large
    after ``MAX_EVALUATIONS`` (a hierarchical scale heading to 0, where the density grows without bound)."""
    import jax
    import jax.numpy as jnp
    import optax
    import optax.tree_utils as otu

    def loss(z):
        return -log_density(z)

    def converged(grad):
        return otu.tree_norm(grad) < GRADIENT_TOLERANCE * jnp.sqrt(grad.size)

    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    @jax.jit
    def minimize(z):
        def step(carry):
            z, state, evaluations = carry
            value, grad = value_and_grad(z, state=state)
            updates, state = solver.update(grad, state, z, value=value, grad=grad, value_fn=loss)
            steps = otu.tree_get(state, "num_linesearch_steps")
            return optax.apply_updates(z, updates), state, evaluations + steps

        def going(carry):
            _, state, evaluations = carry
            count, grad = otu.tree_get(state, "count"), otu.tree_get(state, "grad")
            budget_left = (count < MAX_ITERATIONS) & (evaluations < MAX_EVALUATIONS)
            return (count == 0) | (budget_left & ~converged(grad) & jnp.all(jnp.isfinite(grad)))

        return jax.lax.while_loop(going, step, (z, solver.init(z), jnp.asarray(1)))

    mode, state, evaluations = minimize(jnp.asarray(start))
    mode, gradients = np.asarray(mode), int(evaluations)
    finite = np.all(np.isfinite(mode)) and np.isfinite(float(log_density(mode)))
    if not finite or not bool(converged(otu.tree_get(state, "grad"))):
        return Laplace(None, None, gradients)
    if mode.size > HESSIAN_MAX_DIM:
        return Laplace(mode, None, gradients)
    hessian, value_and_grad = jax.jit(jax.hessian(log_density)), jax.jit(jax.value_and_grad(log_density))
    covariance = _covariance(hessian(mode))
    gradients += mode.size
    for _ in range(NEWTON_STEPS):  # L-BFGS stops early along flat ridges (a raw-scale regression): Newton does not
        if covariance is None:
            break
        value, grad = value_and_grad(mode)
        step = covariance @ np.asarray(grad, dtype=np.float64)
        gradients += 2
        if float(np.asarray(grad) @ step) < NEWTON_DECREMENT or not float(value_and_grad(mode + step)[0]) > float(value):
            break
        mode = np.asarray(mode + step, dtype=mode.dtype)
        covariance = _covariance(hessian(mode))
        gradients += mode.size
    return Laplace(mode, covariance, gradients)


def _covariance(hessian) -> np.ndarray | None:
    """The inverse of ``-hessian``; None unless it is positive definite."""
    precision = -np.asarray(hessian, dtype=np.float64)
    precision = (precision + precision.T) / 2
    try:
        covariance = np.linalg.inv(precision)
        np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        return None
    return covariance
