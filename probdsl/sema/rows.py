"""Which models can be minibatched: the row analysis behind ``BoundModel.minibatch_log_density``.

A stochastic-gradient sampler estimates the log density from a minibatch of the rows of the
observation dimension (``N``): every data array whose first axis is ``N`` is subset *before* the
model runs, ``N`` becomes the batch size, and the likelihood terms over rows are scaled by
``N / batch``.  That is unbiased only when those terms are a sum over rows, each row reading its
own row, and every parameter is shared by all rows.  :func:`plan_rows` proves it from the sized
types of a model bound to data, or reports every place where it fails:

E601 no likelihood has rows; E602 a parameter per row; E603 a reduction over the rows, or the rows
in an axis other than the first; E604 a function that mixes rows; E605 reading another row (an
index, a recurrence, two loops over the rows); E606 the row number or the row count used as a
value; E607 a loop over part of the rows; E608 a likelihood that is not a sum over rows; E609
missing values in the rows; E610 a container as long as the rows but not declared over them.

Transformed data are computed once on all rows (they may reduce freely; those over the rows are
subset like data) and generated quantities are not part of the density: neither is analysed.  Nor is
any expression of data alone that is not over the rows (`mean(y)` in a prior, `X' * y`, `x[1]`): it is
``RowPlan.all_rows``, computed once on all rows and read by the model in place of the expression.
"""

from __future__ import annotations

from dataclasses import dataclass

from probdsl.codegen import impute
from probdsl.codegen.limits import nodes as limit_nodes
from probdsl.errors import DiagnosticBag, Span
from probdsl.model_interface import DATA, DETERMINISTIC, PARAM, TRANSFORMED_DATA
from probdsl.sema.check import Checked
from probdsl.sema.resolve import FACTOR, OBSERVED, PRIOR, DensityTerm, _dist_base, free_variables, uses_rng
from probdsl.sema.types import Size, Type
from probdsl.stdlib import distributions, functions, levels, ode
from probdsl.syntax import ast, printer

#: Constant fills whose size arguments (from this position on) may be the row count: `rep_vector(mu, N)`.
FILLS = {"rep_vector": 1, "rep_row_vector": 1, "rep_matrix": 1, "rep_array": 1,
         **{f"{v}_{kind}": 0 for v in ("zeros", "ones") for kind in ("vector", "row_vector", "array", "int_array")}}
#: Conversions that keep a one-dimensional container's elements in place.
RESHAPES = frozenset({"to_vector", "to_row_vector", "to_array_1d"})
DENSITY_SUFFIXES = ("_lpdf", "_lupdf", "_lpmf", "_lupmf")
NUTS = "NUTS can fit this model"


@dataclass(frozen=True)
class RowPlan:
    """How a minibatch of rows is taken from a model's data and how its density is rescaled."""

    size: str                      # the observation dimension's size name, e.g. "N"
    rows: int                      # its value
    row_data: tuple[str, ...]      # data and transformed data whose first axis is the rows: subset per batch
    scaled_sites: tuple[str, ...]  # observed and factor sites that sum over rows: scaled by rows / batch
    all_rows: tuple[ast.Expr, ...] = ()  # expressions of data alone, not over the rows: evaluated on all rows

    @property
    def size_variable(self) -> str:
        """The `data int` holding the row count (set to the batch size): the size itself, which
        ``plan_rows`` requires to be a declared data int."""
        return self.size


def plan_rows(checked: Checked, bag: DiagnosticBag, missing: frozenset[str] = frozenset()) -> RowPlan | None:
    """The row plan of a checked model bound to data (``missing``: data names with missing entries);
    None after reporting, in ``bag``, everything that makes a minibatch wrong."""
    reported = len(bag.items)
    size = _observation_size(checked, bag)
    if size is None:
        return None
    analysis = _Rows(checked, bag, size, missing)
    analysis.run()
    if len(bag.items) > reported:
        return None
    return RowPlan(size.name, size.value, analysis.row_data(), tuple(dict.fromkeys(analysis.scaled)),
                   tuple(analysis.all_rows))


def _lhs_type(checked: Checked, term: DensityTerm) -> Type:
    if isinstance(term.node, ast.Declaration):
        return checked.types[term.node.name]
    return checked.expr_types[id(term.lhs)]


def _term_rows(checked: Checked, term: DensityTerm) -> Size | None:
    """The size a likelihood or factor term runs over: the rows of `y` in `y[n] ~ ...` (in a loop over `n`),
    else its outermost loop, else its value's first size."""
    lhs = None if isinstance(term.node, ast.Target) else term.lhs
    if isinstance(lhs, ast.Index) and isinstance(lhs.indices[0], ast.Variable) \
            and lhs.indices[0].name in {loop.var for loop in term.loops}:
        return checked.expr_types[id(lhs.base)].dims[0]
    if term.loops:
        return checked.loop_sizes[id(term.loops[0])]
    dims = (_lhs_type(checked, term) if lhs is not None else checked.expr_types[id(term.node.value)]).dims
    return dims[0] if dims else None


def _observation_size(checked: Checked, bag: DiagnosticBag) -> Size | None:
    """The size of the likelihoods (without any, of the `target +=` terms) with the most rows; reported when
    there is none, or it is not a data size."""
    terms = checked.resolved.terms
    for kind in (OBSERVED, FACTOR):
        found = [(size, t) for t in terms if t.kind == kind and (size := _term_rows(checked, t)) is not None]
        if found:
            break
    if not found:
        observed = [t for t in terms if t.kind == OBSERVED]
        bag.error("E601", "no likelihood has rows to subsample", observed[0].span if observed else None,
                  hint="a minibatch takes rows of a likelihood over data, e.g. `y ~ normal(mu, sigma);` "
                  "with `data vector[N] y;`")
        return None
    size, term = max(found, key=lambda f: f[0].value or 0)
    info = checked.resolved.names.get(size.name)
    if info is None or info.kind != "data" or info.node.type.kind != "int" or info.node.type.array_sizes:
        bag.error("E601", f"the rows of this likelihood have the size `{size.label}`, not a size from the data",
                  term.span, hint="declare them over a data size: `data vector[N] y;`")
        return None
    return size


def _bounds_span(loop: ast.ForLoop) -> Span:
    lo, hi = loop.lower.span, loop.upper.span
    return Span(lo.file, lo.line, lo.column, hi.end_line, hi.end_column)


class _Rows:
    def __init__(self, checked: Checked, bag: DiagnosticBag, size: Size, missing: frozenset[str]):
        self.checked, self.bag, self.r = checked, bag, checked.resolved
        self.size, self.n = size.name, size.value
        names = self.r.names
        # a factor declared without a size has its own length, `<name>_rows`: the rows when as long
        self.factor_rows = {f"{n}_rows" for n, info in names.items() if info.kind == "data"
                            and info.node.type.kind == "factor" and not info.node.type.array_sizes}
        self.missing = missing
        # data with missing entries and what is computed from them: computed in the model
        self.in_model = set(missing) | impute.dependents(self.r, missing)
        self.types, self.instances, self.in_body = checked.expr_types, checked.instances, False
        self.scaled: list[str] = []
        self.all_rows: list[ast.Expr] = []
        self.row_terms: set[int] = set()
        self.reported: set[tuple[str, Span | None]] = set()

    # ---- sizes ------------------------------------------------------------------------------------------
    def is_rows(self, s: Size) -> bool:
        return s.name == self.size or (s.name in self.factor_rows and s.value == self.n)

    def leading(self, t: Type | None) -> bool:
        return t is not None and bool(t.dims) and self.is_rows(t.dims[0])

    def inner_axis(self, t: Type | None) -> int | None:
        """The 1-based axis, after the first, that runs over the rows."""
        if t is None:
            return None
        return next((k for k, d in enumerate(t.dims[1:], 2) if self.is_rows(d)), None)

    def type(self, e) -> Type | None:
        return self.types.get(id(e))

    def error(self, code: str, message: str, span, hint: str) -> bool:
        if (code, span) not in self.reported:
            self.reported.add((code, span))
            self.bag.error(code, message, span, hint=hint)
        return True

    # ---- the model ----------------------------------------------------------------------------------------
    def run(self) -> None:
        for name in self.r.order:
            info = self.r.names[name]
            if info.role == PARAM:
                self.parameter(info)
            elif info.role == DATA and name in self.missing and self.leading(self.checked.types.get(name)):
                self.error("E609", f"`{name}` has missing values over the rows of `{self.size}`: each imputed "
                           "value is a parameter of one row", info.span,
                           hint=f"drop the incomplete rows before fitting; {NUTS}")
            elif info.role == DETERMINISTIC or (info.role == TRANSFORMED_DATA and name in self.in_model):
                self.definition(info)
        for term in self.r.terms:
            self.term(term)
        for plan in self.checked.discrete.values():
            if any(id(t) in self.row_terms for t in plan.terms) and not any(
                    self.is_rows(d) for d in self.checked.types[plan.name].dims):
                self.error("E608", f"`{plan.name}` is summed out over all the rows of `{self.size}` at once: the "
                           "density is not a sum over rows", self.r.names[plan.name].span,
                           hint=f"a minibatch needs terms that each involve one row; {NUTS}")

    def row_data(self) -> tuple[str, ...]:
        return tuple(name for name in self.r.order
                     if self.r.names[name].role in (DATA, TRANSFORMED_DATA) and name not in self.in_model
                     and name in self.checked.consts and self.leading(self.checked.types.get(name)))

    def parameter(self, info) -> None:
        if any(self.is_rows(d) for d in self.checked.types[info.name].dims):
            self.error("E602", f"`{info.name}` has one value per row of `{self.size}`: a minibatch would update it "
                       "only when its row is drawn", info.span,
                       hint="stochastic-gradient samplers need parameters shared by all rows (one per group of a "
                       "factor is fine); use NUTS")
        for bound in info.node.type.bounds:
            self.expr(bound.value, frozenset())

    def definition(self, info) -> None:
        t = self.checked.types[info.name]
        if self.leading(t) and info.in_parts:
            recurrent = any(p.recurrent for p in info.pieces)
            what = "a recurrence over" if recurrent else "defined in pieces over"
            self.error("E605", f"`{info.name}` is {what} the rows of `{self.size}`: a minibatch holds only the rows "
                       "it drew", info.span, hint=f"define every row from its own row, in one loop over "
                       f"`1:{self.size}` or vectorized; {NUTS}")
            return
        axis = self.inner_axis(t)
        if axis:
            self.error("E603", f"`{info.name}` (`{t}`) has the rows of `{self.size}` along axis {axis}, not first: "
                       "a minibatch takes rows from the first axis", info.span,
                       hint=f"keep `{self.size}` as the first size")
        for value, loops in [(p.node.value, p.loops) for p in info.pieces] or [(info.node.value, info.loops)]:
            self.expr(value, self.loops(loops))

    def loops(self, loops) -> frozenset[str]:
        """The variables of the loops over the rows among ``loops``; loops over part of them and pairs of them
        are reported."""
        row_vars: list[str] = []
        for loop in loops:
            size = self.checked.loop_sizes.get(id(loop))
            whole = size is not None and self.is_rows(size)
            mentions = self.size in free_variables(loop.lower) | free_variables(loop.upper)
            if not (whole or mentions):
                continue
            span = _bounds_span(loop)
            if not whole:
                self.error("E607", f"this loop runs over `{printer.expr(loop.lower)}:{printer.expr(loop.upper)}`, "
                           f"not over all the rows of `{self.size}`", span,
                           hint=f"a minibatch draws from every row: loop `for ({loop.var} in 1:{self.size})`")
            if row_vars:
                self.error("E605", f"`{row_vars[-1]}` and `{loop.var}` both run over the rows of `{self.size}`: "
                           "the statement pairs rows with each other", span,
                           hint=f"a minibatch holds only the rows it drew; {NUTS}")
            row_vars.append(loop.var)
        return frozenset(row_vars)

    def term(self, term: DensityTerm) -> None:
        rv = self.loops(term.loops)
        if isinstance(term.node, ast.Target):
            self.expr(term.node.value, rv)
            if rv or self.leading(self.type(term.node.value)):
                self.row_terms.add(id(term))
                self.scaled.append(term.site)
            return
        dist = term.distribution
        lhs_t = _lhs_type(self.checked, term)
        bad = False
        if term.kind != PRIOR and not isinstance(term.node, ast.Declaration):
            bad |= self.expr(term.lhs, rv)
        for node in [*dist.args, *limit_nodes(term)]:
            bad |= self.expr(node, rv)
        spec = distributions.lookup(dist.name)
        if spec is not None:
            self.distribution(term, spec, lhs_t, bad)
        if term.kind in (OBSERVED, FACTOR) and (rv or self.leading(lhs_t)):
            self.row_terms.add(id(term))
            self.scaled.append(term.site)

    def distribution(self, term: DensityTerm, spec, lhs_t: Type, args_reported: bool) -> None:
        rows = self.leading(lhs_t)
        if rows and lhs_t.rank <= spec.event_rank and term.kind != PRIOR:
            self.error("E608", f"`{printer.expr(term.lhs)} ~ {spec.name}(...)` is not a sum over rows: one "
                       f"`{spec.name}` value covers all the rows of `{self.size}`", term.span,
                       hint=f"a minibatch needs one term per row (e.g. `array[{self.size}] vector[K] y`); {NUTS}")
            return
        if args_reported:
            return
        for arg in term.distribution.args:
            t = self.type(arg)
            if self.leading(t) and not rows:
                self.error("E603", f"`{printer.expr(arg)}` has the rows of `{self.size}` but "
                           f"`{printer.expr(term.lhs)}` does not: the density sums over them", arg.span,
                           hint="give the left of `~` the same rows")
            elif rows and spec.event_rank == 0 and t is not None and not t.is_scalar and not self.leading(t):
                self.misaligned(arg, t)

    # ---- expressions ----------------------------------------------------------------------------------------
    def expr(self, e, rv: frozenset[str]) -> bool:
        """Report what in ``e`` breaks a minibatch (``rv``: the loop variables over the rows); True when
        something was reported, so the enclosing expressions stay quiet."""
        if self.of_data_alone(e):
            self.all_rows.append(e)
            return False
        if isinstance(e, ast.Variable):
            return self.variable_use(e, rv)
        if isinstance(e, ast.Index):
            return self.index(e, rv)
        if isinstance(e, ast.Call):
            return self.call(e, rv)
        bad = False
        for child in ast.children(e):
            bad |= self.expr(child, rv)
        if bad or isinstance(e, (ast.Slice, ast.FunctionRef)):
            return bad
        if isinstance(e, ast.Binary):
            a, b = self.type(e.left), self.type(e.right)
            if e.op in ("*", "\\") and a is not None and b is not None and not (a.is_scalar or b.is_scalar):
                if self.transposed(e):
                    return True
                if not self.leading(b):  # `X * b`: row by row
                    return False
                return self.reduction(e, "sums over") if e.op == "*" else self.mixing(e)
            return self.aligned([e.left, e.right]) or self.transposed(e)
        if isinstance(e, ast.Conditional):
            return self.aligned([e.if_true, e.if_false]) or self.transposed(e)
        return self.transposed(e)

    def of_data_alone(self, e) -> bool:
        """``e`` is computed from data over the rows alone (no parameter, loop variable, random draw or level
        choice; the row count may appear) and is not itself over the rows: a reduction (`mean(y)`), or fixed
        rows (`x[1]`).  Its value on all the rows stands for it in every minibatch."""
        t = self.type(e)
        if self.in_body or isinstance(e, ast.Variable) or t is None or any(self.is_rows(d) for d in t.dims):
            return False
        names = free_variables(e)
        data = (DATA, TRANSFORMED_DATA)
        if any(n not in self.r.names or self.r.names[n].role not in data or n in self.in_model for n in names):
            return False
        if uses_rng(e) or any(isinstance(node, ast.Call) and node.name == levels.NAME for node in ast.walk(e)):
            return False
        return any(self.leading(self.checked.types.get(n)) for n in names)

    def variable_use(self, e: ast.Variable, rv) -> bool:
        if self.in_body:  # a function's body sees only its arguments
            return False
        if e.name in rv:
            return self.error("E606", f"the row number `{e.name}` is used as a value: a minibatch renumbers "
                              "its rows", e.span, hint=f"read values from data over the rows (`x[{e.name}]`) "
                              "instead of the loop variable")
        if e.name == self.size:
            return self.error("E606", f"`{e.name}` is used as a value: in a minibatch it is the batch size",
                              e.span, hint=f"use `{e.name}` only as a size and in loop bounds; compute values "
                              f"from it once as transformed data (`n_rows = 1.0 * {e.name};`)")
        info = self.r.names.get(e.name)
        axis = self.inner_axis(self.type(e))
        if info is not None and info.role in (DATA, TRANSFORMED_DATA) and axis:
            return self.error("E603", f"`{e.name}` (`{self.type(e)}`) has the rows of `{self.size}` along axis "
                              f"{axis}, not first: a minibatch takes rows from the first axis", e.span,
                              hint=f"store it with `{self.size}` as the first size")
        return False

    def index(self, e: ast.Index, rv) -> bool:
        rows = self.leading(self.type(e.base))
        bad = self.expr(e.base, rv)
        for position, item in enumerate(e.indices):
            if position == 0 and rows:
                own = (isinstance(item, ast.Variable) and item.name in rv) or (
                    isinstance(item, ast.Slice) and item.lower is None and item.upper is None)
                if not own:
                    bad |= self.error("E605", f"`{printer.expr(e)}` reads another row of `{self.size}`: a minibatch "
                                      "holds only the rows it drew", e.span,
                                      hint=f"index the rows only by the variable of a loop over `1:{self.size}`")
                continue
            bad |= self.expr(item, rv)
        return bad or self.transposed(e)

    def call(self, e: ast.Call, rv) -> bool:
        fill = FILLS.get(e.name)
        bad = False
        for k, arg in enumerate(e.args):
            if not (fill is not None and k >= fill and isinstance(arg, ast.Variable) and arg.name == self.size):
                bad |= self.expr(arg, rv)
        if bad:
            return True
        if e.name in self.r.functions:  # its body is analysed with this call's types
            return self.body(e) or self.transposed(e)
        if self.transposed(e):
            return True
        if not any(self.leading(self.type(a)) for a in e.args):
            return False
        if ode.lookup(e.name):
            return self.mixing(e)
        if not self.leading(self.type(e)):
            return self.reduction(e, "reduces over")
        if e.name in functions.ELEMENTWISE or e.name == levels.NAME:
            return self.aligned(list(e.args))
        if e.name in RESHAPES and self.type(e.args[0]).rank == 1:
            return False
        return self.mixing(e)

    def body(self, call: ast.Call) -> bool:
        """Analyse a user function's body with the types of this call."""
        fn, instance = self.r.functions[call.name], self.instances.get(id(call))
        if instance is None:
            return False
        saved = self.types, self.instances, self.in_body
        self.types, self.instances, self.in_body = instance.expr_types, instance.instances, True
        try:
            bad = False
            for local in fn.locals:
                bad |= self.expr(local.value, frozenset())
            return self.expr(fn.node.value, frozenset()) or bad
        finally:
            self.types, self.instances, self.in_body = saved

    # ---- reports ------------------------------------------------------------------------------------------
    def transposed(self, e) -> bool:
        axis = self.inner_axis(self.type(e))
        if not axis:
            return False
        return self.error("E603", f"`{printer.expr(e)}` has the rows of `{self.size}` along axis {axis}, not first: "
                          "a minibatch takes rows from the first axis", e.span,
                          hint=f"keep `{self.size}` as the first axis: `X * b` with `matrix[{self.size}, K] X`, "
                          "not a transpose")

    def reduction(self, e, verb: str) -> bool:
        text = printer.expr(e)
        base = _dist_base(e.name) if isinstance(e, ast.Call) else None
        if base is not None and e.name.endswith(DENSITY_SUFFIXES) and e.args:
            hint = f"write it as a likelihood: `{printer.expr(e.args[0])} ~ {base}(" \
                   f"{', '.join(printer.expr(a) for a in e.args[1:])});`"
        else:
            hint = f"write the density as one term per row; {NUTS}"
        return self.error("E603", f"`{text}` {verb} the rows of `{self.size}`: a minibatch sees only some of them",
                          e.span, hint=hint)

    def mixing(self, e) -> bool:
        return self.error("E604", f"`{printer.expr(e)}` mixes the rows of `{self.size}`: each row's value depends "
                          "on other rows", e.span,
                          hint="per-row values may go through elementwise functions (`exp`, `inv_logit`, ...) and "
                          "operators, `X * b`, and `a[g]`; see 'Which models can be minibatched' in docs/api.md")

    def aligned(self, operands) -> bool:
        """Elementwise operands: with one over the rows, every container must be."""
        types = [(o, self.type(o)) for o in operands]
        if not any(self.leading(t) for _, t in types):
            return False
        bad = False
        for o, t in types:
            if t is not None and not t.is_scalar and not self.leading(t):
                bad |= self.misaligned(o, t)
        return bad

    def misaligned(self, e, t: Type) -> bool:
        return self.error("E610", f"`{printer.expr(e)}` is `{t}`: it goes with the rows of `{self.size}` but is "
                          "not declared over them", e.span, hint=f"declare it with `{self.size}` as its first size")
