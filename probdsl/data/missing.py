"""Missing values at bind time: which data may have them, whether they can be imputed, and their labels.

See ``probdsl/codegen/impute.py`` for what the model does with them.  Error
code E316: missing values that cannot be imputed (integer data, a vector
distribution, two ``~`` statements on the variable, a distribution that depends
on the variable itself, ...).
"""

from __future__ import annotations

import graphlib
from dataclasses import replace

import numpy as np

from probdsl.codegen import impute
from probdsl.errors import DiagnosticBag
from probdsl.model_interface import OBSERVED, PARAM, SiteInfo
from probdsl.sema.resolve import Resolved
from probdsl.stdlib import distributions
from probdsl.syntax import printer

IMPUTABLE_KINDS = ("int", "real", "vector", "row_vector", "matrix")  # int: reported as E316 by the binder


def imputable(resolved: Resolved) -> frozenset[str]:
    """Data names that may have missing entries: the whole left side of a `~` (real; int is refused later)."""
    return frozenset(name for name in impute.imputing_terms(resolved)
                     if resolved.names[name].node.type.kind in IMPUTABLE_KINDS)


def check_imputable(checked, missing: dict[str, np.ndarray], evaluate, bag: DiagnosticBag,
                    sources: dict[str, str]) -> None:
    """Report variables whose missing entries cannot be sampled; ``evaluate(term, expr)`` as in ``validate_limits``,
    ``sources`` the file each name comes from."""
    resolved = checked.resolved
    terms = impute.imputing_terms(resolved)
    for name, mask in missing.items():
        term = terms[name][0]
        rows = _labels(mask)
        shown = ", ".join(f"`{name}[{r}]`" for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        notes = (f"`{name}` has missing values in {sources.get(name, 'the data')}: {shown}",)
        spec = distributions.lookup(term.distribution.name)
        decl = resolved.names[name].node
        problem = None
        if len(terms[name]) > 1:
            problem = f"`{name}` is on the left of two `~` statements, so which one imputes it is ambiguous"
        elif spec.event_rank:
            problem = f"entries of `{name}` cannot be imputed one by one from `{spec.name}`"
        elif np.shape(evaluate(term, term.lhs)) != mask.shape:
            problem = f"this `~` covers only part of `{name}`"
        elif any(not checked.expr_types[id(b.value)].is_scalar for b in decl.type.bounds):
            problem = f"the declared bounds of `{name}` differ by entry; imputation needs scalar bounds"
        elif name + "_missing" in resolved.names:
            problem = f"the imputed entries would be reported as `{name}_missing`, which the model already defines"
        else:
            try:
                impute.order(resolved, frozenset(missing))
            except graphlib.CycleError:
                problem = f"the distribution of `{name}` depends on `{name}` itself"
        if problem:
            bag.error("E316", f"`{name}` has missing values that cannot be imputed: {problem}", term.span,
                      notes=notes, hint=f"remove the rows with missing `{name}` from the data")


def model_data(missing: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The index arrays the model reads: ``y__missing`` and ``y__observed`` (flat, 0-based)."""
    out = {}
    for name, mask in missing.items():
        flat = mask.reshape(-1)
        out[impute.MISSING.format(name)] = np.flatnonzero(flat)
        out[impute.OBSERVED_ROWS.format(name)] = np.flatnonzero(~flat)
    return out


def _labels(mask: np.ndarray) -> list:
    """1-based row numbers of the entries of ``mask`` (``"row,column"`` for a matrix)."""
    hits = np.argwhere(mask)
    if mask.ndim == 1:
        return [int(i) + 1 for i in hits[:, 0]]
    return [",".join(str(int(i) + 1) for i in idx) for idx in hits]


def labels(mask: np.ndarray) -> tuple[list, list]:
    """Coordinates of the missing and of the observed entries."""
    return _labels(mask), _labels(~mask)


def with_missing_sites(sites: list[SiteInfo], coords: dict[str, list], resolved: Resolved,
                       missing: dict[str, np.ndarray]) -> list[SiteInfo]:
    """``sites`` with a ``y_missing`` parameter site per variable with missing entries, and the likelihood
    site of ``y`` cut to its observed entries; both are labelled with row numbers in ``coords``."""
    terms = impute.imputing_terms(resolved)
    out = list(sites)
    for name, mask in missing.items():
        term = terms[name][0]
        gone, kept = labels(mask)
        observed_dim, missing_dim = f"{term.site}_observed_row", f"{name}_missing_row"
        coords[observed_dim], coords[missing_dim] = kept, gone
        out = [replace(s, shape=(len(kept),), dims=(observed_dim,)) if s.role == OBSERVED and s.name == term.site
               else s for s in out]
        out.append(SiteInfo(name + "_missing", PARAM, (len(gone),), (missing_dim,), term.span,
                            printer.type_spec(resolved.names[name].node.type), term.distribution.name, imputed=True))
    return out


def observed_entries(values: dict[str, np.ndarray], resolved: Resolved,
                     missing: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The observed sites' values with the missing entries left out (flattened)."""
    terms = impute.imputing_terms(resolved)
    out = dict(values)
    for name, mask in missing.items():
        site = terms[name][0].site
        out[site] = np.asarray(out[site]).reshape(-1)[~mask.reshape(-1)]
    return out
