"""The model as the stochastic-gradient samplers see it: a log density of one flat
vector of unconstrained parameters, estimated from minibatches of rows.

The data arrays are passed to every compiled function as an argument (they stay
on the device and are never baked into the program); a minibatch is a vector of
row indices drawn on the device, with replacement, so every estimate is unbiased.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from probdsl.backends.draws import is_init_failure, nonfinite_init_error

FULL_PASS_ROWS = 65536  # rows per block when a full-data gradient is summed block by block


class Target:
    def __init__(self, model, init_key):
        self.model = model
        self.rows = model.observation_rows()
        # parameters are shared by all rows (the row plan checks it): one row is enough to run the model for them
        self.one_row = model.minibatch_data(np.arange(1))
        try:
            initial = _initial_point(model, self.one_row, init_key)
        except ValueError as error:  # the initial point is outside a distribution's support: NUTS reports it so
            if not is_init_failure(error):
                raise
            raise nonfinite_init_error(model, init_key) from None
        self.initial, self.unravel = ravel_pytree(initial)
        self.dim = self.initial.size
        self.arrays = {k: jnp.asarray(v) for k, v in model.data.items() if isinstance(v, np.ndarray)}
        self.statics = {k: v for k, v in model.data.items() if k not in self.arrays}

    def data(self, arrays) -> dict:
        return {**self.statics, **arrays}

    def log_density(self, theta, rows, arrays):
        """Unbiased estimate of the log posterior density at ``theta`` from ``rows``."""
        return self.model.minibatch_log_density(self.unravel(theta), rows, self.data(arrays))

    def draw_rows(self, key, batch: int):
        """``batch`` row indices drawn uniformly with replacement (all rows, in order, when ``batch`` covers them)."""
        if batch >= self.rows:
            return jnp.arange(self.rows)
        return jax.random.randint(key, (batch,), 0, self.rows)

    def batch_grad(self, batch: int) -> Callable:
        """``grad(theta, key, arrays)``: the gradient estimate from one minibatch chosen by ``key``."""
        grad = jax.grad(self.log_density)
        return lambda theta, key, arrays: grad(theta, self.draw_rows(key, batch), arrays)

    def full_value_and_grad(self, theta):
        """The exact log density and gradient over all rows, summed block by block to bound memory.

        A block's estimate is ``prior + rows/len(block) * its likelihood``, so weighting
        each block by ``len(block)/rows`` gives prior + the whole likelihood.
        """
        value, grad = 0.0, jnp.zeros_like(theta)
        for start in range(0, self.rows, FULL_PASS_ROWS):
            block = jnp.arange(start, min(start + FULL_PASS_ROWS, self.rows))
            v, g = self._block_value_and_grad(theta, block, self.arrays)
            value, grad = value + v * (block.size / self.rows), grad + g * (block.size / self.rows)
        return float(value), grad

    @functools.cached_property
    def _block_value_and_grad(self):
        """Compiled once: ``full_value_and_grad`` runs it for every block at every call."""
        return jax.jit(jax.value_and_grad(self.log_density))

    def unravel_draws(self, thetas) -> dict:
        """Flat draws ``(..., dim)`` as a dict of unconstrained sites ``(..., *shape)``."""
        lead = thetas.shape[:-1]
        flat = jax.vmap(self.unravel)(thetas.reshape(-1, self.dim))
        return {k: np.asarray(v).reshape(lead + v.shape[1:]) for k, v in flat.items()}


def _initial_point(model, one_row: dict, key) -> dict:
    """Unconstrained values uniform on (-2, 2), as Stan and NUTS start (the model run on ``one_row``)."""
    from numpyro import handlers
    from numpyro.infer import init_to_uniform
    from numpyro.infer.util import unconstrain_fn

    seeded = handlers.substitute(handlers.seed(model.numpyro_model, key), substitute_fn=init_to_uniform(radius=2.0))
    trace = handlers.trace(seeded).get_trace(one_row)
    values = {name: site["value"] for name, site in trace.items()
              if site["type"] == "sample" and not site["is_observed"]}
    return unconstrain_fn(model.numpyro_model, (one_row,), {}, values)
