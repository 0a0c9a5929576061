"""Emitted source for summing out discrete parameters (mirrors probdsl/codegen/discrete.py)."""

from __future__ import annotations

from probdsl.sema.discrete import DiscretePlan
from probdsl.stdlib import distributions
from probdsl.syntax import ast


def sum_out(em, plan: DiscretePlan) -> list[str]:
    """Lines of the model body that sum out ``plan.name`` (or draw it, when predicting)."""
    em.uses_discrete = True
    z = em.names[plan.name]
    t = em.checked.types[plan.name]
    n = em.dim(t.dims[0]) if t.dims else "None"
    shape = f"({n},)" if t.dims else "()"
    lines = [f"# `{plan.name}` takes finitely many values: summed out exactly, drawn back when predicting",
             f"_lower = {em.expr(plan.lower)}",
             f"_states = jnp.arange({em.expr(plan.upper)} - _lower + 1)",
             "", f"def _{plan.name}_statements(_state):  # log density of the statements using it, per element",
             f"    {z} = jnp.full({shape}, _lower + _state, dtype=jnp.int32)"]
    lines += _derived(em, plan, "    ")
    lines.append(f"    _total = jnp.zeros({shape})")
    for term in plan.terms:
        lines += [f"    _total = _total + by_element({_log_density(em, term)}, {n})"]
    lines += ["    return _total", "",
              f"_emission = jnp.zeros((_states.shape[0],) + {shape}) if from_prior else jax.vmap(_{plan.name}_statements)(_states)"]
    if plan.markov:
        init, step = plan.init, plan.transition
        lines += [f"_d = {_dist(em, init)}",
                  f"_log_init = jax.vmap(lambda _s: _d.log_prob(jnp.full(_d.batch_shape, _lower + _s - {_offset(init)})))(_states)",
                  "", f"def _{plan.name}_transition(_state):  # log P(next state | state), per step",
                  f"    {z} = jnp.full({shape}, _lower + _state, dtype=jnp.int32)",
                  f"    _d = {_dist(em, step)}",
                  f"    return jax.vmap(lambda _s: _d.log_prob(jnp.full(_d.batch_shape, _lower + _s - {_offset(step)})))(_states)",
                  "", f"_log_transition = jnp.moveaxis(jax.vmap(_{plan.name}_transition)(_states), -1, 0)",
                  "_per_row, _alphas = hmm_forward(_log_init, _log_transition, _emission.T)",
                  "_drawn = hmm_draw(numpyro.prng_key(), _alphas, _log_transition) if predict else None"]
    else:
        lines += ["", f"def _{plan.name}_prior(_state):",
                  f"    {z} = jnp.full({shape}, _lower + _state, dtype=jnp.int32)",
                  f"    return by_element({_log_density(em, plan.prior)}, {n})", "",
                  f"_log_joint = jax.vmap(_{plan.name}_prior)(_states) + _emission",
                  "_per_row = jax.scipy.special.logsumexp(_log_joint, axis=0)",
                  "_drawn = enumerated_draw(numpyro.prng_key(), _log_joint) if predict else None"]
    lines += ["if predict:", f"    {z} = numpyro.deterministic({plan.name!r}, _lower + _drawn)"]
    lines += _derived(em, plan, "    ", register=True)
    if plan.observed is None:
        lines += ["else:", f"    numpyro.factor({plan.name + '__marginal'!r}, jnp.sum(_per_row))"]
    else:
        term = plan.observed
        lines += ["else:", f"    with numpyro.plate({term.site + '__rows'!r}, {n}, dim=-1):",
                  f"        numpyro.sample({term.site!r}, Marginalized(_per_row), obs=jnp.asarray({em.over_loops(term.loops, em.expr(term.lhs))}))"]
    return lines


def _derived(em, plan, indent: str, register: bool = False) -> list[str]:
    lines = []
    for name in plan.derived:
        info = em.r.names[name]
        if info.in_parts:
            lines += em.define_in_parts(info, indent)
        value = em.define(info)
        if register:
            value = f"numpyro.deterministic({name!r}, {value})"
        lines.append(f"{indent}{em.names[name]} = {value}")
    return lines


def _offset(term) -> str:
    return repr(distributions.lookup(term.distribution.name).offset)


def _variate_type(em, term):
    if isinstance(term.node, ast.Declaration):
        return em.checked.types[term.site]
    return em.type_of(term.lhs)


def _dist(em, term) -> str:
    spec = distributions.lookup(term.distribution.name)
    return em.make(spec, term.distribution.args, _variate_type(em, term), term.loops)


def _log_density(em, term) -> str:
    if isinstance(term.node, ast.Target):
        return f"jnp.asarray({em.over_loops(term.loops, em.expr(term.node.value))})"
    spec = distributions.lookup(term.distribution.name)
    value = em.over_loops(term.loops, em.expr(term.lhs))
    d = em.make(spec, term.distribution.args, _variate_type(em, term), term.loops, value)
    rank = f"jnp.ndim({value}) - {spec.event_rank}" if spec.event_rank else f"jnp.ndim({value})"
    offset = f" - {spec.offset}" if spec.offset else ""
    return f"{d}.expand(jnp.shape({value})[:{rank}]).log_prob(jnp.asarray({value}){offset})"
