"""Calls to user functions (``fun``) and ODE solvers, in both code paths.

In process, a call evaluates the function's body with the types its call site
gave it (``sema/calls.py``).  The emitted program defines each function once,
as a Python ``def`` before ``model``; a function whose calls need different
code (``*`` a matrix product at one call, a scaling at another) gets one
``def`` per variant (``f``, ``f__2``, ...).  ``ode(...)`` calls ``ode_solve``
(``codegen/ode.py``) in both paths; the emitted program carries its source.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect

from probdsl.stdlib import ode
from probdsl.syntax import ast


def _in_body(walker, call):
    """A copy of an evaluator or emitter that reads the types of ``call``'s function body."""
    instance = walker.checked.instances[id(call)]
    body = copy.copy(walker)
    body.checked = dataclasses.replace(walker.checked, expr_types=instance.expr_types, instances=instance.instances)
    return body


# ---- in process ------------------------------------------------------------------


def evaluate_call(ev, call, env):
    """The value of a call to a user function or an ODE solver."""
    spec = ode.lookup(call.name)
    if spec is None:
        fn = ev.checked.resolved.functions[call.name]
        return _apply(_in_body(ev, call), fn, [ev.expr(a, env) for a in call.args])
    import diffrax

    from probdsl.codegen.ode import ode_solve

    fn = ev.checked.resolved.functions[call.args[0].name]
    body = _in_body(ev, call)
    values = [ev.expr(a, env) for a in call.args[1:]]
    y0, t0, ts = values[:3]
    rtol, atol, max_steps = values[3:6] if spec.controls else (ode.RTOL, ode.ATOL, ode.MAX_STEPS)
    return ode_solve(lambda t, y, *args: _apply(body, fn, [t, y, *args]), y0, t0, ts, *values[spec.fixed_args - 1:],
                     solver=getattr(diffrax, spec.solver)(), rtol=rtol, atol=atol, max_steps=int(max_steps))


def _apply(body, fn, args):
    env = dict(zip(fn.node.params, args))
    for d in fn.locals:
        env[d.name] = body.expr(d.value, env)
    return body.expr(fn.node.value, env)


# ---- emitted Python --------------------------------------------------------------


@dataclasses.dataclass
class _Definitions:
    """The ``def``s an emitted program needs, shared by an emitter and its copies for bodies."""

    sources: list[str] = dataclasses.field(default_factory=list)
    variants: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # function -> body -> def name
    uses_ode: bool = False


def _definitions(em) -> _Definitions:
    if not hasattr(em, "_userfun_defs"):
        em._userfun_defs = _Definitions()
    return em._userfun_defs


def emit_call(em, call) -> str:
    """Python code for a call to a user function or an ODE solver."""
    spec = ode.lookup(call.name)
    args = [em.expr(a) for a in call.args[0 if spec is None else 1:]]
    fn = em.checked.resolved.functions[call.name if spec is None else call.args[0].name]
    name = _define(em, call, fn)
    if spec is None:
        return f"{name}({', '.join(args)})"
    _definitions(em).uses_ode = True
    y0, t0, ts = args[:3]
    if spec.controls:
        rtol, atol, max_steps = args[3:6]
        max_steps = max_steps if isinstance(call.args[6], ast.Number) else f"int({max_steps})"
    else:
        rtol, atol, max_steps = repr(ode.RTOL), repr(ode.ATOL), repr(ode.MAX_STEPS)
    extra = "".join(f"{a}, " for a in args[spec.fixed_args - 1:])
    return (f"ode_solve({name}, {y0}, {t0}, {ts}, {extra}solver=diffrax.{spec.solver}(), "
            f"rtol={rtol}, atol={atol}, max_steps={max_steps})")


def _define(em, call, fn) -> str:
    """The name of the ``def`` serving ``call`` (written on first use)."""
    body = _in_body(em, call)
    lines = [f"    {em.identifier(d.name)} = {body.expr(d.value)}" for d in fn.locals]
    lines.append(f"    return {body.expr(fn.node.value)}")
    em.uses_runtime |= body.uses_runtime
    text = "\n".join(lines)
    defs = _definitions(em)
    variants = defs.variants.setdefault(fn.name, {})
    if text not in variants:
        base = _def_name(em, fn.name)
        variants[text] = base if not variants else f"{base}__{len(variants) + 1}"  # `__`: not a model name
        params = ", ".join(em.identifier(p) for p in fn.node.params)
        defs.sources.append(f"def {variants[text]}({params}):\n{text}\n")
    return variants[text]


def _def_name(em, name: str) -> str:
    """A function's Python name: its own, unless a model variable, loop variable or a name in a body has it too."""
    taken = set(em.names.values())
    taken |= {em.identifier(n.var) for n in ast.walk(em.r.program) if isinstance(n, ast.ForLoop)}
    for fn in em.checked.resolved.functions.values():
        taken |= {em.identifier(p) for p in fn.node.params} | {em.identifier(d.name) for d in fn.locals}
    own = em.identifier(name)
    return own if own not in taken else name + "__fn"


def imports(em) -> str:
    """Import lines the emitted functions need (after the program's own)."""
    return "import diffrax\n" if _definitions(em).uses_ode else ""


def definitions(em) -> str:
    """The ``def``s of the emitted functions (and of ``ode_solve``), to come before ``model``."""
    from probdsl.codegen import ode as ode_runtime

    defs = _definitions(em)
    sources = ([inspect.getsource(ode_runtime.ode_solve)] if defs.uses_ode else []) + defs.sources
    return "".join("\n\n" + s for s in sources)
