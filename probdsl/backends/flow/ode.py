"""Posterior draws from a trained flow: solve ``d theta / dt = v(t, theta, c)`` from noise at
``t = 0`` to the posterior at ``t = 1`` (diffrax, Tsit5 with step-size control, or a fixed number
of midpoint steps), all draws as one system.  With ``density=True`` the log density of each draw is integrated alongside:
``log q(theta_1) = log N(theta_0; 0, I) - integral of div v dt``, the divergence exact (the trace of
the Jacobian, one forward pass per dimension) up to ``EXACT_DIVERGENCE_MAX`` dimensions and a
Hutchinson estimate (one Rademacher probe per draw, fixed along its path) above.
"""

from __future__ import annotations

EXACT_DIVERGENCE_MAX = 20


def _divergence(field, t, theta, context, probe):
    import jax
    import jax.numpy as jnp

    def velocity(y):
        return field(t, y, context)

    if probe is None:
        jacobian = jax.jacfwd(velocity)(theta)
        return velocity(theta), jnp.trace(jacobian)
    value, jvp = jax.jvp(velocity, (theta,), (probe,))
    return value, jnp.dot(probe, jvp)


def _max_norm(tree):
    """The largest scaled error of any draw (the default RMS norm would average it over all draws)."""
    import jax
    import jax.numpy as jnp

    return jnp.max(jnp.stack([jnp.max(jnp.abs(leaf)) for leaf in jax.tree.leaves(tree)]))


def sample(flow, context, key, count: int, dim: int, density: bool = False, tolerance: float = 1e-5,
           steps: int | None = None, exact_divergence: bool | None = None):
    """``count`` standardised draws ``(count, dim)`` given a context; with ``density``, also their log density
    in the standardised space.  ``steps``: that many fixed midpoint steps instead of the adaptive solver
    (faster, at some accuracy).  Returns ``(draws, log_q or None, steps taken)``."""
    import diffrax
    import jax
    import jax.numpy as jnp

    k_start, k_probe = jax.random.split(key)
    theta0 = jax.random.normal(k_start, (count, dim))
    field = flow.field
    exact = dim <= EXACT_DIVERGENCE_MAX if exact_divergence is None else exact_divergence
    probes = None if exact else jax.random.rademacher(k_probe, (count, dim), theta0.dtype)
    controller = diffrax.PIDController(rtol=tolerance, atol=tolerance, norm=_max_norm)

    if density:
        def vector_field(t, state, args):
            theta, _ = state
            velocity, divergence = jax.vmap(lambda y, p: _divergence(field, t, y, context, p),
                                            in_axes=(0, None if probes is None else 0))(theta, probes)
            return velocity, -divergence

        y0 = (theta0, jnp.zeros(count, theta0.dtype))
    else:
        def vector_field(t, theta, args):
            return jax.vmap(lambda y: field(t, y, context))(theta)

        y0 = theta0
    if steps is None:
        solver, dt0, max_steps = diffrax.Tsit5(), 0.05, 4096
    else:
        solver, dt0, max_steps, controller = diffrax.Midpoint(), 1.0 / steps, steps, diffrax.ConstantStepSize()
    solution = diffrax.diffeqsolve(diffrax.ODETerm(vector_field), solver, 0.0, 1.0, dt0, y0,
                                   stepsize_controller=controller, max_steps=max_steps)
    steps = solution.stats["num_accepted_steps"]
    if not density:
        return solution.ys[0], None, steps
    theta1, change = solution.ys[0][0], solution.ys[1][0]
    log_base = -0.5 * jnp.sum(theta0**2, axis=1) - 0.5 * dim * jnp.log(2 * jnp.pi)
    return theta1, log_base + change, steps
