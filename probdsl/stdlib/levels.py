"""``fine_coarse(fine, coarse)``: one quantity written two ways, for two-level (surrogate) MCMC.

The model as written is its *fine* level: every backend, and the emitted Python
program, evaluates only the first argument.  The same model built at the
*coarse* level (``BoundModel.at_level("coarse")``) evaluates only the second, a
cheaper approximation.  The argument not chosen is never evaluated.
"""

from __future__ import annotations

from probdsl.syntax import ast

NAME = "fine_coarse"
FINE, COARSE = "fine", "coarse"
LEVELS = (FINE, COARSE)
SIGNATURE = "T fine_coarse(T fine, T coarse)"


def chosen(call: ast.Call, level: str) -> ast.Expr:
    """The argument of a ``fine_coarse`` call that ``level`` evaluates."""
    return call.args[LEVELS.index(level)]


def check_level(level: str) -> str:
    """``level``, if it is one; a ValueError otherwise."""
    if level not in LEVELS:
        raise ValueError(f"unknown model level {level!r}: expected one of {', '.join(LEVELS)}")
    return level


def calls_in(program: ast.Program) -> bool:
    """Whether ``program`` calls ``fine_coarse`` anywhere (function bodies included)."""
    return any(isinstance(n, ast.Call) and n.name == NAME for n in ast.walk(program))
