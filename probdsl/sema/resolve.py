"""Names, the dependency graph, and roles.

Every name is defined once: by a ``data``/``param`` declaration or by a
definition (possibly indexed inside a ``for`` loop).  This pass checks that,
finds unknown names, sorts the graph (reporting cycles), attaches each ``~`` to
a parameter (its prior), to data (a likelihood) or to neither (a factor), and
infers each derived name's role:

* depends on data only -> transformed data (computed once);
* depends on parameters and feeds the density -> deterministic site;
* otherwise, or when it draws with ``_rng`` -> generated quantity.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from probdsl.errors import DiagnosticBag, Span
from probdsl.model_interface import DATA, DETERMINISTIC, GENERATED, PARAM, TRANSFORMED_DATA
from probdsl.stdlib import distributions, functions
from probdsl.syntax import ast

RESERVED = {"target", "in", "for", "data", "param", "factor", "array"}
DENSITY_SUFFIXES = ("_lpdf", "_lupdf", "_lpmf", "_lupmf", "_lcdf", "_lccdf", "_cdf")

PRIOR, OBSERVED, FACTOR = "prior", "observed", "factor"


@dataclass
class NameInfo:
    """One defined name."""

    name: str
    kind: str  # data | param | derived
    node: ast.Declaration | ast.Definition
    span: Span
    loops: tuple[ast.ForLoop, ...] = ()
    deps: set[str] = field(default_factory=set)
    uses_rng: bool = False
    role: str = ""


@dataclass
class DensityTerm:
    """A ``~`` statement, an inline prior, or ``target +=``."""

    kind: str  # prior | observed | factor
    node: ast.Tilde | ast.Target | ast.Declaration
    loops: tuple[ast.ForLoop, ...]
    deps: set[str]
    site: str  # site name: the parameter, the observed variable, or target_<k>

    @property
    def span(self) -> Span:
        return self.node.span

    @property
    def distribution(self) -> ast.Distribution | None:
        if isinstance(self.node, ast.Declaration):
            return self.node.prior
        return self.node.distribution if isinstance(self.node, ast.Tilde) else None

    @property
    def truncation(self) -> ast.Truncation | None:
        return None if isinstance(self.node, ast.Target) else self.node.truncation

    @property
    def lhs(self) -> ast.Expr | None:
        if isinstance(self.node, ast.Declaration):
            return ast.Variable(self.node.name, self.node.name_span)
        return self.node.lhs if isinstance(self.node, ast.Tilde) else None


@dataclass
class Resolved:
    program: ast.Program
    names: dict[str, NameInfo]
    terms: list[DensityTerm]
    order: list[str]  # every name, dependencies first

    def priors(self) -> dict[str, DensityTerm]:
        return {t.site: t for t in self.terms if t.kind == PRIOR}


def free_variables(expr, bound: frozenset[str] = frozenset()) -> set[str]:
    """Names an expression reads (loop variables in ``bound`` excluded)."""
    out: set[str] = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Variable) and node.name not in bound:
            out.add(node.name)
    return out


def uses_rng(expr) -> bool:
    return any(isinstance(n, ast.Call) and n.name.endswith("_rng") for n in ast.walk(expr))


def suggest(name: str, candidates) -> str | None:
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


def resolve(program: ast.Program, bag: DiagnosticBag) -> Resolved:
    names: dict[str, NameInfo] = {}
    terms: list[DensityTerm] = []
    _collect(program.statements, (), names, terms, bag)
    _declare_implicit_sizes(program, names)
    _check_unknown(program, names, terms, bag)
    _attach_terms(names, terms, bag)
    order = _sort(names, terms, bag)
    _assign_roles(names, terms, order, bag)
    return Resolved(program, names, terms, order)


def _define(names, info: NameInfo, bag: DiagnosticBag) -> None:
    if info.name in RESERVED or info.name.startswith("_"):
        bag.error("E105", f"`{info.name}` is a reserved name", info.span, hint="choose another name")
        return
    previous = names.get(info.name)
    if previous is not None:
        bag.error("E101", f"`{info.name}` is defined twice", info.span,
                  label="second definition", notes=(f"first defined at {previous.span}",),
                  hint="every name is defined exactly once; rename one of them")
        return
    names[info.name] = info


def _collect(statements, loops, names, terms, bag) -> None:
    loop_vars = frozenset(loop.var for loop in loops)
    for stmt in statements:
        if isinstance(stmt, ast.Declaration):
            if loops:
                bag.error("E106", "declarations cannot be inside a `for` loop", stmt.span)
                continue
            kind = "data" if stmt.role == "data" else "param"
            deps = set()
            for size in stmt.type.sizes + stmt.type.array_sizes:
                deps |= free_variables(size)
            for b in stmt.type.bounds:
                deps |= free_variables(b.value)
            _define(names, NameInfo(stmt.name, kind, stmt, stmt.name_span, (), deps), bag)
            if stmt.prior is not None:
                if stmt.role == "data":
                    terms.append(DensityTerm(OBSERVED, stmt, (), free_variables(stmt.prior) | {stmt.name}, stmt.name))
                else:
                    terms.append(DensityTerm(PRIOR, stmt, (), free_variables(stmt.prior), stmt.name))
        elif isinstance(stmt, ast.Definition):
            deps = free_variables(stmt.value, loop_vars)
            if stmt.type is not None:
                for size in stmt.type.sizes + stmt.type.array_sizes:
                    deps |= free_variables(size)
            target = stmt.target
            if isinstance(target, ast.Index):
                for index in target.indices:
                    deps |= free_variables(index, loop_vars)
                if not loops:
                    bag.error("E107", f"an indexed definition of `{stmt.name}` must be inside a `for` loop",
                              stmt.span, hint=f"define the whole of `{stmt.name}` at once, or loop over its index")
                wanted = [loop.var for loop in loops]
                got = [i.name if isinstance(i, ast.Variable) else None for i in target.indices]
                if got != wanted:
                    bag.error("E107", f"`{stmt.name}` must be indexed by the loop variables [{', '.join(wanted)}]",
                              target.span, hint="each loop defines one element per iteration: "
                              f"`{stmt.name}[{', '.join(wanted)}] = ...`")
            elif loops:
                bag.error("E107", f"`{stmt.name}` is defined inside a loop without an index", stmt.span,
                          hint=f"write `{stmt.name}[{', '.join(l.var for l in loops)}] = ...`")
            if stmt.name in deps and loops:
                bag.error("E108", f"`{stmt.name}` depends on its own earlier elements (a recurrence)", stmt.span,
                          hint="recurrences compile to `lax.scan` in a later version; write the model without one")
            span = target.span if isinstance(target, ast.Variable) else target.base.span
            _define(names, NameInfo(stmt.name, "derived", stmt, span, loops, deps - {stmt.name},
                                    uses_rng(stmt.value)), bag)
        elif isinstance(stmt, ast.Tilde):
            deps = free_variables(stmt.lhs, loop_vars) | free_variables(stmt.distribution, loop_vars)
            if stmt.truncation is not None:
                deps |= free_variables(stmt.truncation, loop_vars)
            terms.append(DensityTerm("", stmt, loops, deps, ""))
        elif isinstance(stmt, ast.Target):
            terms.append(DensityTerm(FACTOR, stmt, loops, free_variables(stmt.value, loop_vars), ""))
        elif isinstance(stmt, ast.ForLoop):
            if stmt.var in loop_vars:
                bag.error("E109", f"loop variable `{stmt.var}` is already used by an enclosing loop", stmt.span)
                continue
            outer = free_variables(stmt.lower, loop_vars) | free_variables(stmt.upper, loop_vars)
            if outer & {l.var for l in loops}:
                bag.error("E110", "loop bounds cannot depend on an enclosing loop variable", stmt.lower.span)
            _collect(stmt.body, loops + (stmt,), names, terms, bag)


def _declare_implicit_sizes(program, names) -> None:
    """A size name used in a data declaration but never declared is an implicit `data int<lower=0>`.

    Its value then comes from the data, or from the length of the first array declared with it.
    """
    for stmt in program.statements:
        if not (isinstance(stmt, ast.Declaration) and stmt.role == "data"):
            continue
        for size in stmt.type.sizes + stmt.type.array_sizes:
            if isinstance(size, ast.Variable) and size.name not in names and not size.name.startswith("_"):
                zero = ast.Number(0, "0", size.span)
                spec = ast.TypeSpec("int", (), (), (ast.Bound("lower", zero, size.span),), size.span)
                decl = ast.Declaration("data", spec, size.name, None, None, size.span, size.span)
                names[size.name] = NameInfo(size.name, "data", decl, size.span)


def _check_unknown(program, names, terms, bag) -> None:
    loop_names = {n.var for n in ast.walk(program) if isinstance(n, ast.ForLoop)}
    for loop in (n for n in ast.walk(program) if isinstance(n, ast.ForLoop)):
        if loop.var in names:
            bag.error("E109", f"loop variable `{loop.var}` has the name of a model variable", loop.span,
                      notes=(f"`{loop.var}` is defined at {names[loop.var].span}",))
    seen: set[tuple] = set()
    for node in ast.walk(program):
        if isinstance(node, ast.Variable) and node.name not in names and node.name not in loop_names:
            key = (node.name, node.span)
            if key in seen:
                continue
            seen.add(key)
            close = suggest(node.name, names)
            bag.error("E102", f"unknown name `{node.name}`", node.span,
                      hint=f"did you mean `{close}`?" if close else "declare it with `data` or `param`, or define it")
        elif isinstance(node, ast.Call):
            _check_callee(node, bag)
        elif isinstance(node, ast.Distribution):
            if distributions.lookup(node.name) is None:
                close = distributions.suggest(node.name)
                bag.error("E120", f"unknown distribution `{node.name}`", node.span,
                          hint=f"did you mean `{close}`?" if close else "see docs/language.md for the list")


def _check_callee(call: ast.Call, bag) -> None:
    name = call.name
    if functions.lookup(name) is not None:
        return
    base = _dist_base(name)
    if base is not None and distributions.lookup(base) is not None:
        return
    close = functions.suggest(name)
    close_base = distributions.suggest(base) if base is not None else None
    if close_base is not None:
        close = close_base + name[len(base):]
    bag.error("E121", f"unknown function `{name}`", call.span,
              hint=f"did you mean `{close}`?" if close else "see docs/language.md for the built-in functions")


def _dist_base(name: str) -> str | None:
    for suffix in DENSITY_SUFFIXES + ("_rng",):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _lhs_root(expr) -> str | None:
    while isinstance(expr, (ast.Index, ast.Paren)):
        expr = expr.base if isinstance(expr, ast.Index) else expr.expr
    return expr.name if isinstance(expr, ast.Variable) else None


def _attach_terms(names, terms, bag) -> None:
    """Decide what each ``~`` is: a prior, a likelihood, or a plain factor."""
    priors: dict[str, DensityTerm] = {t.site: t for t in terms if t.kind == PRIOR}
    used_sites: set[str] = set()
    factor_count = 0
    for term in terms:
        if term.kind == FACTOR:
            factor_count += 1
            term.site = f"target_{factor_count}"
            continue
        if term.kind == OBSERVED:
            used_sites.add(term.site)
            continue
        if term.kind == PRIOR:
            continue
        lhs = term.node.lhs
        root = _lhs_root(lhs)
        info = names.get(root) if root else None
        if info is not None and info.kind == "param" and _is_whole(lhs, term.loops):
            if root in priors:
                bag.error("E111", f"parameter `{root}` has two priors", term.span,
                          notes=(f"first prior at {priors[root].span}",),
                          hint="give each parameter exactly one `~`; add other terms with `target +=`")
                continue
            term.kind, term.site = PRIOR, root
            priors[root] = term
        elif _depends_on_kind(term.node.lhs, names, "param", term.loops):
            factor_count += 1
            term.kind, term.site = FACTOR, f"target_{factor_count}"
        else:
            term.kind = OBSERVED
            site = root or "obs"
            k = 2
            base = site
            while site in used_sites:
                site, k = f"{base}_{k}", k + 1
            used_sites.add(site)
            term.site = site
    for info in names.values():
        if info.kind == "param" and info.name not in priors:
            bag.error("E104", f"parameter `{info.name}` has no prior", info.span,
                      hint=f"give it one, e.g. `{info.name} ~ normal(0, 1);`, or write `{info.name} ~ flat();` "
                      "for an improper uniform prior over its declared support")


def _is_whole(lhs, loops) -> bool:
    if isinstance(lhs, ast.Variable):
        return not loops
    if isinstance(lhs, ast.Index) and isinstance(lhs.base, ast.Variable) and loops:
        got = [i.name if isinstance(i, ast.Variable) else None for i in lhs.indices]
        return got == [loop.var for loop in loops]
    return False


def _depends_on_kind(expr, names, kind, loops) -> bool:
    bound = frozenset(l.var for l in loops)
    todo, seen = list(free_variables(expr, bound)), set()
    while todo:
        name = todo.pop()
        if name in seen or name not in names:
            continue
        seen.add(name)
        info = names[name]
        if info.kind == kind:
            return True
        if info.kind == "derived":
            todo.extend(info.deps)
    return False


def _edges(names, terms) -> dict[str, set[str]]:
    edges = {name: set(info.deps) & names.keys() for name, info in names.items()}
    for term in terms:
        if term.kind == PRIOR and term.site in edges:
            edges[term.site] |= (term.deps - {term.site}) & names.keys()
    return edges


def _sort(names, terms, bag) -> list[str]:
    edges = _edges(names, terms)
    order: list[str] = []
    state: dict[str, int] = {}
    reported: set[frozenset] = set()

    def visit(name: str, stack: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = stack[stack.index(name):] + [name]
            key = frozenset(cycle)
            if key not in reported:
                reported.add(key)
                bag.error("E103", "circular definition: " + " -> ".join(f"`{n}`" for n in cycle),
                          names[name].span, hint="a name cannot depend on itself, directly or through others")
            return
        state[name] = 1
        stack.append(name)
        for dep in sorted(edges[name]):
            visit(dep, stack)
        stack.pop()
        state[name] = 2
        order.append(name)

    for name in names:
        visit(name, [])
    return order


def _assign_roles(names, terms, order, bag) -> None:
    level: dict[str, int] = {}
    for name in order:
        info = names[name]
        if info.kind == "data":
            level[name], info.role = 0, DATA
        elif info.kind == "param":
            level[name], info.role = 1, PARAM
        else:
            level[name] = max((level.get(d, 0) for d in info.deps if d in names), default=0)
            if info.uses_rng:
                level[name] = 2
    needed: set[str] = set()
    todo = [d for t in terms for d in t.deps if d in names]
    todo += [d for info in names.values() if info.kind == "param" for d in info.deps if d in names]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        todo.extend(d for d in names[name].deps if d in names)
    for name in order:
        info = names[name]
        if info.kind != "derived":
            continue
        if level[name] == 0:
            info.role = TRANSFORMED_DATA
        elif level[name] == 2:
            info.role = GENERATED
            if name in needed:
                bag.error("E112", f"`{name}` is a generated quantity (it draws random numbers) and cannot be "
                          "used in the model's density", info.span,
                          hint="`_rng` functions are for predictions; use a parameter with a `~` instead")
        else:
            info.role = DETERMINISTIC if name in needed else GENERATED
