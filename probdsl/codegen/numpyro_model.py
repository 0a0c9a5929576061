"""The in-process NumPyro model of a checked program.

``build(checked)`` returns ``model(data, predict=False)``, an ordinary NumPyro
model: parameters are ``numpyro.sample`` sites with their priors (restricted to
declared supports), derived quantities feeding the density are
``numpyro.deterministic`` sites, every observed ``~`` is a sample site with
``obs=`` inside a plate over its first dimension, ``target +=`` is
``numpyro.factor``.  With ``predict=True`` observed sites are drawn afresh and
generated quantities are computed, and so are simulated observations (data defined from the
parameters and random draws, which have no likelihood: without ``predict`` they add nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import AffineTransform, biject_to

from probdsl.codegen import discrete, impute, limits
from probdsl.codegen.evaluate import KEY, Evaluator, prng_env
from probdsl.codegen.runtime_dists import Restricted, Unconstrained
from probdsl.model_interface import DATA, DETERMINISTIC, GENERATED, PARAM, TRANSFORMED_DATA
from probdsl.sema.check import Checked
from probdsl.sema.resolve import FACTOR, OBSERVED, DensityTerm
from probdsl.stdlib import distributions
from probdsl.syntax import ast

STRUCTURES = {
    "simplex": (constraints.simplex, "simplex"),
    "ordered": (constraints.ordered_vector, None),
    "positive_ordered": (constraints.positive_ordered_vector, None),
    "cholesky_factor_corr": (constraints.corr_cholesky, "cholesky_corr"),
    "corr_matrix": (constraints.corr_matrix, "corr"),
    "cov_matrix": (constraints.positive_definite, "cov"),
    "cholesky_factor_cov": (constraints.lower_cholesky, "cholesky_cov"),
    "sum_to_zero_vector": (constraints.zero_sum(1), None),
}


@dataclass(frozen=True)
class ParamPlan:
    """How one parameter is sampled (decided once, from the declaration and its prior)."""

    name: str
    shape: tuple[int, ...]
    term: DensityTerm
    dynamic: bool  # support depends on parameters, or offset/multiplier: sampled unconstrained


def is_dynamic(checked: Checked, decl: ast.Declaration) -> bool:
    names = checked.resolved.names
    for b in decl.type.bounds:
        if b.kind in ("offset", "multiplier"):
            return True
        for node in ast.walk(b.value):
            if isinstance(node, ast.Variable) and names[node.name].role not in (DATA, TRANSFORMED_DATA):
                return True
    return False


Replacements = dict[str, Callable[[dict], Any]]


class ModelBuilder:
    """``level``: which argument of each ``fine_coarse`` call is evaluated; ``replace``: deterministic
    definitions computed as ``replace[name](env)`` (``env``: the values computed so far, by name) instead of
    from their expressions."""

    def __init__(self, checked: Checked, level: str = "fine", replace: Replacements | None = None):
        self.checked = checked
        self.ev = Evaluator(checked, level)
        self.resolved = checked.resolved
        self.priors = self.resolved.priors()
        self.replace = dict(replace or {})
        summed = {n for plan in checked.discrete.values() for n in plan.derived}  # computed per discrete value
        names = self.resolved.names
        bad = sorted(n for n in self.replace if n in summed or n not in names or names[n].role != DETERMINISTIC)
        if bad:
            raise ValueError(f"only deterministic definitions can be replaced, not {', '.join(bad)}")

    # -- the model ---------------------------------------------------------------
    def model(self, data, predict: bool = False, from_prior: bool = False):
        """``predict``: draw observed sites and generated quantities (``from_prior``: ignoring the data)."""
        env = {k: (jnp.asarray(v) if not isinstance(v, (int, float)) else v) for k, v in data.items()}
        if predict:
            env = prng_env(env)
        plans = self.checked.discrete
        summed = {n for plan in plans.values() for n in [plan.name, *plan.derived]}
        for name in impute.order(self.resolved, impute.missing_in(self.resolved, env)):
            info = self.resolved.names[name]
            if info.role == DATA and impute.MISSING.format(name) in env:
                env[name] = impute.impute(self, info, env)
            if info.role in (DATA, GENERATED) or name in summed:
                continue
            if info.role == TRANSFORMED_DATA:
                if name not in env:
                    env[name] = self.ev.define(info, env)
            elif info.role == PARAM:
                env[name] = self.sample_param(info, env, predict)
            elif info.role == DETERMINISTIC:
                env[name] = numpyro.deterministic(name, self.deterministic(info, env))
        summed_terms = set()
        for plan in plans.values():
            summed_terms |= {id(t) for t in plan.terms}
            discrete.sum_out(self, plan, env, predict, from_prior)
        for name in self.resolved.order:
            info = self.resolved.names[name]
            if predict and info.role == GENERATED:
                env[name] = numpyro.deterministic(name, self.ev.define(info, env))
            elif predict and info.simulation is not None:
                env[name] = numpyro.deterministic(name, self.simulate(info, env))
        for term in self.resolved.terms:
            if id(term) in summed_terms and not predict:
                continue
            if term.kind == OBSERVED:
                self.observe(term, env, predict)
            elif term.kind == FACTOR:
                numpyro.factor(term.site, self.factor_value(term, env))

    def deterministic(self, info, env):
        if info.name in self.replace:
            return jnp.asarray(self.replace[info.name]({k: v for k, v in env.items() if k != KEY}))
        return self.ev.define(info, env)

    def simulate(self, info, env):
        """A simulated observation: its definition's value, with its declaration's type."""
        value = self.ev.define(info.simulation, env)
        return jnp.asarray(value, dtype=float) if simulated_as_int(self.checked, info) else value

    # -- parameters --------------------------------------------------------------
    def support_of(self, decl: ast.Declaration, env):
        spec = decl.type
        if spec.kind in STRUCTURES:
            return STRUCTURES[spec.kind][0], None, None
        lower, upper = spec.bound("lower"), spec.bound("upper")
        lo = None if lower is None else self.ev.expr(lower, env)
        hi = None if upper is None else self.ev.expr(upper, env)
        if lo is not None and hi is not None:
            return constraints.interval(lo, hi), lo, hi
        if lo is not None:
            return constraints.greater_than(lo), lo, None
        if hi is not None:
            return constraints.less_than(hi), None, hi
        return constraints.real, None, None

    def sample_param(self, info, env, predict: bool = False):
        decl: ast.Declaration = info.node
        name = info.name
        shape = self.checked.types[name].shape()
        term = self.priors[name]
        support, lo, hi = self.support_of(decl, env)
        event_dim = support.event_dim
        d = term.distribution
        dynamic = is_dynamic(self.checked, decl)
        if d.name == "flat":
            if not dynamic or predict:  # predicting: the value comes from the posterior draws
                return numpyro.sample(name, dist.ImproperUniform(support, (), shape))
            prior = dist.ImproperUniform(constraints.real, (), shape)
        else:
            prior = self.prior_distribution(term, env, shape)
            if not support_matches(decl, term):
                base = prior
                extra = event_dim - len(base.event_shape)  # the support's event dims the prior does not cover
                prior = Restricted(base.to_event(extra) if extra > 0 else base, support, lo, hi)
            batch_dims = len(shape) - len(prior.event_shape)  # a multivariate prior (multi_normal) covers its event
            prior = prior.to_event(batch_dims) if batch_dims > 0 else prior
            if not dynamic or predict:
                return numpyro.sample(name, prior)
        offset, multiplier = decl.type.bound("offset"), decl.type.bound("multiplier")
        if offset is not None or multiplier is not None:
            loc = 0.0 if offset is None else self.ev.expr(offset, env)
            scale = 1.0 if multiplier is None else self.ev.expr(multiplier, env)
            transform = AffineTransform(loc, scale)
        else:
            transform = biject_to(support)
        u = numpyro.sample(name + "__u", Unconstrained(prior, transform))
        return numpyro.deterministic(name, transform(u))

    def prior_distribution(self, term: DensityTerm, env, shape):
        spec = distributions.lookup(term.distribution.name)
        nodes = list(term.distribution.args) + limits.nodes(term)
        args = self.ev.over_loops(term.loops, env, lambda scope: [self.ev.expr(a, scope) for a in nodes])
        d = self.distribution(term, spec, list(args), self.checked.types[term.site])
        return _expanded(d, shape[: len(shape) - spec.event_rank])

    def distribution(self, term: DensityTerm, spec, args, variate_type, value=None, censoring: bool = True):
        """The term's distribution from its evaluated arguments and limits (``value_and_args``), truncated
        and censored as written."""
        n = len(term.distribution.args)
        d = self.ev.make(spec, list(term.distribution.args), args[:n], variate_type, value)
        return limits.apply(term, d, args[n:], censoring)

    # -- likelihood and factors --------------------------------------------------
    def value_and_args(self, term: DensityTerm, env):
        """A term's value (its left of `~`), distribution arguments and limits, evaluated over its loops."""
        nodes = [term.lhs] + list(term.distribution.args) + limits.nodes(term)
        value, *args = self.ev.over_loops(term.loops, env, lambda scope: [self.ev.expr(n, scope) for n in nodes])
        return jnp.asarray(value), args

    def observe(self, term: DensityTerm, env, predict: bool):
        spec = distributions.lookup(term.distribution.name)
        value, args = impute.observed_part(term, env, *self.value_and_args(term, env))
        lhs_type = self.checked.expr_types[id(term.lhs)]
        batch = value.shape[: value.ndim - spec.event_rank]
        d = _expanded(self.distribution(term, spec, args, lhs_type, value), batch)
        if batch and batch[0]:  # (no plate over zero rows)
            with numpyro.plate(term.site + "__rows", batch[0], dim=-len(batch)):
                return numpyro.sample(term.site, d, obs=None if predict else value - spec.offset)
        d = d if value.size else d.mask(False)  # no rows: NumPyro's transformed distributions fail on empty arrays
        return numpyro.sample(term.site, d, obs=None if predict else value - spec.offset)

    def factor_value(self, term: DensityTerm, env):
        if isinstance(term.node, ast.Target):
            value = self.ev.over_loops(term.loops, env, lambda scope: self.ev.expr(term.node.value, scope))
            return jnp.sum(value)
        spec = distributions.lookup(term.distribution.name)
        value, args = self.value_and_args(term, env)
        d = self.distribution(term, spec, args, self.checked.expr_types[id(term.lhs)], value)
        return jnp.sum(d.log_prob(value - spec.offset))


def simulated_as_int(checked: Checked, info) -> bool:
    """Whether a simulated observation declared real is defined by an integer value (so is converted)."""
    sim = info.simulation
    return not checked.types[info.name].is_int and not sim.in_parts and checked.type_of(sim.node.value).is_int


def _expanded(d, batch):
    """``d`` with batch shape ``batch`` (univariate priors and likelihoods broadcast to their variable)."""
    return d if tuple(d.batch_shape) == tuple(batch) else d.expand(tuple(batch))


def support_matches(decl: ast.Declaration, term: DensityTerm) -> bool:
    """Whether the prior's support is exactly the declared one, so no restriction is needed.

    Decided from the declaration's text: a bound matches only when it is a number
    equal to the distribution's own bound (``real<lower=0> s ~ exponential(1)``).
    """
    spec = distributions.lookup(term.distribution.name)
    kind = decl.type.kind
    if kind in STRUCTURES:
        return STRUCTURES[kind][1] is not None and spec.support.structure == STRUCTURES[kind][1]
    lower, upper = decl.type.bound("lower"), decl.type.bound("upper")
    if lower is None and upper is None:
        return True
    s = spec.support
    if s.lower_arg is not None or s.upper_arg is not None:
        return False
    return _same_bound(lower, s.lower) and _same_bound(upper, s.upper)


def _same_bound(declared, own) -> bool:
    if declared is None:
        return own is None
    return own is not None and ast.literal_value(declared) == own


def build(checked: Checked, level: str = "fine", replace: Replacements | None = None):
    """The NumPyro model function ``model(data, predict=False)`` of a checked program (see ``ModelBuilder``)."""
    return ModelBuilder(checked, level, replace).model
