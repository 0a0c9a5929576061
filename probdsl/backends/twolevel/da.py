"""Delayed acceptance (Christen & Fox 2005) with coarse subchains (as in MLDA, Lykkegaard et al. 2023).

From the fine chain's state ``x``, a subchain of ``length`` steps of a base kernel on
the coarse posterior ``pi_c`` proposes its end ``y``; the fine model is evaluated at
``y`` only (stage two) and ``y`` is accepted with probability

    min(1, pi_f(y) pi_c(x) / (pi_f(x) pi_c(y))).

The subchain leaves ``pi_c`` invariant with fixed settings, so the fine chain
leaves ``pi_f`` invariant exactly, whatever the coarse level's error.  During the
fine warmup the coarse level's error model adapts to the bias seen at the fine
states (``levels.py``); it is frozen before the draws that are kept.
"""

from __future__ import annotations

from typing import NamedTuple

from probdsl.backends.twolevel import kernels
from probdsl.backends.twolevel.levels import ErrorModel, Levels, Moments, update_moments


class ChainState(NamedTuple):
    position: object
    fine_lp: object
    coarse_lp: object
    bias: dict                # fine minus coarse locations at ``position`` (error-model sites)
    moments: Moments          # the bias over the states so far (adapting) or as frozen


class StepStats(NamedTuple):
    position: object
    accepted: object          # stage two accepted the proposal
    fine_lp: object
    coarse_lp: object
    subchain_acceptance: object
    coarse_evaluations: object


def initial_state(levels: Levels, position) -> ChainState:
    fine_lp, fine_locations = levels.fine_with_locations(position)
    bias = _bias(levels, fine_locations, position)
    moments = update_moments(levels.empty_moments(), bias)
    return ChainState(position, fine_lp, levels.coarse(position, moments.error_model()), bias, moments)


def _bias(levels: Levels, fine_locations: dict, position) -> dict:
    coarse_locations = levels.coarse_locations(position)
    return {k: fine_locations[k] - coarse_locations[k] for k in fine_locations}


def step(levels: Levels, kind: str, tuned: kernels.Tuned, length: int, adapt, state: ChainState, key):
    """One fine iteration: a coarse subchain, then the fine accept/reject (one fine evaluation).

    ``adapt`` (a traced boolean, so warmup and sampling share one compiled step): update the error model.
    """
    import jax
    import jax.numpy as jnp

    error_model: ErrorModel = state.moments.error_model()

    def coarse(theta):
        return levels.coarse(theta, error_model)

    move_key, accept_key = jax.random.split(key)
    move = kernels.walk(kind, coarse, tuned, move_key, state.position, length)
    proposal = move.positions[-1]
    fine_lp, fine_locations = levels.fine_with_locations(proposal)
    coarse_lp = coarse(proposal)
    current_coarse = jnp.where(adapt, coarse(state.position), state.coarse_lp)  # the error model may have moved
    log_ratio = fine_lp - state.fine_lp + current_coarse - coarse_lp
    accepted = jnp.log(jax.random.uniform(accept_key)) < jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
    position = jnp.where(accepted, proposal, state.position)
    moments, bias = state.moments, state.bias
    if bias:
        proposed_bias = _bias(levels, fine_locations, proposal)
        bias = {k: jnp.where(accepted, proposed_bias[k], bias[k]) for k in bias}
        moments = jax.tree.map(lambda new, old: jnp.where(adapt, new, old), update_moments(moments, bias), moments)
    new = ChainState(position, jnp.where(accepted, fine_lp, state.fine_lp),
                     jnp.where(accepted, coarse_lp, current_coarse), bias, moments)
    return new, StepStats(position, accepted, new.fine_lp, new.coarse_lp, move.acceptance, move.evaluations)


def freeze(levels: Levels, state: ChainState, use_error_model: bool) -> ChainState:
    """The state for sampling: the error model as adapted (or none), and the coarse density under it."""
    moments = state.moments if use_error_model else levels.empty_moments()
    return state._replace(moments=moments, coarse_lp=levels.coarse(state.position, moments.error_model()))
