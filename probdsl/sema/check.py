"""Sized type checking.

Every expression gets a :class:`~probdsl.sema.types.Type`.  Without data the
sizes are symbolic (``vector[N]``); with data bound (``consts``) every size has
a value and mismatches are reported with both sides and where each size came
from.  Transformed data are evaluated as they are checked, so sizes computed
from data (``K = max(group)``) are known to later declarations.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from probdsl.errors import DiagnosticBag, Span
from probdsl.model_interface import TRANSFORMED_DATA
from probdsl.sema import budget, discrete
from probdsl.sema import types as T
from probdsl.sema.limits import check_limits
from probdsl.sema.resolve import FACTOR, PRIOR, DensityTerm, Resolved, _dist_base, lag_of
from probdsl.sema.types import INT, MATRIX, REAL, ROW_VECTOR, SCALAR, VECTOR, Size, Type, sizes_conflict
from probdsl.stdlib import distributions, functions, levels, ode
from probdsl.syntax import ast, printer

INT_MAX = 2**31 - 1  # integers are 32-bit, as in Stan (and in JAX without x64)
CONSTRAINED_VECTORS = {"simplex", "ordered", "positive_ordered", "sum_to_zero_vector", "unit_vector"}
CONSTRAINED_MATRICES = {"cholesky_factor_corr", "cholesky_factor_cov", "corr_matrix", "cov_matrix"}


class _Skip(Exception):
    """An error was already reported for this expression."""


@dataclass
class Checked:
    resolved: Resolved
    types: dict[str, Type]
    expr_types: dict[int, Type]
    consts: dict[str, Any] = field(default_factory=dict)
    size_origin: dict[str, str] = field(default_factory=dict)
    loop_sizes: dict[int, Size] = field(default_factory=dict)  # id(ForLoop) -> its length
    discrete: dict[str, Any] = field(default_factory=dict)  # discrete parameter -> its DiscretePlan
    instances: dict[int, Any] = field(default_factory=dict)  # id(call of a `fun` or `ode`) -> calls.Instance

    def type_of(self, expr) -> Type:
        return self.expr_types[id(expr)]


def _arithmetic(e) -> bool:
    """Whether ``e`` is a number, a name, or ``+ - * / %`` (or a sign) applied to them."""
    return isinstance(e, (ast.Number, ast.Variable, ast.Paren)) or (isinstance(e, ast.Unary) and e.op == "-") or (
        isinstance(e, ast.Binary) and e.op in ("+", "-", "*", "/", "%"))


def declared_type(spec: ast.TypeSpec, size_of: Callable[[ast.Expr], Size]) -> Type:
    """The sized type a declaration spells out."""
    arrays = tuple(size_of(s) for s in spec.array_sizes)
    sizes = [size_of(s) for s in spec.sizes]
    kind = spec.kind
    if kind in ("int", "real"):
        return Type(kind, SCALAR, arrays)
    if kind == "factor":
        return Type(INT, SCALAR, arrays)
    if kind in ("vector", "simplex", "ordered", "positive_ordered", "sum_to_zero_vector", "unit_vector"):
        return Type(REAL, VECTOR, arrays, (sizes[0],))
    if kind == "row_vector":
        return Type(REAL, ROW_VECTOR, arrays, (sizes[0],))
    if kind == "matrix" or kind == "cholesky_factor_cov":
        n = sizes[0]
        m = sizes[1] if len(sizes) > 1 else sizes[0]
        return Type(REAL, MATRIX, arrays, (n, m))
    return Type(REAL, MATRIX, arrays, (sizes[0], sizes[0]))  # square matrices


def _expected_sizes(kind: str) -> tuple[int, int]:
    if kind in ("int", "real", "factor"):
        return (0, 0)
    if kind in ("matrix",):
        return (2, 2)
    if kind == "cholesky_factor_cov":
        return (1, 2)
    return (1, 1)


class Checker:
    def __init__(self, resolved: Resolved, bag: DiagnosticBag, consts: dict[str, Any] | None,
                 size_origin: dict[str, str] | None, evaluate: Callable | None, sizes: dict[str, int] | None = None):
        self.r = resolved
        self.sizes = dict(sizes or {})
        self.bag = bag
        self.consts = dict(consts or {})
        self.has_data = consts is not None
        self.size_origin = dict(size_origin or {})
        self.evaluate = evaluate  # (Checked, NameInfo, consts) -> value, for transformed data
        self.types: dict[str, Type] = {}
        self.expr_types: dict[int, Type] = {}
        self.loop_sizes: dict[int, Size] = {}
        self.checked = Checked(resolved, self.types, self.expr_types, self.consts, self.size_origin, self.loop_sizes)
        self.instances = self.checked.instances
        self.budget, self.allocated = budget.memory_budget(), 0
        self.sizing = False  # checking a size expression (see size_expr)

    def charge(self, what: str, dims: tuple[Size, ...], span: Span) -> None:
        """Count ``what``'s values against the memory budget; the first past it is E230 (and skipped)."""
        if any(d.value is None for d in dims) or self.allocated > self.budget:
            return
        values = int(np.prod([d.value for d in dims], dtype=object)) if dims else 1
        self.allocated += values * budget.BYTES_PER_VALUE
        if self.allocated > self.budget:
            notes = tuple(f"{d.name} = {d.value:,} ({d.origin})" for d in dims if d.origin)
            self.bag.error("E230", f"{what} ({values:,} values) takes the model to "
                           f"{budget.human(self.allocated)}, over its memory budget of {budget.human(self.budget)}",
                           span, notes=notes, hint=f"check the sizes; to allow more, set --memory-budget or {budget.ENV}")
            raise _Skip

    # ---- sizes ------------------------------------------------------------
    def size_of(self, e: ast.Expr) -> Size:
        value = self.const_int(e)
        if isinstance(e, ast.Number):
            return Size(None, value)
        name = printer.expr(e)
        return Size(name, value, self.size_origin.get(name))

    def const_int(self, e: ast.Expr) -> int | None:
        """The value of a data-level integer expression, when data are bound."""
        value = self.const_value(e)
        if value is None or isinstance(value, int):
            return value
        array = np.asarray(value)
        if array.shape != () or not np.issubdtype(array.dtype, np.integer):
            return None
        return int(array)

    def const_value(self, e: ast.Expr):
        if isinstance(e, ast.Number):
            return e.value
        if isinstance(e, ast.Variable):
            if self.is_factor(e.name):
                return self.sizes.get(e.name)
            return self.consts.get(e.name)
        if isinstance(e, ast.Paren):
            return self.const_value(e.expr)
        if isinstance(e, ast.Unary) and e.op == "-":
            v = self.const_value(e.operand)
            return None if v is None else -v
        if isinstance(e, ast.Binary) and e.op in ("+", "-", "*", "/", "%"):
            a, b = self.const_value(e.left), self.const_value(e.right)
            if a is None or b is None or np.ndim(a) or np.ndim(b):
                return None
            a, b = (v.item() if isinstance(v, (np.ndarray, np.generic)) else v for v in (a, b))  # exact ints
            if e.op in "/%" and not b:
                return None
            if e.op == "/" and isinstance(a, int) and isinstance(b, int):  # integer division truncates
                return abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
            try:
                return {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
                        "%": operator.mod}[e.op](a, b)
            except OverflowError:  # an integer too large for a float
                return None
        return None

    # ---- declarations -----------------------------------------------------
    def check(self) -> Checked:
        for name in self.r.order:
            info = self.r.names[name]
            try:
                if info.kind in ("data", "param"):
                    self.declaration(info)
                    if info.simulation is not None:
                        self.simulation(info)
                else:
                    self.definition(info)
            except _Skip:
                pass
        for term in self.r.terms:
            try:
                self.term(term)
            except _Skip:
                pass
        if not self.bag:
            self.checked.discrete = discrete.analyse(self.checked, self.bag)
        return self.checked

    def declaration(self, info) -> None:
        decl: ast.Declaration = info.node
        spec = decl.type
        lo, hi = _expected_sizes(spec.kind)
        if not lo <= len(spec.sizes) <= hi:
            want = {0: "no size", 1: "one size", 2: "two sizes"}
            self.bag.error("E130", f"`{spec.kind}` takes {want[hi] if lo == hi else 'one or two sizes'}, "
                           f"{len(spec.sizes)} given", spec.span)
            raise _Skip
        for s in spec.sizes + spec.array_sizes:
            self.size_expr(s)
            if (n := self.const_int(s)) is not None and n < 0:
                written = printer.expr(s)
                self.bag.error("E134", f"a size must not be negative: `{written}`" + (
                    f" is {n}" if written != str(n) else ""), s.span, notes=self.origin_notes(s))
                raise _Skip
        for b in spec.bounds:
            bt = self.expr(b.value, {})
            if b.kind in ("lower", "upper", "offset", "multiplier") and bt.kind == MATRIX:
                self.bag.error("E131", f"`{b.kind}` must be a scalar or have the variable's shape", b.span)
        if spec.kind == "factor":
            if decl.role != "data":
                self.bag.error("E132", "a factor is data: declare it with `data factor`", decl.span)
                raise _Skip
            rows = spec.array_sizes[0] if spec.array_sizes else None
            rows_size = self.size_of(rows) if rows is not None else Size(f"{decl.name}_rows", self.consts_len(decl.name))
            self.types[decl.name] = Type(INT, SCALAR, (rows_size,))
            self.charge(f"`{decl.name}`", (rows_size,), decl.span)
            return
        if decl.role == "param" and spec.kind == "int":
            self.discrete_declaration(decl)
        t = declared_type(spec, self.size_of)
        if decl.role == "param" and any(d.value == 0 for d in t.dims):
            empty = next(s for s in spec.array_sizes + spec.sizes if self.const_int(s) == 0)
            written = printer.expr(empty)
            self.bag.error("E137", f"parameter `{decl.name}` has no elements" + (
                f": `{written}` is 0" if written != "0" else ""), empty.span, notes=self.origin_notes(empty),
                           hint="a parameter needs at least one element; check the data its sizes come from")
            raise _Skip
        self.types[decl.name] = t
        self.charge(f"`{decl.name}`", t.dims, decl.span)
        if self.has_data and decl.role == "data" and decl.name in self.consts:
            self.check_shape_against(decl, t, np.asarray(self.consts[decl.name]))

    def discrete_declaration(self, decl) -> None:
        """A discrete parameter needs finite support known from the data, and at most one dimension."""
        lower, upper = decl.type.bound("lower"), decl.type.bound("upper")
        if lower is None or upper is None or decl.type.bound("offset") or decl.type.bound("multiplier"):
            self.bag.error("E133", f"parameter `{decl.name}` is an integer without finite support", decl.type.span,
                           hint="declare both bounds, e.g. `int<lower=1, upper=K>`: it is then summed out exactly")
            raise _Skip
        for bound in (lower, upper):
            for name in {n.name for n in ast.walk(bound) if isinstance(n, ast.Variable)}:
                info = self.r.names.get(name)
                if info is not None and info.role not in ("data", TRANSFORMED_DATA):
                    self.bag.error("E133", f"the bounds of discrete `{decl.name}` must be known from the data; "
                                   f"`{name}` is a {info.role}", bound.span)
                    raise _Skip
        if len(decl.type.array_sizes) > 1:
            self.bag.error("E133", f"discrete parameter `{decl.name}` may have at most one dimension",
                           decl.type.span, hint="use one array over the rows, e.g. `array[N] int<lower=1, upper=K>`")
            raise _Skip
        lo, hi = self.const_int(lower), self.const_int(upper)
        if lo is not None and hi is not None and hi < lo:
            self.bag.error("E133", f"discrete `{decl.name}` has no possible value: upper {hi} < lower {lo}",
                           decl.type.span)
            raise _Skip

    def consts_len(self, name: str) -> int | None:
        value = self.consts.get(name)
        return None if value is None else int(np.shape(value)[0])

    def check_shape_against(self, decl, t: Type, value: np.ndarray) -> None:
        expected = t.shape()
        if len(expected) != value.ndim or any(e is not None and e != v for e, v in zip(expected, value.shape)):
            notes = tuple(f"{d.name} = {d.value} ({self.size_origin[d.name]})" for d in t.dims
                          if d.name in self.size_origin)
            self.bag.error("E201", f"`{decl.name}` is declared `{t}` but the data has shape "
                           f"{tuple(value.shape)}", decl.span, notes=notes)

    def is_factor(self, name: str) -> bool:
        info = self.r.names.get(name)
        return info is not None and info.kind == "data" and info.node.type.kind == "factor"

    def origin_notes(self, e: ast.Expr) -> tuple[str, ...]:
        """Where the sizes named in ``e`` come from (``N = 0 (from the length of y in data.csv)``)."""
        names = sorted({n.name for n in ast.walk(e) if isinstance(n, ast.Variable) and n.name in self.size_origin})
        return tuple(f"{n} = {self.const_int(ast.Variable(n))} ({self.size_origin[n]})" for n in names)

    def size_expr(self, e: ast.Expr) -> None:
        if isinstance(e, ast.Variable) and self.is_factor(e.name):
            return
        self.sizing = True  # a size is a Python int, never a JAX value: it may exceed 32 bits
        try:
            t = self.expr(e, {})
        finally:
            self.sizing = False
        if not (t.is_scalar and t.is_int):
            self.bag.error("E134", f"a size must be an integer, `{printer.expr(e)}` is {t}", e.span)
        names = {n.name for n in ast.walk(e) if isinstance(n, ast.Variable)}
        for name in names:
            info = self.r.names.get(name)
            if info is not None and info.role not in ("data", TRANSFORMED_DATA):
                self.bag.error("E135", f"a size must be known from the data; `{name}` is a {info.role}", e.span)
        if not all(_arithmetic(n) for n in ast.walk(e)):  # what const_value computes
            self.bag.error("E135", f"a size is computed from names and numbers with `+ - * / %`; "
                           f"`{printer.expr(e)}` cannot be", e.span,
                           hint=f"define it first, `K = {printer.expr(e)};`, and use the name")

    # ---- definitions ------------------------------------------------------
    def definition(self, info) -> None:
        if info.in_parts or (info.pieces and not self.starts_at_one(info.pieces[0].loops[0])):
            self.types[info.name] = self.definition_in_parts(info)
            self.charge(f"`{info.name}`", self.types[info.name].dims, info.node.span)
            if self.has_data and info.role == TRANSFORMED_DATA and self.evaluate is not None:
                self.consts[info.name] = self.evaluate(self.checked, info, self.consts)
            return
        d: ast.Definition = info.node
        scope: dict[str, Size] = {}
        loop_dims: list[Size] = []
        for loop in info.loops:
            scope[loop.var] = self.loop(loop)
            loop_dims.append(self.loop_sizes[id(loop)])
        t = self.expr(d.value, scope)
        if loop_dims:
            t = _stack(t, loop_dims)
        if d.type is not None:
            declared = declared_type(d.type, self.size_of)
            if _not_of_type(t, declared):
                self.bag.error("E202", f"`{d.name}` is declared `{declared}` but its value is `{t}`", d.value.span)
            t = declared
        self.types[d.name] = t
        self.charge(f"`{d.name}`", t.dims, d.span)
        if self.has_data and info.role == TRANSFORMED_DATA and self.evaluate is not None:
            self.consts[d.name] = self.evaluate(self.checked, info, self.consts)

    def simulation(self, info) -> None:
        """A simulated observation's definition has the type of its declaration (E202)."""
        declared = self.types[info.name]
        try:
            self.definition(info.simulation)  # types the value under the name
        finally:
            t, self.types[info.name] = self.types[info.name], declared
        if _not_of_type(t, declared):
            node = info.simulation.node
            self.bag.error("E202", f"`{info.name}` is declared `{declared}` but its simulated value is `{t}`",
                           node.value.span if not info.simulation.pieces else node.span,
                           notes=(f"`{info.name}` is declared at {info.span}",))

    # ---- names defined in pieces and recurrences ----------------------------
    def starts_at_one(self, loop) -> bool:
        """Whether the loop starts at 1 (or its start is not known yet)."""
        return self.const_int(loop.lower) in (1, None)

    def definition_in_parts(self, info) -> Type:
        """The type of a name defined piecewise; every element defined exactly once, recurrences look back."""
        name = info.name
        pieces = info.pieces_in_order  # typed from the non-recurrent pieces first
        if all(p.recurrent for p in pieces):
            self.bag.error("E113", f"the recurrence for `{name}` has no first element", pieces[0].node.span,
                           hint=f"define the elements it starts from separately, e.g. `{name}[1] = ...;` "
                           "and start the loop at 2")
            raise _Skip
        element: Type | None = None
        inner: list[Size] = []
        ranges = []  # (first, last, piece) of the first index, when known
        for piece in pieces:
            scope = {loop.var: self.loop(loop) for loop in piece.loops}
            inner_loops = piece.loops if piece.first is not None else piece.loops[1:]
            for loop in inner_loops:
                if not self.starts_at_one(loop):
                    self.bag.error("E113", f"this loop must start at 1: it defines a whole dimension of `{name}`",
                                   loop.lower.span)
            if piece.first is not None:
                self.size_expr(piece.first)
                lo = hi = self.const_int(piece.first)
                last = piece.first
            else:
                lo, hi = self.const_int(piece.loops[0].lower), self.const_int(piece.loops[0].upper)
                last = piece.loops[0].upper
            ranges.append((lo, hi, piece, last))
            if piece.recurrent:
                self.types[name] = self.full_type(element, inner, ranges, info)
                self.check_lags(piece, name)
            t = self.expr(piece.node.value, scope)
            sizes = [self.loop_sizes[id(loop)] for loop in inner_loops]
            if element is None:
                element, inner = t, sizes
                continue
            if element.rank != t.rank or len(sizes) != len(inner) or any(
                    sizes_conflict(a, b) for a, b in zip(element.dims + tuple(inner), t.dims + tuple(sizes))):
                self.bag.error("E116", f"the pieces of `{name}` have different shapes: "
                               f"`{_stack(element, inner) if inner else element}` and `{_stack(t, sizes) if sizes else t}`",
                               piece.node.span)
                raise _Skip
            if not t.is_int:
                element = element.to_real()
        self.check_coverage(name, ranges)
        return self.full_type(element, inner, ranges, info)

    def full_type(self, element: Type, inner: list[Size], ranges, info) -> Type:
        known = [r for r in ranges if r[1] is not None]
        last = max(known, key=lambda r: r[1])[3] if len(known) == len(ranges) else ranges[-1][3]
        return _stack(element, [self.size_of(last)] + list(inner))

    def check_coverage(self, name: str, ranges) -> None:
        if any(lo is None for lo, _, _, _ in ranges):
            return
        expected = 1
        for lo, hi, piece, _ in sorted(ranges, key=lambda r: r[0]):
            if hi is not None and hi < lo:
                continue
            if lo > expected:
                what = f"`{name}[{expected}]`" if lo == expected + 1 else f"`{name}[{expected}]` to `{name}[{lo - 1}]`"
                one = lo == expected + 1
                self.bag.error("E113", f"{what} {'is' if one else 'are'} never defined", piece.node.span,
                               hint=f"define {'it' if one else 'them'}, or start the loop at {expected}")
                return
            if lo < expected:
                self.bag.error("E113", f"`{name}[{lo}]` is defined twice", piece.node.span,
                               hint="every element is defined exactly once")
                return
            if hi is None:
                return
            expected = hi + 1

    def check_lags(self, piece, name: str) -> None:
        """At the loop's first step, every look-back must land on an element defined before the loop."""
        carried = piece.loops[0]
        start = self.const_int(carried.lower)
        for node in ast.walk(piece.node.value):
            if not (isinstance(node, ast.Index) and isinstance(node.base, ast.Variable) and node.base.name == name):
                continue
            head = node.indices[0]
            if lag_of(head, carried.var) is not None:
                lag = self.const_int(head.right)
                if lag is not None and lag < 1:
                    self.bag.error("E114", f"`{printer.expr(node)}` reads an element not computed yet", node.span,
                                   hint=f"a recurrence reads earlier elements, e.g. `{name}[{carried.var} - 1]`")
                elif lag is not None and start is not None and start - lag < 1:
                    self.bag.error("E114", f"at `{carried.var} = {start}`, `{printer.expr(node)}` reads "
                                   f"`{name}[{start - lag}]`, which does not exist", node.span,
                                   hint=f"define the first {f'{lag} elements' if lag > 1 else 'element'} "
                                   f"separately and start the loop at {lag + 1}")
            elif not isinstance(head, (ast.Binary, ast.Slice)):
                fixed = self.const_int(head)
                if fixed is not None and start is not None and fixed >= start:
                    self.bag.error("E114", f"`{printer.expr(node)}` is not computed before the loop starts "
                                   f"at `{carried.var} = {start}`", node.span)

    def loop(self, loop: ast.ForLoop) -> Size:
        if id(loop) in self.loop_sizes:
            return self.loop_sizes[id(loop)]
        for bound in (loop.lower, loop.upper):
            t = self.expr(bound, {})
            if not (t.is_scalar and t.is_int):
                self.bag.error("E136", "loop bounds must be integers", bound.span)
            for name in {n.name for n in ast.walk(bound) if isinstance(n, ast.Variable)}:
                info = self.r.names.get(name)
                if info is not None and info.role not in ("data", TRANSFORMED_DATA):
                    self.bag.error("E136", f"loop bounds must be known from the data; `{name}` is a {info.role}",
                                   bound.span)
        lo, hi = self.const_int(loop.lower), self.const_int(loop.upper)
        if isinstance(loop.lower, ast.Number) and loop.lower.value == 1:
            size = self.size_of(loop.upper)
        else:
            size = Size(f"{printer.expr(loop.lower)}:{printer.expr(loop.upper)}",
                        None if lo is None or hi is None else max(0, hi - lo + 1))
        self.loop_sizes[id(loop)] = size
        return size

    # ---- density terms ----------------------------------------------------
    def term(self, term: DensityTerm) -> None:
        scope = {loop.var: self.loop(loop) for loop in term.loops}
        if term.loops:  # evaluated over all its iterations at once: the nested loops' product
            names = ", ".join(f"`{loop.var}`" for loop in term.loops)
            self.charge(f"the loop{'s' if len(term.loops) > 1 else ''} over {names}", tuple(scope.values()),
                        term.loops[0].span)
        if term.kind == FACTOR and isinstance(term.node, ast.Target):
            self.expr(term.node.value, scope)
            return
        lhs = term.lhs
        lhs_t = self.expr(lhs, scope)
        dist = term.distribution
        if dist.name == "flat":
            if term.kind != PRIOR:
                self.bag.error("E140", "`flat()` is only a prior for a parameter", dist.span)
            elif dist.args:
                self.bag.error("E141", "`flat()` takes no arguments", dist.span)
            check_limits(self, term, scope, lhs_t)
            return
        arg_types = [self.expr(a, scope) for a in dist.args]
        self.check_distribution(dist.name, dist.args, arg_types, dist.span, lhs_t, lhs, tilde=True)
        check_limits(self, term, scope, lhs_t)

    def check_distribution(self, name, args, arg_types, span, lhs_t: Type | None, lhs=None, tilde=False) -> Type:
        spec = distributions.lookup(name)
        if spec is None:
            raise _Skip  # reported by resolve
        signature = f"{name}({', '.join(a.name for a in spec.args)})"
        if len(args) != len(spec.args):
            self.bag.error("E150", f"`{name}` takes {len(spec.args)} argument{'s' if len(spec.args) != 1 else ''}, "
                           f"{len(args)} given", span, notes=(f"signature: {signature}",))
            raise _Skip
        for arg, at, spec_arg in zip(args, arg_types, spec.args):
            problem = _arg_kind_problem(spec_arg.kind, at)
            if problem:
                self.bag.error("E151", f"argument `{spec_arg.name}` of `{name}` must be {problem}; "
                               f"`{printer.expr(arg)}` is `{at}`", arg.span, notes=(f"signature: {signature}",))
        if lhs_t is not None:
            if spec.variate in ("int", "int_array") and not lhs_t.is_int:
                what = printer.expr(lhs) if lhs is not None else "the value"
                self.bag.error("E152", f"`{name}` is a distribution over integers but `{what}` is `{lhs_t}`",
                               span, hint="declare integer data as `array[N] int y;`")
            if lhs_t.rank < spec.event_rank or (spec.variate in ("vector", "matrix") and lhs_t.kind == SCALAR):
                self.bag.error("E152", f"`{name}` is a distribution over {spec.variate}s but the value is `{lhs_t}`",
                               span)
        if spec.event_rank == 0:
            elementwise = [(a, t) for a, t, sa in zip(args, arg_types, spec.args) if sa.kind in ("real", "int")]
            self.check_broadcast(name, [a for a, _ in elementwise], [t for _, t in elementwise], span, lhs_t, lhs,
                                 tilde)
            shapes = [t for t in arg_types if not t.is_scalar]
            return lhs_t if lhs_t is not None else (_rng_type(spec, shapes[0]) if shapes else T.scalar(
                INT if spec.variate == "int" else REAL))
        return lhs_t if lhs_t is not None else _rng_event_type(spec, arg_types)

    def check_broadcast(self, name, args, arg_types, span, lhs_t, lhs, tilde=False) -> None:
        """Stan's vectorization: containers must all have the value's size; scalars broadcast.  The left of
        a `~` fixes the shape (a scalar takes no container argument); a `_lpdf` sums over containers."""
        items = [(printer.expr(a), t, a.span) for a, t in zip(args, arg_types) if not t.is_scalar]
        if lhs_t is not None and (tilde or not lhs_t.is_scalar):
            items.insert(0, (printer.expr(lhs) if lhs is not None else "the value", lhs_t,
                             lhs.span if lhs is not None else span))
        if len(items) < 2:
            return
        first_name, first_t, _ = items[0]
        for other_name, other_t, other_span in items[1:]:
            if first_t.rank != other_t.rank:
                self.bag.error("E201", f"shape mismatch in `{name}`: `{first_name}` is `{first_t}` and "
                               f"`{other_name}` is `{other_t}`", other_span)
                continue
            for a, b in zip(first_t.dims, other_t.dims):
                if sizes_conflict(a, b):
                    notes = tuple(f"{s.name} = {s.value} ({self.size_origin[s.name]})" for s in (a, b)
                                  if s.name in self.size_origin)
                    self.bag.error("E201", f"size mismatch in `{name}`: `{other_name}` has {b.value} elements, "
                                   f"`{first_name}` has {a.value}", other_span,
                                   label=f"{other_name} is {other_t}", notes=notes)
                    break

    # ---- expressions ------------------------------------------------------
    def expr(self, e, scope: dict[str, Size]) -> Type:
        t = self._expr(e, scope)
        self.expr_types[id(e)] = t
        return t

    def _expr(self, e, scope) -> Type:
        if isinstance(e, ast.Number):
            if isinstance(e.value, int) and e.value > INT_MAX and not self.sizing:
                self.bag.error("E168", f"the integer `{e.text}` is too large: integers are 32-bit, at most {INT_MAX}",
                               e.span, hint="write a real number instead, with a decimal point or an exponent (`3e9`)")
                raise _Skip
            return T.scalar(INT if isinstance(e.value, int) else REAL)
        if isinstance(e, ast.Variable):
            if e.name in scope:
                return T.INT_T
            if e.name not in self.types:
                raise _Skip  # unknown (reported by resolve) or in error
            return self.types[e.name]
        if isinstance(e, ast.Paren):
            return self.expr(e.expr, scope)
        if isinstance(e, ast.Unary):
            t = self.expr(e.operand, scope)
            if e.op == "!":
                if not (t.is_scalar and t.is_int):
                    self.bag.error("E160", f"`!` needs an integer (a condition), not `{t}`", e.span)
                return T.INT_T
            return t
        if isinstance(e, ast.Binary):
            return self.binary(e, self.expr(e.left, scope), self.expr(e.right, scope))
        if isinstance(e, ast.Conditional):
            c = self.expr(e.condition, scope)
            a, b = self.expr(e.if_true, scope), self.expr(e.if_false, scope)
            if not (c.is_scalar and c.is_int):
                self.bag.error("E160", f"the condition of `?:` must be an integer, not `{c}`", e.condition.span)
            if a.rank != b.rank or a.kind != b.kind or any(sizes_conflict(x, y) for x, y in zip(a.dims, b.dims)):
                self.bag.error("E161", f"the two branches of `?:` differ: `{a}` and `{b}`", e.span)
                raise _Skip
            return a if a.base == b.base else a.to_real()
        if isinstance(e, ast.Transpose):
            t = self.expr(e.operand, scope)
            if t.array_dims or t.kind == SCALAR:
                self.bag.error("E162", f"`'` transposes vectors and matrices, not `{t}`", e.span)
                raise _Skip
            if t.kind == VECTOR:
                return T.row_vector(t.elem_dims[0])
            if t.kind == ROW_VECTOR:
                return T.vector(t.elem_dims[0])
            return T.matrix(t.elem_dims[1], t.elem_dims[0])
        if isinstance(e, ast.RowVectorLiteral):
            items = [self.expr(i, scope) for i in e.items]
            n = T.literal(len(items))
            if all(i.is_scalar for i in items):
                return T.row_vector(n)
            if all(i.kind == ROW_VECTOR and not i.array_dims for i in items):
                return T.matrix(n, items[0].elem_dims[0])
            self.bag.error("E163", "`[...]` holds scalars (a row vector) or row vectors (a matrix)", e.span)
            raise _Skip
        if isinstance(e, ast.ArrayLiteral):
            items = [self.expr(i, scope) for i in e.items]
            first = items[0]
            for other, node in zip(items[1:], e.items[1:]):
                if other.rank != first.rank or other.kind != first.kind:
                    self.bag.error("E163", f"array elements must have one type: `{first}` and `{other}`", node.span)
                    raise _Skip
            base = REAL if any(not i.is_int for i in items) else INT
            return Type(base, first.kind, (T.literal(len(items)),) + first.array_dims, first.elem_dims)
        if isinstance(e, ast.Index):
            return self.index(e, scope)
        if isinstance(e, ast.Call):
            return self.call(e, scope)
        raise _Skip

    def binary(self, e: ast.Binary, a: Type, b: Type) -> Type:
        op = e.op
        if op in ("&&", "||", "==", "!=", "<", "<=", ">", ">="):
            if not (a.is_scalar and b.is_scalar):
                self.bag.error("E164", f"`{op}` compares scalars; got `{a}` and `{b}`", e.span,
                               hint="compare elements inside a `for` loop")
                raise _Skip
            return T.INT_T
        if op == "%":
            if not (a.is_scalar and b.is_scalar and a.is_int and b.is_int):
                self.bag.error("E164", f"`%` needs two integers; got `{a}` and `{b}`", e.span)
                raise _Skip
            return T.INT_T
        if op == "*":
            return self.multiply(e, a, b)
        if op == "\\":
            if a.kind == MATRIX and not a.array_dims and b.kind in (VECTOR, MATRIX) and not b.array_dims:
                return b
            self.bag.error("E164", f"`\\` solves a matrix system; got `{a}` and `{b}`", e.span)
            raise _Skip
        if op == "/" and not b.is_scalar:
            self.bag.error("E164", f"`/` divides by a scalar; use `./` to divide elementwise (`{a}` / `{b}`)",
                           e.span)
            raise _Skip
        if op in ("^", ".^") and not (a.is_scalar and b.is_scalar) and op == "^":
            op = ".^"
        return self.elementwise(e, a, b, op)

    def elementwise(self, e, a: Type, b: Type, op: str) -> Type:
        base = INT if (a.is_int and b.is_int and op in ("+", "-", "*", "/")) else REAL
        if a.is_scalar:
            return Type(base if b.is_int or base == REAL else REAL, b.kind, b.array_dims, b.elem_dims) \
                if not b.is_scalar else T.scalar(base)
        if b.is_scalar:
            return Type(base if a.is_int else REAL, a.kind, a.array_dims, a.elem_dims)
        if a.kind != b.kind or a.rank != b.rank:
            if a.array_dims or b.array_dims:
                hint = "arithmetic works on vectors and matrices; convert arrays with `to_vector`"
            else:
                hint = "transpose one of them with `'`"
            self.bag.error("E165", f"`{op}` needs operands of one shape: `{a}` and `{b}`", e.span, hint=hint)
            raise _Skip
        for x, y in zip(a.dims, b.dims):
            if sizes_conflict(x, y):
                self.bag.error("E201", f"size mismatch in `{printer.expr(e)}`: {x.value} and {y.value} elements",
                               e.span, notes=(f"left is `{a}`, right is `{b}`",))
                raise _Skip
        return Type(base, a.kind, a.array_dims, a.elem_dims)

    def multiply(self, e, a: Type, b: Type) -> Type:
        if a.is_scalar or b.is_scalar:
            return self.elementwise(e, a, b, "*")
        if a.array_dims or b.array_dims:
            self.bag.error("E165", f"`*` is not defined for arrays (`{a}` * `{b}`)", e.span,
                           hint="use vectors, or `.*` inside a loop")
            raise _Skip
        inner = {(ROW_VECTOR, VECTOR): T.REAL_T}
        if (a.kind, b.kind) == (VECTOR, VECTOR):
            self.bag.error("E165", f"`vector * vector` is not defined (`{printer.expr(e)}`)", e.span,
                           hint="use `.*` for the elementwise product, or `dot_product(a, b)`")
            raise _Skip
        left_inner = a.elem_dims[-1] if a.kind in (ROW_VECTOR, MATRIX) else a.elem_dims[0]
        right_inner = b.elem_dims[0]
        if a.kind == VECTOR and b.kind in (ROW_VECTOR, MATRIX):
            left_inner = T.literal(1)
            right_inner = T.literal(1) if b.kind == ROW_VECTOR else b.elem_dims[0]
        if sizes_conflict(left_inner, right_inner):
            self.bag.error("E201", f"size mismatch in `{printer.expr(e)}`: `{a}` times `{b}`", e.span,
                           notes=(f"inner sizes {left_inner} and {right_inner} differ",))
            raise _Skip
        key = (a.kind, b.kind)
        if key in inner:
            return inner[key]
        if key == (MATRIX, VECTOR):
            return T.vector(a.elem_dims[0])
        if key == (ROW_VECTOR, MATRIX):
            return T.row_vector(b.elem_dims[1])
        if key == (MATRIX, MATRIX):
            return T.matrix(a.elem_dims[0], b.elem_dims[1])
        if key == (VECTOR, ROW_VECTOR):
            return T.matrix(a.elem_dims[0], b.elem_dims[0])
        self.bag.error("E165", f"`{a}` * `{b}` is not defined", e.span)
        raise _Skip

    def index(self, e: ast.Index, scope) -> Type:
        base = self.expr(e.base, scope)
        dims = list(base.dims)
        n_array = len(base.array_dims)
        if len(e.indices) > len(dims):
            self.bag.error("E166", f"too many indexes: `{printer.expr(e.base)}` is `{base}`", e.span)
            raise _Skip
        kept: list[tuple[int, Size]] = []
        for position, item in enumerate(e.indices):
            if isinstance(item, ast.Slice):
                for bound in (item.lower, item.upper):
                    if bound is not None:
                        bt = self.expr(bound, scope)
                        if not (bt.is_scalar and bt.is_int):
                            self.bag.error("E167", "slice bounds must be integers", bound.span)
                        if any(isinstance(n, ast.Variable) and n.name in scope for n in ast.walk(bound)):
                            self.bag.error("E167", "slice bounds cannot use a loop variable", bound.span,
                                           hint="index single elements inside loops")
                kept.append((position, self.slice_size(item, dims[position])))
                continue
            t = self.expr(item, scope)
            if not t.is_int:
                self.bag.error("E167", f"an index must be an integer, `{printer.expr(item)}` is `{t}`", item.span)
                raise _Skip
            if t.is_scalar:
                continue
            if t.rank != 1:
                self.bag.error("E167", "a multi-index must be a one-dimensional integer array", item.span)
                raise _Skip
            kept.append((position, t.dims[0]))
        for position in range(len(e.indices), len(dims)):
            kept.append((position, dims[position]))
        array_dims = tuple(size for pos, size in kept if pos < n_array)
        elem_positions = [pos - n_array for pos, _ in kept if pos >= n_array]
        elem_sizes = tuple(size for pos, size in kept if pos >= n_array)
        if base.kind == SCALAR or not elem_positions:
            kind = SCALAR
        elif base.kind == MATRIX and len(elem_positions) == 2:
            kind = MATRIX
        elif base.kind == MATRIX:
            kind = ROW_VECTOR if elem_positions == [1] else VECTOR
        else:
            kind = base.kind
        return Type(base.base, kind, array_dims, elem_sizes)

    def slice_size(self, item: ast.Slice, full: Size) -> Size:
        lo = 1 if item.lower is None else self.const_int(item.lower)
        hi = full.value if item.upper is None else self.const_int(item.upper)
        if item.lower is None and item.upper is None:
            return full
        name = f"{printer.expr(item.lower) if item.lower is not None else '1'}:" \
               f"{printer.expr(item.upper) if item.upper is not None else full.label}"
        return Size(name, None if lo is None or hi is None else max(0, hi - lo + 1))

    def call(self, e: ast.Call, scope) -> Type:
        if e.name in self.r.functions or ode.lookup(e.name):
            from probdsl.sema.calls import check_call
            return check_call(self, e, scope)
        if e.name == levels.NAME:
            return self.fine_coarse(e, scope)
        arg_types = [self.expr(a, scope) for a in e.args]
        spec = functions.lookup(e.name)
        if spec is not None:
            self.refuse_condition(e)
            lo, hi = spec.nargs
            if not lo <= len(e.args) <= hi:
                self.bag.error("E171", f"`{e.name}` takes {lo if lo == hi else f'{lo} to {hi}'} argument"
                               f"{'s' if hi != 1 else ''}, {len(e.args)} given", e.span,
                               notes=tuple(f"signature: {s}" for s in spec.signatures))
                raise _Skip
            infos = [functions.ArgInfo(t, self.const_value(a) if t.is_scalar else None,
                                       self.size_of(a) if t.is_scalar and t.is_int else None)
                     for a, t in zip(e.args, arg_types)]
            result = spec.result(infos)
            if isinstance(result, str):
                self.bag.error("E172", f"`{e.name}`: {result}", e.span,
                               notes=tuple(f"signature: {s}" for s in spec.signatures))
                raise _Skip
            return result
        base = _dist_base(e.name)
        if base is None or distributions.lookup(base) is None:
            raise _Skip  # reported by resolve
        suffix = e.name[len(base):]
        dspec = distributions.lookup(base)
        if suffix == "_rng":
            return self.check_distribution(base, e.args, arg_types, e.span, None)
        if not e.conditioned and e.args:
            self.bag.error("E170", f"write `{e.name}(y | ...)`: the value comes first, then `|`", e.span)
        if dspec.variate == "int" and suffix in ("_lpdf", "_lupdf"):
            self.bag.error("E173", f"`{base}` is discrete: use `{base}_lpmf`", e.span)
        if dspec.variate != "int" and suffix in ("_lpmf", "_lupmf"):
            self.bag.error("E173", f"`{base}` is continuous: use `{base}_lpdf`", e.span)
        if not e.args:
            self.bag.error("E150", f"`{e.name}` needs the value it evaluates", e.span)
            raise _Skip
        self.check_distribution(base, e.args[1:], arg_types[1:], e.span, arg_types[0], e.args[0])
        return T.REAL_T

    def refuse_condition(self, e: ast.Call) -> None:
        """E170 for a `|` in a call that is not a density function."""
        if e.conditioned:
            self.bag.error("E170", "`|` is only used with density functions (`normal_lpdf(y | mu, sigma)`)", e.span)

    def fine_coarse(self, e: ast.Call, scope) -> Type:
        """``fine_coarse(fine, coarse)``: two arguments of one shape; an int and a real give a real."""
        self.refuse_condition(e)
        if len(e.args) != 2:
            self.bag.error("E225", f"`{levels.NAME}` takes two arguments, the fine and the coarse value; "
                           f"{len(e.args)} given", e.span, notes=(f"signature: {levels.SIGNATURE}",))
            raise _Skip
        a, b = (self.expr(arg, scope) for arg in e.args)
        if a.kind != b.kind or a.rank != b.rank or any(sizes_conflict(x, y) for x, y in zip(a.dims, b.dims)):
            self.bag.error("E225", f"the fine and the coarse value of `{levels.NAME}` differ: `{a}` and `{b}`",
                           e.span, hint="both arguments compute the same quantity: give them one type and size")
            raise _Skip
        dims = tuple(x if x.value is not None or y.value is None else y for x, y in zip(a.dims, b.dims))
        n = len(a.array_dims)
        return Type(a.base if a.base == b.base else REAL, a.kind, dims[:n], dims[n:])


def _not_of_type(t: Type, declared: Type) -> bool:
    """Whether a value of type ``t`` does not fit ``declared`` (another rank or size, or a real for an int)."""
    return declared.rank != t.rank or any(sizes_conflict(a, b) for a, b in zip(declared.dims, t.dims)) or (
        declared.is_int and not t.is_int)


def _arg_kind_problem(kind: str, t: Type) -> str | None:
    if kind == "int" and not t.is_int:
        return "an integer"
    if kind in ("vector", "simplex_vector") and t.kind not in (VECTOR, ROW_VECTOR):
        return "a vector"
    if kind in ("matrix", "cov_matrix", "cholesky_factor") and t.kind != MATRIX:
        return "a matrix"
    if kind in ("real", "int") and t.kind == MATRIX and t.array_dims:
        return "a scalar or a container of scalars"
    return None


def _rng_type(spec, shaped: Type) -> Type:
    if spec.variate == "int":
        return Type(INT, SCALAR, shaped.dims)
    if shaped.rank == 1:
        return T.vector(shaped.dims[0])
    return Type(REAL, shaped.kind, shaped.array_dims, shaped.elem_dims)


def _rng_event_type(spec, arg_types: list[Type]) -> Type:
    for t in arg_types:
        if t.kind == VECTOR or t.kind == ROW_VECTOR:
            return T.vector(t.elem_dims[0]) if spec.event_rank == 1 else T.matrix(t.elem_dims[0], t.elem_dims[0])
        if t.kind == MATRIX:
            n = t.elem_dims[0]
            return T.vector(n) if spec.event_rank == 1 else T.matrix(n, n)
    return T.REAL_T


def _stack(t: Type, loop_dims: list[Size]) -> Type:
    """The type of a quantity defined elementwise over loops of the given sizes."""
    if t.is_scalar and t.base == REAL:
        if len(loop_dims) == 1:
            return T.vector(loop_dims[0])
        if len(loop_dims) == 2:
            return T.matrix(loop_dims[0], loop_dims[1])
    if t.kind == ROW_VECTOR and not t.array_dims and len(loop_dims) == 1:
        return T.matrix(loop_dims[0], t.elem_dims[0])
    return Type(t.base, t.kind, tuple(loop_dims) + t.array_dims, t.elem_dims)


def check(resolved: Resolved, bag: DiagnosticBag, consts=None, size_origin=None, evaluate=None,
          sizes=None) -> Checked:
    return Checker(resolved, bag, consts, size_origin, evaluate, sizes).check()
