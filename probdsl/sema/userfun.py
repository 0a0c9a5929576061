"""User functions (``fun``): their definitions, bodies and call sites.

A function is a pure expression of its arguments.  Its body reads its
parameters, its own local definitions (order-free, like the model's
statements) and constants, never a model variable: what a function needs is
passed at the call, so the model's dependency graph stays visible at the call
sites and a function means the same wherever it is used.  Functions are
order-free, may call each other, and may not recurse.  Parameters are untyped:
each call site types the body with its arguments' types (``calls.py``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from probdsl.errors import DiagnosticBag
from probdsl.sema.graph import depth_first
from probdsl.stdlib import distributions, functions, levels, ode
from probdsl.syntax import ast


MAX_CALL_DEPTH = 32  # calls of user functions within calls (each is inlined when the model is checked and run)


@dataclass
class UserFunction:
    node: ast.FunctionDef
    locals: tuple[ast.Definition, ...]  # in dependency order
    calls: set[str] = field(default_factory=set)  # user functions its body calls or passes to `ode`
    recursive: bool = False
    too_deep: bool = False  # its calls of functions nest more than MAX_CALL_DEPTH deep (reported; not checked)

    @property
    def name(self) -> str:
        return self.node.name


def collect(program: ast.Program, bag: DiagnosticBag) -> dict[str, UserFunction]:
    """The program's functions by name; their definitions and recursion are checked."""
    table: dict[str, UserFunction] = {}
    for stmt in program.statements:
        if isinstance(stmt, ast.FunctionDef):
            _define(stmt, table, bag)
        elif isinstance(stmt, ast.ForLoop):
            for inner in ast.walk(stmt):
                if isinstance(inner, ast.FunctionDef):
                    bag.error("E212", f"function `{inner.name}` is defined inside a `for` loop", inner.span,
                              hint="define functions at the top level of the model")
    for fn in table.values():
        fn.calls = {n.name for n in ast.walk(fn.node) if isinstance(n, (ast.Call, ast.FunctionRef))
                    and n.name in table}
    _mark_recursion(table, bag)
    if not any(fn.recursive for fn in table.values()):
        _check_call_depth(table, bag)
    return table


def body_calls(table: dict[str, UserFunction]) -> list[ast.Call]:
    """Every call in the functions' bodies."""
    return [n for fn in table.values() for n in ast.walk(fn.node) if isinstance(n, ast.Call)]


def model_part(program: ast.Program) -> ast.Program:
    """The program without its function definitions (what the model's own names are resolved in)."""
    statements = tuple(s for s in program.statements if not isinstance(s, ast.FunctionDef))
    return ast.Program(statements, program.file, program.comments)


def _define(node: ast.FunctionDef, table: dict[str, UserFunction], bag: DiagnosticBag) -> None:
    name = node.name
    if functions.lookup(name) or ode.lookup(name) or name == levels.NAME or distributions.lookup(name) or \
            _density_name(name):
        bag.error("E211", f"`{name}` is the name of a built-in function or distribution", node.name_span,
                  hint="give the function another name")
        return
    if name in table:
        bag.error("E210", f"function `{name}` is defined twice", node.name_span, label="second definition",
                  notes=(f"first defined at {table[name].node.name_span}",))
        return
    seen: set[str] = set()
    for param in node.params:
        if param in seen:
            bag.error("E213", f"parameter `{param}` of `{name}` is named twice", node.span)
        seen.add(param)
    local_names: dict[str, ast.Definition] = {}
    for d in node.locals:
        if d.name in seen or d.name in local_names:
            what = "a parameter" if d.name in node.params else "a local definition"
            bag.error("E213", f"`{d.name}` is already {what} of `{name}`", d.target.span,
                      hint="every name in a function is defined once")
            continue
        local_names[d.name] = d
    table[name] = UserFunction(node, _ordered_locals(node, local_names, bag))


def _density_name(name: str) -> bool:
    base, _, suffix = name.rpartition("_")
    return bool(base) and suffix in ("lpdf", "lupdf", "lpmf", "lupmf", "lcdf", "lccdf", "cdf", "rng") and \
        distributions.lookup(base) is not None


def _check_body_names(fn: UserFunction, model_names, bag: DiagnosticBag) -> None:
    node = fn.node
    visible = set(node.params) | {d.name for d in node.locals}
    reported: set[str] = set()
    for item in ast.walk(node):
        if isinstance(item, ast.Variable) and item.name not in visible and item.name not in reported:
            reported.add(item.name)
            if item.name in model_names:
                bag.error("E214", f"`{item.name}` is a model variable: function `{node.name}` reads only its "
                          "arguments", item.span, hint="pass it as an argument: "
                          f"`fun {node.name}({', '.join(node.params + (item.name,))})`")
                continue
            close = difflib.get_close_matches(item.name, sorted(visible), n=1, cutoff=0.6)
            bag.error("E214", f"unknown name `{item.name}` in function `{node.name}`", item.span,
                      hint=f"did you mean `{close[0]}`?" if close else
                      "a function reads its arguments, its local definitions and constants")
        elif isinstance(item, ast.Call) and item.name.endswith("_rng"):
            bag.error("E217", f"`{item.name}` draws random numbers: a function is a pure expression", item.span,
                      hint="draw in the model (`y_new = normal_rng(...)`) and pass the draw to the function")


def _ordered_locals(node: ast.FunctionDef, local_names: dict[str, ast.Definition],
                    bag: DiagnosticBag) -> tuple[ast.Definition, ...]:
    """Local definitions sorted so each comes after the ones it reads (they are order-free)."""
    deps = {name: {n.name for n in ast.walk(d.value) if isinstance(n, ast.Variable) and n.name in local_names}
            for name, d in local_names.items()}
    order, cycles = depth_first(local_names, deps)
    for cycle in cycles:
        bag.error("E218", "circular definition in `" + node.name + "`: " + " -> ".join(f"`{n}`" for n in cycle),
                  local_names[cycle[0]].target.span, hint="a local definition cannot depend on itself")
    return tuple(local_names[n] for n in order)


def _mark_recursion(table: dict[str, UserFunction], bag: DiagnosticBag) -> None:
    for fn in table.values():
        path = _path_back(table, fn.name)
        if path is not None:
            fn.recursive = True
            bag.error("E215", f"function `{fn.name}` calls itself" + (
                "" if len(path) == 2 else ": " + " -> ".join(f"`{n}`" for n in path)), fn.node.name_span,
                hint="functions cannot be recursive; write loops and recurrences in the model")


def _path_back(table: dict[str, UserFunction], start: str) -> list[str] | None:
    """A call path from ``start`` back to itself, if there is one."""
    todo, caller_of = [start], {}
    while todo:
        caller = todo.pop()
        for callee in sorted(table[caller].calls):
            if callee == start:
                path = [caller]
                while path[-1] != start:
                    path.append(caller_of[path[-1]])
                return path[::-1] + [start]
            if callee not in caller_of:
                caller_of[callee] = caller
                todo.append(callee)
    return None


def _check_call_depth(table: dict[str, UserFunction], bag: DiagnosticBag) -> None:
    """Calls are inlined: a chain of calls deeper than ``MAX_CALL_DEPTH`` is refused (E003)."""
    order, _ = depth_first(table, {name: fn.calls for name, fn in table.items()})
    depth: dict[str, int] = {}
    for name in order:  # callees first
        depth[name] = 1 + max((depth[c] for c in table[name].calls), default=0)
        if depth[name] > MAX_CALL_DEPTH:
            table[name].too_deep = True
            if depth[name] == MAX_CALL_DEPTH + 1:
                bag.error("E003", f"function calls nested more than {MAX_CALL_DEPTH} deep, from `{name}`",
                          table[name].node.name_span, hint="functions may call others, but not so many levels deep")


def check_calls(program: ast.Program, table: dict[str, UserFunction], model_names, bag: DiagnosticBag) -> None:
    """Names in bodies, and every call to a user function or an ODE solver: callees and argument counts."""
    for fn in table.values():
        _check_body_names(fn, model_names, bag)
    for node in ast.walk(program):
        if not isinstance(node, ast.Call):
            continue
        fn = table.get(node.name)
        if fn is not None and len(node.args) != len(fn.node.params):
            bag.error("E216", f"`{fn.name}` takes {_count(len(fn.node.params))}, {len(node.args)} given", node.span,
                      notes=(f"defined at {fn.node.name_span}: fun {fn.name}({', '.join(fn.node.params)})",))
        spec = ode.lookup(node.name)
        if spec is not None:
            _check_ode_call(node, spec, table, model_names, bag)


def _check_ode_call(call: ast.Call, spec: ode.OdeSpec, table: dict[str, UserFunction], model_names,
                    bag: DiagnosticBag) -> None:
    first = call.args[0] if call.args else None
    if not isinstance(first, ast.FunctionRef):
        bag.error("E220", f"the first argument of `{spec.name}` is the name of a function defined with `fun`",
                  first.span if first is not None else call.span, notes=(f"signature: {spec.signature}",))
        return
    fn = table.get(first.name)
    if fn is None:
        close = difflib.get_close_matches(first.name, sorted(table), n=1, cutoff=0.6)
        what = "a model variable, not a function" if first.name in model_names else "not a function"
        bag.error("E220", f"`{first.name}` is {what}: `{spec.name}` takes a function defined with `fun`", first.span,
                  hint=f"did you mean `{close[0]}`?" if close else
                  "the first argument names the derivative: `fun dy_dt(t, y, theta) = ...;` returning a vector")
        return
    if len(call.args) < spec.fixed_args:
        bag.error("E221", f"`{spec.name}` takes at least {spec.fixed_args} arguments, {len(call.args)} given",
                  call.span, notes=(f"signature: {spec.signature}",))
        return
    extra = len(call.args) - spec.fixed_args
    if len(fn.node.params) != 2 + extra:
        bag.error("E221", f"`{fn.name}` takes {_count(len(fn.node.params))}, but `{spec.name}` calls it with "
                  f"{_count(2 + extra)} (t, the state, and the {extra} after `ts`)", call.span,
                  notes=(f"defined at {fn.node.name_span}: fun {fn.name}({', '.join(fn.node.params)})",))


def _count(n: int) -> str:
    return f"{n} argument{'s' if n != 1 else ''}"
