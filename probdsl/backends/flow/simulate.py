"""Training pairs ``(theta, x)`` from the model's own prior predictive, vectorised over draws.

``theta`` is unconstrained (the bijection to each parameter's support comes from
the model), ``x`` the observations flattened.  A simulation with a non-finite
value anywhere (an overflowing simulator, a failed ODE solve) is counted and
dropped, never passed to the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probdsl.backends.flow.layout import Layout, prior_trace
from probdsl.backends.flow.tokens import RowLayout, tokens
from probdsl.errors import Diagnostic, RuntimeModelError
from probdsl.model_interface import ModelLike

CHUNK = 4096


@dataclass
class Simulations:
    theta: np.ndarray     # (n, theta_dim), unconstrained
    x: np.ndarray         # (n, x_dim), or (n, max_rows, features) tokens
    dropped: int          # non-finite simulations left out
    drawn: int            # simulations run, the dropped and the unused included


def transforms(model: ModelLike, layout: Layout) -> dict:
    """Each learned site's bijection from the unconstrained space to its support."""
    from numpyro.distributions.transforms import biject_to

    trace = prior_trace(model)
    return {b.name: biject_to(trace[b.name]["fn"].support) for b in layout.params}


def simulator(model: ModelLike, layout: Layout, size: int):
    """``simulate(key) -> (theta, x)``: ``size`` draws from the prior predictive, flattened (jitted)."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer import Predictive

    bijections = transforms(model, layout)
    names = [b.name for b in layout.params] + [b.name for b in layout.observations]
    predictive = Predictive(model.numpyro_model, num_samples=size, return_sites=names)

    def simulate(key):
        drawn = predictive(key, model.data, predict=True, from_prior=True)
        theta = [bijections[b.name].inv(drawn[b.name]).reshape(size, b.size) for b in layout.params]
        x = [jnp.asarray(drawn[b.name], jnp.result_type(float)).reshape(size, b.size) for b in layout.observations]
        return jnp.concatenate(theta, axis=1), jnp.concatenate(x, axis=1)

    return jax.jit(simulate)


def row_simulator(model: ModelLike, layout: Layout, rows: RowLayout, size: int):
    """``simulate(key) -> (theta, tokens)``: ``size`` datasets of ``rows.max_rows`` rows each, their covariate
    rows drawn with replacement from the model's data, their observations from the prior predictive."""
    import jax
    import jax.numpy as jnp
    from numpyro import handlers

    bijections = transforms(model, layout)
    available = model.row_plan.rows

    def one(key):
        k_rows, k_draw = jax.random.split(key)
        data = model.minibatch_data(jax.random.randint(k_rows, (rows.max_rows,), 0, available))
        trace = handlers.trace(handlers.seed(model.numpyro_model, k_draw)).get_trace(data, predict=True,
                                                                                      from_prior=True)
        theta = jnp.concatenate([bijections[b.name].inv(trace[b.name]["value"]).reshape(b.size)
                                 for b in layout.params])
        values = {**{b.name: data[b.name] for b in rows.covariates},
                  **{b.name: trace[b.name]["value"] for b in rows.observations}}
        return theta, tokens(values, rows, rows.max_rows)

    return jax.jit(lambda key: jax.vmap(one)(jax.random.split(key, size)))


def simulate(model: ModelLike, layout: Layout, key, count: int, rows: RowLayout | None = None,
             bar=None) -> Simulations:
    """``count`` finite simulations (drawing more to replace the non-finite ones, up to twice ``count``);
    with ``rows``, ``x`` holds ``(max_rows, features)`` tokens per simulation."""
    import jax

    size = min(CHUNK, count)
    run = simulator(model, layout, size) if rows is None else row_simulator(model, layout, rows, size)
    thetas, xs, dropped, drawn, chunk = [], [], 0, 0, 0
    while sum(len(t) for t in thetas) < count and drawn < 2 * count:
        theta, x = (np.asarray(a) for a in run(jax.random.fold_in(key, chunk)))
        finite = np.isfinite(theta).all(axis=1) & np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        thetas.append(theta[finite])
        xs.append(x[finite])
        dropped += int((~finite).sum())
        drawn += len(theta)
        chunk += 1
        if bar is not None:
            bar.update(int(finite.sum()))
    theta, x = np.concatenate(thetas)[:count], np.concatenate(xs)[:count]
    if len(theta) < count // 2 or len(theta) < 10:
        raise RuntimeModelError(Diagnostic(
            "E422", f"{dropped} of {drawn} simulations from the prior had non-finite values",
            hint="check the priors: draws far in their tails may overflow the simulator (exp, an ODE solve)"))
    return Simulations(theta, x, dropped, drawn)
