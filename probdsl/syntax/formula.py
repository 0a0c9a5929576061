"""Formula sugar: ``mu = lm(1 + x + (1 + x | g));`` expanded into ordinary statements.

``expand`` is a pure AST-to-AST pass, run between parsing and name resolution.
Each ``lm(...)`` definition becomes the statements a modeller would write by
hand (parameter declarations with default priors, and definitions), printed by
``probdsl expand``.  Generated statements are located at the formula term
they come from, so later errors point into the user's file.

Coding, names and default priors (docs/language.md, "Formulas"):

* ``1`` (default) is ``b_Intercept``; ``0`` or ``- 1`` drops it.
* A numeric column ``x`` (``vector`` or 1-D array) is ``b_x * x``; ``x:z`` is ``b_x_z * x .* z``;
  ``x*z`` is ``x + z + x:z``.  Predictors are used as they are (not centred).
* A factor ``f`` is one coefficient per level, ``b_f[f]``: a ``sum_to_zero_vector`` when the
  intercept (or an earlier factor) is in the model, else a plain ``vector`` (cell means).
  ``x:f`` is a slope per level, ``b_x_f[f] .* x``, sum-to-zero when ``x`` is also a term.
* ``(1 + x | g)``: varying effects per level of the factor ``g``, non-centred:
  ``r_g = z_g * diag_pre_multiply(sd_g, L_g)'`` with ``L_g ~ lkj_corr_cholesky(1)``;
  ``||`` makes them independent.  One effect gives ``r_g = sd_g * z_g``.
* Priors are scaled by the response ``y`` when the model has ``y ~ F(mu, ...)`` for a family
  ``F`` with an identity link (``normal``, ``student_t``, ...; ``lognormal`` uses ``log(y)``),
  else they are on the unit (link) scale: ``b_Intercept ~ student_t(3, mean(y), 2.5 * sd(y))``,
  ``b_x ~ normal(0, 2.5 * sd(y) / sd(x))``, ``sd_g ~ exponential(1 / sd(y))``, ``z_g ~ std_normal()``.
* A ``b_x ~ ...;`` statement of the user's replaces the default prior of ``b_x``.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
from dataclasses import dataclass, field

from probdsl.errors import DiagnosticBag, Span
from probdsl.syntax import ast, printer
from probdsl.syntax.parser import parse

# families whose location argument is the mean of the response (argument index), and its transform
IDENTITY_LINK = {"normal": 0, "student_t": 1, "cauchy": 0, "double_exponential": 0, "logistic": 0,
                 "lognormal": 0}
LOG_SCALE = {"lognormal"}
MAX_CROSSED = 8  # `a*b*...` crossing more terms makes 2^n - 1 effects: 255 for 8


def expand(program: ast.Program, bag: DiagnosticBag) -> ast.Program:
    """``program`` with every ``name = lm(...);`` replaced by its expansion; problems go to ``bag``."""
    formulas = [s for s in program.statements if isinstance(s, ast.Definition) and isinstance(s.value, ast.Formula)]
    _report_misplaced(program, set(map(id, formulas)), bag)
    if not formulas:
        return program
    model = _Model(program)
    expansions = {id(d): _Expansion(d, model, len(formulas) > 1, bag) for d in formulas}
    _check_names(list(expansions.values()), model, bag)
    statements: list[ast.Statement] = []
    for stmt in program.statements:
        statements.extend(expansions[id(stmt)].statements if id(stmt) in expansions else [stmt])
    notes = tuple(ast.Comment(f"// {printer.expr(d.value)}", _point(d.value.span)) for d in formulas)
    return ast.Program(tuple(statements), program.file, program.comments + notes)


def _point(span: Span) -> Span:
    return Span(span.file, span.line, span.column, span.line, span.column)


def _report_misplaced(program: ast.Program, allowed: set[int], bag: DiagnosticBag) -> None:
    whole = {id(s.value) for s in program.statements if id(s) in allowed}
    for node in ast.walk(program):
        if isinstance(node, ast.Formula) and id(node) not in whole:
            bag.error("E195", "`lm(...)` must be the whole right side of a definition outside loops", node.span,
                      hint="define the linear predictor on its own, `mu = lm(1 + x);`, then use `mu`")


@dataclass
class _Model:
    """What the expansion needs to know about the user's statements."""

    program: ast.Program
    columns: dict[str, ast.Declaration] = field(default_factory=dict)  # data declarations
    defined: dict[str, Span] = field(default_factory=dict)  # every name the user defines
    priors: set[str] = field(default_factory=set)  # names given a prior by a top-level `name ~ ...;`

    def __post_init__(self):
        self._collect(self.program.statements)
        self.priors = {s.lhs.name for s in self.program.statements
                       if isinstance(s, ast.Tilde) and isinstance(s.lhs, ast.Variable)}

    def _collect(self, statements) -> None:
        for s in statements:
            if isinstance(s, ast.Declaration):
                self.defined.setdefault(s.name, s.name_span)
                if s.role == "data":
                    self.columns[s.name] = s
            elif isinstance(s, ast.Definition):
                self.defined.setdefault(s.name, s.target.span)
            elif isinstance(s, ast.ForLoop):
                self.defined.setdefault(s.var, s.span)
                self._collect(s.body)

    def response(self, target: str) -> str | None:
        """The response ``y`` of a top-level ``y ~ F(target, ...)`` with an identity-link family."""
        for s in self.program.statements:
            if isinstance(s, ast.Tilde) and isinstance(s.lhs, ast.Variable):
                name, dist = s.lhs.name, s.distribution
            elif isinstance(s, ast.Declaration) and s.role == "data" and s.prior is not None:
                name, dist = s.name, s.prior
            else:
                continue
            where = IDENTITY_LINK.get(dist.name)
            if (name in self.columns and where is not None and len(dist.args) > where
                    and dist.args[where] == ast.Variable(target)):
                return f"log({name})" if dist.name in LOG_SCALE else name
        return None


@dataclass(frozen=True)
class _Effect:
    """One population- or group-level column: the product of ``names`` (at most one factor)."""

    names: tuple[ast.Variable, ...]
    span: Span

    @property
    def key(self) -> frozenset[str]:
        return frozenset(n.name for n in self.names)

    @property
    def label(self) -> str:
        return "_".join(n.name for n in self.names)

    @property
    def text(self) -> str:
        return ":".join(n.name for n in self.names)


class _Expansion:
    """The statements of one ``target = lm(...);``."""

    def __init__(self, definition: ast.Definition, model: _Model, prefixed: bool, bag: DiagnosticBag):
        self.definition, self.model, self.bag = definition, model, bag
        self.formula: ast.Formula = definition.value
        self.target = definition.name
        self.prefix = self.target + "_" if prefixed else ""
        y = model.response(self.target)
        self.location, self.scale = (f"mean({y})", f"sd({y})") if y else ("0", None)
        self.generated: dict[str, Span] = {}  # name -> span of the term that generated it
        self.reported: set[Span] = set()  # names in the formula already reported as not columns
        self.parameters: list[ast.Statement] = []
        self.terms: list[ast.Expr] = []
        self.statements: list[ast.Statement] = []
        self._expand()

    # -- the formula ------------------------------------------------------------------
    def _expand(self) -> None:
        intercept, effects, groups = self._split(self.formula, allow_groups=True)
        if intercept is not None:
            name = self._name("b_Intercept")
            self._parameter(name, "real", f"student_t(3, {self.location}, {self._scaled()})", intercept)
            self.terms.append(self._expr(name, intercept))
        full_coded = intercept is not None
        numeric = {e.key for e in effects if not self._factors(e)}
        for effect in effects:
            full_coded = self._population(effect, full_coded, numeric)
        seen_groups: dict[str, Span] = {}
        for group in groups:
            if group.group.name in seen_groups:
                self.bag.error("E194", f"`{group.group.name}` is the grouping factor of two terms", group.span,
                               notes=(f"the other is at {seen_groups[group.group.name]}",),
                               hint=f"put all effects varying by `{group.group.name}` in one `( ... | "
                               f"{group.group.name})`")
                continue
            seen_groups[group.group.name] = group.span
            self._group(group)
        if not self.terms:
            self.bag.error("E196", "the formula has no terms", self.formula.span,
                           hint="write `lm(1)` for an intercept-only model")
            return
        value = self.terms[0]
        for term in self.terms[1:]:
            value = ast.Binary("+", value, term, self.formula.span)
        self.statements = [dataclasses.replace(self.definition, value=value)] + self.parameters

    def _split(self, formula: ast.Formula | ast.FormulaGroup, allow_groups: bool):
        """The intercept's span (None when dropped), the effects, and the group terms, in order."""
        intercept: Span | None = formula.span
        effects: list[_Effect] = []
        groups: list[ast.FormulaGroup] = []
        for sign, term in zip(formula.signs, formula.terms):
            if isinstance(term, ast.Number):
                if sign == "-" and term.value == 0:
                    self._unsupported("`- 0`", term.span, "write `1` to keep the intercept, `0` to drop it")
                keep = (term.value == 1) == (sign != "-")
                intercept = term.span if keep else None
            elif sign == "-":
                self._unsupported("removing a term with `-`", term.span, "only `- 1` (drop the intercept) is allowed")
            elif isinstance(term, ast.FormulaGroup):
                if allow_groups:
                    groups.append(term)
                else:
                    self._unsupported("a group term inside a group term", term.span, "write `(1 | a) + (1 | b)`")
            elif (crossed := 1 + term.ops.count("*")) > MAX_CROSSED:
                self._unsupported(f"crossing {crossed} terms with `*` ({2 ** crossed - 1:,} effects)", term.span,
                                  f"cross at most {MAX_CROSSED}; write the interactions you need with `:`")
            else:
                for effect in _crossing(term):  # a term already in the formula counts once, as in R
                    if len(effect.key) < len(effect.names):
                        self.bag.error("E194", f"`{effect.text}` names a column twice", effect.span,
                                       hint="for a square, add a column of squares to the data")
                    elif all(effect.key != e.key for e in effects) and self._columns_ok(effect):
                        effects.append(effect)
        return intercept, effects, groups

    def _population(self, effect: _Effect, full_coded: bool, numeric: set[frozenset[str]]) -> bool:
        """Add one population-level effect; return whether a full-rank coding is now in the model."""
        name = self._name("b_" + effect.label)
        factors = self._factors(effect)
        product = self._product(effect)
        if not factors:
            self._parameter(name, "real", f"normal(0, {self._scaled(product)})", effect.span)
            self.terms.append(self._expr(f"{name} * {product}", effect.span))
            return full_coded
        factor = factors[0].name
        if product is None:  # a factor's main effect
            if full_coded:
                self._parameter(name, f"sum_to_zero_vector[{factor}]", f"normal(0, {self._scaled()})", effect.span)
            else:
                self._parameter(name, f"vector[{factor}]", f"student_t(3, {self.location}, {self._scaled()})",
                                effect.span)
            self.terms.append(self._expr(f"{name}[{factor}]", effect.span))
            return True
        numeric_part = frozenset(n.name for n in effect.names if n.name != factor)
        kind = f"sum_to_zero_vector[{factor}]" if numeric_part in numeric else f"vector[{factor}]"
        self._parameter(name, kind, f"normal(0, {self._scaled(product)})", effect.span)
        self.terms.append(self._expr(f"{name}[{factor}] .* {product}", effect.span))
        return full_coded

    def _group(self, group: ast.FormulaGroup) -> None:
        g = group.group.name
        column = self.model.columns.get(g)
        if column is None or column.type.kind != "factor":
            if column is None:
                close = _suggest(g, [n for n, d in self.model.columns.items() if d.type.kind == "factor"])
                self.bag.error("E192", f"unknown grouping factor `{g}` in `lm(...)`", group.group.span,
                               hint=f"did you mean `{close}`?" if close else f"declare it: `data factor {g};`")
            else:
                self.bag.error("E192", f"the grouping name `{g}` must be a factor; it is a "
                               f"`{printer.type_spec(column.type)}`", group.group.span,
                               hint=f"declare the column `data factor {g};` to group by its values")
            return
        intercept, effects, _ = self._split(group, allow_groups=False)
        factors = [e for e in effects if self._factors(e)]
        for effect in factors:
            self._unsupported("a factor inside a group term", effect.span,
                              "use numeric columns in `( ... | g)`, or a group term per combination")
        if factors:
            return
        columns = ([None] if intercept is not None else []) + [self._product(e) for e in effects]
        if not columns:
            self.bag.error("E196", f"the group term for `{g}` has no effects", group.span,
                           hint=f"write `(1 | {g})` for varying intercepts")
            return
        sd, z, r = (self._name(f"{k}_{g}") for k in ("sd", "z", "r"))
        rate = f"1 / {self.scale}" if self.scale else "1"
        if len(columns) == 1:
            self._parameter(sd, "real<lower=0>", f"exponential({rate})", group.span)
            self._parameter(z, f"vector[{g}]", "std_normal()", group.span)
            self._definition(r, f"{sd} * {z}", group.span)
            picks = [f"{r}[{g}]"]
        else:
            k = len(columns)
            self._parameter(sd, f"vector<lower=0>[{k}]", f"exponential({rate})", group.span)
            if group.correlated:
                corr = self._name(f"L_{g}")
                self._parameter(corr, f"cholesky_factor_corr[{k}]", "lkj_corr_cholesky(1)", group.span)
            self._parameter(z, f"matrix[{g}, {k}]", "std_normal()", group.span)
            if group.correlated:
                self._definition(r, f"{z} * diag_pre_multiply({sd}, {corr})'", group.span)
            else:
                self._definition(r, f"diag_post_multiply({z}, {sd})", group.span)
            picks = [f"{r}[{g}, {i}]" for i in range(1, k + 1)]
        for pick, product in zip(picks, columns):
            self.terms.append(self._expr(pick if product is None else f"{pick} .* {product}", group.span))

    # -- columns --------------------------------------------------------------------------
    def _columns_ok(self, effect: _Effect) -> bool:
        ok = True
        for v in effect.names:
            column = self.model.columns.get(v.name)
            if column is not None and self._is_column(column):
                continue
            ok = False
            if v.span in self.reported:  # `xx*z` names `xx` in two effects: one error
                continue
            self.reported.add(v.span)
            if column is None:
                self._not_a_column(v)
            else:
                self.bag.error("E193", f"`{v.name}` is a `{printer.type_spec(column.type)}`; formula terms are "
                               "vectors, 1-D arrays or factors", v.span,
                               hint=f"add it outside the formula: `eta = lm(...); mu = eta + {v.name} * b;`")
        if ok and len(self._factors(effect)) > 1:
            self._unsupported("an interaction of two factors", effect.span,
                              "make a factor of the combinations in the data instead")
            ok = False
        return ok

    def _not_a_column(self, v: ast.Variable) -> None:
        defined = self.model.defined.get(v.name)
        if defined is not None:
            self.bag.error("E191", f"`{v.name}` in `lm(...)` is not a data column", v.span,
                           notes=(f"`{v.name}` is defined at {defined}",),
                           hint=f"add it outside the formula: `eta = lm(...); mu = eta + b * {v.name};`")
            return
        close = _suggest(v.name, self.model.columns)
        self.bag.error("E191", f"unknown data column `{v.name}` in `lm(...)`", v.span,
                       hint=f"did you mean `{close}`?" if close else f"declare it: `data vector[N] {v.name};`")

    @staticmethod
    def _is_column(d: ast.Declaration) -> bool:
        t = d.type
        if t.kind == "factor":
            return True
        vector = t.kind == "vector" and not t.array_sizes
        array = t.kind in ("real", "int") and len(t.array_sizes) == 1
        return vector or array

    def _factors(self, effect: _Effect) -> list[ast.Variable]:
        return [n for n in effect.names if self.model.columns[n.name].type.kind == "factor"]

    def _product(self, effect: _Effect) -> str | None:
        """The numeric part of an effect as an expression (``x .* z``), None for a factor alone."""
        parts = []
        for n in effect.names:
            t = self.model.columns[n.name].type
            if t.kind != "factor":
                parts.append(n.name if t.kind == "vector" else f"to_vector({n.name})")
        return " .* ".join(parts) or None

    # -- statements -------------------------------------------------------------------
    def _scaled(self, over: str | None = None) -> str:
        """``2.5 * sd(y) / sd(x)``: 2.5 response scales per unit of ``over``."""
        text = f"2.5 * {self.scale}" if self.scale else "2.5"
        return f"{text} / sd({over})" if over else text

    def _name(self, base: str) -> str:
        kind, _, rest = base.partition("_")
        return f"{kind}_{self.prefix}{rest}"

    def _parameter(self, name: str, type_text: str, prior: str, span: Span) -> None:
        self.generated[name] = span
        text = f"param {type_text} {name}" + ("" if name in self.model.priors else f" ~ {prior}") + ";"
        self.parameters.append(_located(_parse_statement(text), span))

    def _definition(self, name: str, value: str, span: Span) -> None:
        self.generated[name] = span
        self.parameters.append(_located(_parse_statement(f"{name} = {value};"), span))

    def _expr(self, text: str, span: Span) -> ast.Expr:
        return _located(_parse_statement(f"e = {text};").value, span)

    def _unsupported(self, what: str, span: Span, hint: str) -> None:
        self.bag.error("E193", f"{what} is not supported in a formula", span, hint=hint)


def _crossing(term: ast.FormulaProduct) -> list[_Effect]:
    """``x:z*w`` -> the effects ``x:z``, ``w``, ``x:z:w`` (R's crossing; ``:`` binds tighter)."""
    chunks: list[list[ast.Variable]] = [[term.names[0]]]
    for op, name in zip(term.ops, term.names[1:]):
        if op == ":":
            chunks[-1].append(name)
        else:
            chunks.append([name])
    effects = []
    for size in range(1, len(chunks) + 1):
        for combination in itertools.combinations(chunks, size):
            effects.append(_Effect(tuple(v for chunk in combination for v in chunk), term.span))
    return effects


def _check_names(expansions: list[_Expansion], model: _Model, bag: DiagnosticBag) -> None:
    """Generated names must be new: a clash with a user's name, or between formulas, is an error."""
    owner: dict[str, Span] = {}
    for e in expansions:
        for name, span in e.generated.items():
            if name in model.defined:
                bag.error("E190", f"`{name}` is generated by `lm(...)` and also defined here", model.defined[name],
                          notes=(f"`lm(...)` generates `{name}` at {span}",),
                          hint=f"rename yours; to change the prior of the generated `{name}`, write "
                          f"`{name} ~ normal(...);` without declaring it")
            elif name in owner:
                bag.error("E194", f"two formulas generate `{name}`", span, notes=(f"the other at {owner[name]}",))
            owner.setdefault(name, span)


def _suggest(name: str, candidates) -> str | None:
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


def _parse_statement(text: str) -> ast.Statement:
    return parse(text, "<lm>").statements[0]


def _located(node, span: Span):
    """``node`` with every span (and name span) below it set to ``span``."""
    if isinstance(node, tuple):
        return tuple(_located(n, span) for n in node)
    if not dataclasses.is_dataclass(node) or isinstance(node, Span):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        changes[f.name] = span if f.name in ("span", "name_span") else _located(value, span)
    return dataclasses.replace(node, **changes)
