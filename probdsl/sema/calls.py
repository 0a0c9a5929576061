"""Typing calls to user functions (``fun``) and ODE solvers, one call site at a time.

Parameters are untyped: a call types the function's body with its arguments'
types, so ``fun sq(x) = x .* x;`` serves reals and vectors alike.  The body's
types are kept per call (an :class:`Instance`) because evaluating it depends
on them (``*`` is a matrix product or a scaling).  An error in a body is
reported where it is, with a note naming the call that met it.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

from probdsl.errors import DiagnosticBag
from probdsl.model_interface import DATA, TRANSFORMED_DATA
from probdsl.sema import types as T
from probdsl.sema.types import ROW_VECTOR, SCALAR, VECTOR, Size, Type, sizes_conflict
from probdsl.stdlib import ode
from probdsl.syntax import ast


@dataclass
class Instance:
    """The types of one call's function body (and of the calls inside it)."""

    expr_types: dict[int, Type]
    instances: dict[int, "Instance"]


def check_call(checker, call: ast.Call, scope) -> Type:
    """The type of ``call``, a call to a user function or an ODE solver; records the body's instance."""
    from probdsl.sema.check import _Skip

    spec = ode.lookup(call.name)
    if spec is not None:
        return _ode(checker, call, spec, scope)
    fn = checker.r.functions[call.name]
    arg_types = [checker.expr(a, scope) for a in call.args]
    if fn.recursive or fn.too_deep or len(arg_types) != len(fn.node.params):
        raise _Skip  # reported by resolve
    consts = [checker.const_value(a) if t.is_scalar else None for a, t in zip(call.args, arg_types)]
    return _body(checker, call, fn, arg_types, consts)


def _body(checker, call: ast.Call, fn, arg_types: list[Type], consts: list) -> Type:
    from probdsl.sema.check import _Skip

    body = copy.copy(checker)
    body.bag = DiagnosticBag()
    body.r = dataclasses.replace(checker.r, names={})  # a body sees no model variable
    body.types = dict(zip(fn.node.params, arg_types))
    body.consts = {p: c for p, c in zip(fn.node.params, consts) if c is not None}
    body.expr_types, body.instances = {}, {}
    result = None
    try:
        for d in fn.locals:
            body.types[d.name] = body.expr(d.value, {})
            value = body.const_value(d.value)
            if value is not None:
                body.consts[d.name] = value
        result = body.expr(fn.node.value, {})
    except _Skip:
        pass
    _report(checker.bag, body.bag, call)
    if result is None:
        raise _Skip
    checker.instances[id(call)] = Instance(body.expr_types, body.instances)
    return result


def _report(bag: DiagnosticBag, inner: DiagnosticBag, call: ast.Call) -> None:
    """Errors found in a body, each once, noting the call that met it first."""
    for d in inner.items:
        if not any((x.code, x.message, x.span) == (d.code, d.message, d.span) for x in bag.items):
            bag.items.append(dataclasses.replace(d, notes=d.notes + (f"in the call `{call.name}(...)` at {call.span}",)))


def _length(t: Type) -> Size | None:
    """The length of a vector, row_vector or one-dimensional array of scalars; None for other types."""
    if t.kind in (VECTOR, ROW_VECTOR) and not t.array_dims:
        return t.elem_dims[0]
    if t.kind == SCALAR and len(t.array_dims) == 1:
        return t.array_dims[0]
    return None


def _ode(checker, call: ast.Call, spec: ode.OdeSpec, scope) -> Type:
    from probdsl.sema.check import _Skip

    ref = call.args[0] if call.args else None
    fn = checker.r.functions.get(ref.name) if isinstance(ref, ast.FunctionRef) else None
    extra = call.args[spec.fixed_args:]
    if (fn is None or fn.recursive or fn.too_deep or len(call.args) < spec.fixed_args
            or len(fn.node.params) != 2 + len(extra)):
        raise _Skip  # reported by resolve
    y0, t0, ts = (checker.expr(a, scope) for a in call.args[1:4])
    bag = checker.bag
    n_errors = len(bag.items)
    if _length(y0) is None:
        bag.error("E222", f"the initial state of `{spec.name}` must be a vector, not `{y0}`", call.args[1].span)
    if not t0.is_scalar:
        bag.error("E222", f"the initial time of `{spec.name}` must be a real, not `{t0}`", call.args[2].span)
    if _length(ts) is None or ts.kind == ROW_VECTOR:
        bag.error("E222", f"the output times of `{spec.name}` must be an array of reals, not `{ts}`",
                  call.args[3].span)
    if spec.controls:
        _check_controls(checker, call, spec, scope)
    arg_types = [checker.expr(a, scope) for a in extra]
    if len(bag.items) > n_errors:
        raise _Skip
    state = T.vector(_length(y0))
    consts = [None, None] + [checker.const_value(a) if t.is_scalar else None for a, t in zip(extra, arg_types)]
    result = _body(checker, call, fn, [T.REAL_T, state, *arg_types], consts)
    length = _length(result)
    if length is None or sizes_conflict(length, state.elem_dims[0]):
        bag.error("E223", f"`{fn.name}` must return the derivative of the state, a `{state}`; it returns `{result}`",
                  fn.node.value.span, notes=(f"in the call `{spec.name}(...)` at {call.span}",))
        raise _Skip
    return T.array(state, _length(ts))


def _check_controls(checker, call: ast.Call, spec: ode.OdeSpec, scope) -> None:
    rtol, atol, max_steps = call.args[4:7]
    for what, node in (("relative tolerance", rtol), ("absolute tolerance", atol)):
        if not checker.expr(node, scope).is_scalar:
            checker.bag.error("E222", f"the {what} of `{spec.name}` must be a real", node.span)
    t = checker.expr(max_steps, scope)
    unknown = [n.name for n in ast.walk(max_steps) if isinstance(n, ast.Variable)
               and getattr(checker.r.names.get(n.name), "role", None) not in (DATA, TRANSFORMED_DATA)]
    if not (t.is_scalar and t.is_int) or unknown:
        checker.bag.error("E222", f"the maximum number of steps of `{spec.name}` must be an integer known from "
                          "the data", max_steps.span, hint="write a number, e.g. `1000`")
