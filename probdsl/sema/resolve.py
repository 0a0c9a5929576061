"""Names, the dependency graph, and roles.

Every name is defined once: by a ``data``/``param`` declaration or by a
definition (possibly indexed inside a ``for`` loop).  This pass checks that,
finds unknown names, sorts the graph (reporting cycles), attaches each ``~`` to
a parameter (its prior), to data (a likelihood) or to neither (a factor), and
infers each derived name's role:

* depends on data only -> transformed data (computed once);
* depends on parameters and feeds the density -> deterministic site;
* otherwise, or when it draws with ``_rng`` -> generated quantity.

A ``data`` name may also be defined (``data vector[2] x; x = f(theta, a, r);``): a **simulated
observation**, drawn from its definition when simulating and read from the data otherwise.  The model
has no likelihood for it; its definition is kept apart, in ``NameInfo.simulation``.
"""

from __future__ import annotations

import difflib
import functools
import itertools
from dataclasses import dataclass, field

from probdsl.errors import DiagnosticBag, Span
from probdsl.model_interface import DATA, DETERMINISTIC, GENERATED, PARAM, TRANSFORMED_DATA
from probdsl.sema import userfun
from probdsl.sema.graph import depth_first
from probdsl.stdlib import distributions, functions, levels, ode
from probdsl.syntax import ast, printer

RESERVED = {"target", "in", "for", "data", "param", "factor", "array"}
DENSITY_SUFFIXES = ("_lpdf", "_lupdf", "_lpmf", "_lupmf", "_lcdf", "_lccdf", "_cdf")

PRIOR, OBSERVED, FACTOR = "prior", "observed", "factor"
MAX_LOOP_NESTING = 32  # each loop is one more array dimension (and, evaluated, one more `vmap`)


@dataclass
class Piece:
    """One indexed definition of a name: ``x[t] = ...`` in loops, or ``x[1] = ...``.

    A name may be defined in several pieces (``sigma[1] = s0; for (t in 2:T) sigma[t] = ...``); together
    they must define every element exactly once.  ``first`` is the constant first index of a piece that
    defines one slice (``x[1]``, ``gamma[1, k]``), None when the first index is the outermost loop variable.
    A recurrent piece reads earlier elements of its own name (``sigma[t - 1]``) and compiles to ``lax.scan``.
    """

    node: ast.Definition
    loops: tuple[ast.ForLoop, ...]
    first: ast.Expr | None
    recurrent: bool


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
    pieces: list[Piece] = field(default_factory=list)  # indexed definitions, in source order
    simulation: NameInfo | None = None  # data only: its definition, when it is a simulated observation

    @property
    def pieces_in_order(self) -> list[Piece]:
        """Pieces in evaluation order: plain ones first, then recurrences (which read them) as written."""
        return sorted(self.pieces, key=lambda p: p.recurrent)

    @property
    def in_parts(self) -> bool:
        """Defined piecewise or by a recurrence, so evaluated element range by element range."""
        return any(p.recurrent or p.first is not None for p in self.pieces) or len(self.pieces) > 1


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
    def censoring(self) -> ast.Censoring | None:
        return self.node.censoring if isinstance(self.node, ast.Tilde) else None

    @functools.cached_property  # one node: the checker records the types of nodes by identity
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
    functions: dict[str, userfun.UserFunction] = field(default_factory=dict)  # `fun` definitions by name

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
    _check_double_underscores(program, bag)
    functions = userfun.collect(program, bag)
    simulated = {s.name: {} for s in program.statements if isinstance(s, ast.Declaration) and s.role == "data"}
    _collect(program.statements, (), names, terms, bag, simulated)
    for name, definitions in simulated.items():
        if name in definitions and name in names:
            names[name].simulation = definitions[name]
    _declare_implicit_sizes(program, names)
    _check_unknown(userfun.model_part(program), names, terms, bag, functions)
    userfun.check_calls(program, functions, names, bag)
    for call in userfun.body_calls(functions):
        _check_callee(call, bag, functions)
    _attach_terms(names, terms, bag)
    _check_simulations(names, terms, bag)
    order = _sort(names, terms, bag)
    _assign_roles(names, terms, order, bag)
    return Resolved(program, names, terms, order, functions)


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


def _check_double_underscores(program: ast.Program, bag: DiagnosticBag) -> None:
    """No name contains ``__``: probdsl's own names do (``theta__u``, ``g__levels``, ``y__rows``), and the
    emitted program renames a name that would shadow one of Python's (``print`` -> ``print__``)."""
    reported = set()
    for node in ast.walk(program):
        found = []
        if isinstance(node, (ast.Declaration, ast.FunctionDef)):
            found.append((node.name, node.name_span))
        if isinstance(node, ast.FunctionDef):
            found += [(p, node.span) for p in node.params]
        if isinstance(node, ast.Variable):
            found.append((node.name, node.span))
        if isinstance(node, ast.ForLoop):
            found.append((node.var, node.span))
        for name, span in found:
            if "__" in name and name not in reported:
                reported.add(name)
                bag.error("E105", f"`{name}` is a reserved name", span,
                          hint="names containing `__` are kept for probdsl's own (`theta__u`, `g__levels`); "
                          "choose another name")


def _collect(statements, loops, names, terms, bag, simulated) -> None:
    """Names and density terms of ``statements``; definitions of a data name go to ``simulated[name]``."""
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
            _collect_definition(stmt, loops, simulated.get(stmt.name, names), bag)
        elif isinstance(stmt, ast.Tilde):
            deps = free_variables(stmt.lhs, loop_vars) | free_variables(stmt.distribution, loop_vars)
            if stmt.truncation is not None:
                deps |= free_variables(stmt.truncation, loop_vars)
            if stmt.censoring is not None:
                deps |= free_variables(stmt.censoring, loop_vars)
            terms.append(DensityTerm("", stmt, loops, deps, ""))
        elif isinstance(stmt, ast.Target):
            terms.append(DensityTerm(FACTOR, stmt, loops, free_variables(stmt.value, loop_vars), ""))
        elif isinstance(stmt, ast.ForLoop):
            if len(loops) == MAX_LOOP_NESTING:
                bag.error("E003", f"loops nested more than {MAX_LOOP_NESTING} deep", stmt.span)
                continue
            if stmt.var in loop_vars:
                bag.error("E109", f"loop variable `{stmt.var}` is already used by an enclosing loop", stmt.span)
                continue
            outer = next((b for b in (stmt.lower, stmt.upper) if free_variables(b) & loop_vars), None)
            if outer is not None:
                bag.error("E110", "loop bounds cannot depend on an enclosing loop variable", outer.span)
            _collect(stmt.body, loops + (stmt,), names, terms, bag, simulated)


def _collect_definition(stmt: ast.Definition, loops, names, bag) -> None:
    loop_vars = frozenset(loop.var for loop in loops)
    deps = free_variables(stmt.value, loop_vars)
    if stmt.type is not None:
        for size in stmt.type.sizes + stmt.type.array_sizes:
            deps |= free_variables(size)
    bounds = {name for loop in loops for b in (loop.lower, loop.upper) for name in free_variables(b, loop_vars)}
    target = stmt.target
    span = target.span if isinstance(target, ast.Variable) else target.base.span
    if stmt.name in bounds:
        bag.error("E103", f"circular definition: `{stmt.name}` -> `{stmt.name}`", span,
                  hint=f"the bounds of the loop that defines `{stmt.name}` cannot depend on `{stmt.name}`")
        bounds.discard(stmt.name)
    if not isinstance(target, ast.Index):
        if loops:
            bag.error("E107", f"`{stmt.name}` is defined inside a loop without an index", stmt.span,
                      hint=f"write `{stmt.name}[{', '.join(l.var for l in loops)}] = ...`")
        if stmt.name in deps:
            bag.error("E103", f"circular definition: `{stmt.name}` -> `{stmt.name}`", span,
                      hint="a name cannot depend on itself, directly or through others")
        _define(names, NameInfo(stmt.name, "derived", stmt, span, loops, deps - {stmt.name} | bounds,
                                uses_rng(stmt.value)), bag)
        return
    for index in target.indices:
        deps |= free_variables(index, loop_vars)
    first = _piece_first_index(stmt, loops, bag)
    if first is False:
        return
    recurrent = stmt.name in deps
    if recurrent:
        _check_recurrence(stmt, loops, first, bag)
    deps |= bounds
    piece = Piece(stmt, loops, first, recurrent)
    previous = names.get(stmt.name)
    if previous is not None and previous.pieces and stmt.type is None and previous.node.type is None:
        previous.pieces.append(piece)
        previous.deps |= deps - {stmt.name}
        previous.uses_rng |= uses_rng(stmt.value)
        return
    _define(names, NameInfo(stmt.name, "derived", stmt, span, loops, deps - {stmt.name},
                            uses_rng(stmt.value), pieces=[piece]), bag)


def _piece_first_index(stmt: ast.Definition, loops, bag):
    """The constant first index of an indexed definition, None if it is a loop variable, False on error."""
    indices = stmt.target.indices
    wanted = [loop.var for loop in loops]
    got = [i.name if isinstance(i, ast.Variable) else None for i in indices]
    if loops and got == wanted:
        return None
    loop_vars = set(wanted)
    head = indices[0]
    constant_head = not isinstance(head, ast.Slice) and not (free_variables(head) & loop_vars)
    if constant_head and got[1:] == wanted:
        return head
    if not loops:
        bag.error("E107", f"outside a loop, a piece of `{stmt.name}` defines one element: "
                  f"`{stmt.name}[1] = ...`", stmt.target.span,
                  hint=f"loop over the other indexes: `for (k in 1:K) {stmt.name}[1, k] = ...`")
    else:
        bag.error("E107", f"`{stmt.name}` must be indexed by the loop variables [{', '.join(wanted)}]",
                  stmt.target.span, hint="each loop defines one element per iteration: "
                  f"`{stmt.name}[{', '.join(wanted)}] = ...`")
    return False


def lag_of(index, carried: str):
    """``k`` when ``index`` is ``carried - k`` (a look-back in a recurrence), else None."""
    if isinstance(index, ast.Binary) and index.op == "-" and isinstance(index.left, ast.Variable) \
            and index.left.name == carried:
        return index.right
    return None


def recurrence_lags(piece: Piece) -> list:
    """The look-back expressions ``k`` of every ``x[t - k, ...]`` in a piece (none unless it is recurrent)."""
    if not piece.recurrent:
        return []
    name, carried = piece.node.name, piece.loops[0].var
    return [lag for node in ast.walk(piece.node.value)
            if isinstance(node, ast.Index) and isinstance(node.base, ast.Variable) and node.base.name == name
            and (lag := lag_of(node.indices[0], carried)) is not None]


def _check_recurrence(stmt: ast.Definition, loops, first, bag) -> None:
    """A recurrence reads only earlier elements: ``x[t - 1]``, ``x[t - K, k]``, or a fixed ``x[1]``."""
    name = stmt.name
    loop_vars = {loop.var for loop in loops}
    if first is not None or not loops:
        bag.error("E108", f"`{name}` is defined from itself outside a recurrence loop", stmt.span,
                  hint=f"a recurrence steps over the loop's first index: `for (t in 2:T) {name}[t] = ... {name}[t - 1] ...`")
        return
    carried = loops[0].var
    parents = {}
    for node in ast.walk(stmt.value):
        if isinstance(node, ast.Index):
            parents[id(node.base)] = node
    for node in ast.walk(stmt.value):
        if not (isinstance(node, ast.Variable) and node.name == name):
            continue
        index = parents.get(id(node))
        head = index.indices[0] if index is not None else None
        lagged = lag_of(head, carried) is not None and not (free_variables(head.right) & loop_vars)
        fixed = head is not None and not isinstance(head, ast.Slice) and not (free_variables(head) & loop_vars)
        if lagged or fixed:
            if lagged and isinstance(head.right, ast.Number) and head.right.value < 1:
                bag.error("E108", f"`{printer.expr(index)}` reads an element not yet computed", index.span,
                          hint=f"a recurrence reads earlier elements: `{name}[{carried} - 1]`")
            continue
        where = printer.expr(index) if index is not None else name
        bag.error("E108", f"the recurrence for `{name}` reads `{where}`; it may only read earlier elements "
                  f"`{name}[{carried} - 1]`, `{name}[{carried} - k]` or a fixed element", (index or node).span,
                  hint="a loop-carried dependency steps over the outermost loop's index; reorder the loops "
                  "if it runs over an inner one")


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


def _in_scope(statements, loop_vars: frozenset[str] = frozenset()):
    """``(node, loop variables in scope there)`` for every node of ``statements``; a loop's variable is
    in scope in its body, not in its bounds."""
    for stmt in statements:
        if isinstance(stmt, ast.ForLoop):
            yield stmt, loop_vars
            for bound in (stmt.lower, stmt.upper):
                yield from ((node, loop_vars) for node in ast.walk(bound))
            yield from _in_scope(stmt.body, loop_vars | {stmt.var})
        else:
            yield from ((node, loop_vars) for node in ast.walk(stmt))


def _check_unknown(program, names, terms, bag, user_functions) -> None:
    for loop in (n for n in ast.walk(program) if isinstance(n, ast.ForLoop)):
        if loop.var in names:
            bag.error("E109", f"loop variable `{loop.var}` has the name of a model variable", loop.span,
                      notes=(f"`{loop.var}` is defined at {names[loop.var].span}",))
    seen: set[tuple] = set()
    for node, loop_vars in _in_scope(program.statements):
        if isinstance(node, ast.Variable) and node.name not in names and node.name not in loop_vars:
            key = (node.name, node.span)
            if key in seen:
                continue
            seen.add(key)
            close = suggest(node.name, names)
            bag.error("E102", f"unknown name `{node.name}`", node.span,
                      hint=f"did you mean `{close}`?" if close else "declare it with `data` or `param`, or define it")
        elif isinstance(node, ast.Call):
            _check_callee(node, bag, user_functions)
        elif isinstance(node, ast.Distribution):
            if distributions.lookup(node.name) is None:
                close = distributions.suggest(node.name)
                bag.error("E120", f"unknown distribution `{node.name}`", node.span,
                          hint=f"did you mean `{close}`?" if close else "see docs/language.md for the list")


def _check_callee(call: ast.Call, bag, user_functions) -> None:
    name = call.name
    if functions.lookup(name) is not None or name in user_functions or ode.lookup(name) is not None or \
            name == levels.NAME:
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
    factor_sites = (site for k in itertools.count(1) if (site := f"target_{k}") not in names)
    for term in terms:
        if term.kind == FACTOR:
            term.site = next(factor_sites)
            continue
        if term.kind == OBSERVED:
            used_sites.add(term.site)
            continue
        if term.kind == PRIOR:
            continue
        lhs = term.node.lhs
        root = _lhs_root(lhs)
        info = names.get(root) if root else None
        if info is not None and is_discrete_param(info):
            term.kind, term.site = PRIOR, root  # a discrete parameter's prior may come in pieces (a Markov chain)
            priors.setdefault(root, term)
        elif info is not None and info.kind == "param" and _is_whole(lhs, term.loops):
            if root in priors:
                bag.error("E111", f"parameter `{root}` has two priors", term.span,
                          notes=(f"first prior at {priors[root].span}",),
                          hint="give each parameter exactly one `~`; add other terms with `target +=`")
                continue
            term.kind, term.site = PRIOR, root
            priors[root] = term
        elif _depends_on_kind(term.node.lhs, names, "param", term.loops):
            term.kind, term.site = FACTOR, next(factor_sites)
        else:
            term.kind = OBSERVED
            site = root or "obs"
            k = 2
            base = site
            while site in used_sites or (site != root and site in names):  # y_2, obs: not a model name
                site, k = f"{base}_{k}", k + 1
            used_sites.add(site)
            term.site = site
    for site, term in priors.items():
        reads = free_variables(term.distribution) | (free_variables(term.truncation) if term.truncation else set())
        if site in reads and not is_discrete_param(names[site]):  # a Markov chain's states read earlier ones
            bag.error("E103", f"circular definition: the prior of `{site}` depends on `{site}`", term.distribution.span,
                      hint="a name cannot depend on itself, directly or through others")
    for info in names.values():
        if info.kind == "param" and info.name not in priors:
            bag.error("E104", f"parameter `{info.name}` has no prior", info.span,
                      hint=f"give it one, e.g. `{info.name} ~ normal(0, 1);`, or write `{info.name} ~ flat();` "
                      "for an improper uniform prior over its declared support")


def is_discrete_param(info: NameInfo) -> bool:
    return info.kind == "param" and isinstance(info.node, ast.Declaration) and info.node.type.kind == "int"


def _is_whole(lhs, loops) -> bool:
    if isinstance(lhs, ast.Variable):
        return not loops
    if isinstance(lhs, ast.Index) and isinstance(lhs.base, ast.Variable) and loops:
        got = [i.name if isinstance(i, ast.Variable) else None for i in lhs.indices]
        return got == [loop.var for loop in loops]
    return False


def _depends_on_kind(expr, names, kind, loops) -> bool:
    bound = frozenset(l.var for l in loops)
    return _reaches(free_variables(expr, bound), names, kind)


def _reaches(start, names, kind, simulating: bool = False) -> bool:
    """Whether a name of ``kind`` is among ``start`` or the definitions they read (``simulating``: also
    through the definitions of simulated observations)."""
    todo, seen = list(start), set()
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
        elif simulating and info.simulation is not None:
            todo.extend(info.simulation.deps)
    return False


def _check_simulations(names, terms, bag) -> None:
    """A simulated observation has no `~` (its definition is its distribution) and depends on a parameter."""
    for term in terms:
        root = _lhs_root(term.lhs) if term.kind == OBSERVED else None
        info = names.get(root) if root else None
        if info is not None and info.simulation is not None:
            bag.error("E117", f"`{root}` is simulated (defined from the parameters) and also observed with `~`",
                      term.span, notes=(f"`{root}` is defined at {info.simulation.span}",),
                      hint="its definition is its distribution: remove the `~`, or the definition to give it "
                      "a likelihood")
    for info in names.values():
        sim = info.simulation
        if sim is not None and not _reaches(sim.deps, names, "param", simulating=True):
            bag.error("E118", f"simulated data `{info.name}` does not depend on any parameter", sim.span,
                      hint=f"a simulated observation is computed from the parameters; to compute `{info.name}` "
                      "from the data alone, drop its `data` declaration")


def _edges(names, terms) -> dict[str, set[str]]:
    edges = {name: set(info.deps) & names.keys() for name, info in names.items()}
    for name, info in names.items():
        if info.simulation is not None:  # simulated after what its definition reads
            edges[name] |= info.simulation.deps & names.keys()
    for term in terms:
        if term.kind == PRIOR and term.site in edges:
            edges[term.site] |= (term.deps - {term.site}) & names.keys()
    return edges


def _sort(names, terms, bag) -> list[str]:
    order, cycles = depth_first(names, _edges(names, terms))
    reported: set[frozenset] = set()
    for cycle in cycles:
        if frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            bag.error("E103", "circular definition: " + " -> ".join(f"`{n}`" for n in cycle),
                      names[cycle[0]].span, hint="a name cannot depend on itself, directly or through others")
    return order


def _assign_roles(names, terms, order, bag) -> None:
    level: dict[str, int] = {}
    for name in order:
        info = names[name]
        if info.kind == "data":
            level[name], info.role = 0, DATA
            if info.simulation is not None:  # drawn when simulating, like a generated quantity
                info.simulation.role = GENERATED
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
