"""Checks of truncation ``T[L, U]`` and ``censored(...)`` on a ``~`` statement.

Error codes: E142 the distribution has no CDF, E143 a bad truncation bound,
E144 an empty truncation, E145 a parameter's truncation outside its declared
support, E146 censoring of something that is not data, E147 a bad
``censored(...)`` keyword, E148 a bad censoring value.
"""

from __future__ import annotations

import difflib

import numpy as np

from probdsl.model_interface import DATA, TRANSFORMED_DATA
from probdsl.sema.resolve import OBSERVED, PRIOR, DensityTerm, free_variables
from probdsl.sema.types import Type, sizes_conflict
from probdsl.stdlib import distributions
from probdsl.syntax import ast, printer

INDICATORS = ("left", "right", "interval")
CENSOR_KINDS = INDICATORS + ("upper",)
#: Declared types that can carry `lower=`/`upper=`, so can be truncated.
BOUNDED_KINDS = ("real", "vector", "row_vector", "matrix")


def check_limits(checker, term: DensityTerm, scope, lhs_t: Type) -> None:
    """Report every problem with the truncation and censoring of ``term``."""
    spec = distributions.lookup(term.distribution.name)
    if spec.name == "flat" and term.truncation is not None:
        checker.bag.error("E142", "`flat()` cannot be truncated: it is uniform over the declared support",
                          term.truncation.span, hint="declare the bounds instead: `param real<lower=0> x ~ flat();`")
        return
    missing_cdf = False
    for construct, what in ((term.truncation, "truncated"), (term.censoring, "censored")):
        if construct is not None and not spec.has_cdf:
            checker.bag.error("E142", f"`{spec.name}` cannot be {what}: probdsl has no CDF for it", construct.span,
                              hint="docs/language.md lists the distributions that have one (under Truncation)")
            missing_cdf = True
    if missing_cdf:
        return
    if term.truncation is not None:
        _truncation(checker, term, scope, lhs_t, spec)
    if term.censoring is not None:
        _censoring(checker, term, scope, lhs_t)


def _fits(t: Type, lhs_t: Type) -> bool:
    """A scalar, or a container of the value's shape."""
    return t.is_scalar or (t.rank == lhs_t.rank and not any(sizes_conflict(a, b) for a, b in zip(t.dims, lhs_t.dims)))


def _truncation(checker, term: DensityTerm, scope, lhs_t: Type, spec) -> None:
    trunc = term.truncation
    bounds = [(side, e) for side, e in (("lower", trunc.lower), ("upper", trunc.upper)) if e is not None]
    if not bounds:
        checker.bag.error("E143", "`T[, ]` gives no bound", trunc.span, hint="write `T[0, ]`, `T[, 10]` or `T[0, 10]`")
        return
    for side, e in bounds:
        t = checker.expr(e, scope)
        if not _fits(t, lhs_t):
            checker.bag.error("E143", f"the {side} truncation bound must be a scalar or have the shape of "
                              f"`{printer.expr(term.lhs)}` (`{lhs_t}`); `{printer.expr(e)}` is `{t}`", e.span)
        elif spec.variate == "int" and not t.is_int:
            checker.bag.error("E143", f"`{spec.name}` is discrete: its truncation bounds must be integers; "
                              f"`{printer.expr(e)}` is `{t}`", e.span)
    lower, upper = (_constant(checker, e) for e in (trunc.lower, trunc.upper))
    if lower is not None and upper is not None and (lower > upper or (lower == upper and spec.variate != "int")):
        checker.bag.error("E144", f"empty truncation: the lower bound {lower:g} is not below the upper bound {upper:g}",
                          trunc.span)
    if term.kind == PRIOR:
        _declared_support(checker, term, lower, upper)


def _constant(checker, e) -> float | None:
    value = None if e is None else checker.const_value(e)
    return None if value is None or np.ndim(value) else float(value)


def _declared_support(checker, term: DensityTerm, lower: float | None, upper: float | None) -> None:
    """A truncated prior needs declared bounds inside the truncation, so its density is positive on the support."""
    decl: ast.Declaration = checker.r.names[term.site].node
    trunc = term.truncation
    if decl.type.kind not in BOUNDED_KINDS:
        checker.bag.error("E145", f"a `{decl.type.kind}` parameter cannot have a truncated prior", trunc.span,
                          hint=f"truncation applies to {', '.join(f'`{k}`' for k in BOUNDED_KINDS)} parameters")
        return
    for side, bound, limit in (("lower", trunc.lower, lower), ("upper", trunc.upper, upper)):
        if bound is None:
            continue
        declared = decl.type.bound(side)
        example = f"<{side}={printer.expr(bound)}>"
        if declared is None:
            checker.bag.error("E145", f"`{term.site}` is truncated but declared without `{side}=`", trunc.span,
                              notes=(f"`{term.site}` is declared at {decl.span}",),
                              hint=f"declare the support the truncation gives: `{decl.role} "
                              f"{decl.type.kind}{example} {term.site}`")
            continue
        value = _constant(checker, declared)
        if value is not None and limit is not None and (value < limit if side == "lower" else value > limit):
            checker.bag.error("E145", f"`{term.site}` is declared with {side}={value:g} but truncated at {limit:g}: "
                              "part of its support would have no density", trunc.span,
                              notes=(f"`{term.site}` is declared at {decl.span}",),
                              hint="declare bounds that lie inside the truncation")


def _censoring(checker, term: DensityTerm, scope, lhs_t: Type) -> None:
    cens = term.censoring
    if term.kind != OBSERVED:
        what = "a parameter" if term.kind == PRIOR else "an expression of parameters"
        checker.bag.error("E146", f"only observed data can be censored; `{printer.expr(term.lhs)}` is {what}",
                          cens.span, hint="`censored(...)` goes on a likelihood: `y ~ normal(mu, sigma) "
                          "censored(right = is_censored);` with `y` data")
        return
    seen: set[str] = set()
    for arg in cens.args:
        if arg.kind not in CENSOR_KINDS:
            close = difflib.get_close_matches(arg.kind, CENSOR_KINDS, n=1)
            checker.bag.error("E147", f"unknown censoring `{arg.kind}`", arg.span,
                              hint=f"did you mean `{close[0]}`?" if close else
                              "write `left = ...`, `right = ...`, or `interval = ..., upper = ...`")
            continue
        if arg.kind in seen:
            checker.bag.error("E147", f"`{arg.kind}` is given twice", arg.span)
            continue
        seen.add(arg.kind)
        _censor_value(checker, term, arg, scope, lhs_t)
    if "upper" in seen and "interval" not in seen:
        checker.bag.error("E147", "`upper` is the upper end of interval-censored rows: mark them with "
                          "`interval = ...`", cens.span)
    elif "interval" in seen and "upper" not in seen:
        checker.bag.error("E147", "interval censoring needs `upper = ...`, the upper end of each row's interval",
                          cens.span)


def _censor_value(checker, term: DensityTerm, arg: ast.CensorArg, scope, lhs_t: Type) -> None:
    t = checker.expr(arg.value, scope)
    lhs = printer.expr(term.lhs)
    if arg.kind in INDICATORS and not t.is_int:
        checker.bag.error("E148", f"`{arg.kind}` marks censored rows with 1 (0 for the others): it must be an "
                          f"integer, `{printer.expr(arg.value)}` is `{t}`", arg.value.span)
    elif not _fits(t, lhs_t):
        checker.bag.error("E148", f"`{arg.kind}` must be a scalar or have the shape of `{lhs}` (`{lhs_t}`); "
                          f"`{printer.expr(arg.value)}` is `{t}`", arg.value.span)
    for name in sorted(free_variables(arg.value, frozenset(scope))):
        info = checker.r.names.get(name)
        if info is not None and info.role not in (DATA, TRANSFORMED_DATA):
            checker.bag.error("E148", f"censoring is part of the data; `{name}` is a {info.role}", arg.value.span)
