"""The abstract syntax tree: frozen dataclasses, one per construct.

The tree maps one-to-one onto the syntax (the formatter prints it back).
Every node carries a ``span``; spans are excluded from equality so two trees
that differ only in layout compare equal (the ``fmt`` round-trip test relies
on this).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from probdsl.errors import Span

NO_SPAN = Span("<none>", 0, 0, 0, 0)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


# ---- expressions -------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: int | float
    text: str
    span: Span = _span()


@dataclass(frozen=True)
class Variable:
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Binary:
    op: str
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Unary:
    op: str
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Conditional:
    condition: "Expr"
    if_true: "Expr"
    if_false: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    """A function call; ``conditioned`` marks Stan's ``f_lpdf(y | a, b)`` form."""

    name: str
    args: tuple["Expr", ...]
    conditioned: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Slice:
    """``lo:hi`` inside brackets; either end may be missing (``:``, ``2:``, ``:n``)."""

    lower: "Expr | None"
    upper: "Expr | None"
    span: Span = _span()


@dataclass(frozen=True)
class Index:
    base: "Expr"
    indices: tuple["Expr | Slice", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Transpose:
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Paren:
    expr: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class RowVectorLiteral:
    items: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class ArrayLiteral:
    items: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class FormulaProduct:
    """A population-level formula term: ``x``, ``x:z`` or ``x*z`` (names joined by ``:`` or ``*``)."""

    names: tuple[Variable, ...]
    ops: tuple[str, ...]  # ":" or "*" between consecutive names
    span: Span = _span()


@dataclass(frozen=True)
class FormulaGroup:
    """A group-level formula term: ``(1 + x | g)``, or ``(1 + x || g)`` for uncorrelated effects."""

    terms: tuple["FormulaTerm", ...]
    signs: tuple[str, ...]  # the sign written before each term: "+", "-", or "" for an unsigned first term
    correlated: bool
    group: Variable
    span: Span = _span()


FormulaTerm = Union[Number, FormulaProduct, FormulaGroup]


@dataclass(frozen=True)
class Formula:
    """``lm(1 + x + (1 | g))``: a linear predictor written as a formula; ``syntax/formula.py`` expands it."""

    terms: tuple[FormulaTerm, ...]
    signs: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True)
class FunctionRef:
    """A user function passed by name, as the first argument of ``ode(f, ...)``."""

    name: str
    span: Span = _span()


Expr = Union[Number, Variable, Binary, Unary, Conditional, Call, Index, Transpose, Paren, RowVectorLiteral, ArrayLiteral,
             FunctionRef, Formula]


# ---- types -------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    kind: str  # lower | upper | offset | multiplier
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class TypeSpec:
    """A declared type: ``array[N] real<lower=0>``, ``vector[N]``, ``factor``...

    ``kind`` is the element keyword (``int``, ``real``, ``vector``, ``simplex``,
    ``factor``...); ``sizes`` are its own sizes, ``array_sizes`` the array's.
    """

    kind: str
    sizes: tuple[Expr, ...] = ()
    array_sizes: tuple[Expr, ...] = ()
    bounds: tuple[Bound, ...] = ()
    span: Span = _span()

    def bound(self, kind: str) -> Expr | None:
        for b in self.bounds:
            if b.kind == kind:
                return b.value
        return None


# ---- statements --------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    name: str
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Truncation:
    lower: Expr | None
    upper: Expr | None
    span: Span = _span()


@dataclass(frozen=True)
class CensorArg:
    """One ``kind = value`` of ``censored(...)``: ``left``, ``right``, ``interval`` or ``upper``."""

    kind: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Censoring:
    """``censored(right = c)``: which rows of a likelihood are censored, and how."""

    args: tuple[CensorArg, ...]
    span: Span = _span()

    def arg(self, kind: str) -> Expr | None:
        return next((a.value for a in self.args if a.kind == kind), None)


@dataclass(frozen=True)
class Declaration:
    role: str  # "data" | "param"
    type: TypeSpec
    name: str
    prior: Distribution | None = None
    truncation: Truncation | None = None
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Definition:
    """``name = expr;`` or ``name[i] = expr;`` (inside a loop); ``type`` when written."""

    target: Variable | Index
    value: Expr
    type: TypeSpec | None = None
    span: Span = _span()

    @property
    def name(self) -> str:
        return self.target.name if isinstance(self.target, Variable) else self.target.base.name


@dataclass(frozen=True)
class Tilde:
    lhs: Expr
    distribution: Distribution
    truncation: Truncation | None = None
    span: Span = _span()
    censoring: Censoring | None = None


@dataclass(frozen=True)
class Target:
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class ForLoop:
    var: str
    lower: Expr
    upper: Expr
    body: tuple["Statement", ...]
    braces: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class FunctionDef:
    """``fun name(a, b) = value;``, or the block form: local definitions, then ``return value;``."""

    name: str
    params: tuple[str, ...]
    locals: tuple[Definition, ...]
    value: Expr
    block: bool = False
    span: Span = _span()
    name_span: Span = _span()


Statement = Union[Declaration, Definition, Tilde, Target, ForLoop, FunctionDef]


@dataclass(frozen=True)
class Comment:
    text: str
    span: Span


@dataclass(frozen=True)
class Program:
    statements: tuple[Statement, ...]
    file: str = field(default="<string>", compare=False)
    comments: tuple[Comment, ...] = field(default=(), compare=False)


def literal_value(e) -> float | None:
    """The value of a numeric literal (``3``, ``-0.5``), else None."""
    if isinstance(e, Number):
        return float(e.value)
    if isinstance(e, Unary) and e.op == "-" and isinstance(e.operand, Number):
        return -float(e.operand.value)
    return None


def children(node):
    """Yield the AST nodes directly below ``node``."""
    for name in getattr(node, "__dataclass_fields__", {}):
        if name == "span" or name == "name_span":
            continue
        child = getattr(node, name)
        for item in child if isinstance(child, tuple) else (child,):
            if hasattr(item, "__dataclass_fields__") and not isinstance(item, Span):
                yield item


def walk(node):
    """Yield ``node`` and every AST node below it (expressions and statements)."""
    yield node
    for child in children(node):
        yield from walk(child)
