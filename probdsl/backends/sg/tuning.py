"""The short tuning phase that sets the samplers' defaults.

1. **Mode.** Adam on minibatch gradients (cosine-decayed learning rate) from the
   initial point: the centre of the whitening.  With control variates, a few
   preconditioned full-data gradient steps then polish it (``refine_mode``): the
   anchor must sit well inside the posterior, or the estimator's noise grows with
   the squared distance to it.
2. **Whitening.** The diagonal of the Hessian of the negative log density at the
   mode, from one large minibatch (exact Hessian-vector products with the unit
   vectors up to 512 parameters, Hutchinson's estimator with Rademacher probes
   beyond): ``scale = 1 / sqrt(diag)``, so ``z = (theta - mode) / scale`` has
   roughly unit posterior sd in every coordinate.
3. **Step size.** ``h = 0.3 / sqrt(lambda_max)``, ``lambda_max`` the largest
   eigenvalue of the whitened Hessian (power iteration): the leapfrog's variance
   error 1/(1 - h^2 lambda/4) - 1 is then at most 2.3%, on the stiffest direction
   (after whitening many directions are about as stiff), and the step is 15% of
   the stability limit.
4. **Friction.** ``gamma = 1`` (whitened units): the typical whitened direction has
   unit curvature, so its oscillation is slightly underdamped (critical is 2).
5. **Batch size.** The gradient-noise variance measured at points one posterior sd
   from the mode with a pilot batch, scaled as 1/batch, gives each candidate
   batch's noise ratio (``Integrator.noise_ratio``); the default is the smallest
   power-of-two batch (at least 32) whose ratio is at most 0.1, capped at
   max(1024, rows / 10).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

STEP_FRACTION = 0.3
DEFAULT_FRICTION = 1.0
NOISE_RATIO_TARGET = 0.1
EXACT_DIAGONAL_MAX_DIM = 512
HUTCHINSON_PROBES = 64
POWER_ITERATIONS = 30
NOISE_POINTS, NOISE_BATCHES = 4, 16
MIN_BATCH = 32
CURVATURE_ROWS = 16384
OPTIMIZER_RATE = 0.05
REFINE_STEPS = 8


@dataclass(frozen=True)
class Tuning:
    mode: jnp.ndarray
    scale: jnp.ndarray
    lambda_max: float
    step_size: float
    friction: float
    batch_size: int
    noise_var_pilot: float  # gradient-noise variance (whitened, per coordinate) at ``pilot_batch``
    pilot_batch: int


def find_mode(target, key, steps: int, batch: int):
    """Adam on minibatch gradients of the negative log density, learning rate decayed to 0."""
    import optax

    optimizer = optax.adam(optax.cosine_decay_schedule(OPTIMIZER_RATE, max(steps, 1)))
    grad = target.batch_grad(batch)

    @jax.jit
    def run(theta, keys, arrays):
        def step(carry, k):
            theta, opt_state = carry
            updates, opt_state = optimizer.update(-grad(theta, k, arrays), opt_state)
            return (optax.apply_updates(theta, updates), opt_state), None

        (theta, _), _ = jax.lax.scan(step, (theta, optimizer.init(theta)), keys)
        return theta

    return run(target.initial, jax.random.split(key, steps), target.arrays)


def refine_mode(target, theta, scale, lambda_max: float):
    """A few preconditioned gradient-ascent steps on the full data (step ``scale^2 / lambda_max``,
    halved whenever the log density would fall), from the minibatch optimiser's answer.

    Returns the refined mode and the full-data gradient there (the control variates' anchor).
    """
    step = 1.0 / max(lambda_max, 1e-12)
    value, grad = target.full_value_and_grad(theta)
    for _ in range(REFINE_STEPS):
        candidate = theta + step * scale**2 * grad
        new_value, new_grad = target.full_value_and_grad(candidate)
        if new_value >= value:
            theta, value, grad = candidate, new_value, new_grad
        else:
            step /= 2.0
    return theta, grad


def hessian_diagonal(target, theta, key):
    """Diagonal of the Hessian of -log p at ``theta`` from one large minibatch."""

    @jax.jit
    def compute(theta, key, arrays):
        hvp = _hvp(target, theta, target.draw_rows(key, CURVATURE_ROWS), arrays)
        d = target.dim
        if d <= EXACT_DIAGONAL_MAX_DIM:
            return jax.vmap(lambda e: hvp(e) @ e)(jnp.eye(d, dtype=theta.dtype))
        probes = jax.random.rademacher(jax.random.fold_in(key, 1), (HUTCHINSON_PROBES, d), dtype=theta.dtype)
        return jnp.mean(jax.vmap(lambda v: v * hvp(v))(probes), axis=0)

    return compute(theta, key, target.arrays)


def whitening_scale(diagonal):
    """``1/sqrt(diag)``; non-positive or tiny curvatures (flat directions) are floored."""
    floor = 1e-8 * jnp.maximum(jnp.max(diagonal), 1e-30)
    return 1.0 / jnp.sqrt(jnp.maximum(diagonal, floor))


def largest_eigenvalue(target, theta, scale, key) -> float:
    """Largest eigenvalue of the whitened Hessian ``S H S`` by power iteration."""

    @jax.jit
    def compute(theta, scale, key, arrays):
        hvp = _hvp(target, theta, target.draw_rows(key, CURVATURE_ROWS), arrays)
        whitened = lambda v: scale * hvp(scale * v)  # noqa: E731

        def body(v, _):
            w = whitened(v)
            return w / jnp.linalg.norm(w), None

        v0 = jax.random.normal(jax.random.fold_in(key, 2), theta.shape, theta.dtype)
        v, _ = jax.lax.scan(body, v0 / jnp.linalg.norm(v0), None, length=POWER_ITERATIONS)
        return v @ whitened(v)

    return float(compute(theta, scale, key, target.arrays))


def gradient_noise_var(grad_z, key, dim: int, arrays) -> float:
    """Variance of one whitened gradient estimate (mean over coordinates), measured at
    ``NOISE_POINTS`` points drawn at one posterior sd from the mode."""

    @jax.jit
    def compute(key, arrays):
        point_key, batch_key = jax.random.split(key)
        points = jax.random.normal(point_key, (NOISE_POINTS, dim))

        def at(z, k):
            grads = jax.vmap(lambda kk: grad_z(z, kk, arrays))(jax.random.split(k, NOISE_BATCHES))
            return jnp.mean(jnp.var(grads, axis=0, ddof=1))

        return jnp.mean(jax.vmap(at)(points, jax.random.split(batch_key, NOISE_POINTS)))

    return float(compute(key, arrays))


def default_batch(integrator, noise_var_pilot: float, pilot: int, step: float, friction: float, rows: int) -> int:
    """The smallest power-of-two batch whose predicted noise ratio is at most ``NOISE_RATIO_TARGET``."""
    cap = max(1024, rows // 10)
    batch = MIN_BATCH
    while batch < min(cap, rows):
        ratio = float(integrator.noise_ratio(noise_var_pilot * pilot / batch, step, friction))
        if ratio <= NOISE_RATIO_TARGET:
            break
        batch *= 2
    return min(batch, cap, rows)


def _hvp(target, theta, rows, arrays):
    """``v -> H v`` for the Hessian of -log p at ``theta`` on ``rows`` (forward over reverse)."""
    grad = jax.grad(lambda t: -target.log_density(t, rows, arrays))
    return lambda v: jax.jvp(grad, (theta,), (v,))[1]
