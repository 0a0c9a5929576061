"""The model's log density as a function of one flat vector of unconstrained parameters."""

from __future__ import annotations


class FlatDensity:
    """``density(theta)``: the log posterior density (Jacobians included) at a flat vector ``theta``."""

    def __init__(self, model):
        import jax
        import jax.numpy as jnp
        from jax.flatten_util import ravel_pytree

        self.model = model
        shapes = jax.eval_shape(lambda key: _unconstrained_draw(model, key), jax.random.PRNGKey(0))  # traced, not run
        zeros, self.unravel = ravel_pytree(jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes))
        self.dim = zeros.size

    def __call__(self, theta):
        return self.model.log_density(self.unravel(theta))


def _unconstrained_draw(model, key) -> dict:
    """The unconstrained values of the sampled sites at one run of the model."""
    from numpyro import handlers
    from numpyro.infer import init_to_uniform
    from numpyro.infer.util import unconstrain_fn

    seeded = handlers.seed(model.numpyro_model, key)  # flat() priors cannot be sampled: values as NUTS starts
    trace = handlers.trace(handlers.substitute(seeded, substitute_fn=init_to_uniform(radius=2.0))).get_trace(model.data)
    values = {name: site["value"] for name, site in trace.items() if site["type"] == "sample" and not site["is_observed"]}
    return unconstrain_fn(model.numpyro_model, (model.data,), {}, values)
