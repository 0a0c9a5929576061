"""Summing out finite discrete parameters, and drawing them back (embedded verbatim in emitted programs).

States are 0-based here; the model adds the declared lower bound.
"""

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import logsumexp


class Marginalized(dist.Distribution):
    """An observed site whose log density was already summed over a discrete parameter, row by row."""

    def __init__(self, log_density):
        self.log_density = log_density
        super().__init__(batch_shape=jnp.shape(log_density))

    def log_prob(self, value):
        return self.log_density


def by_element(log_density, n):
    """A statement's log density summed to one value per element of a discrete parameter of ``n`` elements."""
    if n is None:
        return jnp.sum(log_density)
    return jnp.sum(jnp.reshape(log_density, (n, -1)), axis=1)


def enumerated_draw(key, log_joint):
    """One state per element from ``log_joint`` (K, ...): the exact conditional posterior."""
    return jax.random.categorical(key, log_joint, axis=0)


def hmm_forward(log_init, log_transition, log_emission):
    """Forward algorithm.  ``log_init`` (K,), ``log_transition`` (T-1, K, K) from state j to k, ``log_emission`` (T, K).

    Returns the log density of step t given steps before it (T,), which sum to the marginal
    log density, and the forward log probabilities (T, K).
    """
    def step(alpha, inputs):
        transition, emission = inputs
        alpha = logsumexp(alpha[:, None] + transition, axis=0) + emission
        return alpha, alpha

    first = log_init + log_emission[0]
    _, rest = jax.lax.scan(step, first, (log_transition, log_emission[1:]))
    alphas = jnp.concatenate([first[None], rest])
    totals = logsumexp(alphas, axis=1)
    return jnp.diff(totals, prepend=0.0), alphas


def hmm_draw(key, alphas, log_transition):
    """Backward sampling of the whole chain from its exact posterior (forward filtering, backward sampling)."""
    keys = jax.random.split(key, alphas.shape[0])
    last = jax.random.categorical(keys[-1], alphas[-1])

    def step(following, inputs):
        alpha, transition, k = inputs
        state = jax.random.categorical(k, alpha + transition[:, following])
        return state, state

    _, states = jax.lax.scan(step, last, (alphas[:-1], log_transition, keys[:-1]), reverse=True)
    return jnp.concatenate([states, last[None]])
