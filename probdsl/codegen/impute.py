"""Missing values: absent entries of data on the left of a ``~`` become parameters.

For a data variable ``y`` that is the whole left side of one ``~`` statement
and has missing entries (empty CSV cells, JSON ``null``), the bound data
carries ``y__missing`` and ``y__observed``: the flat, 0-based indices of its
missing and observed entries.  The model then

* samples the parameter site ``y_missing`` (one value per missing entry) from
  that statement's distribution (truncated as written; censoring applies to
  observed rows only), within the declared bounds of ``y``, at the point of the
  dependency order where the distribution's arguments are known;
* fills those entries in, so every later use of ``y`` (a predictor in another
  likelihood, a derived quantity) sees the imputed values;
* observes only the observed entries in the ``~`` statement's likelihood site.
"""

from __future__ import annotations

import graphlib

import jax.numpy as jnp
import numpyro

from probdsl.codegen import limits
from probdsl.codegen.runtime_dists import Restricted, take
from probdsl.sema.resolve import OBSERVED, DensityTerm, Resolved, _edges, _is_whole, _lhs_root, free_variables
from probdsl.stdlib import distributions

MISSING, OBSERVED_ROWS = "{}__missing", "{}__observed"


def imputed_name(term: DensityTerm) -> str | None:
    """The data variable an observed term has whole on its left (whose missing entries it could impute)."""
    if term.kind != OBSERVED or not _is_whole(term.lhs, term.loops):
        return None
    return _lhs_root(term.lhs)


def imputing_terms(resolved: Resolved) -> dict[str, list[DensityTerm]]:
    """Every data name that is the whole left side of observed terms, with those terms."""
    out: dict[str, list[DensityTerm]] = {}
    for term in resolved.terms:
        name = imputed_name(term)
        if name is not None and resolved.names[name].kind == "data":
            out.setdefault(name, []).append(term)
    return out


def missing_in(resolved: Resolved, data) -> frozenset[str]:
    """The data names with missing entries, as marked in the model's ``data``."""
    return frozenset(name for name in resolved.names if MISSING.format(name) in data)


def order(resolved: Resolved, missing: frozenset[str]) -> list[str]:
    """The dependency order with each variable in ``missing`` placed after its distribution's arguments.

    Raises ``graphlib.CycleError`` when a distribution depends on its own variable.
    """
    if not missing:
        return resolved.order
    edges = _edges(resolved.names, resolved.terms)
    terms = imputing_terms(resolved)
    for name in missing:
        term = terms[name][0]
        loop_vars = frozenset(loop.var for loop in term.loops)
        deps = set().union(*(free_variables(e, loop_vars)
                             for e in [*term.distribution.args, *limits.nodes(term, censoring=False)]))
        if name in deps:
            raise graphlib.CycleError("a distribution depends on its own variable", [name, name])
        edges[name] |= deps & resolved.names.keys()
    return list(graphlib.TopologicalSorter({name: edges[name] for name in resolved.order}).static_order())


def dependents(resolved: Resolved, missing: frozenset[str]) -> set[str]:
    """Names computed (directly or not) from a variable with missing entries."""
    out: set[str] = set()
    for name in order(resolved, missing):
        if resolved.names[name].deps & (out | missing):
            out.add(name)
    return out


def impute(builder, info, env):
    """Sample the missing entries of ``info``'s variable and return it filled in (the in-process model)."""
    from probdsl.codegen.numpyro_model import support_matches

    name, decl = info.name, info.node
    term = imputing_terms(builder.resolved)[name][0]
    spec = distributions.lookup(term.distribution.name)
    value = jnp.asarray(env[name], dtype=float)
    rows = env[MISSING.format(name)]
    nodes = list(term.distribution.args) + limits.nodes(term, censoring=False)
    args = builder.ev.over_loops(term.loops, env, lambda scope: [builder.ev.expr(n, scope) for n in nodes])
    args = [take(a, rows, value.shape) for a in args]
    d = builder.distribution(term, spec, args, builder.checked.types[name], censoring=False)
    d = d.expand((len(rows),)) if tuple(d.batch_shape) != (len(rows),) else d
    if not support_matches(decl, term):
        support, lower, upper = builder.support_of(decl, env)
        d = Restricted(d, support, lower, upper)
    draws = numpyro.sample(name + "_missing", d.to_event(1))
    return value.reshape(-1).at[rows].set(draws).reshape(value.shape)


def observed_part(term: DensityTerm, env, value, args):
    """The observed entries of a term's value and arguments, when its left side has missing entries."""
    name = imputed_name(term)
    if name is None or OBSERVED_ROWS.format(name) not in env:
        return value, args
    rows = env[OBSERVED_ROWS.format(name)]
    return take(value, rows, value.shape), [take(a, rows, value.shape) for a in args]
