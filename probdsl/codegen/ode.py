"""Solving ``ode(f, y0, t0, ts, args...)`` with diffrax (also copied into emitted programs).

The solve is differentiable (diffrax's default adjoint).  A solve that fails
(too many steps, a step size collapsing) does not raise: its output is NaN, so
the log density is not finite and the sampler rejects the proposal; at
initialisation the model's diagnosis names the ``ode(...)`` call.
"""

import diffrax
import jax.numpy as jnp


def ode_solve(f, y0, t0, ts, *args, solver, rtol, atol, max_steps):
    """The solution of dy/dt = f(t, y, *args), y(t0) = y0, at the times ``ts``: one row per time."""
    ts = jnp.asarray(ts, dtype=float)
    y0 = jnp.asarray(y0, dtype=float)
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, a: jnp.asarray(f(t, y, *a), dtype=y.dtype)), solver,
        t0=jnp.asarray(t0, dtype=float), t1=ts[-1], dt0=None, y0=y0, args=args, saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=max_steps, throw=False)
    return jnp.where(solution.result == diffrax.RESULTS.successful, solution.ys, jnp.nan)
