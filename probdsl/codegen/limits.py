"""Truncation ``T[L, U]`` and ``censored(...)`` of a ``~`` statement, for the model and the emitter.

A term's limits are extra expressions, evaluated together with its
distribution's arguments (so loops, minibatches and missing values treat
them alike): the truncation bounds present, then the censoring values in
the order written.  ``apply`` wraps the distribution in the runtime
``Truncated`` / ``Censored`` distributions; ``render`` writes the same as
source text.
"""

from __future__ import annotations

from probdsl.codegen.runtime_dists import Censored, Truncated
from probdsl.sema.resolve import DensityTerm


def nodes(term: DensityTerm, censoring: bool = True) -> list:
    """The limit expressions of ``term``: truncation bounds, then (unless ``censoring=False``) censoring values."""
    out = []
    if term.truncation is not None:
        out += [e for e in (term.truncation.lower, term.truncation.upper) if e is not None]
    if censoring and term.censoring is not None:
        out += [a.value for a in term.censoring.args]
    return out


def _keywords(term: DensityTerm, values: list, censoring: bool) -> tuple[dict, dict]:
    values = list(values)
    truncation, censored = {}, {}
    if term.truncation is not None:
        for side in ("lower", "upper"):
            if getattr(term.truncation, side) is not None:
                truncation[side] = values.pop(0)
    if censoring and term.censoring is not None:
        censored = {a.kind: v for a, v in zip(term.censoring.args, values)}
    return truncation, censored


def apply(term: DensityTerm, d, values: list, censoring: bool = True):
    """``d`` truncated and censored as ``term`` says; ``values`` are ``nodes(term, censoring)`` evaluated."""
    truncation, censored = _keywords(term, values, censoring)
    if term.truncation is not None:
        d = Truncated(d, **truncation)
    if censored:
        d = Censored(d, **censored)
    return d


def render(term: DensityTerm, d: str, values: list[str], censoring: bool = True) -> str:
    """Source text of ``apply``: ``d`` and ``values`` are code."""
    truncation, censored = _keywords(term, values, censoring)
    if term.truncation is not None:
        d = f"Truncated({d}, {', '.join(f'{k}={v}' for k, v in truncation.items())})"
    if censored:
        d = f"Censored({d}, {', '.join(f'{k}={v}' for k, v in censored.items())})"
    return d
