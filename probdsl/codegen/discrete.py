"""Summing out finite discrete parameters inside the NumPyro model (the plan: probdsl/sema/discrete.py).

Every statement involving the parameter is evaluated once per value with ``jax.vmap``, row by row
(element n of the statement belongs to element n of the parameter).  Independent elements are
summed out with a log-sum-exp, a Markov chain with the forward algorithm.  When predicting, the
parameter is drawn from its exact conditional posterior (forward filtering, backward sampling for
a chain) and the statements then run as ordinary ones.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro
from jax.scipy.special import logsumexp

from probdsl.codegen.runtime_discrete import Marginalized, by_element, enumerated_draw, hmm_draw, hmm_forward
from probdsl.errors import Diagnostic, ModelError
from probdsl.sema.discrete import DiscretePlan
from probdsl.stdlib import distributions
from probdsl.syntax import ast


def sum_out(builder, plan: DiscretePlan, env: dict, predict: bool, from_prior: bool) -> None:
    ev = builder.ev
    lower = int(ev.static(plan.lower, env))
    states = jnp.arange(int(ev.static(plan.upper, env)) - lower + 1)
    shape = builder.checked.types[plan.name].shape()

    def scope_at(state, with_derived=True):
        scope = dict(env)
        scope[plan.name] = jnp.full(shape, lower + state, dtype=jnp.int32)
        for name in plan.derived if with_derived else ():
            scope[name] = ev.define(builder.resolved.names[name], scope)
        return scope

    def likelihood(state):
        scope = scope_at(state)
        total = jnp.zeros(shape)
        for term in plan.terms:
            total = total + _by_element(builder, term, scope, shape)
        return total

    emission = jnp.zeros((len(states),) + shape) if from_prior else jax.vmap(likelihood)(states)
    if plan.markov:
        log_init = _log_prob_of_states(builder, plan.init, scope_at(0, False), lower, states)
        log_transition = jax.vmap(lambda j: _log_prob_of_states(builder, plan.transition, scope_at(j, False),
                                                                 lower, states))(states)  # (j, k, T-1)
        log_transition = jnp.moveaxis(log_transition, -1, 0)
        per_row, alphas = hmm_forward(log_init, log_transition, emission.T)
        if predict:
            drawn = hmm_draw(numpyro.prng_key(), alphas, log_transition)
    else:
        prior = jax.vmap(lambda s: _by_element(builder, plan.prior, scope_at(s, False), shape))(states)
        log_joint = prior + emission
        per_row = logsumexp(log_joint, axis=0)
        if predict:
            drawn = enumerated_draw(numpyro.prng_key(), log_joint)
    if predict:
        env[plan.name] = numpyro.deterministic(plan.name, lower + drawn)
        for name in plan.derived:
            env[name] = numpyro.deterministic(name, ev.define(builder.resolved.names[name], env))
        return
    if plan.observed is None:
        numpyro.factor(plan.name + "__marginal", jnp.sum(per_row))
        return
    term = plan.observed
    value, _ = builder.value_and_args(term, scope_at(0))
    with numpyro.plate(term.site + "__rows", shape[0], dim=-1):
        numpyro.sample(term.site, Marginalized(per_row), obs=value)


def _log_prob_of_states(builder, term, scope, lower: int, states):
    """The log probability of each state under a prior statement ``z[..] ~ D(...)``: shape (K, rows...)."""
    spec = distributions.lookup(term.distribution.name)
    _, args = builder.value_and_args(term, scope)
    d = builder.distribution(term, spec, args, _lhs_type(builder, term))
    return jax.vmap(lambda s: d.log_prob(jnp.full(d.batch_shape, lower + s - spec.offset)))(states)


def _by_element(builder, term, scope, shape) -> jnp.ndarray:
    """The statement's log density, summed to one value per element of the discrete parameter."""
    if isinstance(term.node, ast.Target):
        lp = jnp.asarray(builder.ev.over_loops(term.loops, scope, lambda s: builder.ev.expr(term.node.value, s)))
    else:
        spec = distributions.lookup(term.distribution.name)
        value, args = builder.value_and_args(term, scope)
        d = builder.distribution(term, spec, args, _lhs_type(builder, term), value)
        batch = value.shape[: value.ndim - spec.event_rank]
        d = d if tuple(d.batch_shape) == tuple(batch) else d.expand(tuple(batch))
        lp = d.log_prob(value - spec.offset)
    if not shape:
        return by_element(lp, None)
    if lp.ndim == 0 or lp.shape[0] != shape[0]:
        raise ModelError([Diagnostic("E187", f"the rows of this statement ({lp.shape[0] if lp.ndim else 1}) do not "
                                     f"match the {shape[0]} elements of the discrete parameter", term.span,
                                     hint="element n of the statement must use element n of the parameter")], {})
    return by_element(lp, shape[0])


def _lhs_type(builder, term):
    if isinstance(term.node, ast.Declaration):  # an inline prior: the value is the declared parameter
        return builder.checked.types[term.site]
    return builder.checked.expr_types[id(term.lhs)]
