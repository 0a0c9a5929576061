"""Finite discrete parameters: which statements involve them and how they are summed out.

A parameter ``int<lower=a, upper=b>`` takes K = b - a + 1 values.  Gradient-based samplers
cannot move it, so every statement whose value depends on it is evaluated once per value
and the values are summed out exactly:

* independent elements (``param array[N] int<lower=1, upper=K> z ~ categorical(w);``):
  element by element, a log-sum-exp over the K values (enumeration);
* a Markov chain (``z[1] ~ D0; for (t in 2:T) z[t] ~ D(z[t - 1]);``): the forward algorithm.

The statements must use the parameter elementwise (``z[n]`` in a loop over ``n``, or ``z``
whole in a vectorized statement), so that element n of each statement depends on ``z[n]``
only.  Draws of the parameter are recovered afterwards from its exact conditional posterior.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probdsl.errors import DiagnosticBag
from probdsl.model_interface import GENERATED
from probdsl.sema.resolve import OBSERVED, PRIOR, DensityTerm, NameInfo, is_discrete_param, lag_of
from probdsl.syntax import ast, printer


@dataclass
class DiscretePlan:
    """How one discrete parameter is summed out (used by the model builder and the emitter)."""

    name: str
    lower: ast.Expr
    upper: ast.Expr
    markov: bool
    prior: DensityTerm | None = None  # independent elements: the one prior statement
    init: DensityTerm | None = None  # Markov chain: `z[1] ~ ...`
    transition: DensityTerm | None = None  # Markov chain: `for (t in 2:T) z[t] ~ ...(z[t - 1])`
    derived: list[str] = field(default_factory=list)  # names computed from z, in dependency order
    terms: list[DensityTerm] = field(default_factory=list)  # other statements involving z
    observed: DensityTerm | None = None  # the one likelihood whose rows carry the marginal density

    @property
    def statements(self) -> list[DensityTerm]:
        return [t for t in (self.prior, self.init, self.transition) if t is not None] + self.terms


def analyse(checked, bag: DiagnosticBag) -> dict[str, DiscretePlan]:
    resolved = checked.resolved
    plans: dict[str, DiscretePlan] = {}
    for name, info in resolved.names.items():
        if is_discrete_param(info):
            plan = _plan(name, info, checked, bag)
            if plan is not None:
                plans[name] = plan
    involved: dict[int, str] = {}
    for plan in plans.values():
        for term in plan.terms:
            if id(term) in involved:
                bag.error("E185", f"this statement involves two discrete parameters, `{involved[id(term)]}` and "
                          f"`{plan.name}`", term.span, hint="sum one of them out by hand with `log_sum_exp`")
            involved[id(term)] = plan.name
    return plans


def _plan(name: str, info: NameInfo, checked, bag) -> DiscretePlan | None:
    resolved = checked.resolved
    decl: ast.Declaration = info.node
    lower, upper = decl.type.bound("lower"), decl.type.bound("upper")
    derived = _dependents(name, resolved)
    reach = {name} | set(derived)
    priors = [t for t in resolved.terms if t.kind == PRIOR and t.site == name]
    terms = [t for t in resolved.terms if t.deps & reach and t not in priors]
    for term in terms:
        if term.kind == PRIOR:
            bag.error("E182", f"the prior of `{term.site}` cannot depend on the discrete parameter `{name}`",
                      term.span, hint="only likelihoods and `target +=` statements may use it")
            return None
    derived = [n for n in derived if resolved.names[n].role != GENERATED]
    markov = any(_reads(t.distribution, name) for t in priors)
    plan = DiscretePlan(name, lower, upper, markov, derived=derived, terms=terms)
    if markov:
        if not _markov_priors(plan, priors, bag):
            return None
    elif len(priors) != 1:
        bag.error("E184", f"discrete parameter `{name}` needs one prior statement; it has {len(priors)}",
                  priors[1].span if len(priors) > 1 else info.span,
                  hint=f"e.g. `{name} ~ categorical(w);` or a Markov chain: `{name}[1] ~ categorical(p0); "
                  f"for (t in 2:T) {name}[t] ~ categorical(Gamma[{name}[t - 1]]);`")
        return None
    else:
        plan.prior = priors[0]
    scalar = checked.types[name].rank == 0
    if plan.transition is not None:
        _check_elementwise(name, plan.transition.distribution, plan.transition.loops, scalar, bag, lag=True)
    for term in [t for t in (plan.prior, *terms) if t is not None]:
        _check_elementwise(name, term.node, term.loops, scalar, bag)
    for dep in derived:
        dep_info = resolved.names[dep]
        _check_elementwise(name, dep_info.node, dep_info.loops, scalar, bag)
    observed = [t for t in terms if t.kind == OBSERVED]
    if len(observed) == 1 and not scalar:
        plan.observed = observed[0]
    return plan


def _dependents(name: str, resolved) -> list[str]:
    reach, out = {name}, []
    for other in resolved.order:
        info = resolved.names[other]
        if info.kind == "derived" and info.deps & reach:
            reach.add(other)
            out.append(other)
    return out


def _reads(node, name: str) -> bool:
    return node is not None and any(isinstance(n, ast.Variable) and n.name == name for n in ast.walk(node))


def _markov_priors(plan: DiscretePlan, priors: list[DensityTerm], bag) -> bool:
    name = plan.name
    form = (f"`{name}[1] ~ categorical(p0); for (t in 2:T) {name}[t] ~ categorical(Gamma[{name}[t - 1]]);`")
    init = [t for t in priors if not t.loops]
    transition = [t for t in priors if t.loops]
    if len(init) != 1 or len(transition) != 1 or len(transition[0].loops) != 1:
        bag.error("E184", f"the Markov chain `{name}` needs one first-state statement and one loop of transitions",
                  priors[0].span, hint=f"write it as {form}")
        return False
    first, step = init[0], transition[0]
    loop = step.loops[0]
    lhs_ok = isinstance(first.lhs, ast.Index) and ast.literal_value(first.lhs.indices[0]) == 1
    step_ok = (isinstance(step.lhs, ast.Index) and isinstance(step.lhs.indices[0], ast.Variable)
               and step.lhs.indices[0].name == loop.var and ast.literal_value(loop.lower) == 2)
    if not (lhs_ok and step_ok) or _reads(first.distribution, name):
        bag.error("E184", f"the Markov chain `{name}` must start at `{name}[1]` and step from `{name}[t - 1]` "
                  f"to `{name}[t]` for t from 2", step.span, hint=f"write it as {form}")
        return False
    for node in ast.walk(step.distribution):
        if isinstance(node, ast.Index) and isinstance(node.base, ast.Variable) and node.base.name == name:
            head = node.indices[0]
            lag_one = lag_of(head, loop.var) is not None and ast.literal_value(head.right) == 1
            if not lag_one or len(node.indices) != 1:
                bag.error("E184", f"a transition may only read the previous state `{name}[{loop.var} - 1]`, "
                          f"not `{printer.expr(node)}`", node.span, hint=f"write it as {form}")
                return False
    plan.init, plan.transition = first, step
    return True


def _check_elementwise(name: str, node, loops, scalar: bool, bag, lag: bool = False) -> None:
    """Element n of the statement must depend on element n of the discrete parameter only."""
    parents = {}
    for n in ast.walk(node):
        if isinstance(n, ast.Index):
            parents[id(n.base)] = n
    outer = loops[0].var if loops else None
    for n in ast.walk(node):
        if not (isinstance(n, ast.Variable) and n.name == name):
            continue
        index = parents.get(id(n))
        if scalar:
            continue
        if index is None:
            if loops:
                bag.error("E186", f"inside a loop, use the discrete parameter elementwise: `{name}[{outer}]`",
                          n.span, hint="each iteration may only use its own element")
            continue
        head = index.indices[0]
        if isinstance(head, ast.Variable) and head.name == outer and len(index.indices) == 1:
            continue
        if lag and lag_of(head, outer) is not None:
            continue
        bag.error("E186", f"`{printer.expr(index)}` does not use the discrete parameter elementwise", index.span,
                  hint=f"use `{name}[n]` in a loop over n from 1, or `{name}` whole in a vectorized statement")

