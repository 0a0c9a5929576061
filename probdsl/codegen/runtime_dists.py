"""Two distributions the compiled models need beyond NumPyro's own.

Generated Python source embeds this module's text verbatim, so keep it
self-contained (imports: jax, jnp, numpyro.distributions only).
"""

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.util import sum_rightmost


class Restricted(dist.Distribution):
    """A prior restricted to a parameter's declared support, as Stan does.

    The density is the base density on the support (not renormalized: Stan
    drops the normalizing constant too, and it is constant unless the bounds
    depend on parameters).  Draws come from the truncated distribution: by
    inverse CDF where the base has one, else by rejection; an ordered support
    sorts the base draws (exact for exchangeable priors).
    """

    def __init__(self, base, support, lower=None, upper=None):
        self.base = base
        self._support = support
        self.lower, self.upper = lower, upper
        super().__init__(base.batch_shape, base.event_shape)

    @property
    def support(self):
        return self._support

    def log_prob(self, value):
        return self.base.log_prob(value)

    def sample(self, key, sample_shape=()):
        if self.lower is None and self.upper is None:
            draws = self.base.sample(key, sample_shape)
            if self._support is constraints.positive_ordered_vector:
                draws = jnp.abs(draws)
            return jnp.sort(draws, axis=-1)
        return self._truncated_sample(key, sample_shape)

    def _truncated_sample(self, key, sample_shape):
        shape = sample_shape + self.batch_shape + self.event_shape
        lower = -jnp.inf if self.lower is None else jnp.broadcast_to(self.lower, shape)
        upper = jnp.inf if self.upper is None else jnp.broadcast_to(self.upper, shape)
        try:
            low_u = self.base.cdf(lower) if self.lower is not None else 0.0
            high_u = self.base.cdf(upper) if self.upper is not None else 1.0
            u = jax.random.uniform(key, shape, minval=low_u, maxval=high_u)
            return jnp.clip(self.base.icdf(u), lower, upper)
        except (NotImplementedError, AttributeError):
            pass

        def body(state):
            k, draws, ok = state
            k, sub = jax.random.split(k)
            fresh = self.base.sample(sub, sample_shape)
            draws = jnp.where(ok, draws, fresh)
            return k, draws, (draws > lower) & (draws < upper)

        def more(state):
            return ~jnp.all(state[2])

        init = (key, jnp.zeros(shape), jnp.zeros(shape, dtype=bool))
        return jax.lax.while_loop(more, body, init)[1]


class Unconstrained(dist.Distribution):
    """A distribution pulled back to the unconstrained line through ``transform``.

    Used for parameters whose support depends on other parameters (bounds such
    as ``upper=1 - alpha``) or that carry ``<offset=, multiplier=>``: the model
    samples ``u`` from this and records ``transform(u)`` under the parameter's
    name.  ``log_prob`` includes the log Jacobian; draws map prior draws back.
    """

    support = constraints.real_vector

    def __init__(self, constrained, transform):
        self.constrained = constrained
        self.transform = transform
        shape = constrained.batch_shape + constrained.event_shape
        super().__init__((), shape)
        self.support = constraints.independent(constraints.real, len(shape))

    def log_prob(self, value):
        x = self.transform(value)
        log_det = self.transform.log_abs_det_jacobian(value, x)
        extra = jnp.ndim(log_det) - (len(self.event_shape) - self.transform.codomain.event_dim)
        return jnp.sum(self.constrained.log_prob(x)) + jnp.sum(sum_rightmost(log_det, max(extra, 0)))

    def sample(self, key, sample_shape=()):
        return self.transform.inv(self.constrained.sample(key, sample_shape))
