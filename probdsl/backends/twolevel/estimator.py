"""The two-level estimator of posterior means (Dodwell et al. 2015; Yang et al. 2023).

A long base chain on the coarse posterior gives level 0.  Every ``length``-th of
its states is proposed, in turn, to a correction chain on the fine posterior,
accepted with the independence-sampler ratio ``pi_f(y) pi_c(x) / (pi_f(x) pi_c(y))``.
For a quantity ``Q`` (here each parameter):

    E_f[Q] ~ mean of Q over level 0  +  mean over k of (Q(x_k) - Q(y_k)),

with ``x_k`` the correction chain's state after step ``k`` and ``y_k`` the level-0
state proposed at that step.  The correction term is small and has a small
variance when the coarse level is good; the fine model is evaluated once per
correction step, and those evaluations do not depend on each other (they run as
one batch).  The variance estimate adds the two terms' variances, each divided by
its effective sample size.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Correction(NamedTuple):
    positions: object          # (draws, dim): the correction chain
    accepted: object           # (draws,)
    fine_lp: object            # (draws,) at the chain's states
    coarse_lp: object


def correct(proposals, fine_lp, coarse_lp, key) -> Correction:
    """The correction chain through ``proposals`` (one chain: ``(draws, dim)``, with their fine and
    coarse log densities), started at the first proposal."""
    import jax
    import jax.numpy as jnp

    def one(state, inputs):
        position, f, c = state
        proposal, f_new, c_new, step_key = inputs
        log_ratio = f_new - f + c - c_new
        accepted = jnp.log(jax.random.uniform(step_key)) < jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
        state = (jnp.where(accepted, proposal, position), jnp.where(accepted, f_new, f), jnp.where(accepted, c_new, c))
        return state, (*state, accepted)

    keys = jax.random.split(key, proposals.shape[0])
    start = (proposals[0], fine_lp[0], coarse_lp[0])
    _, (positions, f, c, accepted) = jax.lax.scan(one, start, (proposals, fine_lp, coarse_lp, keys))
    return Correction(positions, accepted, f, c)


class Estimate(NamedTuple):
    mean: np.ndarray           # (quantities,)
    standard_error: np.ndarray
    level0_mean: np.ndarray
    correction: np.ndarray     # mean of Q(x_k) - Q(y_k)


def estimate(level0, chain, proposed) -> Estimate:
    """``level0``: Q on the base chains ``(chains, steps, q)``; ``chain`` and ``proposed``: Q at the
    correction chains' states and at the proposals ``(chains, draws, q)``."""
    import arviz as az

    difference = chain - proposed
    terms = []
    for values in (level0, difference):
        ess = np.array([az.ess(values[..., i]) for i in range(values.shape[-1])], dtype=float)
        variance = values.reshape(-1, values.shape[-1]).var(axis=0, ddof=1)
        # a constant term (a correction chain that never moved) has no variance; ESS is then undefined
        terms.append(np.where(variance > 0, variance / np.maximum(np.nan_to_num(ess, nan=1.0), 1.0), 0.0))
    level0_mean = level0.mean(axis=(0, 1))
    correction = difference.mean(axis=(0, 1))
    return Estimate(level0_mean + correction, np.sqrt(terms[0] + terms[1]), level0_mean, correction)
