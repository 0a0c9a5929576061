"""Bind-time checks of truncated and censored observations, against the data.

Error codes: E312 an observed value outside its truncation bounds, E313 an
empty truncation (lower bound above the upper one), E314 a censoring
indicator that is not 0 or 1, or a row marked twice, E315 an interval whose
upper end is below the recorded value.  Bounds that depend on parameters are
not known here; they are enforced by the log density.
"""

from __future__ import annotations

import numpy as np

from probdsl.errors import DiagnosticBag
from probdsl.model_interface import DATA, TRANSFORMED_DATA
from probdsl.sema.resolve import OBSERVED, DensityTerm, free_variables
from probdsl.stdlib import distributions
from probdsl.syntax import printer


def validate_limits(checked, evaluate, sources: dict[str, str], bag: DiagnosticBag) -> None:
    """Check every observed term's truncation and censoring against the bound data.

    ``evaluate(term, expr)`` is ``expr`` evaluated on the data over the term's loops.
    """
    for term in checked.resolved.terms:
        if term.kind != OBSERVED or (term.truncation is None and term.censoring is None):
            continue
        value = np.asarray(evaluate(term, term.lhs), dtype=float)
        known = ~np.isnan(value)  # missing entries are not observations

        def at(e):
            return None if e is None or not _data_level(checked, term, e) else np.broadcast_to(
                np.asarray(evaluate(term, e), dtype=float), value.shape)

        origin = sources.get(term.site)
        notes = (f"`{term.site}` comes from {origin}",) if origin else ()
        if term.truncation is not None:
            _truncation(term, value, known, at(term.truncation.lower), at(term.truncation.upper), notes, bag)
        if term.censoring is not None:
            _censoring(term, value, known, {a.kind: at(a.value) for a in term.censoring.args}, notes, bag)


def _data_level(checked, term: DensityTerm, e) -> bool:
    loop_vars = frozenset(loop.var for loop in term.loops)
    names = checked.resolved.names
    return all(names[n].role in (DATA, TRANSFORMED_DATA) for n in free_variables(e, loop_vars) if n in names)


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _element(term: DensityTerm, index: tuple[int, ...]) -> str:
    name = printer.expr(term.lhs) if not term.loops else term.site
    return f"`{name}[{', '.join(str(i + 1) for i in index)}]`" if index else f"`{name}`"


def _count(mask: np.ndarray, what: str) -> str:
    n = int(mask.sum())
    return f"{n} {what}{'s' if n > 1 else ''}"


def _truncation(term, value, known, lower, upper, notes, bag) -> None:
    spec = distributions.lookup(term.distribution.name)
    span = term.truncation.span
    if lower is not None and upper is not None:
        empty = lower > upper if spec.variate == "int" else lower >= upper
        if empty.any():
            i = _first(empty)
            bag.error("E313", f"empty truncation at {_element(term, i)}: the lower bound {lower[i]:g} is not below "
                      f"the upper bound {upper[i]:g}", span, label=_count(empty, "empty interval"), notes=notes)
            return
    for side, bound, outside in (("lower", lower, lambda b: value < b), ("upper", upper, lambda b: value > b)):
        if bound is None:
            continue
        bad = known & outside(bound)
        if bad.any():
            i = _first(bad)
            bag.error("E312", f"{_element(term, i)} = {value[i]:g} is {'below' if side == 'lower' else 'above'} its "
                      f"{side} truncation bound {bound[i]:g}", span, label=_count(bad, "value") + " outside",
                      notes=notes, hint="a truncated distribution has no mass outside `T[lower, upper]`")


def _censoring(term, value, known, args, notes, bag) -> None:
    span = term.censoring.span
    marks = np.zeros(value.shape, dtype=int)
    for kind in ("left", "right", "interval"):
        flags = args.get(kind)
        if flags is None:
            continue
        bad = known & (flags != 0) & (flags != 1)
        if bad.any():
            i = _first(bad)
            given = next(printer.expr(a.value) for a in term.censoring.args if a.kind == kind)
            bag.error("E314", f"`{kind} = {given}` is {flags[i]:g} for {_element(term, i)}: a censoring indicator is "
                      "1 (censored) or 0 (observed exactly)", span, label=_count(bad, "bad indicator"), notes=notes)
            return
        marks += flags.astype(int)
    twice = known & (marks > 1)
    if twice.any():
        i = _first(twice)
        bag.error("E314", f"{_element(term, i)} is marked censored twice (by `left`, `right` or `interval`)", span,
                  label=_count(twice, "row"), notes=notes, hint="each row is censored in one way at most")
    upper, flags = args.get("upper"), args.get("interval")
    if upper is not None and flags is not None:
        bad = known & (flags == 1) & (upper < value)
        if bad.any():
            i = _first(bad)
            bag.error("E315", f"the interval of {_element(term, i)} is empty: `upper` = {upper[i]:g} is below the "
                      f"recorded value {value[i]:g}", span, label=_count(bad, "empty interval"), notes=notes,
                      hint="an interval-censored row records its lower end in the value and its upper end in `upper`")
